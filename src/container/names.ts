import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from '../util/errors.ts';

// Same shape as docker's generated names (adjective_surname); the word lists are our own.
const LEFT = [
  'agile',
  'amber',
  'bold',
  'brave',
  'bright',
  'calm',
  'clever',
  'cosmic',
  'crisp',
  'daring',
  'eager',
  'epic',
  'fancy',
  'fervent',
  'gentle',
  'happy',
  'hardy',
  'jolly',
  'keen',
  'kind',
  'lively',
  'lucid',
  'merry',
  'mighty',
  'nimble',
  'noble',
  'patient',
  'plucky',
  'proud',
  'quick',
  'quiet',
  'rapid',
  'serene',
  'sharp',
  'silent',
  'snappy',
  'steady',
  'sturdy',
  'sunny',
  'swift',
  'tender',
  'tidy',
  'upbeat',
  'vivid',
  'warm',
  'wise',
  'witty',
  'zen',
];
const RIGHT = [
  'agnesi',
  'babbage',
  'bohr',
  'boole',
  'cerf',
  'curie',
  'darwin',
  'dijkstra',
  'einstein',
  'euler',
  'faraday',
  'fermi',
  'feynman',
  'galileo',
  'gauss',
  'goodall',
  'hamilton',
  'hopper',
  'hypatia',
  'johnson',
  'kepler',
  'knuth',
  'lamarr',
  'lovelace',
  'maxwell',
  'meitner',
  'mendel',
  'newton',
  'noether',
  'pascal',
  'planck',
  'ritchie',
  'sagan',
  'shannon',
  'tesla',
  'thompson',
  'torvalds',
  'turing',
  'wilson',
  'wozniak',
  'yalow',
];

export function randomName(): string {
  return `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
}

const VALID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!VALID.test(n)) {
    throw new InvalidArgumentError(
      `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  return n;
}

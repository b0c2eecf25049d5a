import { constants } from 'node:os';
import { InvalidArgumentError } from '../util/errors.ts';

const BY_NAME = constants.signals as Record<string, number>;

/** Accepts docker's forms: `9`, `KILL`, `SIGKILL`, `sigkill`. */
export function parseSignal(s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > 64) throw new InvalidArgumentError(`invalid signal: ${s}`);
    return n;
  }
  const up = s.toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  const rt = /^SIGRTMIN\+(\d+)$/.exec(name);
  if (rt) return 34 + Number(rt[1]);
  const n = BY_NAME[name];
  if (n === undefined) throw new InvalidArgumentError(`invalid signal: ${s}`);
  return n;
}

export function signalName(n: number): string {
  for (const [name, v] of Object.entries(BY_NAME)) if (v === n) return name;
  return String(n);
}

import { InvalidArgumentError } from '../util/errors.ts';

/** A parsed image reference, following the distribution/reference grammar and docker's normalisation. */
export interface ImageRef {
  domain: string; // docker.io, 127.0.0.1:5000, …
  path: string; // library/busybox
  tag?: string;
  digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;

export function parseReference(input: string): ImageRef {
  const bad = (why: string) => new InvalidArgumentError(`invalid reference format: "${input}": ${why}`);
  if (!input || input.length > 255) throw bad('empty or too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('bad digest');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('bad tag');
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      if (!DOMAIN.test(first)) throw bad('bad registry host');
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  for (const part of path.split('/')) {
    if (!COMPONENT.test(part)) throw bad('repository name must be lowercase');
  }
  if (!tag && !digest) tag = 'latest';
  return { domain, path, tag, digest };
}

/** The repository as docker shows it: `busybox`, `user/app`, `127.0.0.1:5000/app`. */
export function familiarRepo(ref: ImageRef): string {
  if (ref.domain === DEFAULT_DOMAIN) {
    return ref.path.startsWith('library/') ? ref.path.slice(8) : ref.path;
  }
  return `${ref.domain}/${ref.path}`;
}

/** Canonical name stored in the tags table. */
export function canonicalName(ref: ImageRef): string {
  const base = `${ref.domain}/${ref.path}`;
  if (ref.digest) return `${base}@${ref.digest}`;
  return `${base}:${ref.tag ?? 'latest'}`;
}

export function familiarName(canonical: string): string {
  const ref = parseReference(canonical);
  const repo = familiarRepo(ref);
  return ref.digest ? `${repo}@${ref.digest}` : `${repo}:${ref.tag}`;
}

export function isValidReference(input: string): boolean {
  try {
    parseReference(input);
    return true;
  } catch {
    return false;
  }
}

import { RegistryError } from './errors.ts';

/**
 * The distribution grammar for repository names: path components of lowercase alphanumerics
 * joined by one `.`, one or two `_`, or any number of `-`. No component can be `.` or `..` or start
 * with `_`, so names map onto directories without escaping, and `_manifests`/`_layers` never clash.
 */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
export const MAX_NAME_LENGTH = 255;

export function checkName(name: string): string {
  if (name.length > MAX_NAME_LENGTH)
    throw new RegistryError('NAME_INVALID', `repository name is longer than ${MAX_NAME_LENGTH} characters`, {
      name: name.slice(0, 64),
    });
  if (!NAME_RE.test(name)) throw new RegistryError('NAME_INVALID', 'invalid repository name', { name });
  return name;
}

export const isTag = (ref: string) => TAG_RE.test(ref);

/** Only sha256 is stored; another well-formed algorithm is unsupported, anything else invalid. */
export function checkDigest(d: string | null | undefined): string {
  if (d && DIGEST_RE.test(d)) return d;
  if (d && ANY_DIGEST_RE.test(d) && !d.startsWith('sha256:'))
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm: ${d.split(':')[0]}`, {
      digest: d,
    });
  throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: d ?? '' });
}

export const isDigest = (d: string) => DIGEST_RE.test(d);

import { InvalidArgumentError } from '../util/errors.ts';
import { goArch } from './types.ts';

/** Platforms as docker's --platform names them; kept apart from the registry client so that code
 * needing only these (the build frontend) does not load the HTTP stack. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};

/** Parses `os[/arch[/variant]]` as docker's --platform does (the arch defaulting to the host's). */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((p) => p === '' || !/^[a-z0-9._-]+$/.test(p))) {
    throw new InvalidArgumentError(`invalid platform "${s}": want os[/arch[/variant]], e.g. linux/arm64`);
  }
  const [os, arch, variant] = parts as [string, string | undefined, string | undefined];
  return { os, architecture: ARCH_ALIASES[arch ?? ''] ?? arch ?? goArch(), variant };
}

export function hostPlatform(): Platform {
  return { os: 'linux', architecture: goArch() };
}

export function formatPlatform(p: Partial<Platform>): string {
  return [p.os ?? 'unknown', p.architecture ?? 'unknown', p.variant].filter(Boolean).join('/');
}

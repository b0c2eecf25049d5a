import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type Koffi from 'koffi';

// Linux (asm-generic) values; Berth only targets Linux.
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;

export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const ENODATA = 61;
const ERANGE = 34;

type Fn = (...args: unknown[]) => number;

interface Libc {
  koffi: typeof Koffi;
  mount: Fn;
  umount2: Fn;
  mknod: Fn;
  lsetxattr: Fn;
  lgetxattr: Fn;
  llistxattr: Fn;
  flock: Fn;
  strerror: (errno: number) => string;
}

let libc: Libc | undefined;

// Loading koffi maps a native addon; deferring it keeps `import` of this module free for commands
// that never touch a syscall.
function load(): Libc {
  if (libc) return libc;
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const lib = koffi.load('libc.so.6');
  const f = (proto: string): Fn => lib.func(proto) as Fn;
  libc = {
    koffi,
    mount: f(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    ),
    umount2: f('int umount2(const char *target, int flags)'),
    // glibc >= 2.33 exports mknod directly (older ones only had __xmknod).
    mknod: f('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: f(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ),
    lgetxattr: f('long lgetxattr(const char *path, const char *name, void *value, size_t size)'),
    llistxattr: f('long llistxattr(const char *path, void *list, size_t size)'),
    flock: f('int flock(int fd, int op)'),
    strerror: lib.func('const char *strerror(int errnum)') as (errno: number) => string,
  };
  return libc;
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** A failed syscall; `code` is the errno name (`EBUSY`) so callers can branch on it like on Node's fs errors. */
export class SyscallError extends Error {
  readonly code: string;
  constructor(
    readonly errno: number,
    readonly syscall: string,
    what: string,
  ) {
    const name = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${what}: ${name} (${load().strerror(errno)})`);
    this.name = 'SyscallError';
    this.code = name;
  }
}

function check(ret: number | bigint, syscall: string, what: () => string): number {
  if (Number(ret) < 0) throw new SyscallError(load().koffi.errno(), syscall, what());
  return Number(ret);
}

export function mount(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string | null,
): void {
  const c = load();
  check(
    c.mount(source, target, fstype, flags, data),
    'mount',
    () => `mount ${flags & MS_BIND ? source : fstype || source} on ${target}`,
  );
}

export function umount2(target: string, flags: number): void {
  const c = load();
  check(c.umount2(target, flags), 'umount2', () => `umount ${target}`);
}

/** glibc's gnu_dev_makedev: the 64-bit dev_t layout the kernel's new_encode_dev agrees with. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  const c = load();
  check(c.mknod(path, mode >>> 0, makedev(major, minor)), 'mknod', () => `mknod ${path}`);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  const c = load();
  check(c.lsetxattr(path, name, value, value.length, 0), 'lsetxattr', () => `set xattr ${name} on ${path}`);
}

/** The attribute's value, or null when the file does not have it. */
export function lgetxattr(path: string, name: string): Buffer | null {
  const c = load();
  // The value can grow between the size query and the read; retry on ERANGE.
  for (;;) {
    const size = Number(c.lgetxattr(path, name, null, 0));
    if (size < 0) {
      const errno = c.koffi.errno();
      if (errno === ENODATA) return null;
      throw new SyscallError(errno, 'lgetxattr', `get xattr ${name} of ${path}`);
    }
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const got = Number(c.lgetxattr(path, name, buf, size));
    if (got >= 0) return buf.subarray(0, got);
    const errno = c.koffi.errno();
    if (errno === ENODATA) return null;
    if (errno !== ERANGE) throw new SyscallError(errno, 'lgetxattr', `get xattr ${name} of ${path}`);
  }
}

export function llistxattr(path: string): string[] {
  const c = load();
  for (;;) {
    const size = check(c.llistxattr(path, null, 0), 'llistxattr', () => `list xattrs of ${path}`);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const got = Number(c.llistxattr(path, buf, size));
    if (got < 0) {
      const errno = c.koffi.errno();
      if (errno === ERANGE) continue;
      throw new SyscallError(errno, 'llistxattr', `list xattrs of ${path}`);
    }
    return buf
      .subarray(0, got)
      .toString('utf8')
      .split('\0')
      .filter((n) => n !== '');
  }
}

export function flock(fd: number, op: number): void {
  const c = load();
  check(c.flock(fd, op), 'flock', () => `flock fd ${fd}`);
}

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack as tarPack } from 'tar-stream';

/** End-to-end tests drive the built CLI, as a user would, against a store of their own. */
export const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BERTH = join(ROOT_DIR, 'bin', 'berth');
export const TEST_ROOT = process.env.BERTH_TEST_ROOT ?? '/var/tmp/berth-test/root';
export const TEST_RUNROOT = process.env.BERTH_TEST_RUNROOT ?? '/run/berth-test';
export const ENV: NodeJS.ProcessEnv = { ...process.env, BERTH_ROOT: TEST_ROOT, BERTH_RUNROOT: TEST_RUNROOT };

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function berth(
  args: string[],
  opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Result {
  const r = spawnSync(BERTH, args, {
    env: { ...ENV, ...opts.env },
    input: opts.input,
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 << 20,
  });
  return {
    code: r.status ?? (r.signal ? 128 : -1),
    stdout: r.stdout?.toString() ?? '',
    stderr: r.stderr?.toString() ?? '',
  };
}

/** Runs berth and fails with its output when the exit code is not 0. */
export function ok(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): string {
  const r = berth(args, opts);
  if (r.code !== 0)
    throw new Error(`berth ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export function berthAsync(args: string[], opts: { input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(BERTH, args, { env: ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** The busybox rootfs tar made from the host's busybox-static. */
export function busyboxTar(): string {
  return execFileSync('bash', [join(ROOT_DIR, 'scripts', 'busybox-rootfs.sh')], { encoding: 'utf8' }).trim();
}

/** Imports the shared `busybox` image once per store; concurrent test files serialise on a lock file. */
export function ensureBusybox(): void {
  mkdirSync(TEST_ROOT, { recursive: true });
  const tar = busyboxTar();
  execFileSync(
    'flock',
    [
      join(TEST_ROOT, '..', 'import.lock'),
      'sh',
      '-c',
      `"${BERTH}" image inspect busybox >/dev/null 2>&1 || "${BERTH}" import --change 'CMD ["sh"]' "${tar}" busybox`,
    ],
    { env: ENV, stdio: 'ignore' },
  );
}

/** A name unique to this test process, so test files can run side by side. */
export function uniq(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Unique container names for one test file, all force-removed when the file is done:
 * `const name = containerNames();` then `name('web')`, and `after(name.removeAll)`.
 */
export function containerNames(): ((prefix: string) => string) & { removeAll(): void } {
  const created: string[] = [];
  const name = (prefix: string) => {
    const n = uniq(prefix);
    created.push(n);
    return n;
  };
  return Object.assign(name, {
    removeAll() {
      for (const n of created) berth(['rm', '-f', n]);
    },
  });
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function until<T>(
  fn: () => T | undefined | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function inspect<T = Record<string, unknown>>(ref: string): T {
  return (JSON.parse(ok(['inspect', ref])) as T[])[0]!;
}

/**
 * Overlay mounts of containers that no longer exist. Always 0 when nothing leaks: a container's
 * row is written before its first mount and deleted after its last unmount, so this holds even
 * while other test files run containers.
 */
export function strayMounts(): string[] {
  const prefix = join(TEST_ROOT, 'containers');
  const mounted = () =>
    new Set(
      readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((mp) => mp.startsWith(`${prefix}/`) && mp.endsWith('/merged')),
    );
  // Mounts seen both before and after listing the rows: a container created or removed meanwhile
  // (rows come before mounts, unmounts before row deletion) cannot look like a stray.
  const first = mounted();
  const rows = new Set(ok(['ps', '-a', '-q', '--no-trunc']).split('\n').filter(Boolean));
  const second = mounted();
  return [...first]
    .filter((mp) => second.has(mp))
    .filter((mp) => !rows.has(mp.slice(prefix.length + 1, -'/merged'.length)));
}

export function runtimeStateExists(id: string): boolean {
  return existsSync(join(TEST_RUNROOT, 'runtime', id));
}

/** Whether the container's overlay root is mounted. */
export function rootfsMounted(id: string): boolean {
  const merged = join(TEST_ROOT, 'containers', id, 'merged');
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === merged);
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: string | Buffer;
  linkname?: string;
}

/** A tar built entry by entry, so that it can hold what `tar` refuses to write (`../x`, escaping links). */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const drained = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      linkname: e.linkname,
      mode: type === 'directory' ? 0o755 : 0o644,
      mtime: new Date('2024-01-02T03:04:05Z'),
    };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') p.entry(header, Buffer.from(e.body ?? ''), done);
      else p.entry(header, done);
    });
  }
  p.finalize();
  await drained;
  return Buffer.concat(chunks);
}

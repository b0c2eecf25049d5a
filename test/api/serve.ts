import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH, ENV, until } from '../helpers.ts';

export const DOCKER = '/usr/local/bin/docker';

export interface Served {
  sock: string;
  /** The environment for a client of this server (DOCKER_HOST set). */
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts `berth serve -H unix://<tmp>/s.sock` on the test store, as a child process. */
export async function serve(): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-api-'));
  const sock = join(dir, 's.sock');
  const env = { ...ENV };
  delete env.DOCKER_HOST;
  delete env.BERTH_HOST;
  const child = spawn(BERTH, ['serve', '-H', `unix://${sock}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  await until(() => existsSync(sock) || child.exitCode !== null, 15_000, 'berth serve to listen');
  if (child.exitCode !== null) throw new Error(`berth serve exited: ${log}`);
  return {
    sock,
    env: { ...ENV, DOCKER_HOST: `unix://${sock}` },
    child,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real docker CLI against the server. */
export function docker(s: Served, args: string[], o: { input?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(DOCKER, args, { env: s.env, input: o.input, timeout: o.timeoutMs ?? 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

export function dockerOk(s: Served, args: string[], o: { input?: string; timeoutMs?: number } = {}): string {
  const r = docker(s, args, o);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

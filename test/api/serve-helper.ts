import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH, ENV } from '../helpers.ts';

export interface Served {
  /** unix:///…/s.sock */
  host: string;
  socketPath: string;
  dir: string;
  /** The environment a docker client needs to reach this server. */
  dockerEnv: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Starts `berth serve -H unix://<tmp>/s.sock` on the test store; resolves once it listens. */
export async function startServe(): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-api-'));
  const socketPath = join(dir, 's.sock');
  const host = `unix://${socketPath}`;
  // The server is the engine: it must not itself be pointed at another one.
  const env = { ...ENV, BERTH_HOST: '', DOCKER_HOST: '' };
  const child: ChildProcess = spawn(BERTH, ['serve', '-H', host], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`berth serve did not start:\n${stderr}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('listening on')) {
        clearTimeout(deadline);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`berth serve exited ${code}:\n${stderr}`));
    });
  });
  return {
    host,
    socketPath,
    dir,
    dockerEnv: { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config') },
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

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Registry {
  host: string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
    s.on('error', reject);
  });
}

/** Debian's docker-registry on 127.0.0.1, storage under `dir`; with `user`, htpasswd auth (bcrypt). */
export async function startRegistry(
  dir: string,
  user?: { name: string; password: string },
): Promise<Registry> {
  const port = await freePort();
  const root = join(dir, `registry-${port}`);
  mkdirSync(root, { recursive: true });
  let auth = '';
  if (user) {
    const line = execFileSync('htpasswd', ['-nbB', '-C', '4', user.name, user.password], {
      encoding: 'utf8',
    }).trim();
    writeFileSync(join(root, 'htpasswd'), `${line}\n`);
    auth = `auth:\n  htpasswd:\n    realm: basic-realm\n    path: ${join(root, 'htpasswd')}\n`;
  }
  const cfg = join(root, 'config.yml');
  writeFileSync(
    cfg,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${root}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const logFile = join(root, 'log');
  const fd = openSync(logFile, 'w');
  const proc: ChildProcess = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.status === 200 || r.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`docker-registry did not start:\n${readFileSync(logFile, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, stop: () => proc.kill('SIGKILL') };
}

import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { BerthError } from '../util/errors.ts';

export interface RuntimeInfo {
  name: string; // runc | crun
  path: string;
}

const SEARCH = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/bin', '/sbin'];

export function findBinary(name: string): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SEARCH]) {
    if (!dir) continue;
    const p = `${dir}/${name}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

export type CgroupLayout = 'v2' | 'hybrid' | 'v1';

export function cgroupLayout(): CgroupLayout {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  if (existsSync('/sys/fs/cgroup/unified')) return 'hybrid';
  return 'v1';
}

/**
 * crun refuses hybrid layouts whose cgroup2 hierarchy holds controllers (crun 1.8:
 * "cgroups in hybrid mode not supported"); runc copes. Everywhere else crun is preferred: it starts faster.
 */
function crunUsable(): boolean {
  if (cgroupLayout() !== 'hybrid') return true;
  try {
    return readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() === '';
  } catch {
    return true;
  }
}

export function selectRuntime(requested?: string): RuntimeInfo {
  if (requested) {
    const path = findBinary(requested);
    if (!path)
      throw new BerthError(
        `OCI runtime "${requested}" not found: install it (apt-get install ${requested}) or pick another with --runtime`,
      );
    return { name: requested.split('/').at(-1)!, path };
  }
  const order = crunUsable() ? ['crun', 'runc'] : ['runc', 'crun'];
  for (const name of order) {
    const path = findBinary(name);
    if (path) return { name, path };
  }
  throw new BerthError('no OCI runtime found: install runc or crun (apt-get install runc)');
}

/** Runs the OCI runtime with its state under Berth's runroot. */
export function runtimeExec(rt: RuntimeInfo, stateDir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(rt.path, ['--root', stateDir, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new BerthError(`${rt.name} ${args[0]}: ${runtimeMessage(stderr) || err.message}`));
      else resolve(stdout);
    });
  });
}

export function runtimeExecSync(rt: RuntimeInfo, stateDir: string, args: string[]): string {
  try {
    return execFileSync(rt.path, ['--root', stateDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new BerthError(`${rt.name} ${args[0]}: ${runtimeMessage(e.stderr?.toString() ?? '') || e.message}`);
  }
}

/** runc logs JSON lines or logfmt (`level=error msg="…"`); users want the msg. */
export function runtimeMessage(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const msgs = lines.map((l) => {
    try {
      const j = JSON.parse(l) as { msg?: string };
      if (j.msg) return j.msg;
    } catch {
      // not JSON
    }
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
    return m ? m[1]!.replace(/\\"/g, '"') : l;
  });
  return msgs.join('; ');
}

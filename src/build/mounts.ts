import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import { BerthError } from '../util/errors.ts';
import type { MountSpec } from '../volume/mount-spec.ts';

/** One `RUN --mount=…` as written, its keys parsed (docker's CSV form). */
export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target: string;
  source?: string;
  from?: string;
  readonly: boolean;
  id?: string;
  sharing: 'shared' | 'private' | 'locked';
  mode?: number;
  uid?: number;
  gid?: number;
  size?: string;
  required: boolean;
  env?: string;
}

export function parseRunMount(value: string, line: number): RunMount {
  const m: RunMount = { type: 'bind', target: '', readonly: true, sharing: 'shared', required: false };
  let rwGiven = false;
  for (const field of splitCsv(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (v === undefined) throw new BerthError(`Dockerfile:${line}: --mount ${key} needs a value`);
      return v;
    };
    switch (key) {
      case 'type': {
        const t = need();
        if (!['bind', 'cache', 'tmpfs', 'secret', 'ssh'].includes(t)) {
          throw new BerthError(`Dockerfile:${line}: unsupported mount type "${t}"`);
        }
        m.type = t as RunMount['type'];
        break;
      }
      case 'target':
      case 'dst':
      case 'destination':
        m.target = need();
        break;
      case 'source':
      case 'src':
        m.source = need();
        break;
      case 'from':
        m.from = need();
        break;
      case 'id':
        m.id = need();
        break;
      case 'ro':
      case 'readonly':
        m.readonly = v === undefined || v === 'true';
        rwGiven = true;
        break;
      case 'rw':
      case 'readwrite':
        m.readonly = !(v === undefined || v === 'true');
        rwGiven = true;
        break;
      case 'sharing': {
        const s = need();
        if (!['shared', 'private', 'locked'].includes(s)) {
          throw new BerthError(`Dockerfile:${line}: invalid sharing mode "${s}"`);
        }
        m.sharing = s as RunMount['sharing'];
        break;
      }
      case 'mode':
        m.mode = Number.parseInt(need(), 8);
        break;
      case 'uid':
        m.uid = Number(need());
        break;
      case 'gid':
        m.gid = Number(need());
        break;
      case 'size':
        m.size = need();
        break;
      case 'required':
        m.required = v === undefined || v === 'true';
        break;
      case 'env':
        m.env = need();
        break;
      default:
        throw new BerthError(`Dockerfile:${line}: unexpected key "${key}" in --mount=${value}`);
    }
  }
  // Cache and tmpfs mounts are writable unless said otherwise; bind mounts are read-only.
  if (!rwGiven && (m.type === 'cache' || m.type === 'tmpfs')) m.readonly = false;
  if (m.type === 'secret' && !m.target && !m.env)
    m.target = `/run/secrets/${m.id ?? posix.basename(m.source ?? '')}`;
  if (m.type === 'secret' && !m.id) m.id = posix.basename(m.target || m.source || '');
  if (!m.target && !(m.type === 'secret' && m.env)) {
    throw new BerthError(`Dockerfile:${line}: --mount=${value} needs a target`);
  }
  if (m.type === 'ssh') {
    throw new BerthError(
      `Dockerfile:${line}: RUN --mount=type=ssh is not supported by berth build (no SSH agent forwarding)`,
    );
  }
  return m;
}

function splitCsv(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = false;
  for (const c of s) {
    if (c === '"') quote = !quote;
    else if (c === ',' && !quote) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur) out.push(cur);
  return out.map((f) => f.trim()).filter(Boolean);
}

export function cacheMountsDir(ctx: StoreContext): string {
  return join(ctx.paths.root, 'build', 'cache-mounts');
}

/** The directory behind a cache mount, created on first use with the mount's owner and mode. */
export function cacheMountDir(ctx: StoreContext, m: RunMount): string {
  const id = m.id ?? m.target;
  const dir = join(cacheMountsDir(ctx), createHash('sha256').update(id).digest('hex').slice(0, 32));
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(join(dir, 'data'), { recursive: true });
    fs.chownSync(join(dir, 'data'), m.uid ?? 0, m.gid ?? 0);
    fs.chmodSync(join(dir, 'data'), m.mode ?? 0o755);
    fs.writeFileSync(join(dir, 'id'), id);
  }
  return join(dir, 'data');
}

/** A secret's bytes, from a `--secret id=…,src=…|env=…` the build was given. */
export function secretBytes(
  secrets: { id: string; src?: string; env?: string }[],
  id: string,
): Buffer | undefined {
  const s = secrets.find((x) => x.id === id);
  if (!s) return undefined;
  if (s.src) return fs.readFileSync(s.src);
  const v = process.env[s.env ?? id];
  return v === undefined ? undefined : Buffer.from(v);
}

/** Writes a secret into a private tmpfs-backed file under the run root; returns its bind mount. */
export function secretMount(ctx: StoreContext, m: RunMount, data: Buffer, cleanup: string[]): MountSpec {
  const dir = join(ctx.paths.runroot, 'build-secrets', randomBytes(8).toString('hex'));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  cleanup.push(dir);
  const file = join(dir, 'secret');
  fs.writeFileSync(file, data, { mode: m.mode ?? 0o400 });
  fs.chownSync(file, m.uid ?? 0, m.gid ?? 0);
  return { type: 'bind', source: file, target: m.target, readonly: true };
}

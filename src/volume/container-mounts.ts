import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRecord } from '../container/types.ts';
import type { StoreContext } from '../engine/context.ts';
import type { ImageRecord } from '../image/types.ts';
import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import { mount } from '../util/syscalls.ts';
import type { MountSpec } from './mount-spec.ts';

function randomVolumeName(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
}

/**
 * Settles a new container's mounts at create time, as docker does: anonymous volumes get names
 * (including one per image VOLUME not otherwise mounted), named volumes are created if missing,
 * `-v` creates a missing host directory while `--mount type=bind` refuses one, and
 * `--volumes-from` copies another container's volumes and binds.
 */
export function resolveMounts(
  ctx: StoreContext,
  img: ImageRecord,
  specs: MountSpec[],
  volumesFrom: string[],
): MountSpec[] {
  const out: MountSpec[] = [];
  const seen = new Set<string>();
  const add = (m: MountSpec) => {
    if (seen.has(m.target)) throw new InvalidArgumentError(`Duplicate mount point: ${m.target}`);
    seen.add(m.target);
    out.push(m);
  };
  for (const s of specs) add({ ...s });
  for (const ref of volumesFrom) {
    const [name = '', mode] = ref.split(':');
    const other = ctx.containers.mustFind(name);
    for (const m of other.config.host.mounts ?? []) {
      if (m.type === 'tmpfs' || seen.has(m.target)) continue;
      add({ ...m, readonly: mode === 'ro' ? true : mode === 'rw' ? false : m.readonly, anonymous: false });
    }
  }
  for (const target of Object.keys(img.config.config?.Volumes ?? {})) {
    if (!seen.has(target)) add({ type: 'volume', source: '', target, readonly: false, anonymous: true });
  }
  for (const m of out) {
    if (m.type === 'volume') {
      if (!m.source) m.source = randomVolumeName();
      ctx.volumes.create(m.source, { anonymous: m.anonymous, options: m.volumeOptions });
    } else if (m.type === 'bind' && !existsSync(m.source)) {
      if (!m.createHostDir)
        throw new InvalidArgumentError(
          `invalid mount config for type "bind": bind source path does not exist: ${m.source}`,
        );
      mkdirSync(m.source, { recursive: true });
    }
  }
  return out;
}

function isMountPoint(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(join(path, '..')).dev;
  } catch {
    return false;
  }
}

/** docker's local driver: `-o type=tmpfs,device=tmpfs,o=size=…` or `-o type=none,o=bind,device=/dir`. */
function mountVolumeDevice(ctx: StoreContext, name: string): void {
  const v = ctx.volumes.mustGet(name);
  const { type, device, o } = v.options;
  if (!type) return;
  const data = ctx.volumes.dataDir(name);
  if (isMountPoint(data)) return;
  const opts = (o ?? '').split(',').filter(Boolean);
  try {
    if (opts.includes('bind') || type === 'none') {
      if (!device || !existsSync(device)) throw new Error(`no such file or directory: ${device}`);
      mount(realpathSync(device), data, '', 4096 /* MS_BIND */, null);
    } else {
      mount(device ?? type, data, type, 0, opts.join(',') || null);
    }
  } catch (err) {
    throw new BerthError(`error while mounting volume '${data}': ${(err as Error).message}`);
  }
}

/**
 * The OCI binds and tmpfs mounts for a starting container. An empty volume is first filled with
 * what the image has at the mount point (docker's copy-up), unless `nocopy`.
 */
export function prepareMounts(
  ctx: StoreContext,
  c: ContainerRecord,
  rootfs: string,
): {
  binds: { source: string; target: string; options: string[] }[];
  tmpfs: { target: string; options: string[] }[];
} {
  const binds: { source: string; target: string; options: string[] }[] = [];
  const tmpfs: { target: string; options: string[] }[] = [];
  for (const m of c.config.host.mounts ?? []) {
    const rw = m.readonly ? 'ro' : 'rw';
    if (m.type === 'tmpfs') {
      const opts = [rw];
      if (m.tmpfsSize) opts.push(`size=${m.tmpfsSize}`);
      if (m.tmpfsMode !== undefined) opts.push(`mode=${m.tmpfsMode.toString(8)}`);
      tmpfs.push({ target: m.target, options: opts });
      continue;
    }
    let source = m.source;
    if (m.type === 'volume') {
      mountVolumeDevice(ctx, m.source);
      source = ctx.volumes.dataDir(m.source);
      if (!m.nocopy && ctx.volumes.isEmpty(m.source)) copyUp(rootfs, m.target, source);
    } else {
      // A symlink as the bind source is resolved on the host, as docker does.
      if (!existsSync(source)) throw new BerthError(`bind source path does not exist: ${source}`);
      source = realpathSync(source);
    }
    binds.push({ source, target: m.target, options: ['rbind', m.propagation ?? 'rprivate', rw] });
  }
  return { binds, tmpfs };
}

/** Copies the image's files at `target` into an empty volume, keeping owners, modes and links. */
function copyUp(rootfs: string, target: string, dest: string): void {
  const src = join(rootfs, target);
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(src);
  } catch {
    return;
  }
  // Only a real directory of the image is copied: a symlink on the way could point anywhere on the host.
  if (
    !st.isDirectory() ||
    realpathSync(src) !== join(realpathSync(rootfs), target) ||
    readdirSync(src).length === 0
  )
    return;
  execFileSync('cp', ['-a', '--no-dereference', `${src}/.`, dest], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('chown', [`${st.uid}:${st.gid}`, dest]);
  execFileSync('chmod', [(st.mode & 0o7777).toString(8), dest]);
}

/** Names of the containers that mount `volume`. */
export function volumeUsers(ctx: StoreContext, volume: string): string[] {
  return ctx.containers
    .list()
    .filter((c) => (c.config.host.mounts ?? []).some((m) => m.type === 'volume' && m.source === volume))
    .map((c) => c.name);
}

/** `rm -v` and `--rm`: the container's anonymous volumes go with it, unless another container uses them. */
export function removeAnonymousVolumes(ctx: StoreContext, c: ContainerRecord): void {
  for (const m of c.config.host.mounts ?? []) {
    if (m.type !== 'volume' || !m.anonymous) continue;
    const users = volumeUsers(ctx, m.source).filter((n) => n !== c.name);
    if (users.length === 0 && ctx.volumes.get(m.source)) ctx.volumes.remove(m.source, []);
  }
}

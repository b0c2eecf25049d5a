import type { StoreContext } from '../engine/context.ts';
import { volumeUsers } from './container-mounts.ts';
import type { VolumeRecord } from './volume-store.ts';

/** docker's Volume object. */
export interface VolumeInfo {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string> | null;
}

export function volumeInfo(ctx: StoreContext, v: VolumeRecord): VolumeInfo {
  return {
    Name: v.name,
    Driver: v.driver,
    Mountpoint: ctx.volumes.dataDir(v.name),
    CreatedAt: v.created,
    Labels: v.labels,
    Scope: 'local',
    Options: Object.keys(v.options).length ? v.options : null,
  };
}

export function removeVolume(ctx: StoreContext, name: string, force: boolean): void {
  const users = volumeUsers(ctx, name);
  if (force && users.length === 0) {
    if (!ctx.volumes.get(name)) return;
  }
  ctx.volumes.remove(name, users);
}

/** `volume prune`: unused anonymous volumes, or with `all` every unused volume. */
export function pruneVolumes(
  ctx: StoreContext,
  all: boolean,
  keep: (v: VolumeRecord) => boolean,
): { deleted: string[] } {
  const deleted: string[] = [];
  for (const v of ctx.volumes.list()) {
    if (!all && !v.anonymous) continue;
    if (keep(v) || volumeUsers(ctx, v.name).length > 0) continue;
    ctx.volumes.remove(v.name, []);
    deleted.push(v.name);
  }
  return { deleted };
}

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { layerDir, layersDir, type StorePaths } from '../store/paths.ts';

/**
 * Unpacked layers, one directory per chain ID, shared read-only by every container as overlay
 * lowerdirs. A layer is unpacked into a temporary directory and renamed into place, so a crash
 * or a hostile tar never leaves a half-unpacked layer under its real name.
 */
export class LayerStore {
  constructor(private readonly paths: StorePaths) {}

  dir(chainId: string): string {
    return layerDir(this.paths, chainId);
  }

  has(chainId: string): boolean {
    return existsSync(this.dir(chainId));
  }

  async ensure(chainId: string, blobPath: string): Promise<string> {
    const dest = this.dir(chainId);
    if (existsSync(dest)) return dest;
    const tmp = join(layersDir(this.paths), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    mkdirSync(tmp, { recursive: true, mode: 0o755 });
    try {
      // The tar codec is loaded only when a layer is unpacked: most commands never need it.
      const { unpackLayerFile } = await import('./unpack.ts');
      await unpackLayerFile(blobPath, tmp);
      try {
        renameSync(tmp, dest);
      } catch (err) {
        // Another berth unpacked the same layer first: theirs is as good as ours.
        if (!existsSync(dest)) throw err;
        rmSync(tmp, { recursive: true, force: true });
      }
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    return dest;
  }

  remove(chainId: string): void {
    rmSync(this.dir(chainId), { recursive: true, force: true });
  }

  /** Removes temporary directories left by a crashed unpack. */
  sweep(): void {
    const dir = layersDir(this.paths);
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.tmp-')) {
        const pid = Number(name.split('-')[1]);
        if (!pidAlive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
      }
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../../util/errors.ts';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from '../../util/syscalls.ts';
import { references } from './manifest.ts';
import { rootLockFile } from './server.ts';
import { RegistryStorage } from './storage.ts';

export interface GcResult {
  /** Digests of the blobs removed (or that would be, with dryRun). */
  removed: string[];
  bytes: number;
  kept: number;
}

/**
 * Mark and sweep: every manifest revision of every repository is a root; it marks itself and the
 * blobs (config, layers, child manifests) it references. Unmarked blobs are deleted, and links to
 * them dropped. It holds the root's lock exclusively, so it refuses to run beside `registry serve`
 * (which holds it shared): no push can land a manifest on a blob being swept.
 */
export async function collectGarbage(root: string, opts: { dryRun?: boolean } = {}): Promise<GcResult> {
  mkdirSync(root, { recursive: true });
  const fd = openSync(rootLockFile(root), 'a');
  try {
    try {
      flock(fd, LOCK_EX | LOCK_NB);
    } catch {
      throw new BerthError(`a registry is serving ${root}: stop \`berth registry serve\` before running gc`);
    }
    try {
      return await sweep(new RegistryStorage(root), opts.dryRun ?? false);
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}

async function sweep(store: RegistryStorage, dryRun: boolean): Promise<GcResult> {
  const marked = new Set<string>();
  const repos = await store.repositories();
  for (const repo of repos) {
    for (const digest of await store.revisions(repo)) {
      marked.add(digest);
      let body: Buffer;
      try {
        body = await readFile(store.blobPath(digest));
      } catch {
        continue;
      }
      for (const d of references(body)) marked.add(d);
    }
  }
  let names: string[] = [];
  try {
    names = await readdir(store.blobsDir);
  } catch {
    // no blobs yet
  }
  const removed: string[] = [];
  let bytes = 0;
  let kept = 0;
  for (const hex of names) {
    const digest = `sha256:${hex}`;
    if (marked.has(digest)) {
      kept++;
      continue;
    }
    const file = join(store.blobsDir, hex);
    try {
      bytes += (await stat(file)).size;
    } catch {
      continue;
    }
    removed.push(digest);
    if (!dryRun) await rm(file, { force: true });
  }
  if (!dryRun) {
    const gone = new Set(removed);
    for (const repo of repos) {
      for (const d of await store.linkedBlobs(repo)) {
        if (gone.has(d)) await store.unlinkBlob(repo, d);
      }
    }
  }
  return { removed, bytes, kept };
}

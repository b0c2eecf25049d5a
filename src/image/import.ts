import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { StoreContext } from '../engine/context.ts';
import { openArchiveFile } from '../util/archive-file.ts';
import { BerthError } from '../util/errors.ts';
import { chainIds } from './chain.ts';
import { applyChanges } from './changes.ts';
import { canonicalName, parseReference } from './reference.ts';
import { goArch, type ImageConfig, type ImageManifest, type ImageRecord, MediaTypes } from './types.ts';
import { CorruptLayerError } from './unpack.ts';

export interface ImportOptions {
  changes: string[];
  message?: string;
  reference?: string;
  sourceName: string; // shown in history, like docker's "Imported from -"
  platform?: { os: string; architecture: string };
}

/** Gunzips the stream when it starts with the gzip magic bytes, passes it through otherwise. */
export async function decompressed(input: Readable): Promise<Readable> {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    const onReadable = () => {
      const chunk = input.read() as Buffer | null;
      if (chunk === null && !input.readableEnded) return;
      cleanup();
      resolve(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', onError);
    };
    input.on('readable', onReadable);
    input.on('end', onEnd);
    input.on('error', onError);
  });
  if (!first)
    throw new BerthError('import: the input is empty; want a tar archive (optionally gzip-compressed)');
  const gz = first[0] === 0x1f && first[1] === 0x8b;
  if (first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd) {
    throw new BerthError('import: zstd-compressed archives are not supported yet; decompress it first');
  }
  const target = gz ? createGunzip() : out;
  if (gz) target.pipe(out);
  target.write(first);
  input.pipe(target);
  input.on('error', (e) => out.destroy(e));
  if (gz) target.on('error', (e) => out.destroy(new BerthError(`import: bad gzip data: ${e.message}`)));
  return out;
}

/** `berth import`: one tar becomes a one-layer image. */
export async function importImage(
  ctx: StoreContext,
  source: Readable,
  opts: ImportOptions,
): Promise<ImageRecord> {
  const ref = opts.reference ? parseReference(opts.reference) : undefined;
  // Everything the user typed is checked before the input is read: a bad --change must not leave a layer behind.
  const runtimeConfig = applyChanges({}, opts.changes);
  const tar = await decompressed(source);
  // Layers are kept uncompressed: the blob digest is the diff ID, and unpacking needs no inflate.
  const layer = await ctx.blobs.putStream(tar);
  const [chainId] = chainIds([layer.digest]);
  try {
    await ctx.layers.ensure(chainId!, ctx.blobs.path(layer.digest));
  } catch (err) {
    if (!layerInUse(ctx, chainId!)) ctx.blobs.delete(layer.digest);
    throw importFailure(err);
  }
  const now = new Date().toISOString();
  const config: ImageConfig = {
    created: now,
    architecture: opts.platform?.architecture ?? goArch(),
    os: opts.platform?.os ?? 'linux',
    config: runtimeConfig,
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created: now, created_by: '', comment: opts.message || `Imported from ${opts.sourceName}` }],
  };
  const configBlob = ctx.blobs.putBytes(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers: [{ mediaType: MediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
  };
  const manifestBlob = ctx.blobs.putBytes(JSON.stringify(manifest));
  const record = {
    id: configBlob.digest,
    manifestDigest: manifestBlob.digest,
    created: now,
    size: layer.size,
    config,
    layers: [
      {
        diffId: layer.digest,
        chainId: chainId!,
        blob: layer.digest,
        mediaType: MediaTypes.ociLayer,
        size: layer.size,
      },
    ],
    parent: '',
    added: now,
  };
  ctx.images.put(record, ref ? [canonicalName(ref)] : []);
  return ctx.images.mustFind(record.id);
}

function layerInUse(ctx: StoreContext, chainId: string): boolean {
  return ctx.images.list().some((i) => i.layers.some((l) => l.chainId === chainId));
}

/** The layer store speaks of blobs and pulls; say what went wrong in terms of the user's archive. */
function importFailure(err: unknown): unknown {
  if (err instanceof CorruptLayerError) {
    return new BerthError(
      `import: the input is not a valid tar archive (${err.reason}); want a complete tar file, optionally gzip-compressed`,
    );
  }
  if (err instanceof BerthError) return new BerthError(`import: ${err.message}`, err.exitCode, err.status);
  return err;
}

/** Opens the archive up front, so that a missing or unreadable file is reported before anything is written. */
export function openSource(path: string): Readable {
  if (path === '-') return process.stdin;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new BerthError(
      `import from a URL (${path}) is not supported yet; download the archive and import the file`,
    );
  }
  return openArchiveFile(
    path,
    `import: ${path} is a directory; want a tar archive (pack it with \`tar -C ${path} -cf - .\`)`,
  );
}

import { createRequire } from 'node:module';
import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';

interface FzstdDecompress {
  push(chunk: Uint8Array, final?: boolean): void;
}

/**
 * A zstd decompressing stream: Node's own where it has one (22.15+), otherwise fzstd, a pure-JS
 * streaming decoder (Node 20 has no zstd in node:zlib).
 */
export function createZstdDecompress(): Transform {
  const native = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (typeof native === 'function') return native();
  const { Decompress } = createRequire(import.meta.url)('fzstd') as {
    Decompress: new (ondata: (chunk: Uint8Array, final: boolean) => void) => FzstdDecompress;
  };
  let out: Transform | undefined;
  const decoder = new Decompress((chunk) => {
    if (chunk.length) out!.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        cb();
      } catch (err) {
        cb(new Error(`bad zstd data: ${(err as Error).message}`));
      }
    },
    flush(cb) {
      try {
        decoder.push(new Uint8Array(0), true);
        cb();
      } catch (err) {
        cb(new Error(`bad zstd data: ${(err as Error).message}`));
      }
    },
  });
  return out;
}

import { sha256 } from '../store/blobs.ts';

/** OCI chain IDs: the identity of a layer stacked on all the layers below it. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const parent = out.at(-1);
    out.push(parent ? sha256(`${parent} ${diffId}`) : diffId);
  }
  return out;
}

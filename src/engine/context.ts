import { ContainerStore } from '../container/container-store.ts';
import { ImageStore } from '../image/image-store.ts';
import { LayerStore } from '../image/layer-store.ts';
import { BlobStore } from '../store/blobs.ts';
import { type Database, openDb } from '../store/db.ts';
import type { StorePaths } from '../store/paths.ts';
import { VolumeStore } from '../volume/volume-store.ts';

/** The stores one engine works on; opened once per process. */
export interface StoreContext {
  paths: StorePaths;
  db: Database;
  blobs: BlobStore;
  images: ImageStore;
  layers: LayerStore;
  containers: ContainerStore;
  volumes: VolumeStore;
}

export function openContext(paths: StorePaths): StoreContext {
  const db = openDb(paths);
  return {
    paths,
    db,
    blobs: new BlobStore(paths),
    images: new ImageStore(db),
    layers: new LayerStore(paths),
    containers: new ContainerStore(db),
    volumes: new VolumeStore(db, paths),
  };
}

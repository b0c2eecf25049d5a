import { join } from 'node:path';
import {
  containerDir,
  containerRunDir,
  exitsDir,
  runtimeStateDir,
  type StorePaths,
  socketsDir,
} from '../store/paths.ts';

/** Where one container's files live: persistent under the root, runtime state under the runroot. */
export function containerFiles(p: StorePaths, id: string) {
  const dir = containerDir(p, id);
  const run = containerRunDir(p, id);
  return {
    dir,
    bundle: join(dir, 'userdata'),
    log: join(dir, 'ctr.log'),
    run,
    pidFile: join(run, 'pidfile'),
    conmonPidFile: join(run, 'conmon.pid'),
    persist: join(run, 'persist'),
    oomFile: join(run, 'persist', 'oom'),
    exitDir: exitsDir(p),
    runtimeState: runtimeStateDir(p),
    socketDir: socketsDir(p),
    /** conmon links `<socketDir>/<cuuid>` to the bundle, keeping the path short enough for sun_path. */
    attach: (cuuid: string = id) => join(socketsDir(p), cuuid, 'attach'),
    ctl: join(dir, 'userdata', 'ctl'),
  };
}

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreContext } from '../engine/context.ts';
import { ConflictError } from '../util/errors.ts';
import { type AttachIO, connectAttach, relayAttach } from './attach.ts';
import { execResult, launchConmon } from './conmon.ts';
import { mergeEnv } from './create.ts';
import { writeResize } from './ctl.ts';
import type { OciSpec } from './oci-spec-types.ts';
import { containerFiles } from './paths.ts';
import { rootfsDirs } from './rootfs.ts';
import { selectRuntime } from './runtime.ts';
import { resolveUser } from './user.ts';

export interface ExecOptions {
  cmd: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  tty: boolean;
  stdin: boolean;
  detach: boolean;
  privileged: boolean;
}

export interface ExecHandle {
  execId: string;
  /** The exec'd process's pid on the host (docker's exec inspect `Pid`). */
  pid: number;
  /** Resolves with the exec'd process's exit code (after its output has been relayed). */
  exitCode: Promise<number>;
  resize(rows: number, cols: number): void;
  detached: Promise<boolean>;
}

/** Runs a new process in a running container, monitored by its own conmon like podman's exec sessions. */
export async function execInContainer(
  ctx: StoreContext,
  ref: string,
  o: ExecOptions,
  io: AttachIO,
): Promise<ExecHandle> {
  const c = ctx.containers.mustFind(ref);
  if (c.state.status === 'paused') {
    throw new ConflictError(`container ${c.id} is paused, unpause the container before exec`);
  }
  if (c.state.status !== 'running') throw new ConflictError(`container ${c.id} is not running`);
  const f = containerFiles(ctx.paths, c.id);
  const spec = JSON.parse(readFileSync(join(f.bundle, 'config.json'), 'utf8')) as OciSpec;
  const base = spec.process;
  const user = o.user ? resolveUser(rootfsDirs(ctx, c.id).merged, o.user) : undefined;
  const execId = randomBytes(32).toString('hex');
  const dir = join(f.run, 'exec', execId.slice(0, 12));
  mkdirSync(dir, { recursive: true });
  const env = mergeEnv(base.env ?? [], o.env);
  if (o.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  const processSpec = {
    ...base,
    terminal: o.tty,
    ...(o.tty && io.consoleSize
      ? { consoleSize: { height: io.consoleSize.rows, width: io.consoleSize.cols } }
      : {}),
    args: o.cmd,
    env,
    cwd: o.workingDir || base.cwd,
    user: user ? { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids } : base.user,
    ...(o.privileged && base.capabilities ? { capabilities: allCaps(spec) } : {}),
  };
  const processFile = join(dir, 'process.json');
  writeFileSync(processFile, JSON.stringify(processSpec));
  const runtime = selectRuntime(c.state.runtime || undefined);
  const cuuid = execId.slice(0, 12);
  const handle = await launchConmon({
    id: c.id,
    cuuid,
    name: c.name,
    runtime,
    runtimeStateDir: f.runtimeState,
    bundle: dir,
    pidFile: join(dir, 'pid'),
    conmonPidFile: join(dir, 'conmon.pid'),
    persistDir: dir,
    exitDir: f.exitDir,
    socketDir: f.socketDir,
    logPath: join(dir, 'exec.log'),
    logSizeMax: 1 << 20,
    stdin: o.stdin,
    tty: o.tty,
    exec: { processSpec: processFile, attach: !o.detach },
  });
  const cleanupDir = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(f.socketDir, cuuid), { force: true });
  };
  if (o.detach) {
    handle.sync.close();
    return {
      execId,
      // Nobody waits for a detached exec here; its pid is known only if the runtime wrote it already.
      pid: readPid(join(dir, 'pid')),
      exitCode: Promise.resolve(0),
      resize: () => undefined,
      detached: Promise.resolve(true),
    };
  }
  const sock = await connectAttach(join(f.socketDir, cuuid, 'attach'));
  const session = relayAttach(sock, io);
  handle.start?.();
  const result = await execResult(handle).catch((err: unknown) => {
    session.close();
    cleanupDir();
    throw err;
  });
  const exitCode = (async () => {
    const code = await result.wait;
    await Promise.race([session.done, new Promise((r) => setTimeout(r, 2000))]);
    session.close();
    cleanupDir();
    return code;
  })();
  return {
    execId,
    pid: result.pid,
    exitCode,
    resize(rows, cols) {
      writeResize(join(dir, 'ctl'), rows, cols);
    },
    detached: session.done.then((how) => how === 'detached'),
  };
}

function allCaps(spec: OciSpec) {
  const caps = spec.process.capabilities;
  const all = caps?.bounding ?? [];
  return { bounding: all, effective: all, permitted: all };
}

function readPid(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

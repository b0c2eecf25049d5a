import { execFileSync, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { BerthError } from '../util/errors.ts';
import { findBinary, type RuntimeInfo, runtimeMessage } from './runtime.ts';

export interface ConmonLaunch {
  id: string;
  /** conmon's session id: names the attach socket link; the container id for the main process. */
  cuuid: string;
  name: string;
  runtime: RuntimeInfo;
  runtimeStateDir: string;
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  persistDir: string;
  exitDir: string;
  socketDir: string;
  logPath: string;
  logSizeMax: number;
  /** Rotated files to keep besides the live one (conmon ≥ 2.2); older conmon truncates at the cap. */
  logBackups?: number;
  stdin: boolean;
  tty: boolean;
  exitCommand?: string[];
  /** For `exec`: the process.json to run in the existing container. */
  exec?: { processSpec: string; attach: boolean };
}

let versionCache: number[] | undefined;

/** conmon's version as [major, minor, patch]; rotation flags arrived in 2.2.0. */
export function conmonVersion(): number[] {
  if (!versionCache) {
    const out = execFileSync(conmonPath(), ['--version'], { encoding: 'utf8' });
    versionCache = (/version (\d+)\.(\d+)\.(\d+)/.exec(out) ?? [0, 0, 0, 0]).slice(1).map(Number);
  }
  return versionCache;
}

export function conmonRotates(): boolean {
  const [major = 0, minor = 0] = conmonVersion();
  return major > 2 || (major === 2 && minor >= 2);
}

export function conmonPath(): string {
  const p = findBinary('conmon');
  if (!p) throw new BerthError('conmon not found: install it (apt-get install conmon)');
  return p;
}

function conmonArgs(o: ConmonLaunch): string[] {
  const args = [
    '--api-version',
    '1',
    '-c',
    o.id,
    '-u',
    o.cuuid,
    '-n',
    o.name,
    '-r',
    o.runtime.path,
    '-b',
    o.bundle,
    '-p',
    o.pidFile,
    '-P',
    o.conmonPidFile,
    '-l',
    `k8s-file:${o.logPath}`,
    '--socket-dir-path',
    o.socketDir,
    '--runtime-arg',
    '--root',
    '--runtime-arg',
    o.runtimeStateDir,
    '--log-level',
    'error',
  ];
  if (!o.exec) args.push('--exit-dir', o.exitDir, '--persist-dir', o.persistDir);
  if (o.logSizeMax > 0) args.push('--log-size-max', String(o.logSizeMax));
  if (o.logSizeMax > 0 && o.logBackups && conmonRotates()) {
    args.push('--log-rotate', '--log-max-files', String(o.logBackups));
  }
  if (o.stdin) args.push('-i');
  if (o.tty) args.push('-t');
  if (o.exec) {
    args.push('-e', '--exec-process-spec', o.exec.processSpec);
    if (o.exec.attach) args.push('--exec-attach');
  }
  if (o.exitCommand && o.exitCommand.length > 0) {
    args.push('--exit-command', o.exitCommand[0]!);
    for (const a of o.exitCommand.slice(1)) args.push('--exit-command-arg', a);
  }
  return args;
}

interface SyncMessage {
  data: number;
  message?: string;
}

/** Reads newline-delimited JSON messages that conmon writes on its sync pipe. */
export class SyncReader {
  private buf = '';
  private readonly waiting: ((m: SyncMessage | null) => void)[] = [];
  private readonly queue: (SyncMessage | null)[] = [];

  constructor(private readonly stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) this.push(JSON.parse(line) as SyncMessage);
      }
    });
    stream.on('end', () => this.push(null));
    stream.on('error', () => this.push(null));
  }

  private push(m: SyncMessage | null): void {
    const w = this.waiting.shift();
    if (w) w(m);
    else this.queue.push(m);
  }

  next(): Promise<SyncMessage | null> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift()!);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): void {
    this.stream.destroy();
  }
}

export interface ConmonHandle {
  /** PID of the container's (or exec's) first process. */
  pid: number;
  sync: SyncReader;
  /** For exec with attach: write to let conmon run the process once we are attached. */
  start?: () => void;
  /** For exec with attach: resolves once conmon's attach socket is listening. */
  attachReady?: Promise<void>;
}

/**
 * Starts conmon, which daemonizes, runs `runtime create` (or `runtime exec`), and reports the
 * container's PID on the sync pipe. conmon, not Node, is the parent of the runtime and the container.
 */
export async function launchConmon(o: ConmonLaunch): Promise<ConmonHandle> {
  const attachExec = o.exec?.attach === true;
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe', 'pipe'];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    _OCI_SYNCPIPE: '3',
  };
  if (attachExec) {
    stdio.push('pipe', 'pipe');
    env._OCI_STARTPIPE = '4';
    env._OCI_ATTACHPIPE = '5';
  }
  const child = spawn(conmonPath(), conmonArgs(o), { detached: true, stdio, env });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr += d;
  });
  const sync = new SyncReader(child.stdio[3] as Readable);
  let start: (() => void) | undefined;
  let attachReady: Promise<void> | undefined;
  if (attachExec) {
    const startPipe = child.stdio[4] as unknown as NodeJS.WritableStream & { destroy(): void };
    start = () => {
      startPipe.write('0');
      startPipe.end();
    };
    const attachReader = new SyncReader((child.stdio as unknown as Readable[])[5]!);
    // conmon waits on the start pipe before forking: feed it once so it proceeds to set up the socket.
    startPipe.write('0');
    attachReady = attachReader.next().then((m) => {
      attachReader.close();
      if (!m) throw new BerthError(`conmon did not set up the attach socket: ${stderr.trim()}`);
    });
  }
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.unref();
  if (attachExec) {
    await attachReady;
    return { pid: 0, sync, start, attachReady };
  }
  const msg = await sync.next();
  if (!msg || msg.data < 0) {
    await exited;
    sync.close();
    const why =
      runtimeMessage(msg?.message ?? '') || stderr.trim() || 'conmon exited without reporting a PID';
    throw new CreateError(why);
  }
  return { pid: msg.data, sync };
}

/** The runtime failed to create the process; `exitCode` follows docker (127 not found, 126 not executable). */
export class CreateError extends BerthError {
  constructor(message: string) {
    super(message, createExitCode(message));
  }
}

function createExitCode(message: string): number {
  if (/executable file not found|no such file or directory|not found in \$PATH/i.test(message)) return 127;
  if (/permission denied|exec format error|is a directory/i.test(message)) return 126;
  return 125;
}

/** Completes an attached exec: waits for the PID line and then the exit-code line. */
export async function execResult(h: ConmonHandle): Promise<{ pid: number; wait: Promise<number> }> {
  const first = await h.sync.next();
  if (!first || first.data < 0) {
    h.sync.close();
    throw new CreateError(runtimeMessage(first?.message ?? '') || 'exec failed');
  }
  const wait = h.sync.next().then((m) => {
    h.sync.close();
    return m ? m.data : -1;
  });
  return { pid: first.data, wait };
}

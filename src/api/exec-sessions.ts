import { randomBytes } from 'node:crypto';
import type { ExecHandle, ExecOptions } from '../container/exec.ts';
import { ConflictError, NotFoundError } from '../util/errors.ts';

/**
 * docker's exec is two calls, create then start; Berth's engine runs an exec in one. The server
 * keeps created execs here until they are started, and their outcome for inspect, for its lifetime
 * (docker's daemon keeps them in memory too).
 */
export interface ExecSession {
  id: string;
  containerId: string;
  options: ExecOptions;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys?: string;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  handle?: ExecHandle;
}

/** Finished execs are forgotten after this long, so a long-lived server does not grow without end. */
const KEEP_MS = 10 * 60 * 1000;

export class ExecSessions {
  private readonly sessions = new Map<string, ExecSession>();

  create(
    containerId: string,
    o: Omit<ExecSession, 'id' | 'containerId' | 'running' | 'started' | 'exitCode'>,
  ): ExecSession {
    const s: ExecSession = {
      id: randomBytes(32).toString('hex'),
      containerId,
      running: false,
      started: false,
      exitCode: null,
      ...o,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string): ExecSession {
    const s =
      this.sessions.get(id) ??
      [...this.sessions.values()].find((x) => id.length >= 12 && x.id.startsWith(id));
    if (!s) throw new NotFoundError(`No such exec instance: ${id}`);
    return s;
  }

  /** Marks the exec started (once only, as docker) and records its end. */
  begin(s: ExecSession, handle: ExecHandle): void {
    s.handle = handle;
    s.running = true;
    handle.exitCode.then(
      (code) => this.finish(s, code),
      () => this.finish(s, 126),
    );
  }

  claim(s: ExecSession): void {
    if (s.started) throw new ConflictError(`Error: Exec command ${s.id} has already run`);
    s.started = true;
  }

  finish(s: ExecSession, code: number): void {
    s.running = false;
    s.exitCode = code;
    setTimeout(() => this.sessions.delete(s.id), KEEP_MS).unref();
  }
}

import type { AttachIO } from '../container/attach.ts';
import { detachKeyFilter } from '../container/attach.ts';

function currentSize(): { rows: number; cols: number } | undefined {
  const out = process.stdout;
  return out.isTTY && out.rows && out.columns ? { rows: out.rows, cols: out.columns } : undefined;
}

export interface TerminalSession {
  io: AttachIO;
  /** Current size of the local terminal, if stdout is one. */
  size(): { rows: number; cols: number } | undefined;
  onResize(cb: (rows: number, cols: number) => void): void;
  restore(): void;
}

/**
 * Wires the local process's streams for an attach: raw mode when a TTY is requested and stdin is
 * one, ctrl-p ctrl-q to detach, and resize events.
 */
export function openTerminal(o: {
  tty: boolean;
  stdin: boolean;
  stdout?: boolean;
  stderr?: boolean;
}): TerminalSession {
  const stdin = process.stdin;
  const raw = o.tty && o.stdin && stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const io: AttachIO = {
    stdin: o.stdin ? stdin : undefined,
    stdout: o.stdout === false ? undefined : process.stdout,
    stderr: o.stderr === false ? undefined : process.stderr,
    detachKeys: o.tty && o.stdin ? detachKeyFilter() : undefined,
    consoleSize: o.tty ? currentSize() : undefined,
  };
  return {
    io,
    size: currentSize,
    onResize(cb) {
      if (!process.stdout.isTTY) return;
      process.stdout.on('resize', () => cb(process.stdout.rows, process.stdout.columns));
    },
    restore() {
      if (raw) stdin.setRawMode(false);
      stdin.pause();
    },
  };
}

/** Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container, as docker's --sig-proxy does. */
export function proxySignals(send: (signal: string) => void): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => {
    const h = () => send(s);
    process.on(s, h);
    return [s, h] as const;
  });
  return () => {
    for (const [s, h] of handlers) process.off(s, h);
  };
}

import { createRequire } from 'node:module';
import type { SeqpacketSocket } from 'node-unix-socket';

/** conmon prefixes every packet it sends on the attach socket with the stream it came from. */
const STDOUT_PIPE = 2;
const STDERR_PIPE = 3;
/** conmon reads at most 8 KiB per packet; larger writes would be truncated. */
const MAX_PACKET = 8192;

export interface AttachIO {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** The local terminal's size, for a process started with a TTY. */
  consoleSize?: { rows: number; cols: number };
  /** Called with raw stdin bytes; return true when the detach sequence was typed. */
  detachKeys?: (chunk: Buffer) => { pass: Buffer; detach: boolean };
}

export interface AttachSession {
  /** Resolves when conmon closes the socket (the process exited) or the user detached. */
  done: Promise<'exited' | 'detached'>;
  close(): void;
}

type SocketCtor = new () => SeqpacketSocket;

let ctor: SocketCtor | undefined;

function seqpacket(): SocketCtor {
  if (!ctor) {
    const mod = createRequire(import.meta.url)('node-unix-socket') as { SeqpacketSocket: SocketCtor };
    ctor = mod.SeqpacketSocket;
  }
  return ctor;
}

/**
 * Loads the socket addon (~10 ms) on the next turn of the event loop, so the load overlaps the
 * wait for conmon and the runtime to create the container instead of following it.
 */
export function preloadAttach(): void {
  setImmediate(() => seqpacket());
}

export function connectAttach(path: string): Promise<SeqpacketSocket> {
  const Sock = seqpacket();
  return new Promise((resolve, reject) => {
    const s = new Sock();
    s.once('error', reject);
    try {
      s.connect(path, () => {
        s.off('error', reject);
        resolve(s);
      });
    } catch (err) {
      reject(err);
    }
  });
}

/** Relays a connected attach socket to local streams until the container's side closes. */
export function relayAttach(sock: SeqpacketSocket, io: AttachIO): AttachSession {
  let finish: (how: 'exited' | 'detached') => void = () => undefined;
  const done = new Promise<'exited' | 'detached'>((resolve) => {
    finish = resolve;
  });
  sock.on('data', (buf: Buffer) => {
    if (buf.length < 1) return;
    const data = buf.subarray(1);
    if (buf[0] === STDOUT_PIPE) io.stdout?.write(data);
    else if (buf[0] === STDERR_PIPE) io.stderr?.write(data);
  });
  const closed = () => finish('exited');
  sock.on('end', closed);
  sock.on('close', closed);
  sock.on('error', closed);
  let onData: ((chunk: Buffer) => void) | undefined;
  let onEnd: (() => void) | undefined;
  if (io.stdin) {
    const stdin = io.stdin;
    onData = (chunk: Buffer) => {
      let data = chunk;
      if (io.detachKeys) {
        const r = io.detachKeys(chunk);
        data = r.pass;
        if (r.detach) {
          if (data.length) writePackets(sock, data);
          finish('detached');
          return;
        }
      }
      writePackets(sock, data);
    };
    // Closing our write side tells conmon to close the container's stdin (a TCP-like half-close).
    onEnd = () => sock.end();
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    if ((stdin as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded) onEnd();
  }
  return {
    done,
    close() {
      if (onData) io.stdin?.off('data', onData);
      if (onEnd) io.stdin?.off('end', onEnd);
      sock.destroy();
    },
  };
}

function writePackets(sock: SeqpacketSocket, data: Buffer): void {
  for (let off = 0; off < data.length; off += MAX_PACKET) {
    sock.write(data.subarray(off, Math.min(off + MAX_PACKET, data.length)));
  }
}

/** docker's default detach sequence, ctrl-p ctrl-q. */
export function detachKeyFilter(keys = [0x10, 0x11]): (chunk: Buffer) => { pass: Buffer; detach: boolean } {
  let matched = 0;
  return (chunk) => {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === keys[matched]) {
        matched++;
        if (matched === keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      if (matched > 0) out.push(...keys.slice(0, matched));
      matched = 0;
      out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  };
}

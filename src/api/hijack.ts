import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InvalidArgumentError } from '../util/errors.ts';

/** docker's stdcopy stream ids. */
export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;

/** One 8-byte-header frame of docker's multiplexed stream: [stream, 0, 0, 0, size (big endian)]. */
export function frame(stream: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** A writable that sends what it gets to `out`, framed for `stream` unless the stream is raw (TTY). */
export function streamWriter(out: NodeJS.WritableStream, stream: number, raw: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      // A client that went away drops the output; the container is not held up by it.
      if (chunk.length === 0 || (out as NodeJS.WritableStream & { destroyed?: boolean }).destroyed)
        return cb();
      const ok = out.write(raw ? chunk : frame(stream, chunk));
      if (ok) cb();
      else out.once('drain', () => cb());
    },
  });
}

export function contentType(tty: boolean): string {
  return tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
}

/** A hijacked connection: the client's bytes as stdin, and writers for the container's output. */
export interface Hijacked {
  socket: Socket;
  stdin: PassThrough;
  stdout: Writable;
  stderr: Writable;
  /** Resolves when the client goes away (closed the connection, not only its write side). */
  gone: Promise<void>;
  /** Flushes and closes the connection. */
  end(): void;
}

/**
 * Takes the connection over for attach and exec start. With `Upgrade: tcp` (docker CLI, docker-py,
 * dockerode's hijack) it answers `101 UPGRADED` and the client's later bytes are stdin; a half-close
 * of its write side is stdin's EOF. Without it, a `200` raw stream (output only).
 */
export function hijack(
  req: FastifyRequest,
  reply: FastifyReply,
  o: { tty: boolean; headers: Record<string, string> },
): Hijacked {
  reply.hijack();
  const socket = req.raw.socket as Socket;
  const upgraded = UPGRADED.has(req.raw);
  const extra = Object.entries(o.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.setNoDelay(true);
  socket.setTimeout(0);
  if (upgraded) {
    socket.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType(o.tty)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${extra}\r\n`,
    );
  } else {
    socket.write(
      `HTTP/1.1 200 OK\r\nContent-Type: ${contentType(o.tty)}\r\n${extra}Connection: close\r\n\r\n`,
    );
  }
  const stdin = new PassThrough();
  if (upgraded) {
    socket.on('data', (d: Buffer) => stdin.write(d));
    socket.on('end', () => stdin.end());
    socket.resume();
  }
  const gone = new Promise<void>((resolve) => {
    socket.once('close', () => {
      stdin.end();
      resolve();
    });
  });
  socket.on('error', () => undefined);
  return {
    socket,
    stdin,
    stdout: streamWriter(socket, STDOUT, o.tty),
    stderr: streamWriter(socket, STDERR, o.tty),
    gone,
    end() {
      if (socket.destroyed) return;
      socket.end();
      // A client that never closes its side must not hold the socket open forever.
      setTimeout(() => socket.destroy(), 5000).unref();
    },
  };
}

/** Requests that arrived as HTTP upgrades (`Upgrade: tcp`): their socket is ours after the headers. */
const UPGRADED = new WeakSet<IncomingMessage>();
/** The bodies of upgrade requests, read off the socket before the request is routed. */
const UPGRADE_BODIES = new WeakMap<IncomingMessage, Buffer>();

export function upgradeBody(req: IncomingMessage): Buffer | undefined {
  return UPGRADE_BODIES.get(req);
}

/**
 * Node hands upgrade requests over without parsing their body: read `Content-Length` bytes (the
 * exec start JSON) off the socket, keep the rest for stdin, and remember both for the route.
 */
export async function prepareUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  UPGRADED.add(req);
  const want = Number(req.headers['content-length'] ?? 0) || 0;
  let buf = head;
  if (buf.length < want) {
    buf = await new Promise<Buffer>((resolve, reject) => {
      const chunks = [buf];
      let have = buf.length;
      const onData = (d: Buffer) => {
        chunks.push(d);
        have += d.length;
        if (have >= want) {
          socket.off('data', onData);
          socket.off('error', reject);
          socket.pause();
          resolve(Buffer.concat(chunks));
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.resume();
    });
  }
  if (buf.length > want) socket.unshift(buf.subarray(want));
  UPGRADE_BODIES.set(req, buf.subarray(0, want));
}

/** docker's `--detach-keys` syntax (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) as bytes. */
export function parseDetachKeys(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const k = part.trim();
    if (/^ctrl-.$/i.test(k)) {
      const c = k.slice(5).toLowerCase();
      const special: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };
      if (c >= 'a' && c <= 'z') out.push(c.charCodeAt(0) - 96);
      else if (c in special) out.push(special[c]!);
      else throw new InvalidArgumentError(`Unknown character: '${k}'`);
    } else if (k.length === 1) out.push(k.charCodeAt(0));
    else throw new InvalidArgumentError(`Unknown character: '${k}'`);
  }
  return out;
}

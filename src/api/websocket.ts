import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 §4.2.2: the accept key for a client's Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** One unmasked server frame (FIN set) of `opcode`: 1 text, 2 binary, 8 close, 10 pong. */
export function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let head: Buffer;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

/**
 * Reads client frames (masked, possibly fragmented) off the socket: data frames go to `onData`,
 * a close frame to `onClose`, pings are answered.
 */
export class WsReader {
  private buf = Buffer.alloc(0);

  constructor(
    private readonly socket: Socket,
    private readonly onData: (b: Buffer) => void,
    private readonly onClose: () => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0]!;
      const b1 = this.buf[1]!;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskAt = off;
      if (masked) off += 4;
      if (this.buf.length < off + len) return;
      const payload = Buffer.from(this.buf.subarray(off, off + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= this.buf[maskAt + (i % 4)]!;
      this.buf = this.buf.subarray(off + len);
      if (opcode === 0x8) {
        this.onClose();
        return;
      }
      if (opcode === 0x9) this.socket.write(wsFrame(0xa, payload));
      else if (opcode === 0x0 || opcode === 0x1 || opcode === 0x2) this.onData(payload);
    }
  }
}

export interface WsSession {
  stdin: PassThrough;
  output: Writable;
  gone: Promise<void>;
  end(): void;
}

/** Completes the handshake on an upgraded socket and exposes the connection as streams. */
export function acceptWebSocket(socket: Socket, key: string, headers: Record<string, string>): WsSession {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.setNoDelay(true);
  socket.setTimeout(0);
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n${extra}\r\n`,
  );
  const stdin = new PassThrough();
  const end = () => {
    if (socket.destroyed) return;
    socket.end(wsFrame(0x8, Buffer.from([0x03, 0xe8])));
    setTimeout(() => socket.destroy(), 2000).unref();
  };
  const reader = new WsReader(
    socket,
    (b) => stdin.write(b),
    () => {
      stdin.end();
      end();
    },
  );
  socket.on('data', (d: Buffer) => reader.push(d));
  socket.on('error', () => undefined);
  socket.resume();
  const gone = new Promise<void>((resolve) =>
    socket.once('close', () => {
      stdin.end();
      resolve();
    }),
  );
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (socket.destroyed) return cb();
      // docker sends the container's output as text messages.
      if (socket.write(wsFrame(0x1, chunk))) cb();
      else socket.once('drain', () => cb());
    },
  });
  return { stdin, output, gone, end };
}

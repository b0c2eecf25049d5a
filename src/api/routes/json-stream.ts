import type { FastifyReply } from 'fastify';
import { BerthError } from '../../util/errors.ts';

/**
 * A streamed JSON-messages response (pull, push, load, build), written as docker writes it: one
 * JSON object per line, flushed as it comes. The 200 goes out with the first message, so an error
 * before any output still gets its proper status code from the error handler; after that it can
 * only travel in the stream, as `{"errorDetail":{"message":…},"error":…}`.
 */
export class JsonStream {
  private started = false;
  private ended = false;

  constructor(private readonly reply: FastifyReply) {}

  get hasStarted(): boolean {
    return this.started;
  }

  write(msg: object): void {
    // A client that went away must not stop the operation (a pull finishes and stays consistent).
    if (this.ended || this.reply.raw.destroyed) return;
    if (!this.started) this.start();
    this.reply.raw.write(`${JSON.stringify(msg)}\r\n`);
  }

  private start(): void {
    this.started = true;
    this.reply.hijack();
    this.reply.raw.writeHead(200, { 'Content-Type': 'application/json' });
  }

  end(): void {
    if (this.ended) return;
    if (!this.started) this.start();
    this.ended = true;
    this.reply.raw.end();
  }

  /** Ends the stream with the error; rethrows it when nothing was sent yet. */
  fail(err: unknown): void {
    if (!this.started) throw err;
    const message = err instanceof Error ? err.message : String(err);
    this.write({ errorDetail: { message }, error: message });
    this.end();
  }

  /** True once the client went away: long operations may stop feeding it. */
  get closed(): boolean {
    return this.reply.raw.destroyed;
  }
}

/** Runs `fn` with a stream, ending it on success and reporting a failure inside it once started. */
export async function streamed(reply: FastifyReply, fn: (s: JsonStream) => Promise<void>): Promise<void> {
  const s = new JsonStream(reply);
  try {
    await fn(s);
    s.end();
  } catch (err) {
    if (!s.hasStarted && err instanceof BerthError) throw err;
    s.fail(err);
  }
}

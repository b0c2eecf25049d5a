import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { API_VERSION, BERTH_VERSION } from '../engine/system.ts';

/** Headers docker sends on every response; clients read the API version from them. */
export const SERVER_HEADERS: Record<string, string> = {
  'Api-Version': API_VERSION,
  'Docker-Experimental': 'false',
  Ostype: 'linux',
  Server: `Berth/${BERTH_VERSION} (linux)`,
};

export interface OpenStream {
  res: ServerResponse;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  write(chunk: string | Buffer): Promise<void>;
  end(chunk?: string | Buffer): void;
}

/**
 * Sends the status and headers at once and leaves the body open, as docker does for `wait`
 * (the docker CLI waits for these headers before it starts the container), logs, stats and events.
 */
export function openStream(
  req: FastifyRequest,
  reply: FastifyReply,
  headers: Record<string, string>,
  status = 200,
): OpenStream {
  reply.hijack();
  const res = reply.raw;
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  req.raw.socket?.setTimeout(0);
  res.writeHead(status, { ...SERVER_HEADERS, ...headers });
  res.flushHeaders();
  return {
    res,
    signal: ac.signal,
    write(chunk) {
      if (res.destroyed || res.writableEnded) return Promise.resolve();
      if (res.write(chunk)) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.once('drain', done);
        res.once('close', done);
      });
    },
    end(chunk) {
      if (!res.destroyed && !res.writableEnded) res.end(chunk);
    },
  };
}

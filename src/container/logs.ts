import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

export interface LogEntry {
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface LogOptions {
  follow: boolean;
  /** Number of lines from the end; undefined = all. */
  tail?: number;
  sinceMs?: number;
  untilMs?: number;
}

/**
 * Parses conmon's k8s-file format: `<time> <stream> <P|F> <text>`. A `P` (partial) record is
 * continued by the next record of the same stream; `F` ends a line.
 */
export class LogParser {
  private rest = '';
  private partial: Partial<Record<'stdout' | 'stderr', LogEntry>> = {};

  push(chunk: string): LogEntry[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    const out: LogEntry[] = [];
    for (const line of lines) {
      const a = line.indexOf(' ');
      const b = line.indexOf(' ', a + 1);
      const c = line.indexOf(' ', b + 1);
      if (a < 0 || b < 0) continue;
      const time = line.slice(0, a);
      const stream = line.slice(a + 1, b) === 'stderr' ? 'stderr' : 'stdout';
      const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
      const body = c < 0 ? '' : line.slice(c + 1);
      const prev = this.partial[stream];
      if (tag.startsWith('P')) {
        this.partial[stream] = prev ? { ...prev, text: prev.text + body } : { time, stream, text: body };
        continue;
      }
      delete this.partial[stream];
      out.push({ time: prev?.time ?? time, stream, text: `${prev?.text ?? ''}${body}\n` });
    }
    return out;
  }

  /** Partial records left when the container exited mid-line. */
  flush(): LogEntry[] {
    const out = Object.values(this.partial).filter((e): e is LogEntry => !!e);
    this.partial = {};
    return out;
  }
}

export function logTimeMs(time: string): number {
  return Date.parse(time.replace(/\.(\d{3})\d*/, '.$1'));
}

/** Docker prints timestamps as RFC 3339 with nanoseconds in UTC. */
export function dockerTimestamp(time: string): string {
  const ms = logTimeMs(time);
  const frac = /\.(\d+)/.exec(time)?.[1] ?? '000000000';
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac.padEnd(9, '0').slice(0, 9)}Z`;
}

function readFrom(path: string, offset: number): { data: string; size: number } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { data: '', size: 0 };
  }
  if (size <= offset) return { data: '', size };
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return { data: buf.subarray(0, n).toString('utf8'), size: offset + n };
  } finally {
    closeSync(fd);
  }
}

/** Yields log entries, then (with `follow`) new ones until `stillRunning` says the container stopped. */
export async function* readLogs(
  path: string,
  o: LogOptions,
  stillRunning: () => boolean,
): AsyncGenerator<LogEntry> {
  const parser = new LogParser();
  const keep = (e: LogEntry) => {
    const t = logTimeMs(e.time);
    return (o.sinceMs === undefined || t >= o.sinceMs) && (o.untilMs === undefined || t <= o.untilMs);
  };
  const first = readFrom(path, 0);
  let offset = first.size;
  // Rotated files (conmon ≥ 2.2 keeps ctr.log.1, ctr.log.2, …) hold the older lines, oldest last.
  const backups: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) backups.unshift(readFrom(`${path}.${i}`, 0).data);
  let entries = parser.push(backups.join('') + first.data).filter(keep);
  if (!o.follow) entries.push(...parser.flush().filter(keep));
  if (o.tail !== undefined) entries = o.tail <= 0 ? [] : entries.slice(-o.tail);
  yield* entries;
  if (!o.follow) return;
  for (;;) {
    const running = stillRunning();
    const next = readFrom(path, offset);
    // conmon truncates the file when it reaches --log-size-max: start again from the top.
    if (next.size < offset) offset = 0;
    else {
      offset = next.size;
      for (const e of parser.push(next.data)) if (keep(e)) yield e;
    }
    if (!running) {
      for (const e of parser.flush()) if (keep(e)) yield e;
      return;
    }
    if (o.untilMs !== undefined && Date.now() > o.untilMs) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

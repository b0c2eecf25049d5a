import type { ProgressEvent, ProgressSink } from '../engine/progress.ts';
import { humanSize } from '../util/units.ts';

/** docker's progress bar: 50 cells, `=` for what is done and `>` at the head. */
const BAR_CELLS = 50;

function bar(current: number, total: number): string {
  const done = Math.max(0, Math.min(BAR_CELLS, Math.floor((current / total) * BAR_CELLS)));
  return `[${'='.repeat(done)}>${' '.repeat(BAR_CELLS - done)}]`;
}

/** One line as docker's jsonmessage prints it: `id: status [====>   ]  1.2MB/3.4MB`. */
export function formatEvent(e: ProgressEvent, columns = 0): string {
  let line = e.id ? `${e.id}: ${e.status}` : e.status;
  if (e.current !== undefined && e.total !== undefined && e.total > 0) {
    const numbers = `${humanSize(e.current, 4).padStart(8)}/${humanSize(e.total, 4)}`;
    // docker drops the bar on narrow terminals and keeps the numbers.
    line += columns >= 110 || columns === 0 ? ` ${bar(e.current, e.total)} ${numbers}` : ` ${numbers}`;
  }
  return line;
}

/**
 * Renders progress events as docker's CLI does. On a terminal each item (layer) keeps one line,
 * redrawn in place as it progresses; otherwise every change of status is printed once, without
 * the byte counts, so logs are not flooded.
 */
export function progressRenderer(
  out: NodeJS.WriteStream,
  quiet: boolean,
): { sink: ProgressSink; done(): void } {
  if (quiet) return { sink: () => undefined, done: () => undefined };
  if (!out.isTTY) {
    const last = new Map<string, string>();
    return {
      sink(e) {
        if (e.id) {
          if (last.get(e.id) === e.status) return;
          last.set(e.id, e.status);
          out.write(`${e.id}: ${e.status}\n`);
        } else {
          out.write(`${e.status}\n`);
        }
      },
      done: () => undefined,
    };
  }
  const lineOf = new Map<string, number>();
  let lines = 0;
  return {
    sink(e) {
      const text = formatEvent(e, out.columns ?? 0);
      const at = e.id === undefined ? undefined : lineOf.get(e.id);
      if (at === undefined) {
        if (e.id !== undefined) lineOf.set(e.id, lines);
        out.write(`${text}\n`);
        lines++;
        return;
      }
      // Up to the item's line, clear it, write, and back down to where new lines go.
      const up = lines - at;
      out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
    },
    done: () => undefined,
  };
}

/** Runs `fn` with a progress renderer on `out`, finishing the display however `fn` ends. */
export async function withProgress<T>(
  out: NodeJS.WriteStream,
  quiet: boolean,
  fn: (sink: ProgressSink) => Promise<T>,
): Promise<T> {
  const progress = progressRenderer(out, quiet);
  try {
    return await fn(progress.sink);
  } finally {
    progress.done();
  }
}

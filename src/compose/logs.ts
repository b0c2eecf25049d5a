import { dockerTimestamp } from '../container/logs.ts';
import type { Engine } from '../engine/engine.ts';

/** docker compose's rotation of ANSI colours, one per service. */
const COLORS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

export interface LogSource {
  /** Container ID or name. */
  ref: string;
  service: string;
  /** Shown before each line: `<service>-<n>`. */
  label: string;
}

/** Writes lines prefixed `<service>-<n>  | `, padded to the widest prefix, one colour per service. */
export class LogPrinter {
  private width = 0;
  private readonly colors = new Map<string, number>();

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly o: { color: boolean; timestamps: boolean; prefix: boolean },
  ) {}

  register(sources: LogSource[]): void {
    for (const s of sources) {
      this.width = Math.max(this.width, s.label.length + 1);
      if (!this.colors.has(s.service)) this.colors.set(s.service, COLORS[this.colors.size % COLORS.length]!);
    }
  }

  line(src: LogSource, text: string, time?: string): void {
    const body = `${this.o.timestamps && time ? `${dockerTimestamp(time)} ` : ''}${text}`;
    if (!this.o.prefix) {
      this.out.write(body.endsWith('\n') ? body : `${body}\n`);
      return;
    }
    let prefix = `${src.label.padEnd(this.width)} | `;
    if (this.o.color) prefix = `\x1b[${this.colors.get(src.service) ?? 0}m${prefix}\x1b[0m`;
    this.out.write(`${prefix}${body.endsWith('\n') ? body : `${body}\n`}`);
  }
}

/** Prints the logs of every source, interleaved as they come; with `follow`, until all stop. */
export async function streamLogs(
  engine: Engine,
  sources: LogSource[],
  printer: LogPrinter,
  o: { follow: boolean; tail?: number; sinceMs?: number; untilMs?: number },
): Promise<void> {
  printer.register(sources);
  await Promise.all(
    sources.map(async (src) => {
      const entries = await engine.containerLogs(src.ref, {
        follow: o.follow,
        tail: o.tail,
        sinceMs: o.sinceMs,
        untilMs: o.untilMs,
      });
      for await (const e of entries) printer.line(src, e.text, e.time);
    }),
  );
}

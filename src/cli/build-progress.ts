import type { BuildEvent } from '../build/types.ts';

/**
 * BuildKit's plain progress format: `#N name`, the step's output prefixed with its time since the
 * step started, then `#N CACHED`, `#N DONE 0.3s` or `#N ERROR: …`. A terminal gets
 * `TtyBuildProgress` (below) instead.
 */
export class BuildProgressPrinter {
  private readonly started = new Map<string, number>();
  private readonly numbers = new Map<string, number>();
  private readonly logs = new Map<string, Buffer[]>();
  private next = 1;
  private readonly t0 = Date.now();

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly mode: 'plain' | 'tty' | 'quiet',
  ) {}

  private num(id: string): number {
    let n = this.numbers.get(id);
    if (n === undefined) {
      n = this.next++;
      this.numbers.set(id, n);
    }
    return n;
  }

  event(e: BuildEvent): void {
    if (this.mode === 'quiet') {
      if (e.type === 'log') this.logs.set(e.vertex.id, [...(this.logs.get(e.vertex.id) ?? []), e.data]);
      return;
    }
    switch (e.type) {
      case 'start': {
        const n = this.num(e.vertex.id);
        this.started.set(e.vertex.id, e.at);
        this.out.write(`#${n} ${e.vertex.name}\n`);
        return;
      }
      case 'log': {
        const n = this.num(e.vertex.id);
        const at = ((Date.now() - (this.started.get(e.vertex.id) ?? this.t0)) / 1000).toFixed(3);
        this.logs.set(e.vertex.id, [...(this.logs.get(e.vertex.id) ?? []), e.data]);
        for (const line of e.data.toString().split('\n')) {
          if (line !== '') this.out.write(`#${n} ${at} ${line}\n`);
        }
        return;
      }
      case 'done': {
        const n = this.num(e.vertex.id);
        const secs = ((e.at - (this.started.get(e.vertex.id) ?? e.at)) / 1000).toFixed(1);
        if (e.error) this.out.write(`#${n} ERROR: ${e.error}\n\n`);
        else if (e.cached) this.out.write(`#${n} CACHED\n\n`);
        else this.out.write(`#${n} DONE ${secs}s\n\n`);
        return;
      }
      case 'warning':
        this.out.write(`WARNING: ${e.message}\n`);
        return;
    }
  }

  logsById(id: string): string {
    return Buffer.concat(this.logs.get(id) ?? []).toString();
  }

  finish(): void {
    if (this.mode === 'quiet') return;
    this.out.write(`#${this.next} DONE ${((Date.now() - this.t0) / 1000).toFixed(1)}s total\n`);
  }
}

/** How many output lines of a running step the terminal display keeps (BuildKit shows 6). */
const TAIL_LINES = 6;

interface TtyVertex {
  name: string;
  start: number;
  end?: number;
  cached: boolean;
  error?: string;
  /** Complete output lines, the last few only, and the line still being written. */
  tail: string[];
  partial: string;
}

export interface TtyOptions {
  /** Milliseconds between redraws; 0 draws only on `render()` and `finish()` (tests). */
  interval?: number;
  now?: () => number;
  /** Terminal size; default the stream's, else 80×24. */
  columns?: number;
  rows?: number;
}

/**
 * BuildKit's `--progress=tty` display: a `[+] Building 1.2s (5/7)` header and one line per step
 * with its time (`CACHED`, `ERROR` marked), the last lines of each running step's output below
 * it, redrawn in place with ANSI cursor movement. Finished steps collapse to their one line; when
 * the steps outgrow the terminal, the oldest finished ones scroll away. At the end the final frame
 * stays, with the output of a failed step in a `------` block, as BuildKit prints it.
 */
export class TtyBuildProgress {
  private readonly vertices = new Map<string, TtyVertex>();
  private readonly logs = new Map<string, Buffer[]>();
  private readonly warnings: string[] = [];
  private readonly now: () => number;
  private readonly t0: number;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly out: NodeJS.WritableStream & { columns?: number; rows?: number },
    private readonly o: TtyOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.t0 = this.now();
    const interval = o.interval ?? 100;
    if (interval > 0) {
      this.timer = setInterval(() => this.render(), interval);
      this.timer.unref();
    }
  }

  event(e: BuildEvent): void {
    if (this.finished) return;
    switch (e.type) {
      case 'start':
        this.vertices.set(e.vertex.id, {
          name: e.vertex.name,
          start: this.now(),
          cached: false,
          tail: [],
          partial: '',
        });
        return;
      case 'log': {
        this.logs.set(e.vertex.id, [...(this.logs.get(e.vertex.id) ?? []), e.data]);
        const v = this.vertices.get(e.vertex.id);
        if (!v) return;
        const parts = (v.partial + e.data.toString()).split(/\r?\n|\r/);
        v.partial = parts.pop() ?? '';
        v.tail.push(...parts);
        if (v.tail.length > TAIL_LINES) v.tail.splice(0, v.tail.length - TAIL_LINES);
        return;
      }
      case 'done': {
        const v = this.vertices.get(e.vertex.id);
        if (!v) return;
        v.end = this.now();
        v.cached = e.cached;
        v.error = e.error;
        return;
      }
      case 'warning':
        this.warnings.push(e.message);
        return;
    }
  }

  logsById(id: string): string {
    return Buffer.concat(this.logs.get(id) ?? []).toString();
  }

  private columns(): number {
    return Math.max(20, this.o.columns ?? this.out.columns ?? 80);
  }

  private rows(): number {
    return Math.max(3, this.o.rows ?? this.out.rows ?? 24);
  }

  /** The current frame's lines, each fitting the terminal's width. */
  frame(): string[] {
    const now = this.now();
    const width = this.columns();
    const all = [...this.vertices.values()];
    const done = all.filter((v) => v.end !== undefined).length;
    const secs = ((now - this.t0) / 1000).toFixed(1);
    const header = `[+] Building ${secs}s (${done}/${all.length})${this.finished ? ' FINISHED' : ''}`;
    const blocks = all.map((v) => {
      const t = (((v.end ?? now) - v.start) / 1000).toFixed(1);
      const time = v.cached ? '0.0s' : `${t}s`;
      const mark = v.error !== undefined ? 'ERROR ' : v.cached ? 'CACHED ' : '';
      const lines = [fit(` => ${mark}${v.name}`, time, width)];
      if (v.end === undefined || v.error !== undefined) {
        const tail = v.partial ? [...v.tail, v.partial].slice(-TAIL_LINES) : v.tail;
        for (const l of tail) lines.push(clip(` => => # ${l}`, width));
      }
      return { lines, finished: v.end !== undefined };
    });
    // Too tall for the terminal: the oldest finished steps give way first, then the oldest steps.
    let total = blocks.reduce((n, b) => n + b.lines.length, 0);
    const room = this.rows() - 1 - 1;
    for (const b of blocks) {
      if (total <= room) break;
      if (b.finished) {
        total -= b.lines.length;
        b.lines = [];
      }
    }
    for (const b of blocks) {
      if (total <= room) break;
      total -= b.lines.length;
      b.lines = [];
    }
    return [header, ...blocks.flatMap((b) => b.lines)];
  }

  /** Redraws the frame over the previous one. */
  render(): void {
    const lines = this.frame();
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A\r` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    // What the previous frame had below this one's end.
    if (lines.length < this.drawn) s += '\x1b[J';
    this.out.write(s);
    this.drawn = lines.length;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearInterval(this.timer);
    this.render();
    for (const [id, v] of this.vertices) {
      if (v.error === undefined) continue;
      const out = this.logsById(id).split('\n');
      if (out.at(-1) === '') out.pop();
      let block = `------\n > ${v.name}:\n`;
      for (const l of out.slice(-10)) block += `${l}\n`;
      this.out.write(`${block}------\n`);
    }
    for (const w of this.warnings) this.out.write(`WARNING: ${w}\n`);
  }
}

/** `left` and `right` on one line of `width` columns, `right` flush right, `left` cut to fit. */
function fit(left: string, right: string, width: number): string {
  const room = width - right.length - 1;
  const l = left.length > room ? `${left.slice(0, Math.max(0, room - 3))}...` : left;
  return `${l}${' '.repeat(Math.max(1, width - l.length - right.length))}${right}`;
}

function clip(s: string, width: number): string {
  return s.length > width ? s.slice(0, width) : s;
}

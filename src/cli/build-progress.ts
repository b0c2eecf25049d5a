import type { BuildEvent } from '../build/types.ts';

/**
 * BuildKit's plain progress format: `#N name`, the step's output prefixed with its time since the
 * step started, then `#N CACHED`, `#N DONE 0.3s` or `#N ERROR: …`. With `tty`, finished steps are
 * collapsed to one line each and the output of running steps is shown as it comes.
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

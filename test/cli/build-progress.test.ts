import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { BuildProgressPrinter, TtyBuildProgress } from '../../src/cli/build-progress.ts';

/** A terminal stand-in: collects what is written and replays the ANSI sequences the renderer uses. */
class FakeTerminal extends Writable {
  raw = '';
  columns: number;
  rows: number;
  constructor(columns = 60, rows = 24) {
    super();
    this.columns = columns;
    this.rows = rows;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.raw += chunk.toString();
    cb();
  }
  /** The screen after every write: cursor up (`ESC[nA`), `\r`, erase line (`ESC[2K`), erase below (`ESC[J`). */
  screen(): string[] {
    const lines: string[] = [''];
    let row = 0;
    const re = /\x1b\[(\d*)([AJK])|\x1b\[2K|\r|\n|[^\x1b\r\n]+/g;
    for (const m of this.raw.matchAll(re)) {
      const t = m[0];
      if (t === '\n') {
        row++;
        if (lines[row] === undefined) lines[row] = '';
      } else if (t === '\r') {
        // column 0: the renderer only ever writes whole lines
      } else if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || 1));
      else if (t === '\x1b[2K') lines[row] = '';
      else if (m[2] === 'J') {
        lines.length = row;
        lines[row] = '';
      } else if (m[2] === 'K') lines[row] = '';
      else lines[row] += t;
    }
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines;
  }
}

const vertex = (id: string, name: string) => ({ id, name });

describe('tty build progress', () => {
  test('header, steps with times and markers, running output, redrawn in place', () => {
    let now = 1000;
    const term = new FakeTerminal(60);
    const p = new TtyBuildProgress(term, { interval: 0, now: () => now });
    const from = vertex('a', '[stage-0 1/3] FROM docker.io/library/busybox');
    const run = vertex('b', '[stage-0 2/3] RUN make');
    p.event({ type: 'start', vertex: from, at: now });
    p.event({ type: 'done', vertex: from, at: now, cached: true });
    now += 200;
    p.event({ type: 'start', vertex: run, at: now });
    for (let i = 1; i <= 8; i++)
      p.event({ type: 'log', vertex: run, stream: 'stdout', data: Buffer.from(`line ${i}\n`) });
    p.event({ type: 'log', vertex: run, stream: 'stdout', data: Buffer.from('partial') });
    now += 1300;
    p.render();
    let screen = term.screen();
    assert.equal(screen[0], '[+] Building 1.5s (1/2)');
    assert.match(screen[1]!, /^ => CACHED \[stage-0 1\/3\] FROM docker\.io\/library\/busybox +0\.0s$/);
    assert.equal(screen[1]!.length, 60, 'times are flush right at the terminal width');
    assert.match(screen[2]!, /^ => \[stage-0 2\/3\] RUN make +1\.3s$/);
    // The last six lines of output of the running step, the unfinished one included.
    assert.deepEqual(screen.slice(3), [
      ' => => # line 4',
      ' => => # line 5',
      ' => => # line 6',
      ' => => # line 7',
      ' => => # line 8',
      ' => => # partial',
    ]);

    // Done: the step collapses to one line and the frame shrinks in place, nothing left below it.
    now += 400;
    p.event({ type: 'done', vertex: run, at: now, cached: false });
    p.finish();
    screen = term.screen();
    assert.equal(screen.length, 3, screen.join('\n'));
    assert.equal(screen[0], '[+] Building 1.9s (2/2) FINISHED');
    assert.match(screen[2]!, /^ => \[stage-0 2\/3\] RUN make +1\.7s$/);
    assert.match(term.raw, /\x1b\[9A/, 'the second frame moved up over the first one');
    assert.equal(p.logsById('b'), 'line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\npartial');
    // Nothing is drawn after finish.
    const before = term.raw;
    p.event({ type: 'start', vertex: vertex('c', 'late'), at: now });
    p.render();
    assert.equal(term.screen().length, 3);
    assert.ok(term.raw.startsWith(before));
  });

  test('a failed step is marked ERROR and its output printed after the frame; warnings last', () => {
    let now = 0;
    const term = new FakeTerminal(50);
    const p = new TtyBuildProgress(term, { interval: 0, now: () => now });
    const v = vertex('x', '[stage-0 2/2] RUN false');
    p.event({ type: 'warning', message: 'Dockerfile:3: something odd' });
    p.event({ type: 'start', vertex: v, at: 0 });
    p.event({ type: 'log', vertex: v, stream: 'stderr', data: Buffer.from('boom\n') });
    now = 300;
    p.event({ type: 'done', vertex: v, at: 300, cached: false, error: 'exit code: 1' });
    p.finish();
    const screen = term.screen();
    assert.match(screen[1]!, /^ => ERROR \[stage-0 2\/2\] RUN false +0\.3s$/);
    assert.equal(screen[2], ' => => # boom');
    assert.deepEqual(screen.slice(3), [
      '------',
      ' > [stage-0 2/2] RUN false:',
      'boom',
      '------',
      'WARNING: Dockerfile:3: something odd',
    ]);
  });

  test('long names are cut to the width; a short terminal scrolls finished steps away first', () => {
    const now = 0;
    const term = new FakeTerminal(40, 6);
    const p = new TtyBuildProgress(term, { interval: 0, now: () => now });
    for (let i = 0; i < 6; i++) {
      const v = vertex(`v${i}`, `[s ${i}/6] RUN ${'x'.repeat(60)}`);
      p.event({ type: 'start', vertex: v, at: now });
      if (i < 5) p.event({ type: 'done', vertex: v, at: now, cached: false });
    }
    p.event({ type: 'log', vertex: vertex('v5', ''), stream: 'stdout', data: Buffer.from('out\n') });
    const frame = p.frame();
    assert.ok(frame.length <= 5, `frame taller than the terminal:\n${frame.join('\n')}`);
    for (const l of frame) assert.ok(l.length <= 40, `too wide: ${l}`);
    assert.match(frame.at(-2)!, /^ => \[s 5\/6\] RUN x+\.\.\. +0\.0s$/);
    assert.equal(frame.at(-1), ' => => # out');
    assert.match(frame[1]!, /\[s 3\/6\]/, 'the oldest finished steps went first');
  });

  test('the timer redraws on its own and stops at finish', async () => {
    const term = new FakeTerminal();
    const p = new TtyBuildProgress(term, { interval: 5 });
    p.event({ type: 'start', vertex: vertex('a', 'step'), at: Date.now() });
    const deadline = Date.now() + 2000;
    while (!term.raw.includes(' => step') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    assert.match(term.screen()[1]!, /^ => step +\d+\.\ds$/);
    p.finish();
    const after = term.raw;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(term.raw, after);
  });
});

describe('plain build progress', () => {
  test('prints BuildKit plain lines', () => {
    const term = new FakeTerminal();
    const p = new BuildProgressPrinter(term, 'plain');
    const v = vertex('a', '[1/1] RUN echo hi');
    p.event({ type: 'start', vertex: v, at: Date.now() });
    p.event({ type: 'log', vertex: v, stream: 'stdout', data: Buffer.from('hi\n') });
    p.event({ type: 'done', vertex: v, at: Date.now(), cached: false });
    assert.match(term.raw, /^#1 \[1\/1\] RUN echo hi\n#1 \d+\.\d{3} hi\n#1 DONE \d+\.\ds\n\n$/);
    assert.doesNotMatch(term.raw, /\x1b/);
  });
});

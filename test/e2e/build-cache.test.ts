import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { berth, ensureBusybox, ok, strayMounts, uniq } from '../helpers.ts';
import { build, writeTree } from './build-helpers.ts';

/** The build cache: what a rebuild reuses and what it reruns, failures, parallel stages, pruning. */
const work = mkdtempSync(join(tmpdir(), 'berth-build-cache-'));
const images: string[] = [];
function img(prefix: string): string {
  const n = uniq(prefix);
  images.push(n);
  return n;
}

before(() => ensureBusybox());
after(() => {
  for (const i of images) berth(['rmi', '-f', i]);
  rmSync(work, { recursive: true, force: true });
});

/** Per step (by its `[stage n/m]` label): CACHED or run. */
function steps(progress: string): Map<string, 'CACHED' | 'RUN'> {
  const names = new Map<string, string>();
  const out = new Map<string, 'CACHED' | 'RUN'>();
  for (const line of progress.split('\n')) {
    const start = /^#(\d+) (\[.*)$/.exec(line);
    if (start) names.set(start[1]!, start[2]!.replace(/^\[[^\]]*\] /, ''));
    const end = /^#(\d+) (CACHED|DONE)/.exec(line);
    if (end && names.has(end[1]!)) out.set(names.get(end[1]!)!, end[2] === 'CACHED' ? 'CACHED' : 'RUN');
  }
  return out;
}

const buildSteps = (args: string[]) => steps(build(args).stderr);
const id = (ref: string) => ok(['image', 'inspect', '-f', '{{.Id}}', ref]).trim();
const noBuildContainers = () =>
  assert.equal(ok(['ps', '-a', '-q', '--filter', 'label=berth.build.step']), '', 'build containers left');

describe('the build cache', () => {
  const dir = join(work, 'ctx');
  const tag = img('cache');
  // A marker unique to this run keeps other test runs' cache out of the picture.
  const marker = uniq('m');
  before(() => {
    writeTree(dir, {
      'one.txt': 'one\n',
      'two.txt': 'two\n',
      Dockerfile: `FROM busybox
RUN echo ${marker} > /m
COPY one.txt /one.txt
RUN cat /one.txt > /one.copy
ARG A=a
RUN echo "$A" > /a
COPY two.txt /two.txt
RUN cat /two.txt > /two.copy
`,
    });
  });

  test('a rebuild with nothing changed (touched files too) reuses every step and gives the same ID', () => {
    const first = buildSteps(['-t', tag, dir]);
    assert.ok([...first.values()].includes('RUN'));
    const id1 = id(tag);
    utimesSync(join(dir, 'one.txt'), new Date(), new Date(2001, 1, 1));
    const t0 = Date.now();
    const again = buildSteps(['-t', tag, dir]);
    const ms = Date.now() - t0;
    assert.ok(
      [...again.values()].every((s) => s === 'CACHED'),
      JSON.stringify([...again]),
    );
    assert.equal(id(tag), id1);
    assert.ok(ms < 5000, `a fully cached build took ${ms} ms`);
  });

  test('changing a copied file reruns from the first step that reads it', () => {
    writeFileSync(join(dir, 'two.txt'), 'two changed\n');
    const s = buildSteps(['-t', tag, dir]);
    assert.equal(s.get('COPY one.txt /one.txt'), 'CACHED');
    assert.equal(s.get('RUN echo "$A" > /a'), 'CACHED');
    assert.equal(s.get('COPY two.txt /two.txt'), 'RUN');
    assert.equal(s.get('RUN cat /two.txt > /two.copy'), 'RUN');
    assert.equal(ok(['run', '--rm', tag, 'cat', '/two.copy']), 'two changed\n');
  });

  test('a changed --build-arg reruns from the RUN that uses it; --no-cache reruns everything', () => {
    const s = buildSteps(['-t', tag, '--build-arg', 'A=b', dir]);
    assert.equal(s.get('RUN cat /one.txt > /one.copy'), 'CACHED');
    assert.equal(s.get('RUN echo "$A" > /a'), 'RUN');
    const n = buildSteps(['-t', tag, '--no-cache', dir]);
    for (const [name, st] of n) if (!name.startsWith('FROM')) assert.equal(st, 'RUN', name);
  });

  test('the cache outlives rmi of the image', () => {
    const t = img('outlive');
    build(['-t', t, dir]);
    ok(['rmi', t]);
    const s = buildSteps(['-t', t, dir]);
    assert.ok(
      [...s.values()].every((x) => x === 'CACHED'),
      JSON.stringify([...s]),
    );
  });

  test('a failing RUN: exit 1, its output, the Dockerfile excerpt, the exit code; nothing left behind', () => {
    const bad = join(work, 'bad');
    writeTree(bad, { Dockerfile: `FROM busybox\nRUN echo ${marker}-out && exit 7\nRUN true\n` });
    const r = berth(['build', '--progress=plain', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${marker}-out`));
    assert.match(r.stderr, />>> RUN echo .* && exit 7/);
    assert.match(r.stderr, /did not complete successfully: exit code: 7/);
    noBuildContainers();
    assert.deepEqual(strayMounts(), []);
  });
});

describe('parallel stages', () => {
  test('two independent stages with RUN sleep 1 finish in well under twice one stage', () => {
    const dir = join(work, 'par');
    const m = uniq('p');
    writeTree(dir, {
      Dockerfile: `FROM busybox AS a
RUN echo ${m} && sleep 1 && echo a > /a
FROM busybox AS b
RUN echo ${m} && sleep 1 && echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
`,
      'one.Dockerfile': `FROM busybox\nRUN echo ${m}-one && sleep 1\n`,
    });
    const t1 = Date.now();
    build(['-f', join(dir, 'one.Dockerfile'), dir]);
    const one = Date.now() - t1;
    const t2 = Date.now();
    const t = img('par');
    build(['-t', t, dir]);
    const both = Date.now() - t2;
    assert.ok(both < one * 1.6, `two stages took ${both} ms, one took ${one} ms`);
    noBuildContainers();
  });
});

describe('builder prune (in a store of its own)', () => {
  const root = join(work, 'store');
  // Short: conmon's socket paths live under the run root.
  const runroot = `/run/bbp-${process.pid}`;
  const env = { BERTH_ROOT: join(root, 'root'), BERTH_RUNROOT: runroot };
  const b = (args: string[]) => {
    const r = berth(args, { env, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  after(() => {
    berth(['rm', '-af'], { env });
    rmSync(runroot, { recursive: true, force: true });
  });

  test('-a -f empties the cache; until= keeps recent records; --keep-storage keeps the newest', () => {
    // The shared busybox image, copied into this store.
    const saved = join(work, 'bb.tar');
    ok(['save', '-o', saved, 'busybox']);
    b(['load', '-i', saved]);
    const dir = join(work, 'prunectx');
    writeTree(dir, { Dockerfile: 'FROM busybox\nRUN echo x > /x\nRUN echo y > /y\n' });
    const runSteps = (r: { stderr: string }) =>
      [...steps(r.stderr).values()].filter((s) => s === 'RUN').length;
    assert.equal(runSteps(b(['build', '--progress=plain', dir])), 2);
    b(['builder', 'prune', '-f', '--filter', 'until=1h']);
    assert.equal(runSteps(b(['build', '--progress=plain', dir])), 0, 'until=1h keeps what was just used');
    b(['builder', 'prune', '-a', '-f', '--keep-storage', '1GB']);
    assert.equal(runSteps(b(['build', '--progress=plain', dir])), 0, '--keep-storage 1GB keeps all');
    const pruned = b(['builder', 'prune', '-a', '-f']);
    assert.match(pruned.stdout, /Total reclaimed space/);
    assert.equal(runSteps(b(['build', '--progress=plain', dir])), 2, 'a pruned cache runs the steps again');
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { berth, ensureBusybox, type Result, uniq } from '../helpers.ts';
import { type Registry, startRegistry } from './registry-helper.ts';
import { type Served, startServe } from './serve-helper.ts';

/**
 * `berth --host` must print what the local CLI prints: each case runs once in-process and once as
 * a client of `berth serve` on the same store, and stdout, stderr and the exit code must match.
 * Cases that create things use a name of their own per side, mapped back before comparing.
 */

let s: Served;
let regLocal: Registry;
let regRemote: Registry;
const cleanup: string[][] = [];

type Side = 'local' | 'remote';

function run(side: Side, args: string[], input?: string): Result {
  // BERTH_HOST='' keeps the local side local even when the environment names a host.
  const env = side === 'remote' ? { BERTH_HOST: s.host } : { BERTH_HOST: '', DOCKER_HOST: '' };
  return berth(args, { env, input, timeoutMs: 60_000 });
}

/** Times that tick between the two runs ("2 seconds ago", "Up 3 seconds") are not the CLI's doing. */
function normalize(r: Result, names: Record<string, string>): Result {
  const fix = (t: string) => {
    let out = t;
    for (const [from, to] of Object.entries(names)) out = out.split(from).join(to);
    return out
      .replace(/(Less than a second|About a minute|\d+ (second|minute)s?)( ago)?/g, 'T$3')
      .replace(/\s{2,}/g, '  ');
  };
  return { code: r.code, stdout: fix(r.stdout), stderr: fix(r.stderr) };
}

/** Runs `args(side)` on both sides and compares, with each side's own names replaced by a placeholder. */
function same(
  what: string,
  args: (side: Side) => string[],
  names: (side: Side) => Record<string, string> = () => ({}),
  input?: string,
): Result {
  const local = normalize(run('local', args('local'), input), names('local'));
  const remote = normalize(run('remote', args('remote'), input), names('remote'));
  assert.deepEqual(remote, local, `${what}: remote differs from local`);
  return local;
}

before(async () => {
  ensureBusybox();
  s = await startServe();
  regLocal = await startRegistry(s.dir);
  regRemote = await startRegistry(s.dir);
});

after(async () => {
  for (const c of cleanup.reverse()) berth(c);
  regLocal?.stop();
  regRemote?.stop();
  await s?.stop();
});

describe('the same CLI output, local and over --host', () => {
  test('read-only commands', () => {
    for (const args of [
      ['images'],
      ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'],
      ['image', 'inspect', 'busybox'],
      ['inspect', 'busybox'],
      ['history', 'busybox'],
      ['history', '--no-trunc', '--format', '{{json .}}', 'busybox'],
      ['ps', '-a', '--format', '{{.ID}} {{.Image}} {{.Names}} {{.Command}}'],
      ['volume', 'ls'],
      ['network', 'ls'],
      ['network', 'inspect', 'bridge'],
    ]) {
      const r = same(args.join(' '), () => args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('errors: the same message and exit code', () => {
    for (const args of [
      ['inspect', 'no-such-thing-xyz'],
      ['image', 'inspect', 'no-such-image-xyz'],
      ['rm', 'no-such-container-xyz'],
      ['start', 'no-such-container-xyz'],
      ['stop', 'no-such-container-xyz'],
      ['logs', 'no-such-container-xyz'],
      ['exec', 'no-such-container-xyz', 'true'],
      ['rmi', 'no-such-image-xyz'],
      ['tag', 'no-such-image-xyz', 'x:1'],
      ['volume', 'inspect', 'no-such-volume-xyz'],
      ['volume', 'rm', 'no-such-volume-xyz'],
      ['network', 'inspect', 'no-such-network-xyz'],
      ['network', 'rm', 'no-such-network-xyz'],
      ['network', 'rm', 'bridge'],
      ['run', '--rm', 'busybox', 'no-such-command-xyz'],
      ['create', '--pull', 'never', 'no-such-image-xyz'],
    ]) {
      const r = same(args.join(' '), () => args);
      assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
      assert.match(r.stderr, /\S/);
    }
  });

  test('run --rm: output, stderr and the exit code', () => {
    same('run echo', () => ['run', '--rm', 'busybox', 'echo', 'hello world']);
    const r = same('run exit 3', () => ['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(r, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    const i = same('run -i', () => ['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], undefined, 'from stdin\n');
    assert.equal(i.stdout, 'from stdin\ndone\n');
  });

  test('run -d, logs, exec, cp, stop, rm', () => {
    const name = { local: uniq('rl'), remote: uniq('rr') };
    const names = (side: Side) => ({ [name[side]]: 'NAME' });
    cleanup.push(['rm', '-f', name.local], ['rm', '-f', name.remote]);
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, ['run', '-d', '--name', name[side], 'busybox', 'sh', '-c', 'echo a; echo b >&2; sleep 60']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    }
    // logs: wait for both containers to have written
    for (const side of ['local', 'remote'] as const) {
      const deadline = Date.now() + 10_000;
      while (!run(side, ['logs', name[side]]).stderr.includes('b') && Date.now() < deadline);
    }
    const logs = same('logs', (side) => ['logs', name[side]], names);
    assert.deepEqual(logs, { code: 0, stdout: 'a\n', stderr: 'b\n' });
    same('logs --tail', (side) => ['logs', '--tail', '1', name[side]], names);
    same('exec', (side) => ['exec', name[side], 'sh', '-c', 'echo in; echo err >&2; exit 7'], names);
    same('exec -i', (side) => ['exec', '-i', name[side], 'cat'], names, 'piped\n');
    same('exec -e -w -u', (side) => ['exec', '-e', 'X=1', '-w', '/tmp', '-u', 'nobody', name[side], 'sh', '-c', 'echo $X; pwd; id -u'], names);

    const file = join(s.dir, 'cp-in.txt');
    writeFileSync(file, 'copied in\n');
    same('cp in', (side) => ['cp', file, `${name[side]}:/tmp/f.txt`], names);
    same('cat after cp', (side) => ['exec', name[side], 'cat', '/tmp/f.txt'], names);
    same('cp out to a file', (side) => ['cp', `${name[side]}:/tmp/f.txt`, join(s.dir, `out-${side}.txt`)], names);
    same('cp missing', (side) => ['cp', `${name[side]}:/no/such/file`, join(s.dir, 'x')], names);
    same('top', (side) => ['top', name[side], '-o', 'comm'], names);
    same('ps filtered', (side) => ['ps', '--filter', `name=${name[side]}`, '--format', '{{.Names}} {{.Status}}'], names);
    same('stop', (side) => ['stop', '-t', '1', name[side]], names);
    same('inspect state', (side) => ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name[side]], names);
    same('rm', (side) => ['rm', name[side]], names);
  });

  test('volume and network lifecycles', () => {
    const v = { local: uniq('vl'), remote: uniq('vr') };
    const names = (side: Side) => ({ [v[side]]: 'NAME' });
    cleanup.push(['volume', 'rm', '-f', v.local, v.remote]);
    same('volume create', (side) => ['volume', 'create', '--label', 'a=b', v[side]], names);
    same('volume inspect', (side) => ['volume', 'inspect', '-f', '{{.Name}} {{.Labels}} {{.Driver}}', v[side]], names);
    same('volume ls filtered', (side) => ['volume', 'ls', '--filter', `name=${v[side]}`], names);
    same('volume rm', (side) => ['volume', 'rm', v[side]], names);

    const n = { local: uniq('nl'), remote: uniq('nr') };
    const nnames = (side: Side) => ({ [n[side]]: 'NAME' });
    cleanup.push(['network', 'rm', n.local], ['network', 'rm', n.remote]);
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, ['network', 'create', '--label', 'x=y', n[side]]);
      assert.equal(r.code, 0, r.stderr);
    }
    same('network ls filtered', (side) => ['network', 'ls', '--format', '{{.Name}} {{.Driver}}', '--filter', `name=${n[side]}`], nnames);
    same('network create dup', (side) => ['network', 'create', n[side]], nnames);
    same('network rm', (side) => ['network', 'rm', n[side]], nnames);
  });

  test('push and pull against a registry (one per side)', () => {
    const reg = { local: regLocal.host, remote: regRemote.host };
    const names = (side: Side) => ({ [reg[side]]: 'REG' });
    cleanup.push(['rmi', '-f', `${reg.local}/rt/bb:1`, `${reg.remote}/rt/bb:1`]);
    same('tag', (side) => ['tag', 'busybox', `${reg[side]}/rt/bb:1`], names);
    const pushed = same('push', (side) => ['push', `${reg[side]}/rt/bb:1`], names);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /1: digest: sha256:/);
    same('rmi', (side) => ['rmi', `${reg[side]}/rt/bb:1`], names);
    const pulled = same('pull', (side) => ['pull', `${reg[side]}/rt/bb:1`], names);
    assert.equal(pulled.code, 0, pulled.stderr);
    same('pull missing', (side) => ['pull', `${reg[side]}/rt/none:1`], names);
    same('push missing', (side) => ['push', `${reg[side]}/rt/none:1`], names);
  });
});

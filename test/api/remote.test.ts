import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BERTH, berth, busyboxTar, ENV, ensureBusybox, type Result, uniq } from '../helpers.ts';
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

function envFor(side: Side): NodeJS.ProcessEnv {
  // BERTH_HOST='' keeps the local side local even when the environment names a host.
  return { ...ENV, ...(side === 'remote' ? { BERTH_HOST: s.host } : { BERTH_HOST: '', DOCKER_HOST: '' }) };
}

function run(side: Side, args: string[], input?: string): Result {
  return berth(args, { env: envFor(side), input, timeoutMs: 60_000 });
}

/** `run` without blocking, so that both sides of a case run at once. */
function runAsync(side: Side, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(BERTH, args, { env: envFor(side) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** Times that tick between the two runs ("2 seconds ago", "Up 3 seconds") are not the CLI's doing. */
function normalize(r: Result, names: Record<string, string>): Result {
  const fix = (t: string) => {
    let out = t;
    for (const [from, to] of Object.entries(names)) out = out.split(from).join(to);
    return (
      out
        .replace(/(Less than a second|About a minute|\d+ (second|minute)s?)( ago)?/g, 'T$3')
        // build timings: `#2 0.156 output`, `#2 DONE 0.3s`
        .replace(/^(#\d+) \d+\.\d+ /gm, '$1 T ')
        .replace(/DONE \d+\.\d+s/g, 'DONE T')
        .replace(/\s{2,}/g, '  ')
    );
  };
  return { code: r.code, stdout: fix(r.stdout), stderr: fix(r.stderr) };
}

/** Runs `args(side)` on both sides and compares, with each side's own names replaced by a placeholder. */
async function same(
  what: string,
  args: (side: Side) => string[],
  names: (side: Side) => Record<string, string> = () => ({}),
  input?: string,
): Promise<Result> {
  const [l, r] = await Promise.all([
    runAsync('local', args('local'), input),
    runAsync('remote', args('remote'), input),
  ]);
  const local = normalize(l, names('local'));
  const remote = normalize(r, names('remote'));
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
  test('read-only commands', async () => {
    // Other test files change the shared store meanwhile: listings are narrowed to what this file made.
    const c = uniq('ro');
    const v = uniq('rov');
    cleanup.push(['rm', '-f', c], ['volume', 'rm', '-f', v]);
    assert.equal(
      run('local', ['create', '--name', c, '-v', `${v}:/data`, '-l', 'ro=1', 'busybox', 'sleep', '1']).code,
      0,
    );
    for (const args of [
      ['images', 'busybox'],
      ['images', '--filter', 'reference=busybox', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'],
      ['images', '--no-trunc', '--digests', 'busybox'],
      ['image', 'inspect', 'busybox'],
      ['inspect', 'busybox'],
      ['history', 'busybox'],
      ['history', '--no-trunc', '--format', '{{json .}}', 'busybox'],
      ['ps', '-a', '--filter', `name=${c}`],
      ['ps', '-a', '--no-trunc', '--filter', 'label=ro=1', '--filter', `name=${c}`, '--format', '{{json .}}'],
      ['inspect', c],
      ['container', 'inspect', '-s', '-f', '{{.Name}} {{.SizeRw}} {{json .Mounts}}', c],
      ['volume', 'ls', '--filter', `name=${v}`],
      ['volume', 'inspect', v],
      ['network', 'ls', '--filter', 'name=bridge'],
      ['network', 'inspect', 'bridge'],
    ]) {
      const r = await same(args.join(' '), () => args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  test('errors: the same message and exit code', async () => {
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
      const r = await same(args.join(' '), () => args);
      assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
      assert.match(r.stderr, /\S/);
    }
  });

  test('run --rm: output, stderr and the exit code', async () => {
    await same('run echo', () => ['run', '--rm', 'busybox', 'echo', 'hello world']);
    const r = await same('run exit 3', () => [
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    assert.deepEqual(r, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    const i = await same(
      'run -i',
      () => ['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'],
      undefined,
      'from stdin\n',
    );
    assert.equal(i.stdout, 'from stdin\ndone\n');
  });

  test('run -t through a terminal; logs -f follows a running container to its end', async () => {
    await same('run -t', () => ['run', '--rm', '-t', 'busybox', 'sh', '-c', 'tty; stty size; echo done']);
    const name = { local: uniq('fl'), remote: uniq('fr') };
    cleanup.push(['rm', '-f', name.local], ['rm', '-f', name.remote]);
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, [
        'run',
        '-d',
        '--name',
        name[side],
        'busybox',
        'sh',
        '-c',
        'echo x; sleep 1; echo y >&2',
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const f = await same(
      'logs -f',
      (side) => ['logs', '-f', name[side]],
      (side) => ({ [name[side]]: 'NAME' }),
    );
    assert.deepEqual(f, { code: 0, stdout: 'x\n', stderr: 'y\n' });
  });

  test('run -d, logs, exec, cp, stop, rm', async () => {
    const name = { local: uniq('rl'), remote: uniq('rr') };
    const names = (side: Side) => ({ [name[side]]: 'NAME' });
    const id = { local: '', remote: '' };
    const ids = (side: Side): Record<string, string> => (id[side] ? { [id[side]]: 'ID' } : {});
    cleanup.push(['rm', '-f', name.local], ['rm', '-f', name.remote]);
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, [
        'run',
        '-d',
        '--name',
        name[side],
        'busybox',
        'sh',
        '-c',
        'echo a; echo b >&2; sleep 60',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
      id[side] = r.stdout.trim();
    }
    // logs: wait for both containers to have written
    for (const side of ['local', 'remote'] as const) {
      const deadline = Date.now() + 10_000;
      while (!run(side, ['logs', name[side]]).stderr.includes('b') && Date.now() < deadline);
    }
    const logs = await same('logs', (side) => ['logs', name[side]], names);
    assert.deepEqual(logs, { code: 0, stdout: 'a\n', stderr: 'b\n' });
    await same('logs --tail', (side) => ['logs', '--tail', '1', name[side]], names);
    await same('exec', (side) => ['exec', name[side], 'sh', '-c', 'echo in; echo err >&2; exit 7'], names);
    await same('exec -i', (side) => ['exec', '-i', name[side], 'cat'], names, 'piped\n');
    await same(
      'exec -e -w -u',
      (side) => [
        'exec',
        '-e',
        'X=1',
        '-w',
        '/tmp',
        '-u',
        'nobody',
        name[side],
        'sh',
        '-c',
        'echo $X; pwd; id -u',
      ],
      names,
    );

    const file = join(s.dir, 'cp-in.txt');
    writeFileSync(file, 'copied in\n');
    await same('cp in', (side) => ['cp', file, `${name[side]}:/tmp/f.txt`], names);
    await same('cat after cp', (side) => ['exec', name[side], 'cat', '/tmp/f.txt'], names);
    await same(
      'cp out to a file',
      (side) => ['cp', `${name[side]}:/tmp/f.txt`, join(s.dir, `out-${side}.txt`)],
      names,
    );
    await same('cp missing', (side) => ['cp', `${name[side]}:/no/such/file`, join(s.dir, 'x')], names);
    await same('top', (side) => ['top', name[side], '-o', 'comm'], names);
    await same(
      'ps filtered',
      (side) => ['ps', '--filter', `name=${name[side]}`, '--format', '{{.Names}} {{.Status}}'],
      names,
    );
    await same('diff', (side) => ['diff', name[side]], names);
    await same(
      'stats',
      (side) => ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', name[side]],
      names,
    );
    await same('pause', (side) => ['pause', name[side]], names);
    await same(
      'pause again',
      (side) => ['pause', name[side]],
      (side) => ({ ...names(side), ...ids(side) }),
    );
    await same('unpause', (side) => ['unpause', name[side]], names);
    // a commit's image ID holds the time: each side's must be the image it tagged
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, ['commit', '-m', 'c', name[side], `${name[side]}-img:1`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        run('local', ['image', 'inspect', '-f', '{{.Id}}', `${name[side]}-img:1`]).stdout,
      );
    }
    cleanup.push(['rmi', '-f', `${name.local}-img:1`, `${name.remote}-img:1`]);
    await same('export', (side) => ['export', '-o', join(s.dir, `export-${side}.tar`), name[side]], names);
    await same('rename', (side) => ['rename', name[side], `${name[side]}-2`], names);
    await same('rename back', (side) => ['rename', `${name[side]}-2`, name[side]], names);
    // `until` is whole seconds (as docker's): one in the future takes in everything done so far.
    const until = String(Math.floor(Date.now() / 1000) + 1);
    await same(
      'events',
      (side) => [
        'events',
        '--since',
        '2m',
        '--until',
        until,
        '--filter',
        `container=${name[side]}`,
        '--format',
        '{{.Type}} {{.Action}}',
      ],
      names,
    );
    await same('stop', (side) => ['stop', '-t', '1', name[side]], names);
    await same('logs -f of a stopped container', (side) => ['logs', '-f', name[side]], names);
    await same(
      'inspect state',
      (side) => ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name[side]],
      names,
    );
    await same('rm', (side) => ['rm', name[side]], names);
  });

  test('volume and network lifecycles', async () => {
    const v = { local: uniq('vl'), remote: uniq('vr') };
    const names = (side: Side) => ({ [v[side]]: 'NAME' });
    cleanup.push(['volume', 'rm', '-f', v.local, v.remote]);
    await same('volume create', (side) => ['volume', 'create', '--label', 'a=b', v[side]], names);
    await same(
      'volume inspect',
      (side) => ['volume', 'inspect', '-f', '{{.Name}} {{.Labels}} {{.Driver}}', v[side]],
      names,
    );
    await same('volume ls filtered', (side) => ['volume', 'ls', '--filter', `name=${v[side]}`], names);
    await same('volume rm', (side) => ['volume', 'rm', v[side]], names);

    const n = { local: uniq('nl'), remote: uniq('nr') };
    const nnames = (side: Side) => ({ [n[side]]: 'NAME' });
    cleanup.push(['network', 'rm', n.local], ['network', 'rm', n.remote]);
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, ['network', 'create', '--label', 'x=y', n[side]]);
      assert.equal(r.code, 0, r.stderr);
    }
    await same(
      'network ls filtered',
      (side) => ['network', 'ls', '--format', '{{.Name}} {{.Driver}}', '--filter', `name=${n[side]}`],
      nnames,
    );
    await same('network create dup', (side) => ['network', 'create', n[side]], nnames);
    await same('network rm', (side) => ['network', 'rm', n[side]], nnames);
  });

  test('build: progress, result and errors', async () => {
    const dir = join(s.dir, 'build-ctx');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f.txt'), 'context file\n');
    writeFileSync(
      join(dir, 'Dockerfile'),
      `FROM busybox\nCOPY f.txt /f.txt\nRUN cat /f.txt\nENV REMOTE_TEST=${process.pid}\n`,
    );
    const tag = { local: `${uniq('bl')}:1`, remote: `${uniq('br')}:1` };
    const names = (side: Side) => ({ [tag[side]]: 'TAG' });
    cleanup.push(['rmi', '-f', tag.local, tag.remote]);
    // warm the cache so both sides build the same image
    assert.equal(run('local', ['build', '-q', dir]).code, 0);
    const built = await same('build', (side) => ['build', '-t', tag[side], dir], names);
    assert.equal(built.code, 0, built.stderr);
    assert.equal(
      run('local', ['image', 'inspect', '-f', '{{.Id}}', tag.remote]).stdout,
      run('local', ['image', 'inspect', '-f', '{{.Id}}', tag.local]).stdout,
    );
    await same('build -q', () => ['build', '-q', dir]);
    await same('build from stdin', () => ['build', '-q', '-'], undefined, 'FROM busybox\nENV FROM_STDIN=1\n');
    writeFileSync(join(dir, 'Dockerfile.bad'), 'FROM busybox\nRUN echo failing; exit 3\n');
    const bad = await same('build failing', () => [
      'build',
      '--no-cache',
      '-f',
      join(dir, 'Dockerfile.bad'),
      dir,
    ]);
    assert.notEqual(bad.code, 0);
  });

  test('save, load, import', async () => {
    const file = (side: Side) => join(s.dir, `save-${side}.tar`);
    await same(
      'save',
      (side) => ['save', '-o', file(side), 'busybox'],
      (side) => ({ [file(side)]: 'FILE' }),
    );
    await same(
      'load',
      (side) => ['load', '-i', file(side)],
      (side) => ({ [file(side)]: 'FILE' }),
    );
    await same(
      'save --format oci',
      (side) => ['save', '--format', 'oci', '-o', `${file(side)}.oci`, 'busybox'],
      (side) => ({ [file(side)]: 'FILE' }),
    );
    await same(
      'load an OCI archive',
      (side) => ['load', '-i', `${file(side)}.oci`],
      (side) => ({ [file(side)]: 'FILE' }),
    );
    await same('load garbage', () => ['load', '-i', join(s.dir, 'no-such.tar')]);
    await same('load not a tar', () => ['load'], undefined, 'this is not a tar archive');
    const ref = { local: `${uniq('il')}:1`, remote: `${uniq('ir')}:1` };
    cleanup.push(['rmi', '-f', ref.local, ref.remote]);
    for (const side of ['local', 'remote'] as const) {
      const r = run(side, ['import', '-c', 'CMD ["sh"]', '-m', 'imp', busyboxTar(), ref[side]]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, run('local', ['image', 'inspect', '-f', '{{.Id}}', ref[side]]).stdout);
    }
    await same('history of an import', (side) => [
      'history',
      '--format',
      '{{.CreatedBy}}|{{.Comment}}',
      ref[side],
    ]);
  });

  test('push and pull against a registry (one per side)', async () => {
    const reg = { local: regLocal.host, remote: regRemote.host };
    const names = (side: Side) => ({ [reg[side]]: 'REG' });
    cleanup.push(['rmi', '-f', `${reg.local}/rt/bb:1`, `${reg.remote}/rt/bb:1`]);
    await same('tag', (side) => ['tag', 'busybox', `${reg[side]}/rt/bb:1`], names);
    const pushed = await same('push', (side) => ['push', `${reg[side]}/rt/bb:1`], names);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, /1: digest: sha256:/);
    await same('rmi', (side) => ['rmi', `${reg[side]}/rt/bb:1`], names);
    const pulled = await same('pull', (side) => ['pull', `${reg[side]}/rt/bb:1`], names);
    assert.equal(pulled.code, 0, pulled.stderr);
    await same('pull missing', (side) => ['pull', `${reg[side]}/rt/none:1`], names);
    await same('push missing', (side) => ['push', `${reg[side]}/rt/none:1`], names);
  });
});

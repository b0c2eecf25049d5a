import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pack as tarPack } from 'tar-stream';
import {
  BERTH,
  berth,
  containerNames,
  ENV,
  ensureBusybox,
  inspect,
  ok,
  rootfsMounted,
  strayMounts,
  uniq,
  until,
} from '../helpers.ts';

const name = containerNames();
const images: string[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'berth-container-fs-test-'));

before(() => ensureBusybox());
after(() => {
  name.removeAll();
  for (const i of images) berth(['rmi', '-f', i]);
  rmSync(scratch, { recursive: true, force: true });
});

/** A lowercase image name of this test process, removed when the file is done. */
function imageName(prefix: string): string {
  const n = uniq(prefix).toLowerCase();
  images.push(n);
  return n;
}

/** berth with stdout as bytes (archives). */
function berthRaw(args: string[], input?: Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(BERTH, args, { env: ENV, input, maxBuffer: 256 << 20, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
}

function tarNames(archive: Buffer | string): string[] {
  const args = typeof archive === 'string' ? ['-tf', archive] : ['-t'];
  const input = typeof archive === 'string' ? undefined : archive;
  return execFileSync('tar', args, { input, maxBuffer: 256 << 20 })
    .toString()
    .split('\n')
    .filter(Boolean);
}

function containerId(ref: string): string {
  return inspect<{ Id: string }>(ref).Id;
}

/** Runs a detached busybox container with `script`, waiting until it wrote /ready. */
async function runReady(prefix: string, script: string, image = 'busybox'): Promise<string> {
  const n = name(prefix);
  ok(['run', '-d', '--name', n, image, 'sh', '-c', `${script}; touch /ready; sleep 300`]);
  await until(() => berth(['exec', n, 'test', '-e', '/ready']).code === 0, 10_000, `${n} ready`);
  return n;
}

/** A tar archive built from entries, for archives `tar` would refuse to make. */
async function makeTar(
  entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink'; body?: string; linkname?: string }>,
): Promise<Buffer> {
  const p = tarPack();
  const collected = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const type = e.type ?? 'file';
      const header = { name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, linkname: e.linkname };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') p.entry(header, e.body ?? '', cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  return collected;
}

describe('export', () => {
  test('a running container: its merged root, with files written and without files deleted at runtime', async () => {
    const n = await runReady('exprun', 'echo runtime-data > /tmp/runtime; rm /etc/group');
    const file = join(scratch, `${n}.tar`);
    ok(['export', '-o', file, n]);
    const names = tarNames(file);
    for (const want of ['bin/busybox', 'etc/passwd', 'tmp/runtime', 'ready'])
      assert.ok(names.includes(want), want);
    assert.ok(!names.includes('etc/group'), 'a file deleted in the container is exported');
    assert.ok(!names.some((x) => x.includes('.wh.')), 'whiteouts leak into the export');
    assert.equal(execFileSync('tar', ['-xOf', file, 'tmp/runtime']).toString(), 'runtime-data\n');
    // To stdout as well, and the container keeps running with its root mounted.
    const r = berthRaw(['export', n]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tarNames(r.stdout), names);
    assert.equal(inspect<{ State: { Status: string } }>(n).State.Status, 'running');
    assert.ok(rootfsMounted(containerId(n)));
  });

  test('created and exited containers: the root is mounted for the export only', () => {
    const created = name('expcreated');
    ok(['create', '--name', created, 'busybox', 'true']);
    const r1 = berthRaw(['export', created]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.ok(tarNames(r1.stdout).includes('bin/sh'));
    assert.equal(rootfsMounted(containerId(created)), false);

    const exited = name('expexited');
    ok(['run', '--name', exited, 'busybox', 'sh', '-c', 'echo gone > /tmp/later; rm /etc/passwd']);
    assert.equal(rootfsMounted(containerId(exited)), false);
    const r2 = berthRaw(['export', exited]);
    assert.equal(r2.code, 0, r2.stderr);
    const names = tarNames(r2.stdout);
    assert.ok(names.includes('tmp/later'));
    assert.ok(!names.includes('etc/passwd'));
    assert.equal(rootfsMounted(containerId(exited)), false, 'export left the root mounted');
    assert.deepEqual(strayMounts(), []);
  });

  test('errors: no such container, missing output directory', () => {
    const r = berth(['export', '-o', join(scratch, 'x.tar'), uniq('nosuch')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such container/);
    assert.ok(!existsSync(join(scratch, 'x.tar')));
    const n = name('expbad');
    ok(['create', '--name', n, 'busybox', 'true']);
    const r2 = berth(['export', '-o', join(scratch, 'no', 'such', 'dir.tar'), n]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /invalid output path: directory .* does not exist/);
  });
});

describe('diff', () => {
  test('added, changed and deleted files, a file of the image deleted and a directory replaced', async () => {
    // A base image with a directory of its own, so the container can replace it.
    const seed = name('diffseed');
    ok([
      'run',
      '--name',
      seed,
      'busybox',
      'sh',
      '-c',
      'mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b && echo keep > /keep',
    ]);
    const base = imageName('berth-diff-base');
    ok(['commit', seed, base]);

    const n = name('diff');
    ok([
      'run',
      '--name',
      n,
      base,
      'sh',
      '-c',
      'echo new > /tmp/new; echo more >> /etc/passwd; rm /keep; rm -rf /data; mkdir /data; echo n > /data/n',
    ]);
    assert.deepEqual(ok(['diff', n]).split('\n').filter(Boolean), [
      'C /data',
      'D /data/a',
      'A /data/n',
      'D /data/sub',
      'C /etc',
      'C /etc/passwd',
      'D /keep',
      'C /tmp',
      'A /tmp/new',
    ]);
  });

  test('a running container; a container that changed nothing has no diff', async () => {
    const n = await runReady('diffrun', 'mkdir -p /opt/app && echo 1 > /opt/app/conf');
    assert.deepEqual(ok(['diff', n]).split('\n').filter(Boolean), [
      'A /opt',
      'A /opt/app',
      'A /opt/app/conf',
      'A /ready',
    ]);
    const quiet = name('diffnone');
    ok(['run', '--name', quiet, 'busybox', 'true']);
    assert.equal(ok(['diff', quiet]), '');
    const created = name('diffcreated');
    ok(['create', '--name', created, 'busybox', 'true']);
    assert.equal(ok(['diff', created]), '');
    assert.match(berth(['diff', uniq('nosuch')]).stderr, /No such container/);
  });
});

describe('commit', () => {
  test("-c, -m, -a: the image runs with the change and holds the container's files", async () => {
    const n = await runReady('commit', 'echo committed > /x; rm /etc/group');
    const img = imageName('berth-commit');
    const out = ok([
      'commit',
      '-c',
      'CMD ["cat","/x"]',
      '-m',
      'snapshot of x',
      '-a',
      'Tester <tester@example.com>',
      n,
      img,
    ]);
    assert.match(out, /^sha256:[0-9a-f]{64}\n$/);
    // Paused for the commit, running again after it.
    assert.equal(inspect<{ State: { Status: string } }>(n).State.Status, 'running');
    assert.equal(ok(['run', '--rm', img]), 'committed\n');
    assert.equal(berth(['run', '--rm', img, 'test', '-e', '/etc/group']).code, 1, 'a deleted file came back');
    assert.match(ok(['history', img]), /snapshot of x/);
    const info = inspect<{
      Id: string;
      Author: string;
      Comment: string;
      Parent: string;
      Config: { Cmd: string[] };
      RootFS: { Layers: string[] };
    }>(img);
    assert.equal(info.Id, out.trim());
    assert.equal(info.Author, 'Tester <tester@example.com>');
    assert.equal(info.Comment, 'snapshot of x');
    assert.equal(info.Parent, inspect<{ Id: string }>('busybox').Id);
    assert.deepEqual(info.Config.Cmd, ['cat', '/x']);
    assert.equal(
      info.RootFS.Layers.length,
      inspect<{ RootFS: { Layers: string[] } }>('busybox').RootFS.Layers.length + 1,
    );
  });

  test("--pause=false; the container's config becomes the image's; a paused container stays paused", async () => {
    const n = name('commitcfg');
    ok([
      'run',
      '-d',
      '--name',
      n,
      '-e',
      'FOO=bar',
      '-w',
      '/tmp',
      'busybox',
      'sh',
      '-c',
      'echo $FOO > f; sleep 300',
    ]);
    await until(() => berth(['exec', n, 'test', '-e', '/tmp/f']).code === 0, 10_000, 'file written');
    const img = imageName('berth-commit-nopause');
    ok(['commit', '--pause=false', n, img]);
    assert.equal(ok(['run', '--rm', img, 'sh', '-c', 'echo $FOO $(pwd); cat f']), 'bar /tmp\nbar\n');
    const cfg = inspect<{ Config: { Cmd: string[]; Env: string[]; WorkingDir: string } }>(img).Config;
    assert.deepEqual(cfg.Cmd, ['sh', '-c', 'echo $FOO > f; sleep 300']);
    assert.ok(cfg.Env.includes('FOO=bar'));
    assert.equal(cfg.WorkingDir, '/tmp');

    ok(['pause', n]);
    const img2 = imageName('berth-commit-paused');
    ok(['commit', n, img2]);
    assert.equal(inspect<{ State: { Status: string } }>(n).State.Status, 'paused');
    ok(['unpause', n]);
  });

  test('a stopped container without a name for the image; a bad --change is refused first', () => {
    const n = name('commitstopped');
    ok(['run', '--name', n, 'busybox', 'sh', '-c', 'echo stopped > /s']);
    const id = ok(['commit', n]).trim();
    images.push(id);
    assert.equal(ok(['run', '--rm', id, 'cat', '/s']), 'stopped\n');
    const r = berth(['commit', '-c', 'BOGUS x', n]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BOGUS is not a valid change command/);
    assert.match(berth(['commit', uniq('nosuch')]).stderr, /No such container/);
  });
});

describe('cp', () => {
  let ctr = '';
  let local = '';
  const script = [
    'mkdir -p /srv/dir/sub',
    'echo f1 > /srv/dir/f1',
    'echo s > /srv/dir/sub/s',
    'echo file > /srv/file',
    'ln -s /srv/file /srv/link',
    'ln -s /etc /tmp/evil',
    'ln -s ../../../../etc/passwd /tmp/pw',
  ].join(' && ');
  before(async () => {
    ctr = await runReady('cp', script);
    local = mkdtempSync(join(scratch, 'cp-'));
  });

  test('out: a file, a directory, its contents (dir/.), and a tar on stdout', () => {
    ok(['cp', `${ctr}:/srv/file`, join(local, 'file')]);
    assert.equal(readFileSync(join(local, 'file'), 'utf8'), 'file\n');

    // A missing destination takes the directory's name; an existing one receives it.
    ok(['cp', `${ctr}:/srv/dir`, join(local, 'newdir')]);
    assert.deepEqual(readdirSync(join(local, 'newdir')).sort(), ['f1', 'sub']);
    mkdirSync(join(local, 'into'));
    ok(['cp', `${ctr}:/srv/dir`, join(local, 'into')]);
    assert.equal(readFileSync(join(local, 'into', 'dir', 'sub', 's'), 'utf8'), 's\n');
    mkdirSync(join(local, 'contents'));
    ok(['cp', `${ctr}:/srv/dir/.`, join(local, 'contents')]);
    assert.deepEqual(readdirSync(join(local, 'contents')).sort(), ['f1', 'sub']);

    const r = berthRaw(['cp', `${ctr}:/srv/dir`, '-']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tarNames(r.stdout), ['dir/', 'dir/f1', 'dir/sub/', 'dir/sub/s']);
  });

  test('in: a file into a directory, under a new name, a directory, and a tar from stdin', async () => {
    writeFileSync(join(local, 'up.txt'), 'uploaded\n');
    ok(['cp', join(local, 'up.txt'), `${ctr}:/srv/`]);
    assert.equal(ok(['exec', ctr, 'cat', '/srv/up.txt']), 'uploaded\n');
    ok(['cp', join(local, 'up.txt'), `${ctr}:/srv/renamed.txt`]);
    assert.equal(ok(['exec', ctr, 'cat', '/srv/renamed.txt']), 'uploaded\n');

    mkdirSync(join(local, 'tree', 'deep'), { recursive: true });
    writeFileSync(join(local, 'tree', 'deep', 'leaf'), 'leaf\n');
    ok(['cp', join(local, 'tree'), `${ctr}:/srv/dir`]);
    assert.equal(ok(['exec', ctr, 'cat', '/srv/dir/tree/deep/leaf']), 'leaf\n');
    ok(['cp', join(local, 'tree'), `${ctr}:/srv/tree2`]);
    assert.equal(ok(['exec', ctr, 'cat', '/srv/tree2/deep/leaf']), 'leaf\n');

    const archive = await makeTar([
      { name: 'fromstdin/', type: 'directory' },
      { name: 'fromstdin/a', body: 'stdin\n' },
    ]);
    const r = berthRaw(['cp', '-', `${ctr}:/srv`], archive);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(ok(['exec', ctr, 'cat', '/srv/fromstdin/a']), 'stdin\n');
  });

  test('ownership: root by default, the source ids with -a', () => {
    const src = join(local, 'owned');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'owned\n');
    execFileSync('chown', ['-R', '1234:5678', src]);
    ok(['cp', src, `${ctr}:/srv/plain`]);
    assert.equal(ok(['exec', ctr, 'stat', '-c', '%u:%g', '/srv/plain', '/srv/plain/f']), '0:0\n0:0\n');
    ok(['cp', '-a', src, `${ctr}:/srv/archived`]);
    assert.equal(
      ok(['exec', ctr, 'stat', '-c', '%u:%g', '/srv/archived', '/srv/archived/f']),
      '1234:5678\n1234:5678\n',
    );
    ok(['exec', ctr, 'chown', '4321:8765', '/srv/file']);
    ok(['cp', '-a', `${ctr}:/srv/file`, join(local, 'kept')]);
    assert.equal(`${statSync(join(local, 'kept')).uid}:${statSync(join(local, 'kept')).gid}`, '4321:8765');
  });

  test('-L follows a symlink at the source; without it the link itself is copied', () => {
    ok(['cp', `${ctr}:/srv/link`, join(local, 'link')]);
    assert.ok(lstatSync(join(local, 'link')).isSymbolicLink());
    assert.equal(readlinkSync(join(local, 'link')), '/srv/file');
    ok(['cp', '-L', `${ctr}:/srv/link`, join(local, 'followed')]);
    assert.equal(readFileSync(join(local, 'followed'), 'utf8'), 'file\n');
  });

  test('symlinks in the container never reach host files', async () => {
    const containerPasswd = ok(['exec', ctr, 'cat', '/etc/passwd']);
    assert.notEqual(containerPasswd, readFileSync('/etc/passwd', 'utf8'));
    // ../../../../etc/passwd climbs to the container's root, not past it.
    ok(['cp', '-L', `${ctr}:/tmp/pw`, join(local, 'pw')]);
    assert.equal(readFileSync(join(local, 'pw'), 'utf8'), containerPasswd);
    ok(['cp', `${ctr}:/tmp/evil/passwd`, join(local, 'pw2')]);
    assert.equal(readFileSync(join(local, 'pw2'), 'utf8'), containerPasswd);

    // Writing through /tmp/evil -> /etc lands in the container's /etc.
    const hostEtc = readdirSync('/etc').sort();
    const planted = uniq('planted');
    writeFileSync(join(local, planted), 'planted\n');
    ok(['cp', join(local, planted), `${ctr}:/tmp/evil/`]);
    assert.equal(ok(['exec', ctr, 'cat', `/etc/${planted}`]), 'planted\n');
    const viaTar = uniq('viatar');
    const archive = await makeTar([{ name: `evil/${viaTar}`, body: 'tar\n' }]);
    assert.equal(berthRaw(['cp', '-', `${ctr}:/tmp`], archive).code, 0);
    assert.equal(ok(['exec', ctr, 'cat', `/etc/${viaTar}`]), 'tar\n');
    const climbing = await makeTar([{ name: `../../../../etc/${viaTar}`, body: 'escape\n' }]);
    const r = berthRaw(['cp', '-', `${ctr}:/tmp`], climbing);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /outside the destination/);
    assert.deepEqual(readdirSync('/etc').sort(), hostEtc, "the host's /etc changed");
    assert.ok(!existsSync(`/etc/${planted}`) && !existsSync(`/etc/${viaTar}`));
  });

  test('errors: missing source, missing destination directory, a directory onto a file', () => {
    const r1 = berth(['cp', `${ctr}:/no/such`, join(local, 'x')]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /Could not find the file \/no\/such in container/);
    const r2 = berth(['cp', join(local, 'nosuch'), `${ctr}:/srv/`]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /no such file or directory/);
    writeFileSync(join(local, 'one'), '1\n');
    const r3 = berth(['cp', join(local, 'one'), `${ctr}:/no/such/dir/`]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /Could not find the file|no such directory/);
    const r4 = berth(['cp', join(local, 'tree'), `${ctr}:/srv/file`]);
    assert.equal(r4.code, 1);
    assert.match(r4.stderr, /cannot copy directory/);
    const r5 = berth(['cp', '-', `${ctr}:/srv/file`], { input: '' });
    assert.equal(r5.code, 1);
    assert.match(r5.stderr, /must be a directory/);
    assert.match(berth(['cp', 'a', 'b']).stderr, /must specify at least one container source/);
    assert.match(
      berth(['cp', `${ctr}:/a`, `${ctr}:/b`]).stderr,
      /copying between containers is not supported/,
    );
  });

  test('a stopped container: both ways, and no mount is left', () => {
    const n = name('cpstopped');
    ok(['run', '--name', n, 'busybox', 'sh', '-c', 'echo before > /b']);
    writeFileSync(join(local, 'after'), 'after\n');
    ok(['cp', join(local, 'after'), `${n}:/after`]);
    ok(['cp', `${n}:/b`, join(local, 'b')]);
    assert.equal(readFileSync(join(local, 'b'), 'utf8'), 'before\n');
    assert.equal(rootfsMounted(containerId(n)), false);
    ok(['start', '-a', n]);
    assert.ok(ok(['diff', n]).includes('A /after'));
  });
});

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { berth, busyboxTar, containerNames, ensureBusybox, inspect, ok, uniq } from '../helpers.ts';

const name = containerNames();
const volumes: string[] = [];
function volume(prefix: string): string {
  const v = uniq(prefix);
  volumes.push(v);
  return v;
}

before(() => ensureBusybox());
after(() => {
  name.removeAll();
  for (const v of volumes) berth(['volume', 'rm', '-f', v]);
});

const run = (args: string[], script: string) => ok(['run', '--rm', ...args, 'busybox', 'sh', '-c', script]);
const volumeNames = () => new Set(ok(['volume', 'ls', '-q']).split('\n').filter(Boolean));

describe('named volumes', () => {
  test('data outlives the container and is read by a new one', () => {
    const v = volume('keep');
    assert.equal(ok(['volume', 'create', v]), `${v}\n`);
    run(['-v', `${v}:/data`], 'echo kept > /data/f');
    assert.equal(run(['-v', `${v}:/data`], 'cat /data/f'), 'kept\n');
    const info = (
      JSON.parse(ok(['volume', 'inspect', v])) as { Name: string; Driver: string; Mountpoint: string }[]
    )[0]!;
    assert.equal(info.Name, v);
    assert.equal(info.Driver, 'local');
    assert.equal(readFileSync(join(info.Mountpoint, 'f'), 'utf8'), 'kept\n');
  });

  test('a missing named volume is created by run; two running containers share one', async () => {
    const v = volume('shared');
    const a = name('share-a');
    ok([
      'run',
      '-d',
      '--name',
      a,
      '-v',
      `${v}:/s`,
      'busybox',
      'sh',
      '-c',
      'while :; do cat /s/msg 2>/dev/null && break; sleep 0.1; done; sleep 300',
    ]);
    assert.ok(volumeNames().has(v));
    run(['-v', `${v}:/s`], 'echo hello-from-b > /s/msg');
    const deadline = Date.now() + 5000;
    while (ok(['logs', a]) !== 'hello-from-b\n') {
      assert.ok(Date.now() < deadline, 'the running container never saw the write');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  test('an empty volume is filled with the image content at its path; nocopy skips it', () => {
    const v = volume('copyup');
    assert.match(run(['-v', `${v}:/etc`], 'cat /etc/passwd'), /^root:x:0:0/);
    const n = volume('nocopy');
    assert.equal(run(['-v', `${n}:/etc:nocopy`], 'ls /etc | wc -l').trim(), '3'); // only hosts, hostname, resolv.conf binds
  });

  test('rm refuses a volume in use; -f on a missing one succeeds; prune -a removes unused', () => {
    const v = volume('inuse');
    const c = name('user');
    ok(['create', '--name', c, '-v', `${v}:/d`, 'busybox', 'true']);
    const r = berth(['volume', 'rm', v]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /volume is in use/);
    ok(['rm', c]);
    assert.equal(berth(['volume', 'rm', '-f', 'no-such-volume-x']).code, 0);
    assert.equal(berth(['volume', 'rm', 'no-such-volume-x']).code, 1);
    const label = `berth.test=${uniq('prune')}`;
    const p = volume('prunable');
    ok(['volume', 'create', '--label', label, p]);
    const out = ok(['volume', 'prune', '-f', '-a', '--filter', `label=${label}`]);
    assert.match(out, new RegExp(`Deleted Volumes:\\n${p}\\n`));
    assert.ok(!volumeNames().has(p));
  });

  test('ls --filter, --format; create with -o type=tmpfs', () => {
    const v = volume('tmpfsvol');
    ok([
      'volume',
      'create',
      '-o',
      'type=tmpfs',
      '-o',
      'device=tmpfs',
      '-o',
      'o=size=2m',
      '--label',
      'kind=tmp',
      v,
    ]);
    assert.match(run(['-v', `${v}:/t`], 'df -k /t | tail -1'), /\s2048\s/);
    assert.equal(
      ok([
        'volume',
        'ls',
        '--filter',
        'label=kind=tmp',
        '--filter',
        `name=${v}`,
        '--format',
        '{{.Name}} {{.Driver}}',
      ]),
      `${v} local\n`,
    );
    assert.equal(berth(['volume', 'create', 'bad/name']).code, 1);
  });
});

describe('anonymous volumes', () => {
  test('-v /path makes one; rm -v removes it, rm keeps it', () => {
    const c1 = name('anon1');
    ok(['create', '--name', c1, '-v', '/data', 'busybox', 'true']);
    const v1 = inspect<{ Mounts: { Name: string; Type: string }[] }>(c1).Mounts[0]!;
    assert.equal(v1.Type, 'volume');
    assert.match(v1.Name, /^[0-9a-f]{64}$/);
    ok(['rm', '-v', c1]);
    assert.ok(!volumeNames().has(v1.Name));
    const c2 = name('anon2');
    ok(['create', '--name', c2, '-v', '/data', 'busybox', 'true']);
    const v2 = inspect<{ Mounts: { Name: string }[] }>(c2).Mounts[0]!.Name;
    ok(['rm', c2]);
    assert.ok(volumeNames().has(v2));
    ok(['volume', 'rm', v2]);
  });

  test('an image VOLUME gets an anonymous volume, removed with --rm', () => {
    const img = uniq('volimg');
    ok(['import', '--change', 'VOLUME /vol', '--change', 'CMD ["sh"]', busyboxTar(), img]);
    try {
      const before = volumeNames();
      assert.equal(ok(['run', '--rm', img, 'sh', '-c', 'grep -c " /vol " /proc/mounts']), '1\n');
      assert.deepEqual(volumeNames(), before);
    } finally {
      ok(['rmi', img]);
    }
  });

  test("--volumes-from mounts another container's volumes", () => {
    const v = volume('from');
    const src = name('vsrc');
    ok(['create', '--name', src, '-v', `${v}:/shared`, 'busybox', 'true']);
    run(['--volumes-from', src], 'echo via-from > /shared/x');
    assert.equal(run(['-v', `${v}:/s`], 'cat /s/x'), 'via-from\n');
    assert.match(run(['--volumes-from', `${src}:ro`], 'touch /shared/y 2>&1 || echo refused'), /refused/);
  });
});

describe('bind mounts and --mount', () => {
  test(':ro is enforced; -v creates a missing host dir; --mount bind refuses one', () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-bind-'));
    writeFileSync(join(d, 'h'), 'host\n');
    assert.equal(run(['-v', `${d}:/h`], 'cat /h/h'), 'host\n');
    assert.notEqual(
      berth(['run', '--rm', '-v', `${d}:/h:ro`, 'busybox', 'sh', '-c', 'echo x > /h/h']).code,
      0,
    );
    assert.equal(readFileSync(join(d, 'h'), 'utf8'), 'host\n');
    const missing = join(d, 'new', 'dir');
    run(['-v', `${missing}:/m`], 'echo made > /m/f');
    assert.equal(readFileSync(join(missing, 'f'), 'utf8'), 'made\n');
    const r = berth([
      'run',
      '--rm',
      '--mount',
      `type=bind,source=${join(d, 'absent')},target=/a`,
      'busybox',
      'true',
    ]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /bind source path does not exist/);
    assert.ok(!existsSync(join(d, 'absent')));
  });

  test('a symlink bind source is resolved on the host', () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-link-'));
    writeFileSync(join(d, 'real'), 'through-link\n');
    symlinkSync(join(d, 'real'), join(d, 'link'));
    assert.equal(run(['-v', `${join(d, 'link')}:/f:ro`], 'cat /f'), 'through-link\n');
  });

  test('--mount volume, bind readonly, tmpfs with size and mode', () => {
    const v = volume('mountvol');
    const d = mkdtempSync(join(tmpdir(), 'berth-mnt-'));
    const out = run(
      [
        '--mount',
        `type=volume,src=${v},dst=/v`,
        '--mount',
        `type=bind,src=${d},dst=/b,readonly`,
        '--mount',
        'type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770',
      ],
      'touch /v/ok && echo vol-ok; touch /b/x 2>/dev/null || echo bind-ro; grep " /t " /proc/mounts; stat -c %a /t',
    );
    assert.match(out, /vol-ok\nbind-ro\ntmpfs \/t tmpfs .*size=1024k.*\n1770\n/);
    assert.equal(berth(['run', '--rm', '--mount', 'type=bogus,dst=/x', 'busybox', 'true']).code, 125);
    assert.equal(berth(['run', '--rm', '-v', 'relative:path:/x', 'busybox', 'true']).code, 125);
  });

  test('inspect shows the mounts as docker does', () => {
    const v = volume('insp');
    const d = mkdtempSync(join(tmpdir(), 'berth-insp-'));
    const c = name('inspmounts');
    ok(['create', '--name', c, '-v', `${v}:/v:ro`, '-v', `${d}:/b`, 'busybox', 'true']);
    const mounts = inspect<{
      Mounts: {
        Type: string;
        Name?: string;
        Source: string;
        Destination: string;
        RW: boolean;
        Mode: string;
      }[];
    }>(c).Mounts;
    const vm = mounts.find((m) => m.Destination === '/v')!;
    assert.equal(vm.Type, 'volume');
    assert.equal(vm.Name, v);
    assert.equal(vm.RW, false);
    assert.equal(vm.Mode, 'ro');
    const bm = mounts.find((m) => m.Destination === '/b')!;
    assert.equal(bm.Type, 'bind');
    assert.equal(bm.Source, d);
    assert.ok(statSync(bm.Source).isDirectory());
  });
});

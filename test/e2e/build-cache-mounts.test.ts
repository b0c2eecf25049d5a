import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { berth, busyboxTar, type Result, tarOf, uniq } from '../helpers.ts';

/*
 * A store of its own: `builder prune -a` here must not empty the cache other test files rely on.
 * RUN steps use --network none so that this store needs no bridge of its own.
 */
const ROOT = `/var/tmp/berth-test/cm-${process.pid}`;
const RUNROOT = `/run/berth-test-cm-${process.pid}`;
const env = { BERTH_ROOT: ROOT, BERTH_RUNROOT: RUNROOT };
const WORK = join(ROOT, '..', `cm-work-${process.pid}`);

function b(args: string[], input?: Buffer): Result {
  return berth(args, { env, input, timeoutMs: 60_000 });
}
function okb(args: string[], input?: Buffer): Result {
  const r = b(args, input);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}
const key = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 32);
const mountData = (id: string) => join(ROOT, 'build', 'cache-mounts', key(id), 'data');

before(() => {
  mkdirSync(WORK, { recursive: true });
  okb(['import', '--change', 'CMD ["sh"]', busyboxTar(), 'busybox']);
});
after(() => {
  b(['rmi', '-f', 'cm-img']);
  rmSync(ROOT, { recursive: true, force: true });
  rmSync(RUNROOT, { recursive: true, force: true });
  rmSync(WORK, { recursive: true, force: true });
});

/** Builds a Dockerfile whose RUN appends to the cache mount `id` and prints how many lines it holds. */
function buildCounting(id: string): string {
  const dir = join(WORK, `ctx-${id}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM busybox\nRUN --mount=type=cache,target=/c,id=${id} sh -c 'echo x >> /c/log; echo "lines=$(wc -l < /c/log)"'\n`,
  );
  const r = okb(['build', '--progress=plain', '--no-cache', '--network=none', '-t', 'cm-img', dir]);
  const m = /lines=(\d+)/.exec(r.stderr);
  assert.ok(m, `the RUN step's output is missing:\n${r.stderr}`);
  return m[1]!;
}

async function cacheArchive(
  id: string,
  files: { name: string; type?: 'file' | 'symlink' | 'directory'; body?: string; linkname?: string }[],
): Promise<Buffer> {
  const inner = await tarOf(files);
  const index = {
    berthCacheMounts: 1,
    mounts: [{ id, archive: `mounts/${key(id)}.tar`, uid: 0, gid: 0, mode: 0o755, size: 0 }],
  };
  return tarOf([
    { name: 'index.json', body: JSON.stringify(index) },
    { name: `mounts/${key(id)}.tar`, body: inner },
  ]);
}

describe('build cache mounts', () => {
  test('persist across builds, stay out of the image, survive export → prune → import', () => {
    const id = uniq('cm');
    assert.equal(buildCounting(id), '1');
    assert.equal(buildCounting(id), '2');
    // The mount's files are not in the image.
    const inImage = b(['run', '--rm', '--network=none', 'cm-img', 'cat', '/c/log']);
    assert.notEqual(inImage.code, 0, `the cache mount's file leaked into the image: ${inImage.stdout}`);

    const du = okb(['builder', 'du']).stdout;
    assert.match(du, /^ID\s+RECLAIMABLE\s+SIZE\s+LAST ACCESSED\n/);
    assert.match(du, new RegExp(`^${key(id).slice(0, 25)}\\*\\s+true\\s+4B\\s+`, 'm'));
    assert.match(du, /^[0-9a-f]{25}\s+true\s+\S+\s+\S.* ago$/m, 'no step record listed');
    assert.match(du, /^Total:\s+\S+B$/m);
    assert.match(
      okb(['builder', 'du', '--verbose']).stdout,
      new RegExp(`Description:\\s+cache mount with id "${id}"`),
    );

    const archive = join(WORK, 'cache.tar');
    okb(['builder', 'cache', 'export', '--id', id, '-o', archive]);
    const miss = b(['builder', 'cache', 'export', '--id', `${id}-none`, '-o', join(WORK, 'none.tar')]);
    assert.notEqual(miss.code, 0);
    assert.match(miss.stderr, /no build cache mount with id/);
    assert.equal(existsSync(join(WORK, 'none.tar')), false);

    okb(['builder', 'prune', '-a', '-f']);
    rmSync(join(ROOT, 'build', 'cache-mounts', key(id)), { recursive: true, force: true });
    assert.equal(buildCounting(id), '1', 'the cache mount survived its removal');
    rmSync(join(ROOT, 'build', 'cache-mounts', key(id)), { recursive: true, force: true });

    assert.match(
      okb(['builder', 'cache', 'import', archive]).stdout,
      new RegExp(`imported cache mount ${id}`),
    );
    assert.equal(readFileSync(join(mountData(id), 'log'), 'utf8'), 'x\nx\n');
    assert.equal(buildCounting(id), '3');

    // Merging keeps what only the cache has; --replace (here from stdin) drops it.
    writeFileSync(join(mountData(id), 'extra'), 'e');
    okb(['builder', 'cache', 'import', archive]);
    assert.deepEqual(readdirSync(mountData(id)).sort(), ['extra', 'log']);
    assert.equal(readFileSync(join(mountData(id), 'log'), 'utf8'), 'x\nx\n');
    okb(['builder', 'cache', 'import', '--replace', '-'], readFileSync(archive));
    assert.deepEqual(readdirSync(mountData(id)), ['log']);
  });

  test('export to stdout is a tar with an index', () => {
    const id = uniq('cmout');
    buildCounting(id);
    const r = berth(['builder', 'cache', 'export', '--id', id, '-o', '-'], { env });
    assert.equal(r.code, 0, r.stderr);
    const file = join(WORK, 'out.tar');
    writeFileSync(file, r.stdout, 'latin1');
    const listing = readFileSync(file).subarray(0, 100).toString('latin1');
    assert.ok(listing.startsWith('index.json'), 'the archive does not start with its index');
  });

  test('hostile archives are refused and change nothing', async () => {
    const id = uniq('cmbad');
    const outside = join(WORK, `escaped-${id}`);
    const climbing = await cacheArchive(id, [{ name: `../../../../../..${outside}`, body: 'pwned' }]);
    let r = b(['builder', 'cache', 'import', '-'], climbing);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /outside the destination; refusing the archive/);
    assert.equal(existsSync(outside), false);
    assert.equal(existsSync(join(ROOT, 'build', 'cache-mounts', key(id))), false);

    // A symlink to the host, then a file through it: the file stays inside the mount.
    const through = await cacheArchive(id, [
      { name: 'l', type: 'symlink', linkname: WORK },
      { name: `l/escaped-${id}`, body: 'pwned' },
    ]);
    okb(['builder', 'cache', 'import', '-'], through);
    assert.equal(existsSync(outside), false, 'the archive wrote through a symlink onto the host');

    const unlisted = await tarOf([
      { name: 'index.json', body: JSON.stringify({ berthCacheMounts: 1, mounts: [] }) },
      { name: '../evil', body: 'x' },
    ]);
    r = b(['builder', 'cache', 'import', '-'], unlisted);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a cache mount its index.json lists/);

    const noIndex = await tarOf([{ name: 'mounts/x.tar', body: 'x' }]);
    r = b(['builder', 'cache', 'import', '-'], noIndex);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not start with index.json/);

    const truncated = await tarOf([
      {
        name: 'index.json',
        body: JSON.stringify({
          berthCacheMounts: 1,
          mounts: [{ id: `${id}-t`, archive: 'x', uid: 0, gid: 0, mode: 0o755 }],
        }),
      },
    ]);
    r = b(['builder', 'cache', 'import', '-'], truncated);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lacks the data of cache mount/);
    assert.equal(existsSync(join(ROOT, 'build', 'cache-mounts', key(`${id}-t`))), false);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BERTH, ENV, ensureBusybox, ok, uniq } from '../helpers.ts';
import { type Served, serve } from './serve.ts';

/**
 * Compose state lives in docker compose's own labels: a project docker-compose made through
 * `berth serve` is Berth's to list and take down, and the other way round.
 */
describe('compose projects shared between berth compose and docker-compose', () => {
  let s: Served;
  let dir: string;
  const projects: string[] = [];

  before(async () => {
    ensureBusybox();
    s = await serve();
    dir = mkdtempSync(join(tmpdir(), 'berth-interop-'));
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      'version: "3.7"\nservices:\n  a: {image: busybox, command: sleep 1000, init: true}\n  b: {image: busybox, command: sleep 1000, init: true}\n',
    );
  });
  after(async () => {
    for (const p of projects) berthCompose(['-p', p, 'down', '-t', '0']);
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const dockerCompose = (args: string[]) =>
    spawnSync('docker-compose', args, { cwd: dir, env: s.env, timeout: 60_000, encoding: 'utf8' });
  const berthCompose = (args: string[]) => {
    const env = { ...ENV };
    delete env.DOCKER_HOST;
    delete env.BERTH_HOST;
    return spawnSync(BERTH, ['compose', ...args], { cwd: dir, env, timeout: 60_000, encoding: 'utf8' });
  };
  const running = (p: string) =>
    ok(['ps', '-q', '--filter', `label=com.docker.compose.project=${p}`])
      .trim()
      .split('\n')
      .filter(Boolean);

  it('berth compose lists and removes what docker-compose created', () => {
    const p = uniq('dcup').replace(/[^a-z0-9]/g, '');
    projects.push(p);
    const up = dockerCompose(['-p', p, 'up', '-d']);
    assert.equal(up.status, 0, up.stderr);
    assert.equal(running(p).length, 2);
    const ps = berthCompose(['-p', p, 'ps', '--format', '{{.Service}}']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.deepEqual(ps.stdout.trim().split('\n').sort(), ['a', 'b']);
    const down = berthCompose(['-p', p, 'down', '-t', '0']);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(running(p), []);
    assert.equal(ok(['network', 'ls', '-q', '--filter', `name=${p}_default`]).trim(), '');
  });

  it('docker-compose lists and removes what berth compose created', () => {
    const p = uniq('bcup').replace(/[^a-z0-9]/g, '');
    projects.push(p);
    const up = berthCompose(['-p', p, 'up', '-d']);
    assert.equal(up.status, 0, up.stderr);
    assert.equal(running(p).length, 2);
    const ps = dockerCompose(['-p', p, 'ps', '--services']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.deepEqual(ps.stdout.trim().split('\n').sort(), ['a', 'b']);
    const down = dockerCompose(['-p', p, 'down', '-t', '0']);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(running(p), []);
  });
});

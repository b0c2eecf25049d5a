import assert from 'node:assert/strict';
import { test } from 'node:test';
import { berth, ensureBusybox, ok, uniq } from '../helpers.ts';

test('events: a container run records create/start/die/destroy and its volume mount/unmount', () => {
  ensureBusybox();
  const vol = uniq('evvol');
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const name = uniq('ev');
  ok(['run', '--rm', '--name', name, '-v', `${vol}:/data`, 'busybox', 'true']);
  try {
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const lines = ok([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--format',
      '{{.Type}} {{.Action}} {{.Actor.ID}}',
    ])
      .trim()
      .split('\n');
    const mine = lines.filter((l) => l.endsWith(` ${vol}`) || l.includes(' container '));
    assert.ok(mine.includes(`volume mount ${vol}`), lines.join('\n'));
    assert.ok(mine.includes(`volume unmount ${vol}`), lines.join('\n'));
    const mount = lines.indexOf(`volume mount ${vol}`);
    const unmount = lines.indexOf(`volume unmount ${vol}`);
    assert.ok(mount < unmount, 'mount comes before unmount');
    const actions = ok([
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      `container=${name}`,
      '--format',
      '{{.Action}}',
    ])
      .trim()
      .split('\n');
    assert.deepEqual(
      actions.filter((a) => ['create', 'start', 'die', 'destroy'].includes(a)),
      ['create', 'start', 'die', 'destroy'],
    );
  } finally {
    berth(['volume', 'rm', '-f', vol]);
  }
});

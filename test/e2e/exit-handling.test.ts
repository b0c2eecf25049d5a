import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BERTH,
  berth,
  containerNames,
  ENV,
  ensureBusybox,
  inspect,
  ok,
  TEST_ROOT,
  TEST_RUNROOT,
  until,
} from '../helpers.ts';

// Who records an exit: a waiting berth (stop, rm -f, an attached run) does it itself and conmon's exit
// command then skips starting Berth; whenever nobody waits, or the waiter dies, the exit command must.

const name = containerNames();
before(() => ensureBusybox());
after(() => name.removeAll());

const stored = (id: string) => existsSync(join(TEST_ROOT, 'containers', id));

interface Info {
  Id: string;
  RestartCount: number;
  State: { Status: string; Pid: number; ExitCode: number };
}

describe('exit handling', () => {
  test('a detached --rm container is removed by the exit command alone', async () => {
    const id = ok(['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 0.2']).trim();
    assert.ok(stored(id));
    // no berth command from here on: only conmon's exit command can remove it
    await until(() => !stored(id), 10_000, 'the exit command to remove the container');
  });

  test('an attached run hands a restart policy over to the exit command', async () => {
    const n = name('handover');
    const r = berth([
      'run',
      '--name',
      n,
      '--restart',
      'on-failure:1',
      'busybox',
      'sh',
      '-c',
      'echo run; exit 3',
    ]);
    assert.equal(r.code, 3);
    await until(
      () => ok(['logs', n]) === 'run\nrun\n' && inspect<Info>(n).State.Status === 'exited',
      10_000,
      'the restart',
    );
    assert.equal(inspect<Info>(n).RestartCount, 1);
  });

  test('a stop killed while it waits leaves the exit to the exit command', async () => {
    // sleep as PID 1 ignores SIGTERM: the stop waits (holding its claim on the exit) until killed
    const id = ok(['run', '-d', '--rm', 'busybox', 'sleep', '1000']).trim();
    const pid = inspect<Info>(id).State.Pid;
    assert.ok(pid > 0);
    const stop = spawn(BERTH, ['stop', '-t', '60', id], { env: ENV, stdio: 'ignore' });
    const stopped = new Promise((r) => stop.once('exit', r));
    const watch = join(TEST_RUNROOT, 'containers', id, 'exit.watch');
    // Read the lock table rather than probe with a lock of our own: a probe holding the file for
    // an instant can make the stop's non-blocking claim fail (it then leaves the exit to conmon).
    const claimed = () => {
      if (!existsSync(watch)) return false;
      const ino = statSync(watch).ino;
      return readFileSync('/proc/locks', 'utf8')
        .split('\n')
        .some((l) => / FLOCK +ADVISORY +READ /.test(l) && l.split(/\s+/).some((f) => f.endsWith(`:${ino}`)));
    };
    await until(claimed, 10_000, 'the stop to claim the exit');
    stop.kill('SIGKILL');
    await stopped;
    assert.ok(stored(id));
    process.kill(pid, 'SIGKILL');
    await until(() => !stored(id), 10_000, 'the exit command to remove the container');
  });

  test('stop and rm -f record the exit themselves, leaving no namespace behind', () => {
    const n = name('stoprm');
    const id = ok(['run', '-d', '--init', '--name', n, 'busybox', 'sleep', '1000']).trim();
    assert.ok(existsSync(`/run/netns/berth-${id.slice(0, 12)}`));
    ok(['stop', n]);
    const c = inspect<Info>(n);
    assert.equal(c.State.Status, 'exited');
    assert.equal(c.State.ExitCode, 143);
    assert.equal(existsSync(`/run/netns/berth-${id.slice(0, 12)}`), false);
    ok(['start', n]);
    ok(['rm', '-f', n]);
    assert.equal(stored(id), false);
    assert.equal(existsSync(`/run/netns/berth-${id.slice(0, 12)}`), false);
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    assert.equal(links.includes(`berth-${id.slice(0, 12)}`), false, 'veth left behind');
  });
});

/**
 * Health checks with docker's semantics and no daemon: the --health-* flags and an image's
 * HEALTHCHECK, the detached monitor process each started container gets, State.Health in inspect,
 * `ps` STATUS and `--filter health=`, and podman's `healthcheck run`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { berth, busyboxTar, containerNames, ensureBusybox, inspect, ok, uniq, until } from '../helpers.ts';

interface LogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

interface Health {
  Status: string;
  FailingStreak: number;
  Log: LogEntry[];
}

interface ContainerJSON {
  Id: string;
  State: { Status: string; Running: boolean; StartedAt: string; Health?: Health };
  Config: { Healthcheck?: Record<string, unknown> };
}

const name = containerNames();
const IMAGE = uniq('hc-image');
before(() => ensureBusybox());
after(() => {
  name.removeAll();
  berth(['rmi', '-f', IMAGE]);
});

const container = (ref: string) => inspect<ContainerJSON>(ref);
const health = (ref: string) => container(ref).State.Health;

/** `run -d` on busybox with the given flags; the container sleeps until removed. No network: checks need none. */
function runHc(n: string, flags: string[], image = 'busybox'): string {
  return ok(['run', '-d', '--name', n, '--network', 'none', ...flags, image, 'sleep', '300']).trim();
}

/** Monitor processes for one container, by their argv. */
function monitors(id: string): number {
  const out = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`container healthcheck-monitor ${id}`)).length;
}

function psStatus(n: string): string {
  return ok(['ps', '--filter', `name=^${n}$`, '--format', '{{.Status}}']).trim();
}

function psNames(filter: string): string[] {
  return ok(['ps', '-a', '--filter', filter, '--format', '{{.Names}}']).split('\n').filter(Boolean);
}

describe('health checks', () => {
  test('flags are validated like docker', () => {
    const bad: [string[], RegExp][] = [
      [['--health-interval', '500us'], /Interval in Healthcheck cannot be less than 1ms/],
      [['--health-timeout', '10ns'], /Timeout in Healthcheck cannot be less than 1ms/],
      [['--health-start-period', '1us'], /StartPeriod in Healthcheck cannot be less than 1ms/],
      [['--health-start-interval', '1us'], /StartInterval in Healthcheck cannot be less than 1ms/],
      [['--health-interval', '-1s'], /--health-interval cannot be negative/],
      [['--health-retries', '-1'], /--health-retries cannot be negative/],
      [
        ['--health-interval', 'soon'],
        /invalid argument "soon" for "--health-interval" flag: time: invalid duration "soon"/,
      ],
      [['--no-healthcheck', '--health-cmd', 'true'], /--no-healthcheck conflicts with --health-\* options/],
    ];
    for (const [flags, msg] of bad) {
      const r = berth(['create', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    const n = name('hc-flags');
    ok([
      'create',
      '--name',
      n,
      '--health-cmd',
      'exit 0',
      '--health-interval',
      '1.5s',
      '--health-timeout',
      '500ms',
      '--health-start-period',
      '1m',
      '--health-start-interval',
      '2s',
      '--health-retries',
      '4',
      'busybox',
      'true',
    ]);
    assert.deepEqual(container(n).Config.Healthcheck, {
      Test: ['CMD-SHELL', 'exit 0'],
      Interval: 1_500_000_000,
      Timeout: 500_000_000,
      StartPeriod: 60_000_000_000,
      StartInterval: 2_000_000_000,
      Retries: 4,
    });
    assert.equal(container(n).State.Health, undefined, 'a created container has no health state yet');
  });

  test("an image's HEALTHCHECK runs, merges with the flags, and --no-healthcheck turns it off", async () => {
    ok([
      'import',
      '--change',
      'CMD ["sh"]',
      '--change',
      'HEALTHCHECK --interval=150ms --retries=2 CMD ["test", "-e", "/tmp/ok"]',
      busyboxTar(),
      IMAGE,
    ]);
    const img = JSON.parse(ok(['image', 'inspect', IMAGE]))[0] as { Config: { Healthcheck: unknown } };
    assert.deepEqual(img.Config.Healthcheck, {
      Test: ['CMD', 'test', '-e', '/tmp/ok'],
      Interval: 150_000_000,
      Retries: 2,
    });
    const bad = berth(['import', '--change', 'HEALTHCHECK --interval=1s NONE', busyboxTar(), uniq('x')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /HEALTHCHECK NONE takes no arguments/);

    // The image's check: fails (no /tmp/ok) until the file exists.
    const a = name('hc-img');
    runHc(a, [], IMAGE);
    assert.deepEqual(container(a).Config.Healthcheck, img.Config.Healthcheck);
    await until(() => health(a)?.Status === 'unhealthy', 10_000, 'image check to fail');
    ok(['exec', a, 'touch', '/tmp/ok']);
    await until(() => health(a)?.Status === 'healthy', 10_000, 'image check to pass');

    // Flags override field by field: the test and the interval stay the image's.
    const b = name('hc-merge');
    runHc(b, ['--health-retries', '7', '--health-timeout', '2s'], IMAGE);
    assert.deepEqual(container(b).Config.Healthcheck, {
      Test: ['CMD', 'test', '-e', '/tmp/ok'],
      Interval: 150_000_000,
      Timeout: 2_000_000_000,
      Retries: 7,
    });

    const c = name('hc-none');
    const id = runHc(c, ['--no-healthcheck'], IMAGE);
    const cfg = container(c).Config.Healthcheck as { Test: string[] };
    assert.deepEqual(cfg.Test, ['NONE']);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(health(c), undefined);
    assert.equal(monitors(id), 0);
    assert.match(psStatus(c), /^Up [^(]*$/);
    assert.ok(psNames('health=none').includes(c));
  });

  test('a passing check turns healthy; ps shows it and filters on it', async () => {
    const n = name('hc-ok');
    const id = runHc(n, ['--health-cmd', 'echo fine', '--health-interval', '200ms']);
    await until(() => health(n)?.Status === 'healthy', 10_000, 'healthy');
    const h = health(n)!;
    assert.equal(h.FailingStreak, 0);
    const last = h.Log.at(-1)!;
    assert.equal(last.ExitCode, 0);
    assert.equal(last.Output, 'fine\n');
    assert.ok(Date.parse(last.End) >= Date.parse(last.Start));
    assert.match(psStatus(n), /^Up .+ \(healthy\)$/);
    assert.equal(ok(['inspect', '--format', '{{.State.Health.Status}}', n]).trim(), 'healthy');
    assert.ok(psNames('health=healthy').includes(n));
    assert.ok(!psNames('health=unhealthy').includes(n));
    assert.ok(!psNames('health=none').includes(n));
    const bad = berth(['ps', '--filter', 'health=sick']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Unrecognised filter value for health: sick/);
    assert.equal(monitors(id), 1);

    // Stop: the monitor goes, the last status stays (docker keeps it).
    ok(['stop', '-t', '0', n]);
    await until(() => monitors(id) === 0, 5000, 'monitor to exit after stop');
    assert.equal(health(n)?.Status, 'healthy');
  });

  test('a failing check turns unhealthy after the retries, keeps 5 results, and the container keeps running', async () => {
    const slow = name('hc-starting');
    runHc(slow, ['--health-cmd', 'true', '--health-interval', '1h']);
    assert.equal(health(slow)?.Status, 'starting');
    assert.match(psStatus(slow), /^Up .+ \(health: starting\)$/);
    assert.ok(psNames('health=starting').includes(slow));

    const n = name('hc-bad');
    runHc(n, ['--health-cmd', 'echo bad >&2; exit 3', '--health-interval', '100ms', '--health-retries', '2']);
    await until(() => health(n)?.Status === 'unhealthy', 10_000, 'unhealthy');
    assert.ok(health(n)!.FailingStreak >= 2);
    await until(() => (health(n)?.FailingStreak ?? 0) >= 7, 15_000, 'more failures');
    const h = health(n)!;
    assert.equal(h.Log.length, 5);
    for (const e of h.Log) {
      assert.equal(e.ExitCode, 3);
      assert.equal(e.Output, 'bad\n');
    }
    assert.equal(container(n).State.Running, true, 'docker does not restart or stop unhealthy containers');
    assert.match(psStatus(n), /^Up .+ \(unhealthy\)$/);
    assert.ok(psNames('health=unhealthy').includes(n));
    assert.ok(!psNames('health=healthy').includes(n));
  });

  test('failures inside the start period do not count, unless a check passed first', async () => {
    const n = name('hc-period');
    runHc(n, [
      '--health-cmd',
      'test -e /tmp/ok',
      '--health-interval',
      '100ms',
      '--health-start-period',
      '2s',
      '--health-start-interval',
      '100ms',
      '--health-retries',
      '1',
    ]);
    const started = Date.parse(container(n).State.StartedAt);
    const inPeriod = (e: LogEntry) => Date.parse(e.Start) - started < 2000;
    // One consistent snapshot (status and log are written together): only the failures after the
    // start period may have been counted.
    const snap = await until(
      () => {
        const h = health(n);
        return h && h.Log.length >= 2 && h;
      },
      10_000,
      'two failed checks',
    );
    const early = snap.Log.filter(inPeriod).length;
    const late = snap.Log.length - early;
    assert.ok(early >= 1, 'no check ran inside the start period');
    if (late === 0) {
      assert.equal(snap.Status, 'starting');
      assert.equal(snap.FailingStreak, 0);
    } else {
      assert.equal(snap.Status, 'unhealthy');
      // The log keeps 5 results: while it holds them all, the streak is exactly the late ones.
      if (snap.Log.length < 5) assert.equal(snap.FailingStreak, late);
      else assert.ok(snap.FailingStreak >= late);
    }
    await until(() => health(n)?.Status === 'unhealthy', 10_000, 'unhealthy after the start period');
    assert.ok(Date.now() - started >= 2000, 'unhealthy inside the start period');

    // After one success inside the start period, a failure counts at once.
    const m = name('hc-period2');
    runHc(m, [
      '--health-cmd',
      'test -e /tmp/ok',
      '--health-interval',
      '1h',
      '--health-start-period',
      '1h',
      '--health-start-interval',
      '100ms',
      '--health-retries',
      '1',
    ]);
    ok(['exec', m, 'touch', '/tmp/ok']);
    // The interval is an hour: only the start interval can bring these checks this soon.
    await until(() => health(m)?.Status === 'healthy', 10_000, 'healthy via the start interval');
    ok(['exec', m, 'rm', '/tmp/ok']);
    // Healthy now, so the next scheduled check is an interval away: trigger one by hand.
    assert.equal(berth(['healthcheck', 'run', m]).code, 1);
    assert.equal(health(m)?.Status, 'unhealthy');
    assert.equal(health(m)?.FailingStreak, 1);
  });

  test('a check that runs past its timeout is killed and fails with -1', async () => {
    const n = name('hc-timeout');
    runHc(n, [
      '--health-cmd',
      'echo partial; sleep 30',
      '--health-interval',
      '100ms',
      '--health-timeout',
      '300ms',
      '--health-retries',
      '1',
    ]);
    await until(() => health(n)?.Status === 'unhealthy', 15_000, 'unhealthy by timeout');
    const e = health(n)!.Log[0]!;
    assert.equal(e.ExitCode, -1);
    assert.equal(e.Output, 'Health check exceeded timeout (300ms): partial\n');
    assert.ok(Date.parse(e.End) - Date.parse(e.Start) < 3000, 'the probe was not cut off');
    // The killed probes do not pile up in the container.
    await until(
      () =>
        ok(['exec', n, 'ps'])
          .split('\n')
          .filter((l) => l.includes('sleep 30')).length <= 1,
      5000,
      'probes killed',
    );
  });

  test('healthcheck run performs one check and records it', () => {
    const n = name('hc-manual');
    runHc(n, ['--health-cmd', 'test -e /tmp/ok', '--health-interval', '1h']);
    const fail = berth(['healthcheck', 'run', n]);
    assert.equal(fail.code, 1);
    assert.equal(fail.stdout, 'unhealthy\n');
    assert.equal(health(n)!.Log.length, 1);
    assert.equal(health(n)!.Log[0]!.ExitCode, 1);
    ok(['exec', n, 'touch', '/tmp/ok']);
    const pass = berth(['healthcheck', 'run', n]);
    assert.equal(pass.code, 0, pass.stderr);
    assert.equal(pass.stdout, '');
    assert.equal(health(n)!.Status, 'healthy');
    assert.equal(health(n)!.Log.length, 2);

    const plain = name('hc-plain');
    runHc(plain, []);
    const none = berth(['healthcheck', 'run', plain]);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /has no defined healthcheck/);
  });

  test('restart resets to starting with one monitor; rm -f ends the monitor', async () => {
    const n = name('hc-restart');
    const id = runHc(n, ['--health-cmd', 'true', '--health-interval', '1s']);
    await until(() => health(n)?.Status === 'healthy', 10_000, 'healthy');
    const logBefore = health(n)!.Log.length;
    ok(['restart', '-t', '0', n]);
    const h = health(n)!;
    assert.equal(h.Status, 'starting');
    assert.equal(h.FailingStreak, 0);
    assert.ok(h.Log.length >= logBefore, 'the log survives a restart');
    // The first run's monitor sees the new run and leaves; the new one takes over.
    await until(() => monitors(id) === 1, 5000, 'one monitor after restart');
    await until(() => health(n)?.Status === 'healthy', 10_000, 'healthy again');
    assert.equal(monitors(id), 1);
    ok(['rm', '-f', n]);
    await until(() => monitors(id) === 0, 5000, 'monitor to exit after rm -f');
  });
});

/**
 * The commands that look at containers: ps, logs, inspect, wait, top, stats, rename, pause/unpause
 * and container prune, checked against docker's output and semantics with real containers.
 *
 * The store is shared with other test files running side by side, so every container here carries
 * the label `obs.run=<RUN>` and every listing or prune is narrowed to it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { after, before, describe, type TestContext, test } from 'node:test';
import { BERTH, berth, ENV, ensureBusybox, inspect, ok, uniq, until } from '../helpers.ts';

const RUN = uniq('obs');
const MINE = `label=obs.run=${RUN}`;
const ZERO_TIME = '0001-01-01T00:00:00Z';
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

interface ContainerJSON {
  Id: string;
  Name: string;
  State: {
    Status: string;
    Running: boolean;
    Paused: boolean;
    Pid: number;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
    OOMKilled: boolean;
  };
  Config: { Env: string[]; Cmd: string[]; Labels: Record<string, string>; Hostname: string };
  HostConfig: { RestartPolicy: { Name: string; MaximumRetryCount: number }; Memory: number };
}

/** Removes the containers when the test ends, passed or not. */
function cleanup(t: TestContext, ...names: string[]): void {
  t.after(() => {
    berth(['rm', '-f', ...names]);
  });
}

/** `berth run -d` with this file's label; returns the full ID. */
function runDetached(name: string, script: string, extra: string[] = []): string {
  return ok([
    'run',
    '-d',
    '--name',
    name,
    '-l',
    `obs.run=${RUN}`,
    ...extra,
    'busybox',
    'sh',
    '-c',
    script,
  ]).trim();
}

/** Splits a tabwriter table at its header's column starts (titles hold single spaces, columns ≥ 3). */
function parseTable(out: string): { titles: string[]; rows: Record<string, string>[] } {
  const lines = out.split('\n').filter((l) => l !== '');
  const head = lines[0] ?? '';
  const cols = [...head.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ title: m[0], start: m.index }));
  const rows = lines
    .slice(1)
    .map((line) =>
      Object.fromEntries(cols.map((c, i) => [c.title, line.slice(c.start, cols[i + 1]?.start).trim()])),
    );
  return { titles: cols.map((c) => c.title), rows };
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Three containers shared by the ps/inspect/top/stats tests, created in this order.
const exitedName = uniq('obs-exited');
const runningName = uniq('obs-running');
const createdName = uniq('obs-created');
const RUNNING_SCRIPT = 'echo ready; while true; do sleep 0.1; done';
let exitedId = '';
let runningId = '';
let createdId = '';

before(() => {
  ensureBusybox();
  exitedId = runDetached(exitedName, 'echo bye; exit 3', ['-l', 'role=exited']);
  assert.equal(ok(['wait', exitedName]), '3\n');
  runningId = runDetached(runningName, RUNNING_SCRIPT, [
    '-l',
    'role=running',
    '-e',
    'FOO=bar',
    '-h',
    'obs-host',
    '-m',
    '64m',
    '--restart',
    'on-failure:2',
  ]);
  createdId = ok([
    'create',
    '--name',
    createdName,
    '-l',
    `obs.run=${RUN}`,
    '-l',
    'role=created',
    'busybox',
    'true',
  ]).trim();
});

after(() => {
  berth(['rm', '-f', exitedName, runningName, createdName]);
});

describe('ps', () => {
  test('default table: docker columns, running containers only', () => {
    const { titles, rows } = parseTable(ok(['ps', '--filter', MINE]));
    assert.deepEqual(titles, ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']);
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row['CONTAINER ID'], runningId.slice(0, 12));
    assert.equal(row.IMAGE, 'busybox');
    // docker quotes arguments with spaces in single quotes, then cuts the command at 20 columns.
    assert.equal(row.COMMAND, `"sh -c 'echo ready; …"`);
    assert.match(row.CREATED!, /^(Less than a second|\d+ seconds?) ago$/);
    assert.match(row.STATUS!, /^Up (Less than a second|\d+ seconds?)$/);
    assert.equal(row.PORTS, '');
    assert.equal(row.NAMES, runningName);
  });

  test('-a adds stopped and created containers, newest first, with their status', () => {
    const { rows } = parseTable(ok(['ps', '-a', '--filter', MINE]));
    assert.deepEqual(
      rows.map((r) => r.NAMES),
      [createdName, runningName, exitedName],
    );
    assert.equal(rows[0]!.STATUS, 'Created');
    assert.equal(rows[0]!.COMMAND, '"true"');
    assert.match(rows[2]!.STATUS!, /^Exited \(3\) (Less than a second|\d+ seconds?) ago$/);
    assert.equal(rows[2]!.COMMAND, `"sh -c 'echo bye; ex…"`);
  });

  test('-q, --no-trunc, -n and -l', () => {
    assert.deepEqual(
      lines(ok(['ps', '-a', '-q', '--filter', MINE])),
      [createdId, runningId, exitedId].map((id) => id.slice(0, 12)),
    );
    assert.deepEqual(lines(ok(['ps', '-q', '--no-trunc', '--filter', MINE])), [runningId]);
    const full = parseTable(ok(['ps', '--no-trunc', '--filter', MINE])).rows[0]!;
    assert.equal(full['CONTAINER ID'], runningId);
    assert.equal(full.COMMAND, `"sh -c '${RUNNING_SCRIPT}'"`);
    // -n and -l include stopped containers without -a.
    assert.deepEqual(lines(ok(['ps', '-n', '2', '--filter', MINE, '--format', '{{.Names}}'])), [
      createdName,
      runningName,
    ]);
    assert.deepEqual(lines(ok(['ps', '-l', '--filter', MINE, '--format', '{{.Names}}'])), [createdName]);
  });

  test('-s adds a SIZE column with the writable layer and the virtual size', () => {
    const { titles, rows } = parseTable(ok(['ps', '-s', '--filter', MINE]));
    assert.equal(titles.at(-1), 'SIZE');
    assert.match(rows[0]!.SIZE!, /^\d+(\.\d+)?[kM]?B \(virtual \d+(\.\d+)?[kM]B\)$/);
    // A template that reads .Size gets sizes without -s, as in docker.
    assert.match(ok(['ps', '--filter', MINE, '--format', '{{.Size}}']), /^\S+ \(virtual \S+\)\n$/);
  });

  test('--filter id, name, label, status, exited, ancestor, before, since', () => {
    const names = (...filters: string[]) =>
      lines(
        ok([
          'ps',
          '-a',
          '--filter',
          MINE,
          ...filters.flatMap((f) => ['--filter', f]),
          '--format',
          '{{.Names}}',
        ]),
      );
    assert.deepEqual(names(`id=${runningId.slice(0, 8)}`), [runningName]);
    assert.deepEqual(names(`id=${runningId}`), [runningName]);
    assert.deepEqual(names(`name=${exitedName}`), [exitedName]);
    // name is a regular expression, matched anywhere in the name.
    assert.deepEqual(names('name=obs-(exited|created)'), [createdName, exitedName]);
    assert.deepEqual(names('label=role=running'), [runningName]);
    assert.deepEqual(names('label=role'), [createdName, runningName, exitedName]);
    assert.deepEqual(names('label=nosuchlabel'), []);
    assert.deepEqual(names('status=exited'), [exitedName]);
    assert.deepEqual(names('status=created'), [createdName]);
    assert.deepEqual(names('status=running'), [runningName]);
    assert.deepEqual(names('status=exited', 'status=created'), [createdName, exitedName]);
    assert.deepEqual(names('exited=3'), [exitedName]);
    assert.deepEqual(names('exited=0'), []);
    assert.deepEqual(names('ancestor=busybox'), [createdName, runningName, exitedName]);
    assert.deepEqual(names(`before=${runningName}`), [exitedName]);
    assert.deepEqual(names(`since=${runningName}`), [createdName]);
    // A status filter implies -a, an exited filter does not; without -a only running containers pass.
    const plain = (f: string) => lines(ok(['ps', '--filter', MINE, '--filter', f, '--format', '{{.Names}}']));
    assert.deepEqual(plain('status=exited'), [exitedName]);
    assert.deepEqual(plain('exited=3'), []);
    assert.deepEqual(plain('label=role'), [runningName]);
    // name is tried with and without its leading slash.
    assert.deepEqual(names(`name=^/${exitedName}$`), [exitedName]);
    assert.deepEqual(names(`name=^${exitedName}$`), [exitedName]);

    const badKey = berth(['ps', '--filter', 'colour=red']);
    assert.notEqual(badKey.code, 0);
    assert.match(badKey.stderr, /invalid filter 'colour'/);
    const badExit = berth(['ps', '--filter', 'exited=zero']);
    assert.notEqual(badExit.code, 0);
    assert.match(badExit.stderr, /invalid syntax/);
    const badStatus = berth(['ps', '--filter', 'status=sleepy']);
    assert.notEqual(badStatus.code, 0);
    assert.match(badStatus.stderr, /invalid filter 'status=sleepy'/);
  });

  test('--format: Go templates, table and json', () => {
    assert.equal(
      ok([
        'ps',
        '-a',
        '--filter',
        MINE,
        '--filter',
        'label=role=exited',
        '--format',
        '{{.Names}}|{{.State}}|{{.Label "role"}}',
      ]),
      `${exitedName}|exited|exited\n`,
    );
    const table = ok(['ps', '--filter', MINE, '--format', 'table {{.ID}}\t{{.Names}}\t{{.State}}']);
    const parsed = parseTable(table);
    assert.deepEqual(parsed.titles, ['CONTAINER ID', 'NAMES', 'STATE']);
    assert.deepEqual(parsed.rows, [
      { 'CONTAINER ID': runningId.slice(0, 12), NAMES: runningName, STATE: 'running' },
    ]);
    const json = lines(ok(['ps', '-a', '--filter', MINE, '--format', '{{json .}}'])).map(
      (l) => JSON.parse(l) as Record<string, string>,
    );
    assert.deepEqual(
      json.map((j) => [j.Names, j.State, j.ID]),
      [
        [createdName, 'created', createdId.slice(0, 12)],
        [runningName, 'running', runningId.slice(0, 12)],
        [exitedName, 'exited', exitedId.slice(0, 12)],
      ],
    );
    assert.equal(json[1]!.Image, 'busybox');
    assert.equal(json[1]!.Command, `"sh -c 'echo ready; …"`);
    assert.deepEqual(json[1]!.Labels!.split(',').sort(), [`obs.run=${RUN}`, 'role=running']);
    // An empty list still prints the table header, and nothing at all for a plain template.
    assert.equal(ok(['ps', '--filter', 'label=obs.none', '--format', '{{.ID}}']), '');
    assert.deepEqual(parseTable(ok(['ps', '--filter', 'label=obs.none'])).rows, []);
  });
});

describe('logs', () => {
  const name = uniq('obs-logs');
  let stamped: string[] = [];

  before(() => {
    runDetached(
      name,
      'echo out1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; echo out3; printf tail-without-newline',
    );
    assert.equal(ok(['wait', name]), '0\n');
    stamped = lines(ok(['logs', '-t', name]));
  });
  after(() => {
    berth(['rm', '-f', name]);
  });

  test('stdout lines go to stdout and stderr lines to stderr', () => {
    const r = berth(['logs', name]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'out1\nout2\nout3\ntail-without-newline');
    assert.equal(r.stderr, 'err1\n');
  });

  test('-t prefixes RFC 3339 timestamps with nanoseconds, in UTC', () => {
    assert.deepEqual(
      stamped.map((l) => l.slice(l.indexOf(' ') + 1)),
      ['out1', 'out2', 'out3', 'tail-without-newline'],
    );
    const times = stamped.map((l) => l.slice(0, l.indexOf(' ')));
    for (const t of times) assert.match(t, TIMESTAMP);
    assert.ok(Math.abs(Date.parse(times[0]!) - Date.now()) < 60_000, `${times[0]} is not about now`);
    assert.deepEqual([...times].sort(), times);
    const err = berth(['logs', '-t', name]).stderr;
    assert.match(err, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err1\n$/);
  });

  test('--tail N keeps the last N lines', () => {
    assert.equal(ok(['logs', '--tail', '2', name]), 'out3\ntail-without-newline');
    assert.equal(ok(['logs', '-n', '1', name]), 'tail-without-newline');
    assert.equal(berth(['logs', '--tail', '0', name]).stdout, '');
    assert.equal(ok(['logs', '--tail', 'all', name]), 'out1\nout2\nout3\ntail-without-newline');
    assert.equal(ok(['logs', '--tail', '-1', name]), 'out1\nout2\nout3\ntail-without-newline');
  });

  test('--since and --until select by timestamp, inclusive', () => {
    const t2 = stamped[1]!.split(' ')[0]!;
    const since = berth(['logs', '--since', t2, name]);
    assert.equal(since.stdout, 'out2\nout3\ntail-without-newline');
    assert.equal(since.stderr, '');
    const until_ = berth(['logs', '--until', t2, name]);
    assert.equal(until_.stdout, 'out1\nout2\n');
    assert.equal(until_.stderr, 'err1\n');
    assert.equal(ok(['logs', '--since', t2, '--until', t2, name]), 'out2\n');
    // Relative times count back from now.
    assert.equal(ok(['logs', '--since', '10m', name]), 'out1\nout2\nout3\ntail-without-newline');
    assert.equal(ok(['logs', '--until', '10m', name]), '');
  });

  test('-f on a stopped container prints the log and returns', () => {
    const r = berth(['logs', '-f', name], { timeoutMs: 10_000 });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'out1\nout2\nout3\ntail-without-newline');
  });

  test('-f follows new output until the container exits', async (t) => {
    const f = uniq('obs-follow');
    cleanup(t, f);
    runDetached(f, 'trap "echo second; exit 0" USR1; echo first; while true; do sleep 0.05; done');
    const child = spawn(BERTH, ['logs', '-f', f], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until(() => out === 'first\n', 10_000, 'the first line through logs -f');
    assert.equal(child.exitCode, null, 'logs -f returned while the container was still running');
    ok(['kill', '-s', 'USR1', f]);
    const code = await Promise.race([closed, delay(10_000).then(() => 'timeout')]);
    assert.equal(code, 0, 'logs -f did not end when the container exited');
    assert.equal(out, 'first\nsecond\n');
  });

  test('an unknown container is an error', () => {
    const r = berth(['logs', uniq('obs-nope')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such container/);
  });
});

describe('inspect', () => {
  test('a running container in docker JSON shape', () => {
    const c = inspect<ContainerJSON>(runningName);
    assert.equal(c.Id, runningId);
    assert.equal(c.Name, `/${runningName}`);
    assert.equal(c.State.Status, 'running');
    assert.equal(c.State.Running, true);
    assert.equal(c.State.Paused, false);
    assert.equal(c.State.ExitCode, 0);
    assert.equal(c.State.OOMKilled, false);
    assert.ok(
      c.State.Pid > 0 && existsSync(`/proc/${c.State.Pid}`),
      `Pid ${c.State.Pid} is not a live host process`,
    );
    assert.ok(
      Math.abs(Date.parse(c.State.StartedAt) - Date.now()) < 60_000,
      `StartedAt ${c.State.StartedAt}`,
    );
    assert.equal(c.State.FinishedAt, ZERO_TIME);
    assert.ok(c.Config.Env.includes('FOO=bar'));
    assert.ok(c.Config.Env.some((e) => e.startsWith('PATH=')));
    assert.deepEqual(c.Config.Cmd, ['sh', '-c', RUNNING_SCRIPT]);
    assert.deepEqual(c.Config.Labels, { 'obs.run': RUN, role: 'running' });
    assert.equal(c.Config.Hostname, 'obs-host');
    assert.deepEqual(c.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
    assert.equal(c.HostConfig.Memory, 64 * 1024 * 1024);
    // Found by ID prefix too.
    assert.equal(inspect<ContainerJSON>(runningId.slice(0, 10)).Id, runningId);
  });

  test('a stopped container, and -f templates', () => {
    const c = inspect<ContainerJSON>(exitedName);
    assert.equal(c.State.Status, 'exited');
    assert.equal(c.State.Running, false);
    assert.equal(c.State.Pid, 0);
    assert.equal(c.State.ExitCode, 3);
    assert.notEqual(c.State.FinishedAt, ZERO_TIME);
    assert.equal(ok(['inspect', '-f', '{{.State.ExitCode}}', exitedName]), '3\n');
    assert.equal(
      ok(['inspect', '--format', '{{.State.Status}} {{.Name}}', exitedName]),
      `exited /${exitedName}\n`,
    );
    assert.deepEqual(JSON.parse(ok(['inspect', '-f', '{{json .Config.Labels}}', exitedName])), {
      'obs.run': RUN,
      role: 'exited',
    });
    const created = inspect<ContainerJSON>(createdName);
    assert.equal(created.State.Status, 'created');
    assert.equal(created.State.StartedAt, ZERO_TIME);
    // One line per object with -f, one array without.
    assert.equal(
      ok(['inspect', '-f', '{{.Name}}', exitedName, createdName]),
      `/${exitedName}\n/${createdName}\n`,
    );
    assert.equal((JSON.parse(ok(['inspect', exitedName, createdName])) as unknown[]).length, 2);
  });

  test('FinishedAt is not before StartedAt for a container that exits at once', () => {
    const c = inspect<ContainerJSON>(exitedName);
    assert.ok(
      Date.parse(c.State.FinishedAt) >= Date.parse(c.State.StartedAt),
      `${c.State.StartedAt} > ${c.State.FinishedAt}`,
    );
  });

  test('--type picks containers or images', () => {
    assert.equal(ok(['inspect', '--type', 'container', '-f', '{{.Id}}', runningName]), `${runningId}\n`);
    assert.match(ok(['inspect', '--type', 'image', '-f', '{{.Id}}', 'busybox']), /^sha256:[0-9a-f]{64}\n$/);
    const asImage = berth(['inspect', '--type', 'image', runningName]);
    assert.equal(asImage.code, 1);
    assert.match(asImage.stderr, new RegExp(`No such image: ${runningName}`));
    const asContainer = berth(['inspect', '--type', 'container', 'busybox']);
    assert.equal(asContainer.code, 1);
    assert.match(asContainer.stderr, /No such container: busybox/);
    const badType = berth(['inspect', '--type', 'gadget', runningName]);
    assert.notEqual(badType.code, 0);
    assert.match(badType.stderr, /"gadget" is not a valid value for --type/);
  });

  test('an unknown object: exit 1, "No such object", the others still shown', () => {
    const nope = uniq('obs-nope');
    const r = berth(['inspect', nope]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error: No such object: ${nope}\n`);
    assert.deepEqual(JSON.parse(r.stdout), []);
    const mixed = berth(['inspect', '-f', '{{.Name}}', runningName, nope]);
    assert.equal(mixed.code, 1);
    assert.equal(mixed.stdout, `/${runningName}\n`);
  });

  test('OOMKilled is set when the memory limit killed the container', async (t) => {
    const name = uniq('obs-oom');
    cleanup(t, name);
    // tail buffers its whole input when there is no newline: it grows until the limit stops it.
    berth(
      [
        'run',
        '--name',
        name,
        '-l',
        `obs.run=${RUN}`,
        '-m',
        '8m',
        '--memory-swap',
        '8m',
        'busybox',
        'tail',
        '/dev/zero',
      ],
      {
        timeoutMs: 30_000,
      },
    );
    const c = inspect<ContainerJSON>(name);
    assert.equal(c.State.Status, 'exited');
    assert.equal(c.State.OOMKilled, true);
    assert.equal(c.State.ExitCode, 137);
  });
});

describe('wait', () => {
  test('prints the exit code of a stopped container at once', () => {
    assert.equal(ok(['wait', exitedName]), '3\n');
  });

  test('blocks until a running container exits, then prints its code', (t) => {
    const name = uniq('obs-wait');
    cleanup(t, name);
    runDetached(name, 'sleep 0.3; exit 7');
    const r = berth(['wait', name], { timeoutMs: 15_000 });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '7\n');
    assert.equal(inspect<ContainerJSON>(name).State.Status, 'exited');
  });

  test('one line per container; an unknown one is an error', () => {
    const nope = uniq('obs-nope');
    const r = berth(['wait', exitedName, nope, exitedName]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '3\n3\n');
    assert.match(r.stderr, new RegExp(`No such container: ${nope}`));
  });
});

describe('top', () => {
  test("default ps -ef columns, with only the container's processes", () => {
    const pid = inspect<ContainerJSON>(runningName).State.Pid;
    const out = ok(['top', runningName]);
    const { titles, rows } = parseTable(out);
    assert.deepEqual(titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    // docker's top aligns on a grid at least 20 columns wide.
    assert.match(out, /^UID {17}PID {17}PPID/);
    assert.ok(rows.length >= 1 && rows.length <= 3, `unexpected processes:\n${out}`);
    assert.ok(
      rows.some((r) => r.PID === String(pid) && r.CMD === `sh -c ${RUNNING_SCRIPT}`),
      `the container's init ${pid} is missing:\n${out}`,
    );
    const ns = readlinkSync(`/proc/${pid}/ns/pid`);
    for (const r of rows) {
      assert.equal(r.UID, 'root');
      // A sleep can be caught between exiting and being reaped.
      assert.match(r.CMD!, /^(sh -c |sleep |\[sleep\] <defunct>)/);
      let theirs: string;
      try {
        theirs = readlinkSync(`/proc/${r.PID}/ns/pid`);
      } catch {
        continue; // a sleep that has finished since
      }
      assert.equal(theirs, ns, `process ${r.PID} is not in the container`);
    }
  });

  test('custom ps options', () => {
    const pid = inspect<ContainerJSON>(runningName).State.Pid;
    const { titles, rows } = parseTable(ok(['top', runningName, '-o', 'pid,comm']));
    assert.deepEqual(titles, ['PID', 'COMMAND']);
    assert.ok(rows.some((r) => r.PID === String(pid) && r.COMMAND === 'sh'));
    for (const r of rows) assert.match(r.COMMAND!, /^(sh|sleep)$/);
  });

  test('a stopped container is an error', () => {
    const r = berth(['top', exitedName]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
  });
});

describe('stats', () => {
  test('--no-stream: docker columns and real memory usage for a running container', () => {
    const { titles, rows } = parseTable(ok(['stats', '--no-stream'], { timeoutMs: 15_000 }));
    assert.deepEqual(titles, [
      'CONTAINER ID',
      'NAME',
      'CPU %',
      'MEM USAGE / LIMIT',
      'MEM %',
      'NET I/O',
      'BLOCK I/O',
      'PIDS',
    ]);
    const row = rows.find((r) => r.NAME === runningName);
    assert.ok(row, `${runningName} is not listed`);
    assert.equal(row['CONTAINER ID'], runningId.slice(0, 12));
    assert.match(row['CPU %']!, /^\d+\.\d\d%$/);
    // Usage above zero, limit from -m 64m.
    assert.match(row['MEM USAGE / LIMIT']!, /^\d+(\.\d+)?(KiB|MiB) \/ 64MiB$/);
    assert.match(row['MEM %']!, /^\d+\.\d\d%$/);
    assert.notEqual(row['MEM %'], '0.00%');
    assert.ok(Number(row.PIDS) >= 1);
    assert.ok(
      !rows.some((r) => r.NAME === exitedName || r.NAME === createdName),
      'stopped containers are listed',
    );
  });

  test('--format with named containers', () => {
    const out = ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', runningName], {
      timeoutMs: 15_000,
    });
    assert.match(out, new RegExp(`^${runningName} [1-9]\\d*\\n$`));
  });
});

describe('rename', () => {
  test('the new name resolves, the old one does not; a taken name is refused', (t) => {
    const from = uniq('obs-old');
    const to = uniq('obs-new');
    cleanup(t, from, to);
    const id = ok(['create', '--name', from, '-l', `obs.run=${RUN}`, 'busybox', 'true']).trim();
    assert.equal(ok(['rename', from, to]), '');
    assert.equal(ok(['inspect', '-f', '{{.Id}} {{.Name}}', to]), `${id} /${to}\n`);
    const old = berth(['inspect', '--type', 'container', from]);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /No such container/);
    assert.equal(ok(['ps', '-a', '-q', '--no-trunc', '--filter', `name=^${to}$`]), `${id}\n`);

    const taken = berth(['rename', to, runningName]);
    assert.notEqual(taken.code, 0);
    assert.match(
      taken.stderr,
      new RegExp(
        `Conflict\\. The container name "/${runningName}" is already in use by container "${runningId}"`,
      ),
    );
    assert.equal(ok(['inspect', '-f', '{{.Name}}', to]), `/${to}\n`);
    assert.equal(ok(['inspect', '-f', '{{.Name}}', runningName]), `/${runningName}\n`);

    const same = berth(['rename', to, to]);
    assert.notEqual(same.code, 0);
    assert.match(same.stderr, /same name as its current name/);
    const bad = berth(['rename', to, 'bad name']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid container name/);
    const missing = berth(['rename', uniq('obs-nope'), uniq('obs-x')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such container/);
  });

  test('a running container keeps running under its new name', (t) => {
    const from = uniq('obs-old');
    const to = uniq('obs-new');
    cleanup(t, from, to);
    runDetached(from, 'while true; do sleep 0.1; done');
    ok(['rename', from, to]);
    assert.equal(
      ok(['ps', '--filter', MINE, '--filter', `name=${to}`, '--format', '{{.Names}} {{.State}}']),
      `${to} running\n`,
    );
    assert.match(ok(['top', to]), /sh -c/);
  });
});

describe('pause and unpause', () => {
  test('a paused container shows (Paused), stops counting, and resumes', async (t) => {
    const name = uniq('obs-pause');
    cleanup(t, name);
    runDetached(name, 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done');
    const count = () => lines(ok(['logs', name])).length;
    await until(() => count() >= 3, 10_000, 'the counter to start');

    assert.equal(ok(['pause', name]), `${name}\n`);
    assert.match(
      ok(['ps', '--filter', MINE, '--filter', `name=${name}`, '--format', '{{.Status}}']),
      /^Up .+ \(Paused\)\n$/,
    );
    assert.equal(
      ok(['ps', '--filter', MINE, '--filter', 'status=paused', '--format', '{{.Names}}']),
      `${name}\n`,
    );
    const s = inspect<ContainerJSON>(name).State;
    assert.deepEqual([s.Status, s.Paused, s.Running], ['paused', true, true]);

    // A line already written may still be on its way to the log: wait until it settles.
    let frozen = -1;
    await until(
      () => {
        const n = count();
        const same = n === frozen;
        frozen = n;
        return same;
      },
      5_000,
      'the log to stop growing',
    );
    await delay(400); // 8 counter periods
    assert.equal(count(), frozen, 'the counter went on while paused');

    // Paused containers are still sampled by stats.
    assert.match(
      ok(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', name], { timeoutMs: 15_000 }),
      new RegExp(`^${name} [1-9]`),
    );

    const again = berth(['pause', name]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is already paused/);

    assert.equal(ok(['unpause', name]), `${name}\n`);
    assert.match(
      ok(['ps', '--filter', MINE, '--filter', `name=${name}`, '--format', '{{.Status}}']),
      /^Up [^(]+\n$/,
    );
    assert.equal(inspect<ContainerJSON>(name).State.Paused, false);
    await until(() => count() > frozen, 5_000, 'the counter to go on after unpause');

    const notPaused = berth(['unpause', name]);
    assert.equal(notPaused.code, 1);
    assert.match(notPaused.stderr, /is not paused/);
  });

  test('a stopped container cannot be paused', () => {
    const r = berth(['pause', exitedName]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not running/);
  });
});

describe('container prune', () => {
  test('-f removes only stopped containers, and lists them', async (t) => {
    const tag = `obs.prune=${uniq('p')}`;
    const stopped = uniq('obs-prune-stopped');
    const created = uniq('obs-prune-created');
    const running = uniq('obs-prune-running');
    const other = uniq('obs-prune-other');
    cleanup(t, stopped, created, running, other);
    const stoppedId = runDetached(stopped, 'exit 0', ['-l', tag]);
    const createdId_ = ok(['create', '--name', created, '-l', tag, 'busybox', 'true']).trim();
    runDetached(running, 'while true; do sleep 0.1; done', ['-l', tag]);
    runDetached(other, 'exit 0'); // stopped, but outside the filter
    ok(['wait', stopped, other]);

    const out = ok(['container', 'prune', '-f', '--filter', `label=${tag}`]);
    const [head, ...rest] = out.split('\n');
    assert.equal(head, 'Deleted Containers:');
    assert.deepEqual(rest.slice(0, 2).sort(), [stoppedId, createdId_].sort());
    assert.equal(rest[2], '');
    assert.match(rest[3]!, /^Total reclaimed space: \d+(\.\d+)?[kMG]?B$/);

    assert.deepEqual(lines(ok(['ps', '-a', '--filter', `label=${tag}`, '--format', '{{.Names}}'])), [
      running,
    ]);
    assert.equal(berth(['inspect', '--type', 'container', stopped]).code, 1);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', other]), 'exited\n');

    // Nothing left to prune: no list, still the total.
    assert.equal(ok(['container', 'prune', '-f', '--filter', `label=${tag}`]), 'Total reclaimed space: 0B\n');
  });
});

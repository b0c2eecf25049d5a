import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeCreate } from '../../src/api/decode/container-create.ts';
import { decodeUpdate } from '../../src/api/decode/container-update.ts';
import { decodeExecCreate, decodeExecStart } from '../../src/api/decode/exec-create.ts';
import { parseDetachKeys } from '../../src/api/hijack.ts';
import { qFilters } from '../../src/api/params.ts';
import { type EventMessage, eventMatches } from '../../src/engine/events.ts';

describe('ContainerCreate body → CreateOptions', () => {
  it('maps Config, HostConfig and NetworkingConfig', () => {
    const { create, platform } = decodeCreate(
      {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'x'],
        Entrypoint: null,
        Env: ['A=1'],
        WorkingDir: '/w',
        User: 'nobody',
        Hostname: 'h',
        Labels: { l: 'v' },
        Tty: true,
        OpenStdin: true,
        StdinOnce: true,
        StopSignal: 'SIGINT',
        StopTimeout: 3,
        ExposedPorts: { '80/tcp': {}, '53/udp': {} },
        Volumes: { '/anon': {} },
        HostConfig: {
          Binds: ['/host:/in:ro', 'named:/data'],
          Mounts: [
            { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1024 } },
            { Type: 'volume', Source: 'v2', Target: '/v2', ReadOnly: true },
          ],
          PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
          PublishAllPorts: true,
          NetworkMode: 'mynet',
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 },
          AutoRemove: false,
          Memory: 64 << 20,
          NanoCpus: 5e8,
          CpuShares: 512,
          PidsLimit: 50,
          Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }],
          CapAdd: ['NET_ADMIN'],
          CapDrop: ['MKNOD'],
          Privileged: false,
          ReadonlyRootfs: true,
          Tmpfs: { '/run': 'size=1m' },
          Dns: ['1.1.1.1'],
          ExtraHosts: ['h:1.2.3.4'],
          Init: true,
          VolumesFrom: ['other:ro'],
          LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
        },
        NetworkingConfig: {
          EndpointsConfig: { mynet: { Aliases: ['web'], IPAMConfig: { IPv4Address: '10.9.0.5' } } },
        },
      },
      { name: 'n1', platform: 'linux/amd64' },
    );
    assert.equal(platform, 'linux/amd64');
    assert.equal(create.name, 'n1');
    assert.deepEqual(create.cmd, ['sh', '-c', 'x']);
    assert.equal(create.entrypoint, undefined);
    assert.equal(create.tty, true);
    assert.equal(create.stopTimeout, 3);
    assert.deepEqual(create.exposedPorts, ['80/tcp', '53/udp']);
    assert.deepEqual(create.volumesFrom, ['other:ro']);
    const h = create.host;
    assert.deepEqual(
      h.mounts?.map((m) => [m.type, m.source, m.target, m.readonly]),
      [
        ['bind', '/host', '/in', true],
        ['volume', 'named', '/data', false],
        ['tmpfs', '', '/t', false],
        ['volume', 'v2', '/v2', true],
        ['volume', '', '/anon', false],
      ],
    );
    assert.deepEqual(h.portBindings, { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: '8080' }] });
    assert.equal(h.networkMode, 'mynet');
    assert.deepEqual(h.networks, { mynet: { aliases: ['web'], ipv4Address: '10.9.0.5' } });
    assert.deepEqual(h.restartPolicy, { name: 'on-failure', maximumRetryCount: 2 });
    assert.equal(h.memory, 64 << 20);
    assert.equal(h.nanoCpus, 5e8);
    assert.equal(h.pidsLimit, 50);
    assert.deepEqual(h.ulimits, [{ name: 'nofile', soft: 100, hard: 200 }]);
    assert.deepEqual(h.log, { type: 'k8s-file', maxSize: 1 << 20, maxFile: 2 });
    assert.equal(h.init, true);
    assert.equal(h.readonlyRootfs, true);
    assert.deepEqual(h.tmpfs, { '/run': 'size=1m' });
  });

  it('reads the CLI defaults: NetworkMode default, [""] entrypoint reset, string Cmd, CpuQuota', () => {
    const { create } = decodeCreate(
      {
        Image: 'busybox',
        Cmd: 'true',
        Entrypoint: [''],
        HostConfig: { NetworkMode: 'default', CpuQuota: 50000, CpuPeriod: 100000 },
      },
      {},
    );
    assert.deepEqual(create.cmd, ['true']);
    assert.deepEqual(create.entrypoint, []);
    assert.equal(create.host.networkMode, 'bridge');
    assert.equal(create.host.nanoCpus, 5e8);
    assert.equal(create.name, undefined);
  });

  it('ignores unknown fields, refuses wrong types, links and unknown drivers', () => {
    assert.doesNotThrow(() => decodeCreate({ Image: 'busybox', Whatever: 1, HostConfig: { Novel: [] } }, {}));
    assert.throws(() => decodeCreate({ Image: 'busybox', Env: 'A=1' }, {}), /Config\.Env/);
    assert.throws(
      () => decodeCreate({ Image: 'busybox', HostConfig: { Privileged: 'yes' } }, {}),
      /HostConfig\.Privileged/,
    );
    assert.throws(() => decodeCreate([], {}), /cannot unmarshal array/);
    assert.throws(() => decodeCreate({}, {}), /Image is required/);
    assert.throws(() => decodeCreate({ Image: 'b', HostConfig: { Links: ['a:b'] } }, {}), /links/);
    assert.throws(
      () => decodeCreate({ Image: 'b', HostConfig: { LogConfig: { Type: 'syslog' } } }, {}),
      /syslog/,
    );
    assert.throws(
      () => decodeCreate({ Image: 'b', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, {}),
      /unknown policy/,
    );
    assert.throws(
      () => decodeCreate({ Image: 'b', HostConfig: { Mounts: [{ Type: 'npipe', Target: '/x' }] } }, {}),
      /npipe/,
    );
  });
});

describe('other bodies and queries', () => {
  it('decodes exec create and start', () => {
    const e = decodeExecCreate({
      Cmd: ['ls'],
      AttachStdout: true,
      Tty: true,
      Env: ['X=1'],
      User: 'u',
      DetachKeys: 'ctrl-x',
    });
    assert.deepEqual(e.options, {
      cmd: ['ls'],
      env: ['X=1'],
      workingDir: undefined,
      user: 'u',
      tty: true,
      stdin: false,
      detach: false,
      privileged: false,
    });
    assert.equal(e.attachStdout, true);
    assert.throws(() => decodeExecCreate({ Cmd: [] }), /No exec command/);
    assert.deepEqual(decodeExecStart({ Detach: false, Tty: true, ConsoleSize: [24, 80] }), {
      detach: false,
      tty: true,
      consoleSize: { rows: 24, cols: 80 },
    });
  });

  it('accepts an empty update and names the fields it cannot change', () => {
    assert.doesNotThrow(() =>
      decodeUpdate({ Memory: 0, CpuShares: 0, RestartPolicy: { Name: '' }, Devices: [] }),
    );
    assert.throws(
      () => decodeUpdate({ Memory: 1, CpusetCpus: '0', BlkioWeight: 10 }),
      /CpusetCpus, BlkioWeight/,
    );
  });

  it('parses filters in both JSON forms, and detach keys', () => {
    assert.deepEqual(qFilters({ filters: '{"label":["a=b"],"status":{"running":true}}' }), {
      label: ['a=b'],
      status: ['running'],
    });
    assert.throws(() => qFilters({ filters: '{nope' }), /invalid filter/);
    assert.deepEqual(parseDetachKeys('ctrl-p,ctrl-q'), [16, 17]);
    assert.deepEqual(parseDetachKeys('a,ctrl-@'), [97, 0]);
    assert.throws(() => parseDetachKeys('ctrl-ab'), /Unknown character/);
  });

  it('matches events as docker filters them', () => {
    const ev = (
      type: EventMessage['Type'],
      action: string,
      id: string,
      attrs: Record<string, string>,
    ): EventMessage => ({
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attrs },
      scope: 'local',
      time: 0,
      timeNano: 0,
    });
    const die = ev('container', 'die', 'abc123', {
      name: 'web',
      image: 'busybox:latest',
      exitCode: '0',
      tier: 'x',
    });
    assert.ok(eventMatches(die, {}));
    assert.ok(eventMatches(die, { container: ['web'] }));
    assert.ok(eventMatches(die, { container: ['abc'] }));
    assert.ok(!eventMatches(die, { container: ['db'] }));
    assert.ok(eventMatches(die, { image: ['busybox'] }));
    assert.ok(eventMatches(die, { event: ['die', 'start'], type: ['container'] }));
    assert.ok(!eventMatches(die, { type: ['image'] }));
    assert.ok(eventMatches(die, { label: ['tier=x'] }));
    assert.ok(!eventMatches(die, { label: ['tier=y'] }));
    const exec = ev('container', 'exec_start: sh -c x', 'abc123', { name: 'web' });
    assert.ok(eventMatches(exec, { event: ['exec_start'] }));
    const vol = ev('volume', 'create', 'v1', { driver: 'local' });
    assert.ok(!eventMatches(vol, { container: ['web'] }));
    assert.ok(eventMatches(vol, { volume: ['v1'] }));
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeBuildQuery } from '../../src/api/decode/build-query.ts';
import { decodeCommitConfig } from '../../src/api/decode/commit-config.ts';
import { decodeFilters, encodeFilters } from '../../src/api/decode/filters.ts';
import { decodeNetworkConnect, decodeNetworkDisconnect } from '../../src/api/decode/network-connect.ts';
import { decodeNetworkCreate } from '../../src/api/decode/network-create.ts';
import { decodeRegistryAuth, encodeRegistryAuth } from '../../src/api/decode/registry-auth.ts';
import { decodeVolumeCreate } from '../../src/api/decode/volume-create.ts';
import { applyChanges } from '../../src/image/changes.ts';
import { InvalidArgumentError } from '../../src/util/errors.ts';

const invalid = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message));

describe('filters', () => {
  test('both of docker encodings, and back', () => {
    assert.deepEqual(decodeFilters('{"label":{"a=b":true,"c":true},"dangling":["true"]}', ['label', 'dangling']), {
      label: ['a=b', 'c'],
      dangling: ['true'],
    });
    assert.deepEqual(decodeFilters(undefined, []), {});
    assert.deepEqual(decodeFilters('', []), {});
    const f = { label: ['x=1'], name: ['n'] };
    assert.deepEqual(decodeFilters(encodeFilters(f), ['label', 'name']), f);
  });

  test('unknown keys and bad JSON are 400s', () => {
    invalid(() => decodeFilters('{"nope":{"x":true}}', ['label']), /invalid filter 'nope'/);
    invalid(() => decodeFilters('{label', ['label']), /invalid filter/);
    invalid(() => decodeFilters('[1]', ['label']), /invalid filter/);
  });
});

describe('volume and network bodies', () => {
  test('volume create', () => {
    assert.deepEqual(decodeVolumeCreate({ Name: 'v', Driver: 'local', Labels: { a: 'b' }, DriverOpts: { o: '1' } }), {
      name: 'v',
      labels: { a: 'b' },
      options: { o: '1' },
    });
    assert.deepEqual(decodeVolumeCreate(undefined), { name: undefined, labels: {}, options: {} });
    invalid(() => decodeVolumeCreate({ Nmae: 'v' }), /unknown field "Nmae"/);
    invalid(() => decodeVolumeCreate({ Driver: 'nfs' }), /only "local"/);
    invalid(() => decodeVolumeCreate({ Labels: { a: 1 } }), /Labels: expected an object of strings/);
    invalid(() => decodeVolumeCreate([]), /expected a JSON object/);
  });

  test('network create as the docker CLI sends it', () => {
    const body = {
      Name: 'n1',
      CheckDuplicate: true,
      Driver: 'bridge',
      Scope: '',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.9.0.0/24', Gateway: '10.9.0.1', IPRange: '10.9.0.128/25' }], Options: {} },
      Internal: true,
      Attachable: false,
      Ingress: false,
      ConfigOnly: false,
      ConfigFrom: null,
      Options: { 'com.docker.network.bridge.name': 'br-x' },
      Labels: { a: 'b' },
    };
    assert.deepEqual(decodeNetworkCreate(body), {
      name: 'n1',
      driver: 'bridge',
      subnet: '10.9.0.0/24',
      gateway: '10.9.0.1',
      ipRange: '10.9.0.128/25',
      internal: true,
      labels: { a: 'b' },
      options: { 'com.docker.network.bridge.name': 'br-x' },
    });
    invalid(() => decodeNetworkCreate({}), /network name is required/);
    invalid(() => decodeNetworkCreate({ Name: 'x', EnableIPv6: true }), /IPv6/);
    invalid(() => decodeNetworkCreate({ Name: 'x', IPAM: { Config: [{}, {}] } }), /only one IPAM pool/);
    invalid(() => decodeNetworkCreate({ Name: 'x', IPAM: { Config: [{ Subnett: 'a' }] } }), /unknown field "Subnett"/);
    invalid(() => decodeNetworkCreate({ Name: 'x', Internal: 'yes' }), /Internal: expected true or false/);
  });

  test('connect and disconnect', () => {
    assert.deepEqual(
      decodeNetworkConnect({ Container: 'c', EndpointConfig: { Aliases: ['a'], IPAMConfig: { IPv4Address: '10.9.0.5' } } }),
      { container: 'c', aliases: ['a'], ip: '10.9.0.5' },
    );
    assert.deepEqual(decodeNetworkConnect({ Container: 'c' }), { container: 'c', aliases: [], ip: undefined });
    invalid(() => decodeNetworkConnect({}), /Container/);
    invalid(() => decodeNetworkConnect({ Container: 'c', EndpointConfig: { Alias: [] } }), /unknown field "Alias"/);
    assert.deepEqual(decodeNetworkDisconnect({ Container: 'c', Force: true }), { container: 'c', force: true });
  });
});

describe('X-Registry-Auth', () => {
  test('username/password, the auth field, empty configs', () => {
    const h = encodeRegistryAuth({ username: 'u', password: 'p:w' }, '127.0.0.1:5000');
    assert.deepEqual(decodeRegistryAuth(h), { username: 'u', password: 'p:w' });
    // standard base64 with padding, as some clients send it
    const std = Buffer.from(JSON.stringify({ auth: Buffer.from('me:secret').toString('base64') })).toString('base64');
    assert.deepEqual(decodeRegistryAuth(std), { username: 'me', password: 'secret' });
    assert.equal(decodeRegistryAuth(Buffer.from('{}').toString('base64')), undefined);
    assert.equal(decodeRegistryAuth(undefined), undefined);
    assert.equal(
      decodeRegistryAuth(Buffer.from('{"username":"","password":"","serveraddress":"x"}').toString('base64')),
      undefined,
    );
  });

  test('garbage and identity tokens are refused', () => {
    invalid(() => decodeRegistryAuth('!!!notbase64'), /X-Registry-Auth/);
    invalid(() => decodeRegistryAuth(Buffer.from('{"identitytoken":"t"}').toString('base64')), /identity/);
  });
});

describe('commit config', () => {
  test('each set field becomes the change line that gives it back', () => {
    const changes = decodeCommitConfig({
      Cmd: ['sh', '-c', 'echo "hi"'],
      Entrypoint: ['/init'],
      Env: ['A=1', 'B=with "quotes" and \\ back'],
      Labels: { 'x.y': 'z w' },
      ExposedPorts: { '80/tcp': {} },
      Volumes: { '/data': {} },
      User: 'nobody',
      WorkingDir: '/w',
      StopSignal: 'SIGINT',
      Tty: false,
      Hostname: 'h',
    });
    const cfg = applyChanges({}, changes);
    assert.deepEqual(cfg.Cmd, ['sh', '-c', 'echo "hi"']);
    assert.deepEqual(cfg.Entrypoint, ['/init']);
    assert.deepEqual(cfg.Env, ['A=1', 'B=with "quotes" and \\ back']);
    assert.deepEqual(cfg.Labels, { 'x.y': 'z w' });
    assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {} });
    assert.deepEqual(cfg.Volumes, { '/data': {} });
    assert.equal(cfg.User, 'nobody');
    assert.equal(cfg.WorkingDir, '/w');
    assert.equal(cfg.StopSignal, 'SIGINT');
    assert.deepEqual(decodeCommitConfig(undefined), []);
    invalid(() => decodeCommitConfig({ Cmnd: [] }), /unknown field "Cmnd"/);
    invalid(() => decodeCommitConfig({ Env: ['NOVALUE'] }), /NAME=value/);
  });
});

describe('build query', () => {
  test('what the Go client sends', () => {
    const q = decodeBuildQuery({
      t: ['a:1', 'b'],
      dockerfile: 'sub/Dockerfile',
      buildargs: '{"X":"1","FROM_ENV":null}',
      labels: '{"l":"v"}',
      target: 'final',
      nocache: '1',
      pull: '',
      q: '1',
      rm: '1',
      forcerm: '0',
      memory: '0',
      cpushares: '0',
      networkmode: 'default',
      extrahosts: 'a:1.2.3.4,b:5.6.7.8',
      cachefrom: '["x"]',
      version: '1',
      platform: '',
    });
    assert.deepEqual(q.options.tags, ['a:1', 'b']);
    assert.deepEqual(q.options.dockerfile, { path: 'sub/Dockerfile' });
    assert.deepEqual(q.options.buildArgs, { X: '1' });
    assert.deepEqual(q.options.labels, { l: 'v' });
    assert.equal(q.options.target, 'final');
    assert.equal(q.options.noCache, true);
    assert.equal(q.options.pull, false);
    assert.equal(q.options.network, undefined);
    assert.equal(q.options.platform, undefined);
    assert.deepEqual(q.options.extraHosts, ['a:1.2.3.4', 'b:5.6.7.8']);
    assert.equal(q.quiet, true);
    assert.deepEqual(q.notes, ['cache-from is ignored: Berth reuses its own build cache only']);
    invalid(() => decodeBuildQuery({ buildargs: '{bad' }), /buildargs: invalid JSON/);
    invalid(() => decodeBuildQuery({ labels: '{"a":1}' }), /labels.a: expected a string/);
    invalid(() => decodeBuildQuery({ remote: 'https://github.com/x/y.git' }), /remote build contexts/);
  });
});

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { berth, ensureBusybox, ok, uniq } from '../helpers.ts';
import { type Served, startServe } from './serve-helper.ts';

/** Volumes and networks through `berth serve`, driven by the docker CLI, dockerode and docker-py. */

let s: Served;
const volumes: string[] = [];
const networks: string[] = [];
const containers: string[] = [];

function docker(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('docker', args, { env: s.dockerEnv, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dockerOk(args: string[]): string {
  const r = docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function python(code: string, ...args: string[]): string {
  return execFileSync(
    'python3',
    ['-c', `import docker,sys\nc=docker.DockerClient(base_url=sys.argv[1])\n${code}`, s.host, ...args],
    {
      encoding: 'utf8',
    },
  ).trim();
}

before(async () => {
  ensureBusybox();
  s = await startServe();
});

after(async () => {
  for (const c of containers) berth(['rm', '-f', c]);
  for (const n of networks) berth(['network', 'rm', n]);
  if (volumes.length) berth(['volume', 'rm', '-f', ...volumes]);
  await s?.stop();
});

describe('volumes', () => {
  test('docker volume create, ls with filters, inspect, rm; errors keep their codes', () => {
    const name = uniq('apivol');
    volumes.push(name);
    assert.equal(
      dockerOk([
        'volume',
        'create',
        '--label',
        'team=api',
        '-o',
        'type=tmpfs',
        '-o',
        'device=tmpfs',
        name,
      ]).trim(),
      name,
    );
    const v = JSON.parse(dockerOk(['volume', 'inspect', name]))[0];
    assert.equal(v.Name, name);
    assert.equal(v.Driver, 'local');
    assert.deepEqual(v.Labels, { team: 'api' });
    assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs' });
    assert.equal(v.Mountpoint, JSON.parse(ok(['volume', 'inspect', name]))[0].Mountpoint);
    assert.equal(
      dockerOk(['volume', 'ls', '-q', '--filter', 'label=team=api', '--filter', `name=${name}`]).trim(),
      name,
    );
    assert.equal(
      dockerOk(['volume', 'ls', '-q', '--filter', 'label=team=other', '--filter', `name=${name}`]).trim(),
      '',
    );

    const dup = docker(['volume', 'create', '-d', 'nfs', uniq('x')]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /volume driver "nfs" is not supported/);
    const missing = docker(['volume', 'inspect', 'no-such-volume-xyz']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-volume-xyz/);

    // in use: refused (409), then removed once the user is gone
    const c = uniq('apivoluser');
    containers.push(c);
    ok(['create', '--name', c, '-v', `${name}:/data`, 'busybox', 'true']);
    const busy = docker(['volume', 'rm', name]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /in use/);
    ok(['rm', c]);
    assert.equal(dockerOk(['volume', 'rm', name]).trim(), name);
    assert.equal(berth(['volume', 'inspect', name]).code, 1);
  });

  test('prune: anonymous ones by default, all with --all', () => {
    const named = uniq('apivolnamed');
    volumes.push(named);
    ok(['volume', 'create', '--label', `prune=${named}`, named]);
    const anon = dockerOk(['volume', 'create', '--label', `prune=${named}`]).trim();
    volumes.push(anon);
    assert.match(anon, /^[0-9a-f]{64}$/);
    const first = dockerOk(['volume', 'prune', '-f', '--filter', `label=prune=${named}`]);
    assert.ok(first.includes(anon), first);
    assert.ok(!first.includes(named), first);
    const second = dockerOk(['volume', 'prune', '-a', '-f', '--filter', `label=prune=${named}`]);
    assert.ok(second.includes(named), second);
    assert.equal(berth(['volume', 'inspect', named]).code, 1);
  });

  test('docker-py and dockerode', async () => {
    const name = uniq('apivolpy');
    volumes.push(name);
    assert.equal(
      python('v=c.volumes.create(name=sys.argv[2], labels={"by":"py"})\nprint(v.name)', name),
      name,
    );
    assert.equal(python('print(c.volumes.get(sys.argv[2]).attrs["Labels"]["by"])', name), 'py');
    const d = new Docker({ socketPath: s.socketPath });
    const list = await d.listVolumes({ filters: JSON.stringify({ name: [name] }) });
    assert.deepEqual(
      list.Volumes.map((v) => v.Name),
      [name],
    );
    assert.deepEqual(list.Warnings ?? [], []);
    python('c.volumes.get(sys.argv[2]).remove()', name);
    await assert.rejects(d.getVolume(name).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });
});

describe('networks', () => {
  test('GET /networks/bridge works (testcontainers asks for it first)', async () => {
    const d = new Docker({ socketPath: s.socketPath });
    const bridge = await d.getNetwork('bridge').inspect();
    assert.equal(bridge.Name, 'bridge');
    assert.equal(bridge.Driver, 'bridge');
    assert.ok(bridge.IPAM?.Config?.[0]?.Subnet);
  });

  test('docker network create, ls, inspect, connect, disconnect, rm', () => {
    const net = uniq('apinet');
    networks.push(net);
    const id = dockerOk([
      'network',
      'create',
      '--subnet',
      '10.231.7.0/24',
      '--gateway',
      '10.231.7.1',
      '--ip-range',
      '10.231.7.128/25',
      '--label',
      'by=api',
      '--internal',
      net,
    ]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const n = JSON.parse(dockerOk(['network', 'inspect', net]))[0];
    assert.equal(n.Id, id);
    assert.equal(n.Internal, true);
    assert.deepEqual(n.Labels, { by: 'api' });
    assert.deepEqual(n.IPAM.Config, [
      { Subnet: '10.231.7.0/24', Gateway: '10.231.7.1', IPRange: '10.231.7.128/25' },
    ]);
    assert.equal(dockerOk(['network', 'ls', '-q', '--no-trunc', '--filter', `name=${net}`]).trim(), id);
    assert.deepEqual(
      dockerOk(['network', 'ls', '--format', '{{.Name}}', '--filter', 'label=by=api'])
        .trim()
        .split('\n')
        .includes(net),
      true,
    );
    const dup = docker(['network', 'create', net]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);

    const c = uniq('apinetuser');
    containers.push(c);
    ok(['create', '--name', c, 'busybox', 'true']);
    dockerOk(['network', 'connect', '--alias', 'web', '--ip', '10.231.7.200', net, c]);
    const nets = JSON.parse(ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', c]));
    assert.ok(nets[net], JSON.stringify(nets));
    assert.ok(nets[net].Aliases.includes('web'), JSON.stringify(nets[net]));
    // the address is applied at start; an address outside the subnet shows it reached the engine
    const c2 = uniq('apinetuser2');
    containers.push(c2);
    ok(['create', '--name', c2, 'busybox', 'true']);
    const badIp = docker(['network', 'connect', '--ip', '10.99.7.5', net, c2]);
    assert.equal(badIp.code, 1);
    assert.match(badIp.stderr, /10\.99\.7\.5 is not a host address of network/);

    const inUse = docker(['network', 'rm', net]);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /active endpoints/);
    dockerOk(['network', 'disconnect', net, c]);
    const after = JSON.parse(ok(['inspect', '-f', '{{json .NetworkSettings.Networks}}', c]));
    assert.equal(after[net], undefined);
    const notThere = docker(['network', 'disconnect', net, c]);
    assert.equal(notThere.code, 1);
    dockerOk(['network', 'disconnect', '--force', net, c]);

    assert.equal(dockerOk(['network', 'rm', net]).trim(), net);
    const gone = docker(['network', 'inspect', net]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /not found/);
  });

  test('prune by label; docker-py networks basics', () => {
    const a = uniq('apinetprune');
    networks.push(a);
    ok(['network', 'create', '--label', `p=${a}`, a]);
    const out = dockerOk(['network', 'prune', '-f', '--filter', `label=p=${a}`]);
    assert.match(out, new RegExp(a));
    assert.equal(berth(['network', 'inspect', a]).code, 1);

    const b = uniq('apinetpy');
    networks.push(b);
    const id = python('n=c.networks.create(sys.argv[2], labels={"by":"py"})\nprint(n.id)', b);
    assert.equal(ok(['network', 'inspect', '-f', '{{.Id}}', b]).trim(), id);
    assert.ok(python('print([n.name for n in c.networks.list(names=[sys.argv[2]])])', b).includes(b));
    python('c.networks.get(sys.argv[2]).remove()', b);
    assert.equal(berth(['network', 'inspect', b]).code, 1);
  });

  test('malformed bodies are 400s', async () => {
    const post = (path: string, body: string) =>
      fetch(`http://localhost${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        // @ts-expect-error undici's fetch takes a dispatcher
        dispatcher: agent,
      });
    const { Agent } = await import('undici');
    const agent = new Agent({ connect: { socketPath: s.socketPath } });
    try {
      for (const [path, body, msg] of [
        ['/networks/create', '{"Name":', /invalid JSON/],
        ['/networks/create', '{"Name":"x","Bogus":1}', /unknown field "Bogus"/],
        ['/volumes/create', '{"Name":5}', /Name: expected a string/],
        ['/networks/bridge/connect', '{}', /Container/],
      ] as const) {
        const r = await post(path, body);
        assert.equal(r.status, 400, `${path} ${body}`);
        assert.equal(r.headers.get('content-type'), 'application/json');
        assert.match(((await r.json()) as { message: string }).message, msg);
      }
    } finally {
      await agent.close();
    }
  });
});

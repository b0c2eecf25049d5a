import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  berth,
  busyboxTar,
  containerNames,
  ensureBusybox,
  inspect,
  ok,
  TEST_RUNROOT,
  uniq,
  until,
} from '../helpers.ts';

const name = containerNames();
const networks: string[] = [];
const images: string[] = [];

function network(prefix: string, args: string[] = []): string {
  const n = uniq(prefix);
  ok(['network', 'create', ...args, n]);
  networks.push(n);
  return n;
}

before(() => ensureBusybox());
after(() => {
  name.removeAll();
  for (const n of networks) berth(['network', 'rm', n]);
  for (const i of images) berth(['rmi', '-f', i]);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function curl(url: string): string {
  const r = spawnSync('curl', ['-s', '-m', '3', url], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
}

/** A detached busybox httpd serving `text` at /index.html. */
function webServer(n: string, text: string, flags: string[] = [], image = 'busybox'): string {
  ok([
    'run',
    '-d',
    '--name',
    n,
    ...flags,
    image,
    'sh',
    '-c',
    `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`,
  ]);
  return n;
}

function sh(script: string, flags: string[] = []): string {
  return ok(['run', '--rm', ...flags, 'busybox', 'sh', '-c', script]);
}

/** wget retried briefly: a just-started httpd may not listen yet. */
function fetchFrom(flags: string[], url: string): string {
  return sh(
    `for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- ${url} 2>/dev/null && exit 0; sleep 0.2; done; exit 1`,
    flags,
  );
}

const ipOf = (c: string, net: string) =>
  (inspect<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>(c).NetworkSettings
    .Networks[net]?.IPAddress ?? '') as string;

describe('networks', () => {
  test('containers on a user network reach each other by name and by alias', () => {
    const net = network('net-dns');
    const srv = webServer(name('srv'), 'hello-dns', ['--network', net, '--network-alias', 'webalias']);
    assert.equal(fetchFrom(['--network', net], `http://${srv}/`), 'hello-dns\n');
    assert.equal(fetchFrom(['--network', net], 'http://webalias/'), 'hello-dns\n');
    const info = inspect<{
      NetworkSettings: {
        Networks: Record<
          string,
          {
            IPAddress: string;
            Gateway: string;
            Aliases: string[];
            NetworkID: string;
            IPPrefixLen: number;
            MacAddress: string;
          }
        >;
      };
      HostConfig: { NetworkMode: string };
    }>(srv);
    const ep = info.NetworkSettings.Networks[net]!;
    assert.equal(info.HostConfig.NetworkMode, net);
    assert.match(ep.IPAddress, /^10\.89\.\d+\.\d+$/);
    assert.equal(ep.IPPrefixLen, 24);
    assert.ok(ep.Aliases.includes('webalias'));
    assert.match(ep.MacAddress, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const ni = JSON.parse(ok(['network', 'inspect', net]))[0];
    assert.equal(ep.NetworkID, ni.Id);
    assert.equal(ep.Gateway, ni.IPAM.Config[0].Gateway);
    assert.ok(Object.values(ni.Containers as Record<string, { Name: string }>).some((c) => c.Name === srv));
    // the network's DNS server (aardvark-dns on the gateway) is the container's nameserver
    assert.match(sh('cat /etc/resolv.conf', ['--network', net]), new RegExp(`nameserver ${ep.Gateway}\\n`));
    // the default bridge has no name resolution, as docker's
    assert.equal(berth(['run', '--rm', 'busybox', 'nslookup', srv]).code !== 0, true);
  });

  test('-p 127.0.0.1:PORT:80 answers on the host; port and ps show it', async () => {
    const port = await freePort();
    const web = webServer(name('pub'), 'published', ['-p', `127.0.0.1:${port}:80`]);
    assert.ok(
      await until(() => curl(`http://127.0.0.1:${port}/`) === 'published\n', 5000),
      'curl from the host',
    );
    assert.equal(ok(['port', web]), `80/tcp -> 127.0.0.1:${port}\n`);
    assert.equal(ok(['port', web, '80']), `127.0.0.1:${port}\n`);
    assert.notEqual(berth(['port', web, '81']).code, 0);
    assert.match(
      ok(['ps', '--filter', `name=${web}`, '--format', '{{.Ports}}']),
      new RegExp(`^127\\.0\\.0\\.1:${port}->80/tcp\\n$`),
    );
    const i = inspect<{ HostConfig: { PortBindings: unknown }; NetworkSettings: { Ports: unknown } }>(web);
    assert.deepEqual(i.HostConfig.PortBindings, {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }],
    });
    assert.deepEqual(i.NetworkSettings.Ports, {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }],
    });
    // a second container cannot take the same host port
    const r = berth(['run', '--rm', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already allocated/);
  });

  test('a port published on all addresses is reachable from another container through the gateway', async () => {
    const port = await freePort();
    webServer(name('gw'), 'via-gateway', ['-p', `${port}:80`]);
    assert.ok(await until(() => curl(`http://127.0.0.1:${port}/`) === 'via-gateway\n', 5000));
    const out = fetchFrom([], `http://$(ip route | awk '/default/{print $3}'):${port}/`);
    assert.equal(out, 'via-gateway\n');
    // --add-host NAME:host-gateway names that gateway
    const gw = sh("ip route | awk '/default/{print $3}'").trim();
    assert.match(
      sh('grep hostgw /etc/hosts', ['--add-host', 'hostgw:host-gateway']),
      new RegExp(`^${gw.replace(/\./g, '\\.')}\\thostgw$`, 'm'),
    );
  });

  test('-P maps the image EXPOSE ports to random host ports, kept across restarts', async () => {
    const img = uniq('exposed').toLowerCase();
    ok(['import', '--change', 'EXPOSE 80', busyboxTar(), img]);
    images.push(img);
    const c = webServer(name('pall'), 'exposed', ['-P'], img);
    const line = ok(['port', c]);
    const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)\n$/.exec(line);
    assert.ok(m, line);
    assert.ok(await until(() => curl(`http://127.0.0.1:${m[1]}/`) === 'exposed\n', 5000));
    const mac = () => inspect<{ NetworkSettings: { MacAddress: string } }>(c).NetworkSettings.MacAddress;
    const before = mac();
    ok(['restart', '-t', '0', c]);
    assert.equal(ok(['port', c]), line);
    // same IP and MAC after a restart: the host's ARP cache stays right
    assert.equal(mac(), before);
    assert.ok(await until(() => curl(`http://127.0.0.1:${m[1]}/`) === 'exposed\n', 5000));
  });

  test('the default bridge gives eth0 an address in its subnet, with outbound NAT', () => {
    const bridge = JSON.parse(ok(['network', 'inspect', 'bridge']))[0];
    const subnet = bridge.IPAM.Config[0].Subnet as string;
    const c = name('def');
    ok(['run', '-d', '--name', c, 'busybox', 'sleep', '60']);
    const ip = ipOf(c, 'bridge');
    const [base = '', len = '16'] = subnet.split('/');
    const toInt = (s: string) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
    const bits = 32 - Number(len);
    assert.equal(
      Math.floor(toInt(ip) / 2 ** bits),
      Math.floor(toInt(base) / 2 ** bits),
      `${ip} in ${subnet}`,
    );
    assert.match(
      ok(['exec', c, 'ip', '-o', '-4', 'addr', 'show', 'eth0']),
      new RegExp(`inet ${ip.replace(/\./g, '\\.')}/${len}`),
    );
    const nat = execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' });
    assert.match(nat, new RegExp(`-A POSTROUTING -s ${subnet.replace(/\./g, '\\.')} -j `));
    assert.match(nat, /MASQUERADE/);
    ok(['rm', '-f', c]);
  });

  test('--network none has only lo; host sees the host interfaces; container: shares a namespace', () => {
    assert.equal(sh("ls /sys/class/net | tr '\\n' ' '", ['--network', 'none']), 'lo ');
    // veths of other containers come and go: compare on the host's uplink (its default route's device)
    const uplink = readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .find((l) => l.split(/\s+/)[1] === '00000000')
      ?.split(/\s+/)[0];
    assert.ok(uplink && readdirSync('/sys/class/net').includes(uplink));
    const mac = readFileSync(`/sys/class/net/${uplink}/address`, 'utf8');
    assert.equal(sh(`cat /sys/class/net/${uplink}/address`, ['--network', 'host']), mac);
    const c = name('owner');
    ok(['run', '-d', '--name', c, 'busybox', 'sleep', '60']);
    const mine = ok(['exec', c, 'ip', '-o', '-4', 'addr', 'show', 'eth0']).split(/\s+/)[3];
    const theirs = sh('ip -o -4 addr show eth0', ['--network', `container:${c}`]).split(/\s+/)[3];
    assert.ok(mine);
    assert.equal(theirs, mine);
  });

  test('--dns, --dns-search and --dns-option land in resolv.conf', () => {
    const conf = sh('cat /etc/resolv.conf', [
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'example.test',
      '--dns-option',
      'ndots:2',
    ]);
    assert.match(conf, /^nameserver 192\.0\.2\.53$/m);
    assert.match(conf, /^search example\.test$/m);
    assert.match(conf, /^options ndots:2$/m);
  });

  test('--ip is honoured and a taken address is refused', () => {
    const net = network('net-ip', ['--subnet', '10.89.231.0/24']);
    const c = name('fixed');
    ok(['run', '-d', '--name', c, '--network', net, '--ip', '10.89.231.77', 'busybox', 'sleep', '60']);
    assert.equal(ipOf(c, net), '10.89.231.77');
    const r = berth(['run', '--rm', '--network', net, '--ip', '10.89.231.77', 'busybox', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already in use/);
    assert.notEqual(berth(['run', '--rm', '--ip', '10.88.0.9', 'busybox', 'true']).code, 0);
  });

  test('network rm is refused while a container uses the network', () => {
    const net = network('net-rm');
    const c = name('user');
    ok(['create', '--name', c, '--network', net, 'busybox', 'true']);
    const r = berth(['network', 'rm', net]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /active endpoints/);
    ok(['rm', c]);
    assert.equal(ok(['network', 'rm', net]), `${net}\n`);
    assert.equal(berth(['network', 'inspect', net]).code, 1);
    assert.notEqual(berth(['network', 'rm', 'bridge']).code, 0);
  });

  test('network ls, --filter, --format and -q', () => {
    const net = network('net-ls', ['--label', 'team=net']);
    const table = ok(['network', 'ls']);
    assert.match(table, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
    assert.match(table, /\sbridge\s+bridge\s+local\n/);
    assert.equal(
      ok(['network', 'ls', '--filter', 'label=team=net', '--format', '{{.Name}} {{.Driver}}']),
      `${net} bridge\n`,
    );
    const id = JSON.parse(ok(['network', 'inspect', net]))[0].Id as string;
    assert.ok(ok(['network', 'ls', '-q']).split('\n').includes(id.slice(0, 12)));
    assert.notEqual(berth(['network', 'create', net]).code, 0);
  });

  test('connect and disconnect a running container', () => {
    const a = network('net-a');
    const b = network('net-b');
    const c = webServer(name('multi'), 'two-nets', ['--network', a]);
    ok(['network', 'connect', '--alias', 'late', b, c]);
    assert.match(ok(['exec', c, 'ls', '/sys/class/net']), /eth1/);
    assert.equal(fetchFrom(['--network', b], 'http://late/'), 'two-nets\n');
    assert.equal(fetchFrom(['--network', b], `http://${c}/`), 'two-nets\n');
    ok(['network', 'disconnect', b, c]);
    assert.doesNotMatch(ok(['exec', c, 'ls', '/sys/class/net']), /eth1/);
    assert.notEqual(
      berth(['run', '--rm', '--network', b, 'busybox', 'wget', '-qO-', `http://${c}/`]).code,
      0,
    );
    assert.equal(fetchFrom(['--network', a], `http://${c}/`), 'two-nets\n');
    ok(['network', 'rm', b]);
  });

  test('20 create/start/rm cycles leave no veth, netns, iptables rule or DNS entry', () => {
    const net = network('net-res');
    const ni = JSON.parse(ok(['network', 'inspect', net]))[0];
    const subnet = ni.IPAM.Config[0].Subnet as string;
    const bridgeIf = `br-${(ni.Id as string).slice(0, 12)}`;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = ok([
        'create',
        '--name',
        name('cycle'),
        '--network',
        net,
        '-p',
        '127.0.0.1::80',
        'busybox',
        'sleep',
        '30',
      ]).trim();
      ids.push(id);
      ok(['start', id]);
      if (i === 0) assert.ok(existsSync(`/run/netns/berth-${id.slice(0, 12)}`));
      ok(['rm', '-f', id]);
    }
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    // The host ends of the containers' veths hang off this network's bridge: with the bridge gone,
    // none is left. (Counting all veths would race with other test files' containers.)
    assert.equal(links.includes(bridgeIf), false, 'bridge left behind');
    assert.equal(links.includes(`master ${bridgeIf}`), false, 'veth left behind');
    const nsList = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const rules = execFileSync('iptables-save', { encoding: 'utf8' });
    for (const id of ids) {
      assert.equal(nsList.includes(id.slice(0, 12)), false, 'netns left behind');
      assert.equal(rules.includes(id.slice(0, 12)), false, 'iptables rule left behind');
    }
    assert.equal(rules.includes(subnet), false, 'iptables rule for the subnet left behind');
    const dnsFile = join(TEST_RUNROOT, 'networks', 'aardvark-dns', net);
    assert.ok(!existsSync(dnsFile) || !ids.some((id) => readFileSync(dnsFile, 'utf8').includes(id)));
    assert.equal(
      readdirSync(join(TEST_RUNROOT, 'networks', 'containers')).filter((f) =>
        ids.some((id) => f.startsWith(id)),
      ).length,
      0,
    );
  });
});

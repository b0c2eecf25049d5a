import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ensureBusybox, uniq } from '../helpers.ts';
import { docker, dockerOk, type Served, serve } from './serve.ts';

/** POSTs a JSON body over the server's socket; returns the status and the parsed answer. */
function post(
  s: Served,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: s.sock, path, method: 'POST', headers: { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('POST /containers/{id}/update', () => {
  let s: Served;
  const names: string[] = [];
  const name = (p: string) => {
    const n = uniq(p);
    names.push(n);
    return n;
  };

  before(async () => {
    ensureBusybox();
    s = await serve();
  });
  after(async () => {
    for (const n of names) docker(s, ['rm', '-f', n]);
    await s.stop();
  });

  it('docker update changes a running container’s limits and restart policy', () => {
    const c = name('api-upd');
    dockerOk(s, ['run', '-d', '--name', c, 'busybox', 'sleep', '300']);
    assert.equal(dockerOk(s, ['update', '--memory', '32m', '--pids-limit', '40', c]), `${c}\n`);
    assert.equal(
      dockerOk(s, ['exec', c, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']).trim(),
      String(32 << 20),
    );
    assert.equal(dockerOk(s, ['exec', c, 'cat', '/sys/fs/cgroup/pids/pids.max']).trim(), '40');
    assert.equal(
      dockerOk(s, ['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}', c]).trim(),
      `${32 << 20} 40`,
    );
    dockerOk(s, ['update', '--restart', 'unless-stopped', c]);
    assert.equal(
      dockerOk(s, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', c]).trim(),
      'unless-stopped',
    );
    assert.equal(
      dockerOk(s, ['inspect', '-f', '{{.HostConfig.Memory}}', c]).trim(),
      String(32 << 20),
      'fields the client did not send are left alone',
    );
  });

  it('answers Warnings, refuses bad values and unsupported fields with a 400', async () => {
    const c = name('api-upd-raw');
    dockerOk(s, ['run', '-d', '--rm', '--name', c, 'busybox', 'sleep', '300']);
    let r = await post(s, `/containers/${c}/update`, { CpuShares: 256 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { Warnings: [] });
    assert.equal(dockerOk(s, ['exec', c, 'cat', '/sys/fs/cgroup/cpu/cpu.shares']).trim(), '256');

    r = await post(s, `/containers/${c}/update`, { CpusetCpus: '0', BlkioWeight: 100 });
    assert.equal(r.status, 400);
    assert.match(String(r.json.message), /CpusetCpus, BlkioWeight/);
    r = await post(s, `/containers/${c}/update`, { Memory: 1024 });
    assert.equal(r.status, 400);
    assert.match(String(r.json.message), /Minimum memory limit allowed is 6MB/);
    r = await post(s, `/containers/${c}/update`, { NanoCpus: 1e9, CpuQuota: 50000 });
    assert.equal(r.status, 400);
    r = await post(s, `/containers/${c}/update`, { RestartPolicy: { Name: 'always' } });
    assert.equal(r.status, 409);
    assert.match(String(r.json.message), /AutoRemove is enabled/);
    r = await post(s, '/containers/no-such-ctr-xyz/update', { Memory: 64 << 20 });
    assert.equal(r.status, 404);

    const cli = docker(s, ['update', '--restart', 'always', c]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /AutoRemove is enabled/);
  });
});

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { berth, ensureBusybox, uniq, until } from '../helpers.ts';
import { docker, dockerOk, type Served, serve } from './serve.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  sock: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: sock, method, path, headers: { Host: 'docker', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'Content-Type': 'application/json' };

describe('berth serve robustness', () => {
  let s: Served;
  let d: Docker;
  const names: string[] = [];
  const name = (p: string) => {
    const n = uniq(p);
    names.push(n);
    return n;
  };

  before(async () => {
    ensureBusybox();
    s = await serve();
    d = new Docker({ socketPath: s.sock });
  });
  after(async () => {
    for (const n of names) berth(['rm', '-f', n]);
    await s.stop();
  });

  it('answers versioned and unversioned paths, and refuses versions out of range', async () => {
    const ping = await call(s.sock, 'GET', '/_ping');
    assert.equal(ping.body, 'OK');
    assert.equal(ping.headers['api-version'], '1.51');
    assert.equal(ping.headers['builder-version'], '1');
    assert.match(String(ping.headers.server), /^Berth\//);
    assert.equal((await call(s.sock, 'HEAD', '/v1.24/_ping')).status, 200);
    assert.equal((await call(s.sock, 'GET', '/v1.47/version')).status, 200);
    const tooNew = await call(s.sock, 'GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(
      JSON.parse(tooNew.body).message,
      /client version 1.99 is too new\. Maximum supported API version is 1.51/,
    );
    const tooOld = await call(s.sock, 'GET', '/v1.12/version');
    assert.equal(tooOld.status, 400);
    assert.match(JSON.parse(tooOld.body).message, /too old\. Minimum supported API version is 1.24/);
    const nope = await call(s.sock, 'GET', '/v1.45/containers/no-such-thing/json');
    assert.equal(nope.status, 404);
    assert.match(JSON.parse(nope.body).message, /No such container/);
    assert.equal((await call(s.sock, 'GET', '/no/such/route')).status, 404);
  });

  it('gives 400s for malformed bodies and ignores unknown fields, as docker does', async () => {
    const bad = await call(s.sock, 'POST', '/containers/create', '{"Image": "busybox",', json);
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).message, /invalid JSON/);
    const arr = await call(s.sock, 'POST', '/containers/create', '[1,2]', json);
    assert.equal(arr.status, 400);
    const typed = await call(
      s.sock,
      'POST',
      '/containers/create',
      JSON.stringify({ Image: 'busybox', Cmd: 5 }),
      json,
    );
    assert.equal(typed.status, 400);
    assert.match(JSON.parse(typed.body).message, /Config\.Cmd/);
    const typedHost = await call(
      s.sock,
      'POST',
      '/containers/create',
      JSON.stringify({ Image: 'busybox', HostConfig: { Memory: 'lots' } }),
      json,
    );
    assert.equal(typedHost.status, 400);
    assert.match(JSON.parse(typedHost.body).message, /HostConfig\.Memory/);
    const noImage = await call(s.sock, 'POST', '/containers/create', '{}', json);
    assert.equal(noImage.status, 400);
    const missing = await call(
      s.sock,
      'POST',
      '/containers/create',
      JSON.stringify({ Image: 'no-such-image-xyz' }),
      json,
    );
    assert.equal(missing.status, 404);
    const n = name('api-unknown');
    const unknown = await call(
      s.sock,
      'POST',
      `/containers/create?name=${n}`,
      JSON.stringify({
        Image: 'busybox',
        Cmd: ['true'],
        FancyNewField: { x: 1 },
        HostConfig: { AlsoNew: true },
      }),
      json,
    );
    assert.equal(unknown.status, 201, unknown.body);
    const update = await call(
      s.sock,
      'POST',
      `/containers/${n}/update`,
      JSON.stringify({ CpusetCpus: '0' }),
      json,
    );
    assert.equal(update.status, 400, 'a field Berth cannot update is refused by name');
    assert.match(JSON.parse(update.body).message, /CpusetCpus/);
    const linked = await call(s.sock, 'DELETE', `/containers/${n}?link=1`);
    assert.equal(linked.status, 400);
    // and the server is still there
    assert.equal((await call(s.sock, 'GET', '/_ping')).body, 'OK');
  });

  it('runs 50 parallel create+start+wait calls', async () => {
    const prefix = name('api-par');
    const runs = Array.from({ length: 50 }, async (_, i) => {
      const c = await d.createContainer({
        Image: 'busybox',
        Cmd: ['sh', '-c', `exit ${i % 5}`],
        name: `${prefix}-${i}`,
        HostConfig: { NetworkMode: 'none' },
      });
      const waited = c.wait({ condition: 'next-exit' });
      await c.start();
      const r = await waited;
      await c.remove();
      return r.StatusCode;
    });
    const codes = await Promise.all(runs);
    assert.deepEqual(
      codes,
      Array.from({ length: 50 }, (_, i) => i % 5),
    );
  });

  it('leaves the container running when an attached client disconnects, and when the server stops', async () => {
    const n = name('api-disc');
    dockerOk(s, [
      'run',
      '-d',
      '--init',
      '--name',
      n,
      'busybox',
      'sh',
      '-c',
      'while true; do echo tick; sleep 0.1; done',
    ]);
    const got = await new Promise<string>((resolve, reject) => {
      const sock = connect(s.sock, () => {
        sock.write(
          `POST /v1.45/containers/${n}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
        );
      });
      let buf = '';
      sock.on('data', (b: Buffer) => {
        buf += b.toString('latin1');
        if (buf.includes('tick')) {
          sock.destroy();
          resolve(buf);
        }
      });
      sock.on('error', reject);
    });
    assert.match(got, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    // a multiplexed frame: stdout, 0, 0, 0, size 5, "tick\n"
    assert.ok(got.includes('\x01\x00\x00\x00\x00\x00\x00\x05tick\n'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(dockerOk(s, ['inspect', '-f', '{{.State.Running}}', n]).trim(), 'true');
    // the websocket attach sees the same output
    const ws = await new Promise<string>((resolve, reject) => {
      const sock = connect(s.sock, () => {
        sock.write(
          `GET /containers/${n}/attach/ws?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
        );
      });
      let buf = '';
      sock.on('data', (b: Buffer) => {
        buf += b.toString('latin1');
        if (buf.includes('tick')) {
          sock.destroy();
          resolve(buf);
        }
      });
      sock.on('error', reject);
    });
    assert.match(ws, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(ws, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
    assert.ok(ws.includes('\x81\x05tick\n'));
    // SIGTERM stops the server, not the containers; a new server sees them
    const execId = JSON.parse(
      (await call(s.sock, 'POST', `/containers/${n}/exec`, JSON.stringify({ Cmd: ['true'] }), json)).body,
    ).Id as string;
    await s.stop();
    assert.equal(berth(['inspect', '-f', '{{.State.Running}}', n]).stdout.trim(), 'true');
    s = await serve();
    d = new Docker({ socketPath: s.sock });
    assert.equal(docker(s, ['inspect', '-f', '{{.State.Running}}', n]).stdout.trim(), 'true');
    assert.equal((await call(s.sock, 'GET', `/exec/${execId}/json`)).status, 404);
    await until(() => docker(s, ['logs', '--tail', '1', n]).stdout === 'tick\n', 5000, 'logs still flowing');
  });
});

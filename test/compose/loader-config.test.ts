// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose files use ${VAR} syntax
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { goDuration, renderConfig } from '../../src/compose/loader/index.ts';
import { load, projectDir } from './loader-helpers.ts';

const APP = `
services:
  web:
    image: busybox:\${TAG:-1.36}
    command: httpd -f -p 80
    ports: ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp", "3000"]
    volumes: ["./www:/www:ro", "data:/data", "/cache"]
    environment: [MODE=prod]
    depends_on:
      db: {condition: service_healthy}
    healthcheck:
      test: wget -q -O- http://localhost/
      interval: 1m30s
      timeout: 500ms
      retries: 3
    stop_grace_period: 1h2s
    mem_limit: 64m
    deploy: {replicas: 2, resources: {limits: {cpus: "0.5", memory: 32M}}}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
    extra_hosts: ["db.local=10.0.0.2", "other:10.0.0.3"]
    x-custom: 1
  db:
    image: busybox
  tools:
    image: alpine
    profiles: [debug]
  worker:
    build: ./worker
    network_mode: "service:web"
    profiles: [jobs]
volumes:
  data:
  ext:
    external: true
networks:
  outside:
    name: real-net
`;

describe('compose config rendering', () => {
  it('prints the resolved model like docker compose', async () => {
    const dir = projectDir({ 'compose.yaml': APP }, 'cfg');
    const { project } = await load(dir);
    const text = renderConfig(project);
    const doc = parse(text);
    assert.equal(doc.name, 'cfg');
    assert.deepEqual(Object.keys(doc.services), ['db', 'web']);
    assert.deepEqual(doc.services.web, {
      command: ['httpd', '-f', '-p', '80'],
      depends_on: { db: { condition: 'service_healthy', required: true } },
      deploy: { replicas: 2, resources: { limits: { cpus: 0.5, memory: '33554432' } } },
      environment: { MODE: 'prod' },
      extra_hosts: ['db.local:10.0.0.2', 'other:10.0.0.3'],
      healthcheck: {
        interval: '1m30s',
        retries: 3,
        test: ['CMD-SHELL', 'wget -q -O- http://localhost/'],
        timeout: '500ms',
      },
      image: 'busybox:1.36',
      mem_limit: '67108864',
      networks: { default: null },
      ports: [
        { host_ip: '127.0.0.1', mode: 'ingress', protocol: 'tcp', published: '8080', target: 80 },
        { mode: 'ingress', protocol: 'udp', published: '9000', target: 9000 },
        { mode: 'ingress', protocol: 'udp', published: '9001', target: 9001 },
        { mode: 'ingress', protocol: 'tcp', target: 3000 },
      ],
      stop_grace_period: '1h0m2s',
      ulimits: { nofile: { hard: 2048, soft: 1024 }, nproc: 64 },
      volumes: [
        {
          bind: { create_host_path: true },
          read_only: true,
          source: `${dir}/www`,
          target: '/www',
          type: 'bind',
        },
        { source: 'data', target: '/data', type: 'volume', volume: {} },
        { target: '/cache', type: 'volume', volume: {} },
      ],
      'x-custom': 1,
    });
    assert.deepEqual(doc.networks, { default: { name: 'cfg_default' }, outside: { name: 'real-net' } });
    assert.deepEqual(doc.volumes, { data: { name: 'cfg_data' }, ext: { external: true, name: 'ext' } });
    assert.match(text, /^name: cfg\nservices:\n {2}db:\n/);
    assert.match(text, /published: "8080"/);
    // JSON is the same model
    assert.deepEqual(JSON.parse(renderConfig(project, { format: 'json' })), doc);
  });

  it('lists services, volumes, profiles and images', async () => {
    const dir = projectDir({ 'compose.yaml': APP }, 'cfg');
    const { project } = await load(dir, { profiles: ['jobs', 'debug'] });
    assert.equal(renderConfig(project, { services: true }), 'db\ntools\nweb\nworker\n');
    assert.equal(renderConfig(project, { volumes: true }), 'data\next\n');
    assert.equal(renderConfig(project, { images: true }), 'busybox\nalpine\nbusybox:1.36\ncfg-worker\n');
    const { project: noProfiles } = await load(dir);
    assert.equal(renderConfig(noProfiles, { profiles: true }), 'debug\njobs\n');
    assert.equal(renderConfig(noProfiles, { services: true }), 'db\nweb\n');
    assert.equal(renderConfig(noProfiles, { quiet: true }), '');
  });

  it('keeps variables as written with interpolation off', async () => {
    const dir = projectDir(
      {
        'compose.yaml': APP.replace('"3000"', '"${PORT}:3000"').replace(
          'mem_limit: 64m',
          'mem_limit: ${MEM}',
        ),
      },
      'cfg',
    );
    const { project } = await load(dir, { interpolate: false });
    const doc = parse(renderConfig(project));
    assert.equal(doc.services.web.image, 'busybox:${TAG:-1.36}');
    assert.equal(doc.services.web.ports[3], '${PORT}:3000');
    assert.equal(doc.services.web.mem_limit, '${MEM}');
  });

  it('formats durations as Go does', () => {
    assert.equal(goDuration(0), '0s');
    assert.equal(goDuration(500), '500ms');
    assert.equal(goDuration(1500), '1.5s');
    assert.equal(goDuration(90_000), '1m30s');
    assert.equal(goDuration(3_600_000), '1h0m0s');
    assert.equal(goDuration(0.25), '250µs');
  });
});

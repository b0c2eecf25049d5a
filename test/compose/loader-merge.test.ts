import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { load, projectDir } from './loader-helpers.ts';

async function merged(base: string, ...overrides: string[]) {
  const files: Record<string, string> = { 'compose.yaml': base };
  overrides.forEach((o, i) => {
    files[`o${i}.yaml`] = o;
  });
  const dir = projectDir(files);
  const { project } = await load(dir, { files: ['compose.yaml', ...overrides.map((_, i) => `o${i}.yaml`)] });
  return { project, dir };
}

describe('compose merge of several -f files', () => {
  it('merges mappings key by key and replaces scalars', async () => {
    const { project } = await merged(
      'services:\n  web:\n    image: a\n    user: root\n    environment: {A: "1", B: "2"}\n    labels: [x=1]\n',
      'services:\n  web:\n    image: b\n    environment: [B=3, C=4]\n    labels: {y: "2"}\n  new:\n    image: n\n',
    );
    const web = project.services.web;
    assert.equal(web?.image, 'b');
    assert.equal(web?.user, 'root');
    assert.deepEqual(web?.environment, { A: '1', B: '3', C: '4' });
    assert.deepEqual(web?.labels, { x: '1', y: '2' });
    assert.equal(project.services.new?.image, 'n');
  });

  it('replaces command, entrypoint and healthcheck.test instead of appending', async () => {
    const { project } = await merged(
      'services:\n  web:\n    image: a\n    command: [echo, foo]\n    entrypoint: /bin/sh -c\n    healthcheck: {test: [CMD, a], interval: 5s}\n',
      'services:\n  web:\n    command: echo "bar baz"\n    healthcheck: {test: [CMD, b]}\n',
    );
    const web = project.services.web;
    assert.deepEqual(web?.command, ['echo', 'bar baz']);
    assert.deepEqual(web?.entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(web?.healthcheck, { test: ['CMD', 'b'], interval: 5000 });
  });

  it('appends sequences, and merges ports, volumes, secrets by their unique key', async () => {
    const { project, dir } = await merged(
      'services:\n  web:\n    image: a\n    dns: [1.1.1.1]\n    ports: ["8080:80", "9000:9000"]\n    volumes: ["foo:/work", "./a:/a"]\n    secrets: [s1]\nvolumes: {foo: {}, bar: {}}\nsecrets: {s1: {file: ./s1}, s2: {file: ./s2}}\n',
      'services:\n  web:\n    dns: [8.8.8.8, 1.1.1.1]\n    ports: [{target: 80, published: "8080", protocol: tcp}, "9090:90"]\n    volumes: ["bar:/work"]\n    secrets: [{source: s2, target: /run/secrets/s1}]\n',
    );
    const web = project.services.web;
    assert.deepEqual(web?.dns, ['1.1.1.1', '8.8.8.8']);
    assert.deepEqual(
      web?.ports.map((p) => `${p.published}:${p.target}`),
      ['8080:80', '9000:9000', '9090:90'],
    );
    assert.deepEqual(
      web?.volumes.map((v) => `${v.type}:${v.source}:${v.target}`),
      ['volume:bar:/work', `bind:${join(dir, 'a')}:/a`],
    );
    assert.deepEqual(web?.secrets, [{ source: 's2', target: '/run/secrets/s1' }]);
  });

  it('merges depends_on and networks given as lists or mappings', async () => {
    const { project } = await merged(
      'services:\n  web:\n    image: a\n    depends_on: [db]\n    networks: [front]\n  db: {image: d}\n  cache: {image: c}\nnetworks: {front: {}, back: {}}\n',
      'services:\n  web:\n    depends_on: {db: {condition: service_healthy}, cache: {condition: service_started, restart: true}}\n    networks: {back: {aliases: [api]}}\n',
    );
    const web = project.services.web;
    assert.deepEqual(web?.depends_on, {
      db: { condition: 'service_healthy', required: true, restart: false },
      cache: { condition: 'service_started', required: true, restart: true },
    });
    assert.deepEqual(web?.networks, { front: null, back: { aliases: ['api'] } });
  });

  it('merges top-level resources and builds given as strings', async () => {
    const { project, dir } = await merged(
      'services:\n  web:\n    build: ./app\nvolumes:\n  data:\n    labels: {a: "1"}\n',
      'services:\n  web:\n    build: {dockerfile: Other.Dockerfile, args: [V=1]}\nvolumes:\n  data:\n    driver: local\n    labels: [b=2]\n',
    );
    assert.deepEqual(project.services.web?.build, {
      context: join(dir, 'app'),
      dockerfile: 'Other.Dockerfile',
      args: { V: '1' },
    });
    assert.deepEqual(project.volumes.data, {
      name: 'proj_data',
      driver: 'local',
      labels: { a: '1', b: '2' },
    });
  });

  it('resolves relative paths of every -f file against the project directory', async () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  web:\n    image: a\n',
      'sub/extra.yaml': 'services:\n  web:\n    volumes: [./data:/data]\n    env_file: ./web.env\n',
      'web.env': 'K=v\n',
    });
    const { project } = await load(dir, { files: ['compose.yaml', 'sub/extra.yaml'] });
    assert.equal(project.services.web?.volumes[0]?.source, join(dir, 'data'));
    assert.deepEqual(project.services.web?.environment, { K: 'v' });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { load, projectDir } from './loader-helpers.ts';

describe('compose YAML: anchors, merge keys, !reset, !override', () => {
  it('expands anchors, aliases and merge keys (explicit keys win, first merged source wins)', async () => {
    const dir = projectDir({
      'compose.yaml': `
x-env: &env
  A: "1"
  B: "2"
x-base: &base
  image: base
  restart: always
  environment: *env
x-other: &other
  image: other
  user: nobody
services:
  one:
    <<: *base
    restart: "no"
  two:
    <<: [*base, *other]
    environment:
      <<: *env
      B: "3"
`,
    });
    const { project } = await load(dir);
    assert.equal(project.services.one?.image, 'base');
    assert.equal(project.services.one?.restart, 'no');
    assert.deepEqual(project.services.one?.environment, { A: '1', B: '2' });
    assert.equal(project.services.two?.image, 'base');
    assert.equal(project.services.two?.user, 'nobody');
    assert.deepEqual(project.services.two?.environment, { A: '1', B: '3' });
    assert.deepEqual(Object.keys(project.extensions ?? {}), ['x-env', 'x-base', 'x-other']);
  });

  it('!reset removes what earlier files set; !override replaces instead of merging', async () => {
    const dir = projectDir({
      'compose.yaml':
        'services:\n  app:\n    image: myapp\n    ports: ["8080:80"]\n    environment: {FOO: BAR, KEEP: "1"}\n    volumes: [data:/data]\n    labels: {a: "1"}\nvolumes: {data: {}}\n',
      'compose.override.yaml':
        'services:\n  app:\n    ports: !reset []\n    environment:\n      FOO: !reset null\n    volumes: !override\n      - ./src:/src\n    labels: !override {b: "2"}\n',
    });
    const { project } = await load(dir);
    const app = project.services.app;
    assert.deepEqual(app?.ports, []);
    assert.deepEqual(app?.environment, { KEEP: '1' });
    assert.equal(app?.volumes.length, 1);
    assert.equal(app?.volumes[0]?.type, 'bind');
    assert.deepEqual(app?.labels, { b: '2' });
  });

  it('!reset on a key brought in by a merge key removes it', async () => {
    const dir = projectDir({
      'compose.yaml':
        'x-base: &base\n  image: a\n  command: [x]\nservices:\n  web:\n    <<: *base\n    command: !reset null\n',
    });
    const { project } = await load(dir);
    assert.equal(project.services.web?.command, undefined);
  });

  it('reads a leading-zero number as octal, like docker compose', async () => {
    const dir = projectDir({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    secrets: [{source: s, mode: 0440}, {source: t, mode: "0640"}]\nsecrets:\n  s: {file: ./s}\n  t: {file: ./t}\n',
    });
    const { project } = await load(dir);
    assert.deepEqual(
      project.services.web?.secrets?.map((s) => s.mode),
      [0o440, 0o640],
    );
  });

  it('rejects duplicate keys, naming the file and line', async () => {
    const dir = projectDir({ 'compose.yaml': 'services:\n  web:\n    image: a\n    image: b\n' });
    await assert.rejects(load(dir), /compose\.yaml: line 4, column 5: mapping key already defined/);
  });

  it('refuses alias bombs', async () => {
    let src = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 8; i++)
      src += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    const dir = projectDir({
      'compose.yaml': `${src.replace(/^a/gm, 'x-a')}x-bomb:\n  v: *a7\nservices:\n  w: {image: a}\n`,
    });
    await assert.rejects(load(dir), /too many YAML nodes/);
  });
});

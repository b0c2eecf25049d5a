// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose files use ${VAR} syntax
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { load, projectDir } from './loader-helpers.ts';

describe('compose extends', () => {
  it('extends a service of the same file, recursively, merging like an override', async () => {
    const dir = projectDir({
      'compose.yaml': `
services:
  base:
    image: busybox
    environment: {A: "1"}
    ports: ["80"]
    command: [base]
  mid:
    extends: base
    environment: {B: "2"}
  web:
    extends: {service: mid}
    command: [web]
    ports: ["443"]
`,
    });
    const { project } = await load(dir);
    const web = project.services.web;
    assert.equal(web?.image, 'busybox');
    assert.deepEqual(web?.environment, { A: '1', B: '2' });
    assert.deepEqual(web?.command, ['web']);
    assert.deepEqual(
      web?.ports.map((p) => p.target),
      [80, 443],
    );
    assert.equal((web as unknown as Record<string, unknown>).extends, undefined);
  });

  it('extends a service of another file, whose relative paths stay relative to it', async () => {
    const dir = projectDir({
      'compose.yaml':
        'services:\n  web:\n    extends: {file: common/base.yaml, service: app}\n    environment: {LOCAL: "1"}\n',
      'common/base.yaml':
        'services:\n  app:\n    build: ./ctx\n    volumes: [./conf:/conf]\n    environment: {SHARED: "${SHARED_VAL:-d}"}\n',
    });
    const { project } = await load(dir, { env: { SHARED_VAL: 'v' } });
    const web = project.services.web;
    assert.equal(web?.build?.context, join(dir, 'common', 'ctx'));
    assert.equal(web?.volumes[0]?.source, join(dir, 'common', 'conf'));
    assert.deepEqual(web?.environment, { SHARED: 'v', LOCAL: '1' });
    assert.equal(project.services.app, undefined);
  });

  it('!reset in the extending service removes what the base defines', async () => {
    const dir = projectDir({
      'compose.yaml':
        'services:\n  base:\n    image: a\n    ports: ["80:80"]\n  web:\n    extends: base\n    ports: !reset []\n',
    });
    const { project } = await load(dir);
    assert.deepEqual(project.services.web?.ports, []);
    assert.equal(project.services.base?.ports.length, 1);
  });

  it('reports unknown bases and cycles', async () => {
    const missing = projectDir({ 'compose.yaml': 'services:\n  web:\n    extends: nope\n' });
    await assert.rejects(load(missing), /cannot extend service "web".*service "nope" not found/);
    const cycle = projectDir({
      'compose.yaml': 'services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n',
    });
    await assert.rejects(load(cycle), /circular reference in extends/);
  });
});

describe('compose include', () => {
  it('includes another project with its own directory and .env, the local env winning', async () => {
    const dir = projectDir({
      'compose.yaml':
        'include:\n  - ../lib/compose.yaml\nservices:\n  web:\n    image: w\n    depends_on: [db]\n',
      '../lib/compose.yaml':
        "services:\n  db:\n    image: ${DB_IMAGE}\n    volumes: [./init:/init, dbdata:/var/lib/db]\n    environment: ['OTHER=${OTHER}']\nvolumes:\n  dbdata: {}\n",
      '../lib/.env': 'DB_IMAGE=postgres\nOTHER=from-lib\n',
    });
    let { project } = await load(dir);
    const lib = join(dir, '..', 'lib');
    assert.equal(project.services.db?.image, 'postgres');
    assert.equal(project.services.db?.volumes[0]?.source, join(lib, 'init'));
    assert.equal(project.volumes.dbdata?.name, 'proj_dbdata');
    assert.deepEqual(project.services.db?.environment, { OTHER: 'from-lib' });
    ({ project } = await load(dir, { env: { OTHER: 'local' } }));
    assert.deepEqual(project.services.db?.environment, { OTHER: 'local' });
  });

  it('long syntax: several paths merged, project_directory and env_file', async () => {
    const dir = projectDir({
      'compose.yaml':
        'include:\n  - path: [inc/a.yaml, inc/b.yaml]\n    project_directory: inc/root\n    env_file: inc/vars.env\nservices:\n  web: {image: w}\n',
      'inc/a.yaml': 'services:\n  x:\n    image: ${XIMG}\n    volumes: [./here:/here]\n',
      'inc/b.yaml': 'services:\n  x:\n    user: nobody\n',
      'inc/vars.env': 'XIMG=ximage\n',
    });
    const { project } = await load(dir);
    assert.equal(project.services.x?.image, 'ximage');
    assert.equal(project.services.x?.user, 'nobody');
    assert.equal(project.services.x?.volumes[0]?.source, join(dir, 'inc', 'root', 'here'));
  });

  it('refuses a conflicting definition and include cycles', async () => {
    const conflict = projectDir({
      'compose.yaml': 'include: [inc.yaml]\nservices:\n  web: {image: mine}\n',
      'inc.yaml': 'services:\n  web: {image: theirs}\n',
    });
    await assert.rejects(load(conflict), /services\.web conflicts with the one imported by include/);
    const cycle = projectDir({
      'compose.yaml': 'include: [a.yaml]\nservices:\n  web: {image: w}\n',
      'a.yaml': 'include: [compose.yaml]\nservices:\n  a: {image: a}\n',
    });
    await assert.rejects(load(cycle), /include cycle detected/);
  });
});

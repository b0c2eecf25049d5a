// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose files use ${VAR} syntax
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { normalizeProjectName } from '../../src/compose/loader/index.ts';
import { load, projectDir } from './loader-helpers.ts';

const WEB = 'services:\n  web:\n    image: busybox\n';

describe('compose project: files, name, environment', () => {
  it('normalizes names like docker compose', () => {
    assert.equal(normalizeProjectName('My App.v2'), 'myappv2');
    assert.equal(normalizeProjectName('__-x_Y-z'), 'x_y-z');
    assert.equal(normalizeProjectName('Ünïcode'), 'ncode');
  });

  it('takes the name from the directory, then name:, then COMPOSE_PROJECT_NAME, then -p', async () => {
    const dir = projectDir({ 'compose.yaml': WEB }, 'My.Dir_1');
    assert.equal((await load(dir)).project.name, 'mydir_1');
    const named = projectDir({ 'compose.yaml': `name: From-\${SUFFIX:-File}\n${WEB}` });
    assert.equal((await load(named)).project.name, 'from-file');
    assert.equal((await load(named, { env: { SUFFIX: 'Env' } })).project.name, 'from-env');
    assert.equal((await load(named, { env: { COMPOSE_PROJECT_NAME: 'envname' } })).project.name, 'envname');
    assert.equal(
      (await load(named, { env: { COMPOSE_PROJECT_NAME: 'envname' }, projectName: 'flag' })).project.name,
      'flag',
    );
  });

  it('rejects an explicit name that is not normalized', async () => {
    const dir = projectDir({ 'compose.yaml': WEB });
    await assert.rejects(load(dir, { projectName: 'Bad Name' }), /invalid project name "Bad Name"/);
    await assert.rejects(load(dir, { env: { COMPOSE_PROJECT_NAME: '-x' } }), /invalid project name "-x"/);
  });

  it('finds compose.yaml before docker-compose.yml and merges the override file', async () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  web:\n    image: a\n',
      'docker-compose.yml': 'services:\n  web:\n    image: b\n',
      'compose.override.yaml': 'services:\n  web:\n    environment: {X: "1"}\n',
    });
    const { project, warnings } = await load(dir);
    assert.equal(project.services.web?.image, 'a');
    assert.deepEqual(project.services.web?.environment, { X: '1' });
    assert.deepEqual(project.config_files, [join(dir, 'compose.yaml'), join(dir, 'compose.override.yaml')]);
    assert.ok(warnings.some((w) => w.includes('Found multiple config files')));
  });

  it('finds the compose file in a parent directory', async () => {
    const dir = projectDir({ 'docker-compose.yaml': WEB, 'sub/deeper/.keep': '' });
    const { project } = await load(join(dir, 'sub', 'deeper'));
    assert.deepEqual(project.config_files, [join(dir, 'docker-compose.yaml')]);
  });

  it('does not merge the override file when -f is given', async () => {
    const dir = projectDir({
      'compose.yaml': WEB,
      'compose.override.yaml': 'services:\n  web:\n    image: other\n',
    });
    const { project } = await load(dir, { files: ['compose.yaml'] });
    assert.equal(project.services.web?.image, 'busybox');
    assert.equal(project.working_dir, dir);
  });

  it('uses COMPOSE_FILE when no -f is given', async () => {
    const dir = projectDir({ 'a.yml': WEB, 'b.yml': 'services:\n  web:\n    image: from-b\n' });
    const { project } = await load(dir, { env: { COMPOSE_FILE: 'a.yml:b.yml' } });
    assert.equal(project.services.web?.image, 'from-b');
  });

  it('interpolates from .env, with the shell environment winning', async () => {
    const dir = projectDir({
      'compose.yaml':
        'services:\n  web:\n    image: ${IMG}:${TAG}\n    environment:\n      - FROM_ENV=${LATE}\n',
      '.env': '# comment\nIMG=busybox\nexport TAG="1.0" # trailing\nLATE=${IMG}-late\n',
    });
    let { project } = await load(dir);
    assert.equal(project.services.web?.image, 'busybox:1.0');
    assert.deepEqual(project.services.web?.environment, { FROM_ENV: 'busybox-late' });
    ({ project } = await load(dir, { env: { TAG: 'shell', IMG: 'sh' } }));
    assert.equal(project.services.web?.image, 'sh:shell');
    assert.deepEqual(project.services.web?.environment, { FROM_ENV: 'sh-late' });
    assert.deepEqual(project.env_files, [join(dir, '.env')]);
  });

  it('reads several --env-file in order instead of .env', async () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  web:\n    image: ${A}-${B}-${C:-none}\n',
      '.env': 'C=dotenv\n',
      'one.env': "A=one\nB='single $quoted'\n",
      'two.env': 'B=two\n',
    });
    const { project } = await load(dir, { envFiles: [join(dir, 'one.env'), join(dir, 'two.env')] });
    assert.equal(project.services.web?.image, 'one-two-none');
    await assert.rejects(load(dir, { envFiles: [join(dir, 'missing.env')] }), /couldn't find env file/);
  });

  it('resolves service environment: env_file, then environment, bare names from the project env', async () => {
    const dir = projectDir({
      'compose.yaml':
        'services:\n  web:\n    image: x\n    env_file: [svc.env, {path: opt.env, required: false}]\n    environment:\n      B: override\n      FROM_SHELL:\n      MISSING:\n',
      'svc.env': 'A=a\nB=b\nC="multi\nline"\nD=${A}-d\n',
    });
    const { project } = await load(dir, { env: { FROM_SHELL: 'shell' } });
    assert.deepEqual(project.services.web?.environment, {
      A: 'a',
      B: 'override',
      C: 'multi\nline',
      D: 'a-d',
      FROM_SHELL: 'shell',
      MISSING: null,
    });
    assert.deepEqual(project.services.web?.env_file, [
      { path: join(dir, 'svc.env'), required: true },
      { path: join(dir, 'opt.env'), required: false },
    ]);
  });

  it('reads label_file entries under the service labels', async () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  web:\n    image: x\n    label_file: ./web.labels\n    labels: {b: own}\n',
      'web.labels': 'a=from-file\nb=from-file\n',
    });
    const { project } = await load(dir);
    assert.deepEqual(project.services.web?.labels, { a: 'from-file', b: 'own' });
  });

  it('warns once per unset variable and fails on a required one', async () => {
    const dir = projectDir({ 'compose.yaml': 'services:\n  web:\n    image: ${NOPE}x${NOPE}\n' });
    const { warnings } = await load(dir);
    assert.deepEqual(warnings, ['The "NOPE" variable is not set. Defaulting to a blank string.']);
    const req = projectDir({ 'compose.yaml': 'services:\n  web:\n    image: ${IMAGE:?set IMAGE first}\n' });
    await assert.rejects(
      load(req),
      /services\.web\.image: required variable IMAGE is missing a value: set IMAGE first/,
    );
  });

  it('keeps ${} as written with interpolation off', async () => {
    const dir = projectDir({ 'compose.yaml': 'services:\n  web:\n    image: busybox:${TAG}\n' });
    const { project, warnings } = await load(dir, { interpolate: false });
    assert.equal(project.services.web?.image, 'busybox:${TAG}');
    assert.deepEqual(warnings, []);
  });
});

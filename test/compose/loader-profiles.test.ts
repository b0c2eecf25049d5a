import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withServicesEnabled } from '../../src/compose/loader/index.ts';
import { load, projectDir } from './loader-helpers.ts';

// the compose-spec 15-profiles.md example
const SPEC = `
services:
  foo:
    image: foo
  bar:
    image: bar
    profiles: [test]
  baz:
    image: baz
    depends_on: [bar]
    profiles: [test]
  zot:
    image: zot
    depends_on: [bar]
    profiles: [debug]
`;

const names = (o: Record<string, unknown>) => Object.keys(o).sort();

describe('compose profiles', () => {
  it('services with profiles are inactive unless a profile is enabled', async () => {
    const dir = projectDir({ 'compose.yaml': SPEC });
    let { project } = await load(dir);
    assert.deepEqual(names(project.services), ['foo']);
    assert.deepEqual(names(project.disabled_services), ['bar', 'baz', 'zot']);
    ({ project } = await load(dir, { profiles: ['test'] }));
    assert.deepEqual(names(project.services), ['bar', 'baz', 'foo']);
    ({ project } = await load(dir, { env: { COMPOSE_PROFILES: 'debug, test' } }));
    assert.deepEqual(names(project.services), ['bar', 'baz', 'foo', 'zot']);
    assert.deepEqual(project.profiles, ['debug', 'test']);
    ({ project } = await load(dir, { profiles: ['*'] }));
    assert.deepEqual(names(project.services), ['bar', 'baz', 'foo', 'zot']);
  });

  it('an enabled service depending on a disabled one is an error', async () => {
    const dir = projectDir({ 'compose.yaml': SPEC });
    await assert.rejects(
      load(dir, { profiles: ['debug'] }),
      /service "zot" depends on undefined service "bar"/,
    );
  });

  it('a service targeted by name enables its profiles and what they enable', async () => {
    const dir = projectDir({ 'compose.yaml': SPEC });
    const { project } = await load(dir);
    const baz = withServicesEnabled(project, ['baz']);
    assert.deepEqual(names(baz.services), ['bar', 'baz', 'foo']);
    assert.deepEqual(baz.profiles, ['test']);
    // naming bar activates its profile `test`, which enables baz as well (the command then acts on bar)
    assert.deepEqual(names(withServicesEnabled(project, ['bar']).services), ['bar', 'baz', 'foo']);
    assert.throws(
      () => withServicesEnabled(project, ['zot']),
      /service "zot" depends on undefined service "bar"/,
    );
    assert.throws(() => withServicesEnabled(project, ['nope']), /no such service: nope/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dependencyOrder, selectServices } from '../../src/compose/graph.ts';
import { canonicalJson, serviceHash } from '../../src/compose/hash.ts';
import type { Project, ServiceConfig } from '../../src/compose/model.ts';
import { flatten, type Observed, planUp, stopWaves } from '../../src/compose/plan.ts';

function svc(name: string, extra: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name,
    image: 'busybox',
    environment: {},
    ports: [],
    expose: [],
    volumes: [],
    networks: { default: null },
    depends_on: {},
    labels: {},
    ...extra,
  };
}

function project(services: ServiceConfig[]): Project {
  return {
    name: 'p',
    working_dir: '/src',
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: { default: { name: 'p_default' } },
    volumes: { data: { name: 'p_data' } },
    secrets: {},
    configs: {},
    config_files: ['/src/compose.yaml'],
    env_files: [],
    environment: {},
    disabled_services: {},
    profiles: [],
  };
}

function running(s: ServiceConfig, n = 1, o: Partial<Observed> = {}): Observed {
  return {
    id: `${s.name}${n}`.padEnd(64, '0'),
    name: `p-${s.name}-${n}`,
    service: s.name,
    number: n,
    hash: serviceHash(s),
    imageId: '',
    state: 'running',
    oneoff: false,
    dependsOn: Object.keys(s.depends_on),
    ...o,
  };
}

const ops = (steps: ReturnType<typeof flatten>) =>
  steps.map(
    (s) => `${s.op} ${'name' in s ? s.name : 'ref' in s ? s.ref.slice(0, 12).replace(/0+$/, '') : ''}`,
  );

describe('compose plan', () => {
  const db = svc('db', { volumes: [{ type: 'volume', source: 'data', target: '/data' }] });
  const web = svc('web', {
    depends_on: { db: { condition: 'service_healthy', restart: false, required: true } },
  });

  it('creates networks, volumes, then containers in dependency order on a fresh project', () => {
    const p = project([web, db]);
    const plan = planUp(p, [web, db], []);
    assert.deepEqual(ops(flatten(plan)), [
      'network-create p_default',
      'volume-create p_data',
      'create p-db-1',
      'start p-db-1',
      'create p-web-1',
      'start p-web-1',
    ]);
    assert.deepEqual(plan.services.find((s) => s.service === 'web')?.after, ['db']);
  });

  it('plans nothing when every container matches its config', () => {
    const p = project([web, db]);
    const plan = planUp(p, [web, db], [running(db), running(web)], {
      existingNetworks: new Set(['p_default']),
      existingVolumes: new Set(['p_data']),
    });
    assert.deepEqual(flatten(plan), []);
  });

  it('recreates only the service whose config changed', () => {
    const p = project([web, db]);
    const changed = svc('web', { ...web, environment: { A: '2' } });
    p.services.web = changed;
    const plan = planUp(p, [changed, db], [running(db), running(web)], {
      existingNetworks: new Set(['p_default']),
      existingVolumes: new Set(['p_data']),
    });
    assert.deepEqual(ops(flatten(plan)), ['stop web1', 'remove web1', 'create p-web-1', 'start p-web-1']);
  });

  it('restarts dependents that ask for it when a dependency is recreated', () => {
    const dep = svc('web', {
      depends_on: { db: { condition: 'service_started', restart: true, required: true } },
    });
    const db2 = svc('db', { ...db, command: ['sleep', '2'] });
    const p = project([dep, db2]);
    const plan = planUp(p, [dep, db2], [running(db), running(dep)], {
      existingNetworks: new Set(['p_default']),
      existingVolumes: new Set(['p_data']),
    });
    assert.deepEqual(ops(flatten(plan)), [
      'stop db1',
      'remove db1',
      'create p-db-1',
      'start p-db-1',
      'restart web1',
    ]);
  });

  it('starts stopped containers, scales up and down, and honours --force-recreate / --no-recreate', () => {
    const p = project([db]);
    const opts = { existingNetworks: new Set(['p_default']), existingVolumes: new Set(['p_data']) };
    assert.deepEqual(ops(flatten(planUp(p, [db], [running(db, 1, { state: 'exited' })], opts))), [
      'start db1',
    ]);
    assert.deepEqual(ops(flatten(planUp(p, [db], [running(db)], { ...opts, scale: { db: 3 } }))), [
      'create p-db-2',
      'start p-db-2',
      'create p-db-3',
      'start p-db-3',
    ]);
    assert.deepEqual(ops(flatten(planUp(p, [db], [running(db, 1), running(db, 2)], opts))), [
      'stop db2',
      'remove db2',
    ]);
    assert.deepEqual(ops(flatten(planUp(p, [db], [running(db)], { ...opts, forceRecreate: true }))), [
      'stop db1',
      'remove db1',
      'create p-db-1',
      'start p-db-1',
    ]);
    const stale = running(db, 1, { hash: 'old' });
    assert.deepEqual(ops(flatten(planUp(p, [db], [stale], { ...opts, noRecreate: true }))), []);
    assert.deepEqual(ops(flatten(planUp(p, [db], [stale], { ...opts, start: false }))), [
      'stop db1',
      'remove db1',
      'create p-db-1',
    ]);
  });

  it('recreates a container whose image changed, and removes orphans on request', () => {
    const p = project([db]);
    const opts = { existingNetworks: new Set(['p_default']), existingVolumes: new Set(['p_data']) };
    const old = running(db, 1, { imageId: 'sha256:old' });
    assert.deepEqual(ops(flatten(planUp(p, [db], [old], { ...opts, imageIds: { db: 'sha256:new' } }))), [
      'stop db1',
      'remove db1',
      'create p-db-1',
      'start p-db-1',
    ]);
    const orphan = running(svc('gone'));
    assert.deepEqual(ops(flatten(planUp(p, [db], [running(db), orphan], { ...opts, removeOrphans: true }))), [
      'stop gone1',
      'remove gone1',
    ]);
    assert.deepEqual(ops(flatten(planUp(p, [db], [running(db), orphan], opts))), []);
  });

  it('refuses an external network that does not exist and a scaled container_name', () => {
    const p = project([db]);
    p.networks.default = { name: 'ext', external: true };
    assert.throws(() => planUp(p, [db], []), /network ext declared as external/);
    const named = svc('one', { container_name: 'fixed' });
    assert.throws(() => planUp(project([named]), [named], [], { scale: { one: 2 } }), /container_name/);
  });
});

describe('compose config hash', () => {
  it('ignores key order, build, depends_on, scale, replicas and profiles, but not the environment', () => {
    const a = svc('web', { environment: { A: '1', B: '2' }, labels: { x: 'y' } });
    const b: ServiceConfig = { ...svc('web'), labels: { x: 'y' } };
    b.environment = { B: '2', A: '1' };
    assert.equal(serviceHash(a), serviceHash(b));
    const c = {
      ...a,
      build: { context: '/x' },
      depends_on: { db: { condition: 'service_started' as const, restart: false, required: true } },
      scale: 3,
      profiles: ['dev'],
      deploy: { replicas: 2 },
    };
    assert.equal(serviceHash(c), serviceHash({ ...a, deploy: {} }));
    assert.notEqual(serviceHash(a), serviceHash({ ...a, environment: { A: '1', B: '3' } }));
    assert.match(serviceHash(a), /^[0-9a-f]{64}$/);
    // Stable across runs and machines: a fixed input has a fixed digest.
    assert.equal(
      serviceHash(svc('web', { environment: { A: '1' } })),
      '677ca77620823665b131ace91d597bdf83c3baf0bb0a46d36412b4ee27180410',
    );
    assert.equal(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }] }), '{"a":[{"c":"x","d":null}],"b":1}');
  });
});

describe('compose dependency graph', () => {
  it('orders dependencies first, pulls them in unless --no-deps, and names a cycle', () => {
    const a = svc('a', {
      depends_on: { b: { condition: 'service_started', restart: false, required: true } },
    });
    const b = svc('b', {
      depends_on: { c: { condition: 'service_started', restart: false, required: true } },
    });
    const c = svc('c');
    const p = project([a, b, c]);
    assert.deepEqual(
      dependencyOrder([a, b, c]).map((s) => s.name),
      ['c', 'b', 'a'],
    );
    assert.deepEqual(
      selectServices(p, ['a']).map((s) => s.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(
      selectServices(p, ['a'], true).map((s) => s.name),
      ['a'],
    );
    assert.throws(() => selectServices(p, ['nope']), /no such service: nope/);
    const c2 = svc('c', {
      depends_on: { a: { condition: 'service_started', restart: false, required: true } },
    });
    assert.throws(() => dependencyOrder([a, b, c2]), /dependency cycle detected: a -> b -> c -> a/);
  });
});

describe('compose stop order', () => {
  it("stops dependents before their dependencies, from the containers' labels alone", () => {
    const db = svc('db');
    const cache = svc('cache');
    const api = svc('api', {
      depends_on: {
        db: { condition: 'service_started', restart: false, required: true },
        cache: { condition: 'service_started', restart: false, required: true },
      },
    });
    const front = svc('front', {
      depends_on: { api: { condition: 'service_started', restart: false, required: true } },
    });
    const waves = stopWaves([
      running(db),
      running(cache),
      running(api),
      running(front),
      running(front, 2),
    ]).map((w) => w.map((c) => c.name).sort());
    assert.deepEqual(waves, [['p-front-1', 'p-front-2'], ['p-api-1'], ['p-cache-1', 'p-db-1']]);
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose files use ${VAR} syntax
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { load, projectDir } from './loader-helpers.ts';

/** Each invalid file must fail with a message naming the file, the line and the key path. */
const CASES: [string, string, RegExp][] = [
  [
    'port of the wrong type',
    'services:\n  web:\n    image: a\n    ports: [true]\n',
    /^compose\.yaml:4: services\.web\.ports\.0 must be a number, a string or a mapping$/,
  ],
  [
    'unknown port key',
    'services:\n  web:\n    image: a\n    ports:\n      - {target: 80, bogus: 1}\n',
    /^compose\.yaml:5: services\.web\.ports\.0\.bogus is not allowed$/,
  ],
  [
    'misspelt service key',
    'services:\n  web:\n    image: a\n    imagee: b\n',
    /^compose\.yaml:4: services\.web\.imagee is not allowed$/,
  ],
  [
    'invalid service name',
    'services:\n  "bad name":\n    image: a\n',
    /^compose\.yaml:2: services\.bad name is not a valid service name$/,
  ],
  [
    'unknown condition',
    'services:\n  web:\n    image: a\n    depends_on:\n      db: {condition: started}\n  db: {image: b}\n',
    /^compose\.yaml:5: services\.web\.depends_on\.db\.condition must be one of: "service_started", "service_healthy", "service_completed_successfully"$/,
  ],
  [
    'misspelt top-level key',
    'servics:\n  web: {}\n',
    /^compose\.yaml:1: servics is not allowed at the top level$/,
  ],
  [
    'list where a string belongs',
    'services:\n  web:\n    image: [a]\n',
    /^compose\.yaml:3: services\.web\.image must be a string$/,
  ],
  [
    'duplicate capability',
    'services:\n  web:\n    image: a\n    cap_add: [A, A]\n',
    /services\.web\.cap_add must not contain duplicate items/,
  ],
  ['services as a list', 'services: []\n', /^compose\.yaml:1: services must be a mapping$/],
  [
    'bad interpolated number',
    'services:\n  web:\n    image: a\n    deploy:\n      replicas: "${R:-x}"\n',
    /^compose\.yaml: error while interpolating services\.web\.deploy\.replicas/,
  ],
  [
    'bad interpolation syntax',
    'services:\n  web:\n    image: "${A"\n',
    /^compose\.yaml: invalid interpolation format for services\.web\.image/,
  ],
  [
    'bad port spec',
    'services:\n  web:\n    image: a\n    ports: ["80:80:80:80"]\n',
    /^compose\.yaml: services\.web\.ports\.0: invalid IP address/,
  ],
  [
    'volume without target',
    'services:\n  web:\n    image: a\n    volumes:\n      - type: bind\n        source: ./x\n',
    /^compose\.yaml: services\.web\.volumes\.0 is missing a mount target$/,
  ],
  [
    'bad duration',
    'services:\n  web:\n    image: a\n    stop_grace_period: soon\n',
    /services\.web\.stop_grace_period: invalid duration "soon"/,
  ],
  [
    'no image nor build',
    'services:\n  web:\n    user: x\n',
    /service "web" has neither an image nor a build context specified: invalid compose project/,
  ],
  [
    'undefined volume',
    'services:\n  web:\n    image: a\n    volumes: [data:/data]\n',
    /service "web" refers to undefined volume data/,
  ],
  [
    'undefined network',
    'services:\n  web:\n    image: a\n    networks: [back]\n',
    /service "web" refers to undefined network back/,
  ],
  [
    'undefined dependency',
    'services:\n  web:\n    image: a\n    depends_on: [db]\n',
    /service "web" depends on undefined service "db"/,
  ],
  ['not a mapping', '- a\n- b\n', /compose\.yaml: top-level object must be a mapping/],
  ['broken YAML', 'services:\n  web:\n   image: a\n  - x\n', /^failed to parse compose\.yaml: line \d+/],
  ['empty file', '', /empty compose file/],
];

describe('invalid compose files', () => {
  for (const [what, src, want] of CASES) {
    it(what, async () => {
      const dir = projectDir({ 'compose.yaml': src });
      const cwd = process.cwd();
      process.chdir(dir); // files inside the cwd are named relative to it
      try {
        await assert.rejects(load(dir), (e: Error) => {
          assert.match(e.message, want);
          assert.equal(e.name, 'BerthError');
          return true;
        });
      } finally {
        process.chdir(cwd);
      }
    });
  }

  it('names the override file that is invalid', async () => {
    const dir = projectDir({
      'compose.yaml': 'services:\n  web:\n    image: a\n',
      'compose.override.yaml': 'services:\n  web:\n    ports: [{}]\n',
    });
    await assert.rejects(
      load(dir),
      /compose\.override\.yaml: services\.web\.ports\.0 is missing a target port/,
    );
  });
});

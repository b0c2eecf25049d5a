// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose files use ${VAR} syntax
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InterpolationError,
  interpolateString,
  interpolateTree,
} from '../../src/compose/loader/interpolate.ts';

const ENV: Record<string, string> = { SET: 'value', EMPTY: '', B: 'bee', NUM: '8080', T: 'true' };
const lookup = (k: string) => ENV[k];

describe('compose interpolation', () => {
  const table: [string, string][] = [
    ['plain', 'plain'],
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['a-${SET}-b', 'a-value-b'],
    ['$SET.x', 'value.x'],
    ['${UNSET}', ''],
    ['$UNSET', ''],
    ['${UNSET:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${SET:-def}', 'value'],
    ['${UNSET-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${UNSET:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['$$', '$'],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['cost: 5$', 'cost: 5$'],
    ['$1 and $ alone', '$1 and $ alone'],
    ['${UNSET:-${B}}', 'bee'],
    ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
    ['${UNSET:-a ${B} c}', 'a bee c'],
    ['${UNSET:-x}${SET}', 'xvalue'],
    ['${SET?must}', 'value'],
    ['${EMPTY?must}', ''],
    ['${UNSET:-$B}', 'bee'],
    ['${UNSET:-{braces\\}}', '{braces\\}'],
  ];
  for (const [input, want] of table) {
    it(`${input} → ${JSON.stringify(want)}`, () => {
      assert.equal(interpolateString(input, { lookup }), want);
    });
  }

  it('reports required variables with their message', () => {
    assert.throws(() => interpolateString('${UNSET:?please set UNSET}', { lookup }, 'services.a.image'), {
      name: 'BerthError',
      message: /services\.a\.image: required variable UNSET is missing a value: please set UNSET/,
    });
    assert.throws(() => interpolateString('${EMPTY:?no empty}', { lookup }), /required variable EMPTY/);
    assert.throws(() => interpolateString('${UNSET?err $B}', { lookup }), /missing a value: err bee/);
  });

  it('rejects malformed templates, naming where', () => {
    for (const bad of ['${', '${SET', '${}', '${9x}', '${SET!x}', '${SET:x}'])
      assert.throws(
        () => interpolateString(bad, { lookup }, 'services.web.image'),
        (e: unknown) => {
          assert.ok(e instanceof InterpolationError);
          assert.match((e as Error).message, /invalid interpolation format for services\.web\.image/);
          return true;
        },
      );
  });

  it('reports each unset variable used without a default', () => {
    const seen: string[] = [];
    interpolateString('${A} $B ${C:-x} ${SET}', {
      lookup: (k) => ({ B: 'b', SET: 's' })[k],
      onUnset: (n) => seen.push(n),
    });
    assert.deepEqual(seen, ['A']);
  });

  it('interpolates values, not keys, and casts typed fields', () => {
    const out = interpolateTree(
      {
        services: {
          web: {
            image: 'img:${SET}',
            labels: { $SET: '$SET' },
            tty: '${T}',
            ports: [{ target: '${NUM}', published: '${NUM}' }],
            deploy: { replicas: '${R:-3}' },
          },
        },
        volumes: { data: { external: '${T}' } },
      },
      { lookup },
    );
    assert.deepEqual(out, {
      services: {
        web: {
          image: 'img:value',
          labels: { $SET: 'value' },
          tty: true,
          ports: [{ target: 8080, published: '8080' }],
          deploy: { replicas: 3 },
        },
      },
      volumes: { data: { external: true } },
    });
    assert.throws(
      () => interpolateTree({ services: { a: { deploy: { replicas: 'many' } } } }, { lookup }),
      /services\.a\.deploy\.replicas/,
    );
  });
});

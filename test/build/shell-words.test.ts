// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the cases are Dockerfile words with ${...} in them
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  expandWord,
  expandWords,
  type Lookup,
  lookupFrom,
  processWord,
  ShellExpansionError,
} from '../../src/build/dockerfile/shell-words.ts';

const fixtures = new URL('../fixtures/dockerfile/shell/', import.meta.url);

function expectError(fn: () => unknown, check?: (e: ShellExpansionError) => void): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ShellExpansionError, `expected ShellExpansionError, got ${String(err)}`);
    check?.(err);
    return true;
  });
}

describe('expandWord: BuildKit envVarTest table', () => {
  const env = lookupFrom({ PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' });
  const lines = readFileSync(new URL('envVarTest', fixtures), 'utf8').split('\n');
  let count = 0;
  lines.forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const parts = line.split('|');
    assert.equal(parts.length, 3, `envVarTest line ${i + 1}`);
    const [platform, source, expected] = parts.map((p) => p.trim());
    if (platform === 'W') return;
    count++;
    it(`line ${i + 1}: ${source}`, () => {
      if (expected === 'error') {
        expectError(() => expandWord(source, env));
      } else {
        assert.equal(expandWord(source, env), expected);
      }
    });
  });
  it('read the whole table', () => assert.ok(count > 220, `only ${count} cases`));
});

describe('expandWords: BuildKit wordsTest table', () => {
  const text = readFileSync(new URL('wordsTest', fixtures), 'utf8');
  // BuildKit's own test reads this file a second time with RawQuotes+SkipUnsetEnv, but from an
  // exhausted scanner, so only the normal mode is real conformance data.
  for (const mode of ['normal'] as const) {
    const env: Record<string, string> = {};
    let count = 0;
    text.split('\n').forEach((line, i) => {
      if (line.startsWith('#') || line === '') return;
      if (line.startsWith('ENV ')) {
        const kv = line.slice(3).replace(/^ +/, '');
        const eq = kv.indexOf('=');
        env[kv.slice(0, eq)] = kv.slice(eq + 1);
        return;
      }
      const parts = line.split('|');
      assert.equal(parts.length, 2, `wordsTest line ${i + 1}`);
      const source = parts[0].trim();
      const expected = parts[1].replace(/^ +/, '').split(',');
      const snapshot = lookupFrom({ ...env });
      count++;
      it(`${mode} line ${i + 1}: ${source}`, () => {
        let got: string[];
        try {
          got = expandWords(source, snapshot);
        } catch (err) {
          assert.ok(err instanceof ShellExpansionError);
          got = ['error'];
        }
        assert.deepEqual(got, expected);
      });
    });
    it(`${mode}: read the whole table`, () => assert.ok(count > 20));
  }
});

describe('expandWord: modifiers and matches (BuildKit TestProcessWithMatches)', () => {
  const cases: [string, Record<string, string>, string | Error, string[]?, string[]?][] = [
    ['x', { DUMMY: 'dummy' }, 'x', [], []],
    ['x ${UNUSED}', { DUMMY: 'dummy' }, 'x ', [], ['UNUSED']],
    ['x ${FOO}', { FOO: 'y' }, 'x y', ['FOO'], []],
    ['${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx  ccc', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx bbb ccc', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO:-}', { FOO: 'xxx' }, 'xxx', ['FOO'], []],
    ['${FOO:-}', {}, '', [], ['FOO']],
    ['${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa bbb ', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa  ', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO?aaa}', { FOO: 'xxx', BAR: '' }, 'xxx', ['FOO'], []],
    ['${BAR?bbb}', { FOO: 'xxx', BAR: '' }, '', ['BAR'], []],
    ['${BAZ?ccc}', { FOO: 'xxx' }, new Error('BAZ: ccc')],
    ['${FOO:?aaa}', { FOO: 'xxx' }, 'xxx', ['FOO'], []],
    ['${BAR:?bbb}', { BAR: '' }, new Error('BAR: bbb')],
    ['${BAZ:?ccc}', {}, new Error('BAZ: ccc')],
    ['${BAZ:?}', {}, new Error('BAZ: is not allowed to be unset')],
    ['${BAR:?}', { BAR: '' }, new Error('BAR: is not allowed to be empty')],
    ['${FOO=aaa}', { FOO: 'xxx' }, new Error('unsupported modifier (=) in substitution')],
    ['${FOO=:aaa}', { FOO: 'xxx' }, new Error('unsupported modifier')],
    ['${FOO=}', {}, new Error('unsupported modifier')],
    ['${FOO#()[]{\\}^$.\\*\\?|\\\\}', { FOO: '()[]{}^$.*?|\\x' }, 'x', ['FOO'], []],
    ['${FOO%%\\**}', { FOO: 'xx**' }, 'xx', ['FOO'], []],
    ['${FOO#*x*y}', { FOO: 'xxyy' }, 'y', ['FOO'], []],
    ['${FOO#*}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: 'x' }, 'xyy', ['FOO', 'BAR'], []],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy', ['FOO', 'BAR'], []],
    ['${FOO#}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO##*x}', { FOO: 'xxyy' }, 'yy', ['FOO'], []],
    ['${FOO##}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO#?\\?}', { FOO: '???y' }, '?y', ['FOO'], []],
    ['${ABC:-.}${FOO%x}${ABC:-.}', { FOO: 'xxyy' }, '.xxyy.', ['FOO'], ['ABC']],
    ['${FOO%%\\**\\*}', { FOO: 'a***yy*' }, 'a', ['FOO'], []],
    ['${FOO%}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO%%$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy', ['FOO', 'BAR'], []],
    ['${FOO%.*}', { FOO: 'a.tar.gz' }, 'a.tar', ['FOO'], []],
    ['${FOO%%.*}', { FOO: 'a.tar.gz' }, 'a', ['FOO'], []],
    ['${FOO#*/}', { FOO: 'a/b/c' }, 'b/c', ['FOO'], []],
    ['${FOO##*/}', { FOO: 'a/b/c' }, 'c', ['FOO'], []],
    ['${FOO:#}', {}, new Error('unsupported modifier (:#) in substitution')],
    ['${FOO:##}', {}, new Error('unsupported modifier')],
    ['${FOO:%}', {}, new Error('unsupported modifier')],
    ['${FOO:%%}', {}, new Error('unsupported modifier')],
    [
      '${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}',
      { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' },
      '/foo.*/*.txt - /foo..*.txt',
    ],
    [
      '${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}',
      { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' },
      '/tmp/bar.txt - /bar.txt',
    ],
    [
      '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}',
      { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' },
      '/foo/b/c.txt - /foo/c.txt',
    ],
    [
      '${FOO/$NEEDLE/$REPLACEMENT}',
      { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' },
      'https://google.de',
    ],
    ['${FOO//\\//\\/}', { FOO: '/tmp/foo.txt' }, '\\/tmp\\/foo.txt', ['FOO'], []],
    ['${FOO/$BAR/ww}', { FOO: 'xxyy', BAR: '' }, 'wwxxyy'],
    ['${FOO//x*/R}', { FOO: 'xxyy' }, 'R'],
    ['${FOO//x/R}', { FOO: 'xxyx' }, 'RRyR'],
    ['${FOO//y*/R}', { FOO: 'xxyy' }, 'xxR'],
    ['${FOO//ww}', { FOO: 'xxyy' }, new Error("missing '/' in ${}")],
    ['${FOO//}', { FOO: 'xxyy' }, new Error("missing '/'")],
    ['${FOO///}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO///}', {}, '', [], ['FOO']],
    ['${FOO/a/$}', { FOO: 'xay' }, 'x$y'],
  ];
  for (const [input, vars, expected, matched, unmatched] of cases) {
    it(`${input} with ${JSON.stringify(vars)}`, () => {
      const lookup = lookupFrom(vars);
      if (expected instanceof Error) {
        expectError(
          () => processWord(input, lookup),
          (e) => {
            assert.ok(e.message.includes(expected.message), e.message);
            assert.ok(e.message.startsWith(`failed to process ${JSON.stringify(input)}: `), e.message);
          },
        );
        return;
      }
      const r = processWord(input, lookup);
      assert.equal(r.result, expected);
      if (matched) assert.deepEqual([...r.matched].sort(), [...matched].sort());
      if (unmatched) assert.deepEqual([...r.unmatched].sort(), [...unmatched].sort());
    });
  }

  it('BuildKit release file name with an optional variant', () => {
    const tpl = 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz';
    const base = { VERSION: 'v1.2.3', TARGETOS: 'linux' };
    assert.equal(
      expandWord(tpl, lookupFrom({ ...base, TARGETARCH: 'arm', TARGETVARIANT: 'v7' })),
      'something-v1.2.3.linux-arm-v7.tar.gz',
    );
    assert.equal(
      expandWord(tpl, lookupFrom({ ...base, TARGETARCH: 'arm64', TARGETVARIANT: '' })),
      'something-v1.2.3.linux-arm64.tar.gz',
    );
    assert.equal(
      expandWord(tpl, lookupFrom({ ...base, TARGETARCH: 'arm64' })),
      'something-v1.2.3.linux-arm64.tar.gz',
    );
  });

  it('mandatory variables: the message is expanded and the error names the variable', () => {
    const noEmpty = '${VAR:?message here$ARG}';
    const noUnset = '${VAR?message here$ARG}';
    assert.equal(expandWord(noEmpty, lookupFrom({ VAR: 'plain', ARG: 'x' })), 'plain');
    for (const vars of [{ VAR: '', ARG: 'x' }, { ARG: 'x' }]) {
      expectError(
        () => expandWord(noEmpty, lookupFrom(vars)),
        (e) => {
          assert.equal(e.variable, 'VAR');
          assert.equal(e.reason, 'VAR: message herex');
        },
      );
    }
    assert.equal(expandWord(noUnset, lookupFrom({ VAR: 'plain', ARG: 'x' })), 'plain');
    assert.equal(expandWord(noUnset, lookupFrom({ VAR: '', ARG: 'x' })), '');
    expectError(
      () => expandWord(noUnset, lookupFrom({ ARG: 'x' })),
      (e) => assert.equal(e.variable, 'VAR'),
    );
  });
});

describe('expandWord: quoting and escapes', () => {
  const env: Lookup = lookupFrom({ A: 'a b', EMPTY: '' });
  const cases: [string, string][] = [
    ["'$A'", '$A'],
    ['"$A"', 'a b'],
    ['\\$A', '$A'],
    ['"\\$A"', '$A'],
    ['"a\\"b"', 'a"b'],
    ['"a\\nb"', 'a\\nb'],
    ["'a\\'", 'a\\'],
    ['x${EMPTY}y', 'xy'],
    ['$A', 'a b'],
    ['<<EOF', '<<EOF'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(expandWord(input, env), expected));
  }

  it('the backtick escape char replaces backslash', () => {
    assert.equal(expandWord('`$A', env, '`'), '$A');
    assert.equal(expandWord('C:\\dir\\$A', env, '`'), 'C:\\dir\\a b');
    assert.equal(expandWord('"`"x"', env, '`'), '"x');
    assert.deepEqual(expandWords('a` b c', env, '`'), ['a b', 'c']);
  });

  it('field splitting: expanded whitespace splits unless quoted', () => {
    assert.deepEqual(expandWords('x$A', env), ['xa', 'b']);
    assert.deepEqual(expandWords('"x$A"', env), ['xa b']);
    assert.deepEqual(expandWords('80/tcp   ${A}', env), ['80/tcp', 'a', 'b']);
    assert.deepEqual(expandWords('  ', env), []);
    assert.deepEqual(expandWords('<< EOF cat', env), ['<< EOF', 'cat']);
  });

  it('rawQuotes keeps the quotes (heredoc detection)', () => {
    assert.deepEqual(processWord(`cat <<'EOF' "a b"`, env, { rawQuotes: true }).words, [
      'cat',
      "<<'EOF'",
      '"a b"',
    ]);
  });

  it('skipUnsetEnv keeps unset references as written', () => {
    const r = processWord('$A ${B} ${C:-x} $D', env, { skipUnsetEnv: true });
    assert.equal(r.result, 'a b ${B} ${C:-x} $D');
  });

  it('skipProcessQuotes expands inside quotes (heredoc bodies)', () => {
    assert.equal(processWord("echo '$A'", env, { skipProcessQuotes: true }).result, "echo 'a b'");
  });

  it('errors name the word', () => {
    expectError(
      () => expandWord('he${', env),
      (e) => assert.equal(e.message, `failed to process "he\${": syntax error: missing '}'`),
    );
    expectError(
      () => expandWord('"abc', env),
      (e) => assert.match(e.message, /matching double-quote/),
    );
  });
});

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cleanPath,
  dockerignoreFor,
  IgnoreMatcher,
  parseDockerignore,
} from '../../src/build/context/dockerignore.ts';
import { InvalidArgumentError } from '../../src/util/errors.ts';

describe('parseDockerignore (ignorefile.ReadAll)', () => {
  it('drops comments and blanks, trims, cleans, removes a leading slash, keeps ! exceptions', () => {
    const text = 'test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ';
    assert.deepEqual(parseDockerignore(text), [
      'test1',
      'test2',
      'a/file/here',
      'lastfile',
      '!inverted/abs/path',
      '!',
      '!',
    ]);
  });

  it('cleans paths like filepath.Clean; a # not at the start is part of the pattern', () => {
    assert.deepEqual(
      parseDockerignore('\uFEFF./a/../b//c/\r\n  # not a comment\n*.tmp  \n/\n.\n!./keep/\nx#y\n'),
      ['b/c', '# not a comment', '*.tmp', '/', '.', '!keep', 'x#y'],
    );
  });

  it('cleanPath', () => {
    const cases: [string, string][] = [
      ['', '.'],
      ['.', '.'],
      ['./', '.'],
      ['a/./b/', 'a/b'],
      ['a/../..', '..'],
      ['../a', '../a'],
      ['/..', '/'],
      ['/a/../../b', '/b'],
      ['a//b', 'a/b'],
    ];
    for (const [input, expected] of cases) assert.equal(cleanPath(input), expected, input);
  });
});

/** moby/patternmatcher TestMatches (single patterns), paths relative to the context. */
const single: [string, string, boolean][] = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**/', 'file/', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file', true],
  ['**', 'dir/file/', true],
  ['**/', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  [
    'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl',
    'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl',
    true,
  ],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\*b', 'a*b', true],
  // Go's filepath.Match table, as patternmatcher runs it
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', true],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['*x', 'xxx', true],
  // literal characters that mean something in a regular expression
  ['a^b', 'a^b', true],
  ['a]b', 'a]b', true],
  ['a-b', 'a-b', true],
  ['[*]', '*', true],
  ['[*]', 'x', false],
];

describe('IgnoreMatcher.matches: moby/patternmatcher tables', () => {
  for (const [pattern, text, pass] of single) {
    it(`${pattern} ${pass ? 'matches' : 'does not match'} ${text}`, () => {
      assert.equal(new IgnoreMatcher([pattern]).matches(text), pass);
    });
  }

  const multi: [string[], string, boolean][] = [
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [
      ['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'],
      'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl',
      false,
    ],
    [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['*'], 'fileutils.go', true],
    [['*.go'], 'fileutils.go', true],
    [['!fileutils.go', '*.go'], 'fileutils.go', true],
    [['*.go', '!fileutils.go'], 'fileutils.go', false],
    [['docs', '!docs/README.md'], 'docs/README.md', false],
    [['docs/', '!docs/README.md'], 'docs/README.md', false],
    [['docs/*', '!docs/README.md'], 'docs/README.md', false],
    [['docs', '!docs/README.md'], 'docs/other.md', true],
    [['*.go'], '.', false],
    [[], 'any/path/there', false],
  ];
  for (const [patterns, text, pass] of multi) {
    it(`${JSON.stringify(patterns)} ${pass ? 'matches' : 'does not match'} ${text}`, () => {
      assert.equal(new IgnoreMatcher(patterns).matches(text), pass);
    });
  }
});

describe('IgnoreMatcher: .dockerignore semantics', () => {
  const m = new IgnoreMatcher(
    parseDockerignore(
      [
        '# build output',
        '**/*.go',
        '!important.go',
        'dir/',
        '*/tmp',
        '/root-only',
        'node_modules',
        '!node_modules/keep',
      ].join('\n'),
    ),
  );
  const cases: [string, boolean][] = [
    ['main.go', true],
    ['pkg/sub/x.go', true],
    ['important.go', false],
    ['pkg/important.go', true],
    ['dir', true],
    ['dir/file', true],
    ['dir/deep/file', true],
    ['other/dir', false],
    ['a/tmp', true],
    ['a/tmp/file', true],
    ['tmp', false],
    ['a/b/tmp', false],
    ['root-only', true],
    ['/root-only', true],
    ['./root-only', true],
    ['sub/root-only', false],
    ['node_modules/x/y.js', true],
    ['node_modules/keep', false],
    ['node_modules/keep/inner.js', false],
    ['.', false],
    ['', false],
    ['README.md', false],
  ];
  for (const [p, ignored] of cases) {
    it(`${JSON.stringify(p)} is ${ignored ? 'ignored' : 'kept'}`, () => assert.equal(m.matches(p), ignored));
  }

  it('canSkipDir: only when nothing below can be re-included', () => {
    assert.equal(m.canSkipDir('dir'), true);
    assert.equal(m.canSkipDir('a/tmp'), true);
    assert.equal(m.canSkipDir('node_modules'), false);
    assert.equal(m.canSkipDir('src'), false);
    const w = new IgnoreMatcher(['vendor', '!**/LICENSE']);
    assert.equal(w.matches('vendor/x/LICENSE'), false);
    assert.equal(w.canSkipDir('vendor'), false);
    const g = new IgnoreMatcher(['build', '!*/keep', '!other/x']);
    assert.equal(g.canSkipDir('build'), false);
    const h = new IgnoreMatcher(['build', 'cache', '!other/x', '!cach?/keep']);
    assert.equal(h.canSkipDir('build'), true);
    assert.equal(h.canSkipDir('cache'), false);
    assert.equal(new IgnoreMatcher(['*']).canSkipDir('anything'), true);
    assert.equal(new IgnoreMatcher([]).canSkipDir('anything'), false);
  });

  it('bad patterns are errors', () => {
    for (const bad of [
      '[',
      '[^',
      '[^bc',
      'a[',
      '\\',
      '[]a]',
      '[-]',
      '[x-]',
      '[-x]',
      '[a-b-c]',
      '[z-a]',
      '!',
    ]) {
      assert.throws(() => new IgnoreMatcher([bad]), InvalidArgumentError, bad);
    }
    assert.equal(new IgnoreMatcher(['docs', '  !docs/README.md  ']).hasExclusions, true);
    assert.equal(new IgnoreMatcher(['docs', '', '  ']).patterns.length, 1);
  });
});

describe('dockerignoreFor', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-dockerignore-'));
    await mkdir(path.join(dir, 'build'));
    await writeFile(path.join(dir, '.dockerignore'), 'shared\n');
    await writeFile(path.join(dir, 'build', 'app.Dockerfile.dockerignore'), '# own\n/own\n!own/keep\n');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers <Dockerfile>.dockerignore next to the Dockerfile', async () => {
    assert.deepEqual(await dockerignoreFor(dir, 'build/app.Dockerfile'), ['own', '!own/keep']);
    assert.deepEqual(await dockerignoreFor(dir, path.join(dir, 'build', 'app.Dockerfile')), [
      'own',
      '!own/keep',
    ]);
  });

  it('falls back to <context>/.dockerignore, then to nothing', async () => {
    assert.deepEqual(await dockerignoreFor(dir, 'Dockerfile'), ['shared']);
    assert.deepEqual(await dockerignoreFor(dir, 'build/other.Dockerfile'), ['shared']);
    assert.deepEqual(await dockerignoreFor(dir), ['shared']);
    assert.deepEqual(await dockerignoreFor(path.join(dir, 'build'), 'Dockerfile'), []);
  });
});

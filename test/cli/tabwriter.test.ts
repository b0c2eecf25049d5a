import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderList } from '../../src/cli/format/render.ts';
import { type TabulateOptions, tabulate } from '../../src/cli/format/tabwriter.ts';

// Expected layouts follow Go's text/tabwriter with docker's settings: NewWriter(out, 10, 1, 3, ' ', 0),
// in docker's fork, which measures cells in terminal columns.

type Case = readonly [name: string, input: string, expected: string, opts?: TabulateOptions];

const cases: readonly Case[] = [
  [
    'columns are as wide as their widest cell plus 3',
    'CONTAINER ID\tIMAGE\tNAMES\nabc\tnginx:latest\tweb\n',
    'CONTAINER ID   IMAGE          NAMES\nabc            nginx:latest   web\n',
  ],
  ['a column is at least 10 wide', 'a\tb\nc\td\n', 'a         b\nc         d\n'],
  ['the last cell of a line is not padded', 'ID\tNAME\n1\tx\n', 'ID        NAME\n1         x\n'],
  ['an empty cell is padded', 'a\t\tb\n', 'a                   b\n'],
  ['a line without a newline', 'a\tb', 'a         b'],
  ['a tab at the very end ends no column', 'a\tb\t', 'a         b'],
  ['text without tabs passes through', 'just text\nmore\n', 'just text\nmore\n'],
  ['an empty input', '', ''],
  [
    'a line without tabs splits blocks',
    'aaaaaaaaaaaaaaaa\tb\nno tabs\nc\td\n',
    'aaaaaaaaaaaaaaaa   b\nno tabs\nc         d\n',
  ],
  ['a form feed splits blocks', 'a\tb\fccccccccccccc\td\n', 'a         b\nccccccccccccc   d\n'],
  [
    'without the form feed it is one block',
    'a\tb\nccccccccccccc\td\n',
    `a${' '.repeat(15)}b\nccccccccccccc   d\n`,
  ],
  ['a vertical tab ends a cell too', 'a\vb\n', 'a         b\n'],
  ['wide characters take two columns', '日本\tx\nab\ty\n', '日本      x\nab        y\n'],
  ['combining marks take none', 'e\u0301\tx\n', 'e\u0301         x\n'],
  // The example of Go's package documentation: b and c are in different column blocks, since the
  // column breaks at the line with one cell; d and e are in no column.
  [
    "column blocks, as in Go's documentation",
    'aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n',
    'aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n',
    { minWidth: 0, padding: 1 },
  ],
  ['options set minimal width and padding', 'a\tbb\tc\n', 'a bb c\n', { minWidth: 0, padding: 1 }],
  ['a wider minimum', 'a\tb\n', 'a     b\n', { minWidth: 6, padding: 0 }],
];

describe('tabulate', () => {
  for (const [name, input, expected, opts] of cases) {
    it(name, () => {
      assert.equal(tabulate(input, opts), expected);
    });
  }
});

describe('docker tables', () => {
  const containers = [
    {
      ID: '4f1c2a3b5d6e',
      Image: 'nginx:latest',
      Command: '"/docker-entrypoint.…"',
      Status: 'Up 2 minutes',
      Names: 'web',
    },
    {
      ID: '9a8b7c6d5e4f',
      Image: 'redis',
      Command: '"docker-entrypoint.s…"',
      Status: 'Exited (0)',
      Names: 'cache',
    },
  ];
  const headers = {
    ID: 'CONTAINER ID',
    Image: 'IMAGE',
    Command: 'COMMAND',
    Status: 'STATUS',
    Names: 'NAMES',
  };

  it('ps lays out like docker', () => {
    assert.equal(
      renderList(
        containers,
        undefined,
        'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Status}}\t{{.Names}}',
        headers,
      ),
      [
        'CONTAINER ID   IMAGE          COMMAND                  STATUS         NAMES',
        '4f1c2a3b5d6e   nginx:latest   "/docker-entrypoint.…"   Up 2 minutes   web',
        '9a8b7c6d5e4f   redis          "docker-entrypoint.s…"   Exited (0)     cache',
        '',
      ].join('\n'),
    );
  });
  it('a user table with two columns', () => {
    assert.equal(
      renderList(containers, 'table {{.ID}}\\t{{.Names}}', '', headers),
      'CONTAINER ID   NAMES\n4f1c2a3b5d6e   web\n9a8b7c6d5e4f   cache\n',
    );
  });
  it('short columns keep the minimum width of 10', () => {
    assert.equal(
      renderList([{ Names: 'a', Status: 'up' }], 'table {{.Names}}\t{{.Status}}', '', headers),
      'NAMES     STATUS\na         up\n',
    );
  });
});

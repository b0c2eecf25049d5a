import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderList, renderOne } from '../../src/cli/format/render.ts';
import { parseTemplate } from '../../src/cli/format/template.ts';
import { BerthError } from '../../src/util/errors.ts';

// Expected outputs follow Go's text/template, fmt and docker's cli/templates as documented.

type Case = readonly [name: string, template: string, data: unknown, expected: string];

function run(cases: readonly Case[]): void {
  for (const [name, template, data, expected] of cases) {
    it(name, () => {
      assert.equal(parseTemplate(template).execute(data), expected);
    });
  }
}

function fails(template: string, data: unknown, message: string): void {
  assert.throws(
    () => parseTemplate(template).execute(data),
    (e: unknown) => e instanceof BerthError && e.message === message,
    `expected ${JSON.stringify(message)}`,
  );
}

const container = {
  ID: 'abc123',
  Names: 'web',
  State: 'running',
  Labels: { a: 'x', 'com.example': 'yes' },
  Mounts: [{ Source: '/data' }, { Source: '/logs' }],
  Args: ['-g', 'daemon off;'],
  Config: { Env: ['A=1', 'B=2'], Image: 'nginx' },
};

describe('text and actions', () => {
  run([
    ['plain text passes through', 'hello, world', {}, 'hello, world'],
    ['a field', '{{.Names}}', container, 'web'],
    ['dot', '{{.}}', 'x', 'x'],
    ['$ is the data', '{{$.Names}}', container, 'web'],
    ['a field chain', '{{.Config.Image}}', container, 'nginx'],
    ['a Map is a map', '{{.a}}', new Map([['a', 1]]), '1'],
    ['trim markers', '{{23 -}} < {{- 45}}', {}, '23<45'],
    ['trim markers eat newlines and tabs', 'a \n\t{{- "b" -}}\n\t c', {}, 'abc'],
    ['a minus without a space is a number', '{{-3}}', {}, '-3'],
    ['a comment prints nothing', 'a{{/* a comment */}}b', {}, 'ab'],
    ['a trimmed comment', 'a {{- /* c */ -}} b', {}, 'ab'],
    ['a comment spans lines', 'a{{/* one\ntwo */}}b', {}, 'ab'],
    ['a missing map key prints <no value>', '{{.Nope}}', container, '<no value>'],
    ['a field of a missing key is <no value> too', '{{.Nope.Deeper}}', container, '<no value>'],
    ['nil prints <no value> at top level', '{{.N}}', { N: null }, '<no value>'],
    ['an action with a declaration prints nothing', '{{$x := 1}}', {}, ''],
    ['newlines inside an action are spaces', '{{printf\n"%s"\n.Names}}', container, 'web'],
  ]);
});

describe('printing values', () => {
  run([
    ['an integer has no decimal point', '{{.N}}', { N: 42 }, '42'],
    ['a negative integer', '{{.N}}', { N: -7 }, '-7'],
    ['a float in shortest form', '{{.N}}', { N: 1.5 }, '1.5'],
    ['a large float uses an exponent as %v does', '{{.N}}', { N: 1234567.5 }, '1.2345675e+06'],
    ['a small float uses an exponent below 1e-4', '{{.N}}', { N: 0.00001 }, '1e-05'],
    ['a bigint is an integer', '{{.N}}', { N: 12345678901234567890n }, '12345678901234567890'],
    ['booleans', '{{.T}} {{.F}}', { T: true, F: false }, 'true false'],
    ['a slice', '{{.Config.Env}}', container, '[A=1 B=2]'],
    ['a nested slice', '{{.L}}', { L: [[1, 2], [3]] }, '[[1 2] [3]]'],
    ['nil in a slice', '{{.L}}', { L: [null, 'a'] }, '[<nil> a]'],
    ['an empty slice', '{{.L}}', { L: [] }, '[]'],
    ['a map with sorted keys', '{{.M}}', { M: { b: 1, a: 'x', c: [1] } }, 'map[a:x b:1 c:[1]]'],
    [
      'a Map with sorted number keys',
      '{{.M}}',
      {
        M: new Map([
          [10, 'b'],
          [9, 'a'],
        ]),
      },
      'map[9:a 10:b]',
    ],
    ['an empty map', '{{.M}}', { M: {} }, 'map[]'],
    [
      'a date prints as time.Time',
      '{{.D}}',
      { D: new Date('2024-01-02T03:04:05.120Z') },
      '2024-01-02 03:04:05.12 +0000 UTC',
    ],
  ]);
});

describe('literals', () => {
  run([
    ['an interpreted string', '{{"a\\tb\\u00e9\\x41"}}', {}, 'a\tbéA'],
    ['escaped UTF-8 bytes decode together', '{{"\\xc3\\xa9\\303\\251"}}', {}, 'éé'],
    ['a raw string keeps backslashes', '{{`a\\tb`}}', {}, 'a\\tb'],
    ['a raw string spans lines', '{{`a\nb`}}', {}, 'a\nb'],
    ['a char constant is a number', "{{'a'}} {{'\\n'}} {{'\\''}} {{'é'}}", {}, '97 10 39 233'],
    [
      'hex, octal, binary and underscores',
      '{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}}',
      {},
      '31 15 15 5 1000',
    ],
    ['floats', '{{1.5}} {{1e3}} {{.5}} {{-2.25}}', {}, '1.5 1000 0.5 -2.25'],
    ['booleans', '{{true}} {{false}}', {}, 'true false'],
    ['nil as an argument', '{{print nil}}', {}, '<nil>'],
  ]);
});

describe('variables', () => {
  run([
    ['declare and use', '{{$x := "hi"}}{{$x}}', {}, 'hi'],
    ['assign', '{{$x := 1}}{{$x = 2}}{{$x}}', {}, '2'],
    ['assignment reaches an outer variable', '{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', {}, '2'],
    [
      'a variable declared in if ends with it',
      '{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}',
      {},
      '21',
    ],
    ['a field of a variable', '{{$c := .Config}}{{$c.Image}}', container, 'nginx'],
    ['$ inside range', '{{range .Mounts}}{{$.Names}}{{end}}', container, 'webweb'],
    ['with declares', '{{with $x := .Names}}{{$x}}{{end}}', container, 'web'],
  ]);
});

describe('if, with, range', () => {
  const falsy: readonly [string, unknown][] = [
    ['empty string', ''],
    ['zero', 0],
    ['false', false],
    ['nil', null],
    ['missing', undefined],
    ['empty slice', []],
    ['empty map', {}],
    ['empty Map', new Map()],
  ];
  const truthy: readonly [string, unknown][] = [
    ['string', 'x'],
    ['number', 1],
    ['negative number', -1],
    ['true', true],
    ['slice', [0]],
    ['map', { a: 0 }],
    ['Map', new Map([[1, 1]])],
    ['date', new Date(0)],
  ];
  for (const [name, value] of falsy) {
    it(`${name} is false`, () => {
      assert.equal(parseTemplate('{{if .V}}yes{{else}}no{{end}}').execute({ V: value }), 'no');
    });
  }
  for (const [name, value] of truthy) {
    it(`${name} is true`, () => {
      assert.equal(parseTemplate('{{if .V}}yes{{else}}no{{end}}').execute({ V: value }), 'yes');
    });
  }
  const chain = '{{if eq .N 1}}one{{else if eq .N 2}}two{{else}}many{{end}}';
  run([
    ['if with eq', '{{if eq .State "running"}}up{{end}}', container, 'up'],
    ['if without else, false', '{{if .Nope}}up{{end}}', container, ''],
    ['else if, first', chain, { N: 1 }, 'one'],
    ['else if, second', chain, { N: 2 }, 'two'],
    ['else if, else', chain, { N: 3 }, 'many'],
    ['with sets dot', '{{with .Config}}{{.Image}}{{end}}', container, 'nginx'],
    ['with else', '{{with .Nope}}{{.}}{{else}}none{{end}}', container, 'none'],
    ['else with', '{{with .Nope}}a{{else with .Names}}{{.}}{{end}}', container, 'web'],
    ['range over a slice', '{{range .Mounts}}{{.Source}} {{end}}', container, '/data /logs '],
    [
      'range with index and element',
      '{{range $i, $v := .L}}{{$i}}={{$v}} {{end}}',
      { L: ['a', 'b'] },
      '0=a 1=b ',
    ],
    ['range with one variable gets the element', '{{range $v := .L}}{{$v}}{{end}}', { L: ['a', 'b'] }, 'ab'],
    [
      'range over a map in key order',
      '{{range $k, $v := .M}}{{$k}}:{{$v}},{{end}}',
      { M: { b: 2, a: 1 } },
      'a:1,b:2,',
    ],
    [
      'range over a Map',
      '{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}',
      {
        M: new Map([
          ['y', 1],
          ['x', 2],
        ]),
      },
      'x=2;y=1;',
    ],
    ['range over an integer', '{{range 3}}{{.}}{{end}}', {}, '012'],
    ['range else on empty', '{{range .L}}x{{else}}empty{{end}}', { L: [] }, 'empty'],
    ['range else on missing', '{{range .Nope}}x{{else}}empty{{end}}', {}, 'empty'],
    ['range else on zero', '{{range 0}}x{{else}}none{{end}}', {}, 'none'],
    ['break', '{{range .L}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}', { L: [1, 2, 3, 4] }, '12'],
    ['continue', '{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}', { L: [1, 2, 3, 4] }, '134'],
    [
      'break leaves only the inner range',
      '{{range .A}}{{range $.B}}{{break}}{{end}}{{.}}{{end}}',
      { A: [1, 2], B: [1] },
      '12',
    ],
    ['a range variable assigned each time', '{{$v := 0}}{{range $v = .L}}{{end}}{{$v}}', { L: [1, 2] }, '2'],
  ]);
});

describe('pipelines and parentheses', () => {
  run([
    ['the previous value is the last argument', '{{.Names | printf "%s-%s" "x"}}', container, 'x-web'],
    ['a chain of commands', '{{"abc" | len | printf "%d!"}}', {}, '3!'],
    ['a parenthesised pipeline', '{{printf "%s/%s" (upper .Names) .State}}', container, 'WEB/running'],
    ['a field of a parenthesised value', '{{(index .Mounts 1).Source}}', container, '/logs'],
    ['a parenthesised pipeline with a pipe', '{{(.Names | upper)}}', container, 'WEB'],
  ]);
});

describe('define, template, block', () => {
  run([
    ['template runs a definition', '{{define "T"}}[{{.}}]{{end}}{{template "T" .Names}}', container, '[web]'],
    [
      'template without a pipeline gets nil',
      '{{define "T"}}[{{.}}]{{end}}{{template "T"}}',
      {},
      '[<no value>]',
    ],
    ['a definition may come after its use', '{{template "T" 1}}{{define "T"}}<{{.}}>{{end}}', {}, '<1>'],
    ['block defines and runs', '{{block "B" .Names}}default {{.}}{{end}}', container, 'default web'],
    [
      'a template recurses',
      '{{define "R"}}{{if .}}{{index . 0}}{{template "R" (slice . 1)}}{{end}}{{end}}{{template "R" .L}}',
      { L: [1, 2, 3] },
      '123',
    ],
    ['text around definitions stays', 'a{{define "T"}}x{{end}}b', {}, 'ab'],
  ]);
});

describe('builtin functions', () => {
  run([
    ['and returns the first false value', '{{and 1 0 2}}', {}, '0'],
    ['and returns the last value', '{{and 1 2}}', {}, '2'],
    ['or returns the first true value', '{{or 0 "" "x"}}', {}, 'x'],
    ['or returns the last value', '{{or 0 ""}}', {}, ''],
    ['and stops at the first false value', '{{and false (index .L 5)}}', { L: [] }, 'false'],
    ['or stops at the first true value', '{{or 1 (index .L 5)}}', { L: [] }, '1'],
    ['not', '{{not 0}} {{not "x"}}', {}, 'true false'],
    ['len counts bytes of a string', '{{len "héllo"}}', {}, '6'],
    ['len of a slice and a map', '{{len .Mounts}} {{len .Labels}}', container, '2 2'],
    ['index a map', '{{index .Labels "a"}}', container, 'x'],
    ['index a map with a dotted key', '{{index .Labels "com.example"}}', container, 'yes'],
    ['index a slice', '{{index .Args 1}}', container, 'daemon off;'],
    ['index twice', '{{index .M "a" 1}}', { M: { a: [1, 2] } }, '2'],
    ['index a string gives a byte', '{{index "abc" 1}}', {}, '98'],
    ['index a missing key, as for map[string]interface{}', '{{index .Labels "zz"}}', container, '<no value>'],
    ['index a Map', '{{index .M 2}}', { M: new Map([[2, 'two']]) }, 'two'],
    ['slice a string', '{{slice "hello" 1 3}}', {}, 'el'],
    ['slice a slice', '{{slice .L 1}}', { L: ['a', 'b', 'c'] }, '[b c]'],
    ['slice with three indexes', '{{slice .L 0 1 2}}', { L: ['a', 'b', 'c'] }, '[a]'],
    ['eq', '{{eq 1 1}} {{eq "a" "b"}}', {}, 'true false'],
    ['eq against several values', '{{eq .State "exited" "running"}}', container, 'true'],
    ['eq with a missing value', '{{eq .Nope "x"}}', {}, 'false'],
    ['eq nil nil', '{{eq nil nil}}', {}, 'true'],
    ['ne', '{{ne 1 2}} {{ne "a" "a"}}', {}, 'true false'],
    ['lt le gt ge on numbers', '{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 2 3}}', {}, 'true true false false'],
    ['lt on strings', '{{lt "a" "b"}} {{gt "b" "a"}}', {}, 'true true'],
    ['print adds spaces between non-strings', '{{print 1 2 "a" "b" 3}}', {}, '1 2ab3'],
    ['println always adds spaces', '{{println "a" 1}}', {}, 'a 1\n'],
    ['html', `{{html "<a href='x'>&\\"</a>"}}`, {}, '&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;'],
    ['html of nothing', '{{html .Nope}}', {}, '&lt;no value&gt;'],
    ['js', `{{js "a'b\\"c<d>&e=f\\\\g\\n"}}`, {}, 'a\\\'b\\"c\\u003Cd\\u003E\\u0026e\\u003Df\\\\g\\u000A'],
    ['urlquery', '{{urlquery "a b&c=d/é~"}}', {}, 'a+b%26c%3Dd%2F%C3%A9~'],
    ['urlquery joins its arguments as print does', '{{urlquery 1 2}}', {}, '1+2'],
    [
      'call a function value',
      '{{call .M.add 2 3}}',
      { M: new Map([['add', (a: number, b: number) => a + b]]) },
      '5',
    ],
  ]);
});

describe('printf', () => {
  run([
    ['%s', '{{printf "%s" "x"}}', {}, 'x'],
    ['%d', '{{printf "%d" 42}}', {}, '42'],
    ['%v of a slice', '{{printf "%v" .Args}}', container, '[-g daemon off;]'],
    ['%v of a map', '{{printf "%v" .M}}', { M: { b: 2, a: 1 } }, 'map[a:1 b:2]'],
    ['%q', '{{printf "%q" "a\\"b\\n"}}', {}, '"a\\"b\\n"'],
    ['%q of a slice', '{{printf "%q" .L}}', { L: ['a', 'b'] }, '["a" "b"]'],
    ['%+q is ASCII', '{{printf "%+q" "é"}}', {}, '"\\u00e9"'],
    ['%#q uses back quotes', '{{printf "%#q" `a\\b`}}', {}, '`a\\b`'],
    ['%t', '{{printf "%t" true}}', {}, 'true'],
    ['%x %X %#x of an int', '{{printf "%x %X %#x" 255 255 255}}', {}, 'ff FF 0xff'],
    ['%x of a string', '{{printf "%x" "hello"}}', {}, '68656c6c6f'],
    ['% x of a string', '{{printf "% x" "hi"}}', {}, '68 69'],
    ['%b %o %#o %O', '{{printf "%b %o %#o %O" 5 8 8 8}}', {}, '101 10 010 0o10'],
    ['%c %U %q of runes', `{{printf "%c %U %q %#U" 65 65 65 'é'}}`, {}, "A U+0041 'A' U+00E9 'é'"],
    ['%f', '{{printf "%f" 3.14159}}', {}, '3.141590'],
    ['%.2f', '{{printf "%.2f" 3.14159}}', {}, '3.14'],
    ['%.0f rounds halves to even', '{{printf "%.0f %.0f %.1f" 2.5 3.5 0.25}}', {}, '2 4 0.2'],
    ['%.2f works on the binary value', '{{printf "%.2f" 1.005}}', {}, '1.00'],
    ['%.2f of an integer value', '{{printf "%.2f" .N}}', { N: 3 }, '3.00'],
    ['%6.2f|', '{{printf "%6.2f|" 3.14159}}', {}, '  3.14|'],
    ['%08.3f', '{{printf "%08.3f" -3.14159}}', {}, '-003.142'],
    ['%e', '{{printf "%e" 1234.5678}}', {}, '1.234568e+03'],
    ['%+.1e', '{{printf "%+.1e" 12345.0}}', {}, '+1.2e+04'],
    ['%g', '{{printf "%g %g %g" 0.000012 100000.0 1000000.0}}', {}, '1.2e-05 100000 1e+06'],
    ['%.3g', '{{printf "%.3g" 3.14159}}', {}, '3.14'],
    ['%-10s', '{{printf "%-10s|" "ab"}}', {}, 'ab        |'],
    ['%10s', '{{printf "%10s|" "ab"}}', {}, '        ab|'],
    ['%5d', '{{printf "%5d|" 42}}', {}, '   42|'],
    ['%-5d', '{{printf "%-5d|" 42}}', {}, '42   |'],
    ['%05d', '{{printf "%05d %05d" 42 -42}}', {}, '00042 -0042'],
    ['%+d and % d', '{{printf "%+d|% d" 42 42}}', {}, '+42| 42'],
    ['%.3d pads with zeros', '{{printf "%.3d" 7}}', {}, '007'],
    ['%05s ignores the zero flag', '{{printf "%05s" "ab"}}', {}, '   ab'],
    ['%5.1s truncates then pads', '{{printf "%5.1s|" "abc"}}', {}, '    a|'],
    ['precision counts runes', '{{printf "%.3s" "héllo"}}', {}, 'hél'],
    ['width counts runes', '{{printf "%4s|" "é"}}', {}, '   é|'],
    ['%5v pads each element', '{{printf "%3v" .L}}', { L: [1, 2] }, '[  1   2]'],
    ['%-5s from the docker docs', '{{printf "%-5s|" .Names}}', container, 'web  |'],
    ['%%', '{{printf "100%%"}}', {}, '100%'],
    ['%T', '{{printf "%T %T %T %T" 1 1.5 "s" .L}}', { L: ['a'] }, 'int float64 string []string'],
    ['%*d takes the width from an argument', '{{printf "%*d|" 5 42}}', {}, '   42|'],
    ['%[n] picks an argument', '{{printf "%[2]s %[1]s" "a" "b"}}', {}, 'b a'],
    ['%v of nil', '{{printf "%v" nil}}', {}, '<nil>'],
    ['a wrong verb', '{{printf "%d" "x"}}', {}, '%!d(string=x)'],
    ['a verb on nil', '{{printf "%s" nil}}', {}, '%!s(<nil>)'],
    ['%d of a float', '{{printf "%d" 1.5}}', {}, '%!d(float64=1.5)'],
    ['an unknown verb', '{{printf "%z" 1}}', {}, '%!z(int=1)'],
    ['a missing argument', '{{printf "%d %d" 1}}', {}, '1 %!d(MISSING)'],
    ['an extra argument', '{{printf "%d" 1 2 "x"}}', {}, '1%!(EXTRA int=2, string=x)'],
    ['no verb', '{{printf "a%"}}', {}, 'a%!(NOVERB)'],
    ['a bad index', '{{printf "%[3]d" 1}}', {}, '%!d(BADINDEX)'],
  ]);
});

describe("docker's functions", () => {
  run([
    [
      'json of an object, keys in order, no HTML escaping',
      '{{json .}}',
      { ID: 'a', N: 1, S: '<b>&', L: ['x'] },
      '{"ID":"a","N":1,"S":"<b>&","L":["x"]}',
    ],
    ['json of a field', '{{json .Labels}}', container, '{"a":"x","com.example":"yes"}'],
    ['json of a string', '{{json .Names}}', container, '"web"'],
    ['json of nothing is null', '{{json .Nope}}', {}, 'null'],
    [
      'json of a Map sorts keys',
      '{{json .M}}',
      {
        M: new Map([
          ['b', 1],
          ['a', 2],
        ]),
      },
      '{"a":2,"b":1}',
    ],
    [
      'json of a date is RFC 3339',
      '{{json .D}}',
      { D: new Date('2024-01-02T03:04:05Z') },
      '"2024-01-02T03:04:05Z"',
    ],
    ['json escapes line separators', '{{json .S}}', { S: 'a\u2028b' }, '"a\\u2028b"'],
    ['join', '{{join .Args ","}}', container, '-g,daemon off;'],
    ['split', '{{split "a,b,c" ","}}', {}, '[a b c]'],
    ['split into runes', '{{split "hé" ""}}', {}, '[h é]'],
    ['index of split', '{{index (split "a:b" ":") 1}}', {}, 'b'],
    ['lower and upper', '{{lower "AbC"}} {{upper "AbC"}}', {}, 'abc ABC'],
    ['title upper-cases each word', '{{title "hello wORLD-x my_var"}}', {}, 'Hello WORLD-X My_var'],
    ['truncate', '{{truncate "abcdef" 3}}|{{truncate "ab" 5}}', {}, 'abc|ab'],
    ['pad', '{{pad "x" 2 1}}|', {}, '  x |'],
    ['pad leaves an empty string alone', '{{pad "" 2 1}}|', {}, '|'],
  ]);
});

describe('methods', () => {
  class Ctx {
    constructor(private readonly labels: Record<string, string>) {}
    get Names(): string {
      return 'web';
    }
    Label(key: string): string {
      return this.labels[key] ?? '';
    }
    Size(): number {
      return 2048;
    }
  }
  const ctx = new Ctx({ 'com.example': 'yes' });
  run([
    ['a method with an argument', '{{.Label "com.example"}}', ctx, 'yes'],
    ['a method with no arguments', '{{.Size}}', ctx, '2048'],
    ['a getter', '{{.Names}}', ctx, 'web'],
    ['a method gets the piped value last', '{{"com.example" | .Label}}', ctx, 'yes'],
    ['a method as an argument', '{{printf "%d" .Size}}', ctx, '2048'],
    ['a function property', '{{.Echo "a" "b"}}', { Echo: (a: string, b: string) => a + b }, 'ab'],
    ['a class instance is true even with no fields', '{{if .}}yes{{end}}', ctx, 'yes'],
  ]);
  it('a throwing method is an execution error', () => {
    fails(
      '{{.Fail}}',
      {
        Fail: () => {
          throw new Error('boom');
        },
      },
      'template: :1:2: executing "" at <.Fail>: error calling Fail: boom',
    );
  });
});

describe('parse errors', () => {
  const cases: readonly [string, string][] = [
    ['{{.Foo }', 'template: :1: unexpected "}" in operand'],
    ['{{.Foo}', "template: :1: bad character U+007D '}'"],
    ['{{.Foo', 'template: :1: unclosed action'],
    ['a\n{{.A\n', 'template: :3: unclosed action started at :2'],
    ['{{if .A}}x', 'template: :1: unexpected EOF'],
    ['{{end}}', 'template: :1: unexpected {{end}}'],
    ['{{else}}', 'template: :1: unexpected {{else}}'],
    ['{{nofunc 1}}', 'template: :1: function "nofunc" not defined'],
    ['{{$x}}', 'template: :1: undefined variable "$x"'],
    ['{{$x := 1}}{{define "T"}}{{$x}}{{end}}', 'template: :1: undefined variable "$x"'],
    ['{{if true}}{{$x := 1}}{{end}}{{$x}}', 'template: :1: undefined variable "$x"'],
    ['{{}}', 'template: :1: missing value for command'],
    ['{{if}}{{end}}', 'template: :1: missing value for if'],
    ['{{range .L}}{{else}}{{else}}{{end}}', 'template: :1: expected end; found {{else}}'],
    ['{{break}}', 'template: :1: {{break}} outside {{range}}'],
    ['{{range .L}}{{end}}{{continue}}', 'template: :1: {{continue}} outside {{range}}'],
    ['{{"abc}}', 'template: :1: unterminated quoted string'],
    ['{{`abc}}', 'template: :1: unterminated raw quote'],
    ['{{(.A}}', 'template: :1: unclosed left paren'],
    ['{{.A)}}', 'template: :1: unexpected right paren'],
    ['{{/* x }}', 'template: :1: unclosed comment'],
    ['{{/* x */ }}', 'template: :1: comment ends before closing delimiter'],
    ['{{3x}}', 'template: :1: bad number syntax: "3x"'],
    ['{{08}}', 'template: :1: integer overflow: 08'],
    ['{{"\\q"}}', 'template: :1: invalid syntax'],
    ['{{.A | 1}}', 'template: :1: non executable command in pipeline stage 2'],
    ['{{template .A}}', 'template: :1: unexpected ".A" in template clause'],
    [
      '{{define "x"}}a{{end}}{{define "x"}}b{{end}}',
      'template: :1: template: multiple definition of template "x"',
    ],
    ['{{"a".B}}', 'template: :1: unexpected . after term "\\"a\\""'],
    ['{{range $i, $v, $w := .}}{{end}}', 'template: :1: too many declarations in range'],
    ['{{ /* x */ }}', 'template: :1: unexpected "/" in command'],
    ['{{.A ^ .B}}', 'template: :1: unexpected "^" in operand'],
    ['{{.A\u00a0}}', 'template: :1: bad character U+00A0'],
  ];
  for (const [template, message] of cases) {
    it(JSON.stringify(template), () => {
      assert.throws(
        () => parseTemplate(template),
        (e: unknown) => e instanceof BerthError && e.message === message,
        `expected ${JSON.stringify(message)}`,
      );
    });
  }
});

describe('execution errors', () => {
  const cases: readonly [string, unknown, string][] = [
    ['{{.A.B}}', { A: 's' }, `template: :1:4: executing "" at <.A.B>: can't evaluate field B in type string`],
    [
      '{{index .L 5}}',
      { L: [1] },
      'template: :1:2: executing "" at <index .L 5>: error calling index: index out of range: 5',
    ],
    [
      '{{join .Args}}',
      container,
      'template: :1:2: executing "" at <join>: wrong number of args for join: want 2 got 1',
    ],
    [
      '{{printf}}',
      {},
      'template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0',
    ],
    [
      '{{upper 1}}',
      {},
      'template: :1:8: executing "" at <1>: wrong type for value; expected string; got int',
    ],
    [
      '{{join .L ","}}',
      { L: [1] },
      'template: :1:7: executing "" at <.L>: wrong type for value; expected []string; got []interface {}',
    ],
    ['{{nil}}', {}, 'template: :1:2: executing "" at <nil>: nil is not a command'],
    [
      '{{.Names 1}}',
      container,
      'template: :1:2: executing "" at <.Names>: Names is not a method but has arguments',
    ],
    ['{{1 2}}', {}, 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1'],
    [
      '{{range .S}}{{end}}',
      { S: 'abc' },
      `template: :1:8: executing "" at <.S>: range can't iterate over abc`,
    ],
    [
      '{{range $i, $v := 3}}{{end}}',
      {},
      `template: :1:18: executing "" at <3>: can't use 3 to iterate over more than one variable`,
    ],
    [
      '{{eq 1 "a"}}',
      {},
      'template: :1:2: executing "" at <eq 1 "a">: error calling eq: incompatible types for comparison',
    ],
    [
      '{{lt true false}}',
      {},
      'template: :1:2: executing "" at <lt true false>: error calling lt: invalid type for comparison',
    ],
    [
      '{{eq .L .L}}',
      { L: [1] },
      'template: :1:2: executing "" at <eq .L .L>: error calling eq: non-comparable type [1]: []interface {}',
    ],
    ['{{len 3}}', {}, 'template: :1:2: executing "" at <len 3>: error calling len: len of type int'],
    [
      '{{slice "abc" 2 1}}',
      {},
      'template: :1:2: executing "" at <slice "abc" 2 1>: error calling slice: invalid slice index: 2 > 1',
    ],
    [
      '{{template "nope"}}',
      {},
      'template: :1:11: executing "" at <{{template "nope"}}>: template "nope" not defined',
    ],
    [
      '{{define "T"}}{{.X.Y}}{{end}}{{template "T" .}}',
      { X: 1 },
      `template: :1:18: executing "T" at <.X.Y>: can't evaluate field Y in type int`,
    ],
    ['{{$x := 1}}{{$y = 2}}', {}, 'template: :1:18: executing "" at <2>: undefined variable: $y'],
    [
      '{{truncate "abc" -1}}',
      {},
      'template: :1:2: executing "" at <truncate "abc" -1>: error calling truncate: runtime error: slice bounds out of range [:-1]',
    ],
  ];
  for (const [template, data, message] of cases) {
    it(JSON.stringify(template), () => fails(template, data, message));
  }
  it('endless recursion stops at the depth limit', () => {
    assert.throws(
      () => parseTemplate('{{define "R"}}{{template "R" .}}{{end}}{{template "R" .}}').execute({}),
      /exceeded maximum template depth \(1000\)/,
    );
  });
  it('a function value cannot be printed', () => {
    fails(
      '{{index .M "f"}}',
      { M: new Map([['f', () => 1]]) },
      `template: :1:2: executing "" at <{{index .M "f"}}>: can't print {{index .M "f"}} of type func()`,
    );
  });
});

describe('fields', () => {
  it('lists every field the template reads, in order', () => {
    const t = parseTemplate('{{.ID}} {{$c := .Config}}{{$c.Image}} {{(index .Mounts 0).Source}} {{.ID}}');
    assert.deepEqual(t.fields, ['ID', 'Config', 'Image', 'Mounts', 'Source']);
  });
});

describe('renderList', () => {
  const items = [
    { ID: 'abc123', Names: 'web', CreatedAt: '2024-01-02', Labels: { a: 'x' } },
    { ID: 'def4567890ab', Names: 'db', CreatedAt: '2024-01-03', Labels: {} },
  ];
  const headers = { ID: 'CONTAINER ID', Names: 'NAMES' };
  const defaultTable = 'table {{.ID}}\t{{.Names}}';

  it('a table has a header row and columns 3 spaces apart', () => {
    assert.equal(
      renderList(items, 'table {{.ID}}\t{{.Names}}', defaultTable, headers),
      'CONTAINER ID   NAMES\nabc123         web\ndef4567890ab   db\n',
    );
  });
  it('a literal \\t in the format is a tab, as docker reads it from a shell', () => {
    assert.equal(
      renderList(items, 'table {{.ID}}\\t{{.Names}}', defaultTable, headers),
      'CONTAINER ID   NAMES\nabc123         web\ndef4567890ab   db\n',
    );
  });
  it('no format, or "table", uses the default table', () => {
    const expected = 'CONTAINER ID   NAMES\nabc123         web\ndef4567890ab   db\n';
    assert.equal(renderList(items, undefined, defaultTable, headers), expected);
    assert.equal(renderList(items, 'table', defaultTable, headers), expected);
  });
  it('a table with no items prints its header', () => {
    assert.equal(renderList([], undefined, defaultTable, headers), 'CONTAINER ID   NAMES\n');
  });
  it('a header defaults to the field name in capitals, words split', () => {
    assert.equal(
      renderList(items.slice(0, 1), 'table {{.CreatedAt}}\t{{.ID}}', defaultTable),
      'CREATED AT   ID\n2024-01-02   abc123\n',
    );
  });
  it('header rows pass string functions through and name method columns', () => {
    assert.equal(
      renderList(
        [],
        'table {{upper .Names}}\t{{json .Labels}}\t{{.Label "x"}}\t{{printf "%.3s" .ID}}',
        defaultTable,
        headers,
      ),
      'NAMES     LABELS    LABEL     CON\n',
    );
  });
  it('a header the template cannot render is cut short, not an error', () => {
    // As in docker, the header's .Mounts is the string "MOUNTS", which range cannot iterate over.
    assert.equal(
      renderList(
        [{ ID: 'abc123', Mounts: ['/a'] }],
        'table {{.ID}}\t{{range .Mounts}}{{.}}{{end}}',
        defaultTable,
        headers,
      ),
      'CONTAINER ID   \nabc123         /a\n',
    );
  });
  it('json prints one object per line', () => {
    assert.equal(
      renderList(items, 'json', defaultTable),
      '{"ID":"abc123","Names":"web","CreatedAt":"2024-01-02","Labels":{"a":"x"}}\n' +
        '{"ID":"def4567890ab","Names":"db","CreatedAt":"2024-01-03","Labels":{}}\n',
    );
  });
  it('a plain template runs per item', () => {
    assert.equal(
      renderList(items, '{{.Names}}: {{index .Labels "a"}}', defaultTable),
      'web: x\ndb: <no value>\n',
    );
  });
  it('spaces around a format are trimmed', () => {
    assert.equal(renderList(items, '  {{.ID}} ', defaultTable), 'abc123\ndef4567890ab\n');
  });
  it('no items and no table print nothing', () => {
    assert.equal(renderList([], '{{.ID}}', defaultTable), '');
  });
  it('a bad template is reported as docker does', () => {
    assert.throws(
      () => renderList(items, '{{.ID }', defaultTable),
      (e: unknown) =>
        e instanceof BerthError &&
        e.message === 'template parsing error: template: :1: unexpected "}" in operand',
    );
  });
  it('an execution error is reported as docker does', () => {
    assert.throws(
      () => renderList(items, '{{.ID.X}}', defaultTable),
      (e: unknown) =>
        e instanceof BerthError &&
        e.message ===
          `template parsing error: template: :1:5: executing "" at <.ID.X>: can't evaluate field X in type string`,
    );
  });
});

describe('renderOne', () => {
  it('executes the template once with a newline', () => {
    assert.equal(renderOne(container, '{{.Config.Image}}'), 'nginx\n');
  });
  it('json is the item as JSON', () => {
    assert.equal(
      renderOne({ Id: 'x', State: { Running: true } }, 'json'),
      '{"Id":"x","State":{"Running":true}}\n',
    );
  });
  it('keeps a literal \\t, as docker inspect does', () => {
    assert.equal(renderOne(container, '{{.ID}}\\t{{.Names}}'), 'abc123\\tweb\n');
  });
  it('a bad template is a BerthError', () => {
    assert.throws(
      () => renderOne(container, '{{if}}'),
      /template parsing error: template: :1: missing value for if/,
    );
  });
});

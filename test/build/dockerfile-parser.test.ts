// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the cases are Dockerfile words with ${...} in them
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Instruction } from '../../src/build/dockerfile/ast.ts';
import {
  checkSyntaxDirective,
  DockerfileParseError,
  expandedFlags,
  instructionVariableRule,
  parseDockerfile,
  parseDockerfileNodes,
  parseInstructionLine,
  type RawNode,
} from '../../src/build/dockerfile/parser.ts';
import { BerthError } from '../../src/util/errors.ts';

const fixtures = new URL('../fixtures/dockerfile/parser/', import.meta.url);

/** Go's strconv.Quote for the characters the fixtures use. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (ch === '\x07') out += '\\a';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}

/** BuildKit's Node.Dump: `(cmd ["--flags"] "arg" ...)`, ONBUILD's trigger nested. */
function dump(node: RawNode): string {
  let s = node.cmd.toLowerCase();
  if (node.flags.length > 0) s += ` [${node.flags.map((f) => goQuote(f.text)).join(' ')}]`;
  if (node.sub) s += ` (${dump(node.sub)})`;
  for (const a of node.args) s += ` ${goQuote(a)}`;
  return s.trim();
}

function parse(text: string): Instruction[] {
  return parseDockerfile(text).instructions;
}

function one<K extends Instruction['kind']>(text: string, kind: K): Extract<Instruction, { kind: K }> {
  const all = parse(`FROM scratch\n${text}`);
  assert.equal(all.length, 2, `expected one instruction after FROM in ${JSON.stringify(text)}`);
  const ins = all[1];
  assert.equal(ins.kind, kind);
  return ins as Extract<Instruction, { kind: K }>;
}

function parseError(text: string, reason: string | RegExp, line: number, column?: number): void {
  assert.throws(
    () => parseDockerfile(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileParseError, `expected DockerfileParseError, got ${String(err)}`);
      assert.ok(err instanceof BerthError);
      if (typeof reason === 'string') assert.equal(err.reason, reason);
      else assert.match(err.reason, reason);
      assert.equal(err.line, line, `line of ${err.message}`);
      assert.equal(err.column, column, `column of ${err.message}`);
      const where = column ? `line ${line}, column ${column}` : `line ${line}`;
      assert.equal(err.message, `dockerfile parse error on ${where}: ${err.reason}`);
      return true;
    },
  );
}

describe('BuildKit parser conformance (testfiles/*/Dockerfile → result)', () => {
  const dir = new URL('testfiles/', fixtures);
  const names = readdirSync(dir);
  it('has the fixtures', () => assert.ok(names.length >= 30, `${names.length} fixture folders`));
  for (const name of names) {
    it(name, () => {
      const text = readFileSync(new URL(`${name}/Dockerfile`, dir), 'utf8');
      const expected = readFileSync(new URL(`${name}/result`, dir), 'utf8').trim();
      const got = parseDockerfileNodes(text)
        .nodes.map((n) => `(${dump(n)})`)
        .join('\n');
      assert.equal(got, expected);
    });
  }
});

describe('BuildKit parser fixtures through the checking layer', () => {
  const failing: Record<string, [string, number, number?]> = {
    flags: ['unknown flag: --user', 3, 6],
    health: ['HEALTHCHECK requires at least one argument', 4],
    json: ['no build stage in current context', 1],
  };
  for (const name of readdirSync(new URL('testfiles/', fixtures))) {
    it(name, () => {
      const text = readFileSync(new URL(`testfiles/${name}/Dockerfile`, fixtures), 'utf8');
      const f = name.startsWith('jeztah-')
        ? (['no build stage in current context', 1] as const)
        : failing[name];
      if (f) parseError(text, f[0], f[1], f[2]);
      else assert.ok(parseDockerfile(text).instructions.length > 0);
    });
  }
});

describe('BuildKit parser negative fixtures', () => {
  const cases: Record<string, RegExp> = {
    empty_dockerfile: /^file with no instructions$/,
    only_comments: /^file with no instructions$/,
    env_no_value: /^ENV must have two arguments$/,
    'shykes-nested-json': /^when using JSON array syntax, arrays must be comprised of strings only$/,
  };
  for (const [name, reason] of Object.entries(cases)) {
    it(name, () => {
      const file = new URL(`testfiles-negative/${name}/Dockerfile`, fixtures);
      assert.ok(existsSync(file));
      assert.throws(
        () => parseDockerfileNodes(readFileSync(file, 'utf8')),
        (err: unknown) => err instanceof DockerfileParseError && reason.test(err.reason),
      );
    });
  }
});

describe('instructions', () => {
  it('FROM with --platform and AS (case-insensitive keywords, stage name lowercased)', () => {
    const [a, b, c] = parse('from --platform=$BUILDPLATFORM golang:1.22 As Build\nFROM build\nFROM ${BASE}');
    assert.equal(a.kind, 'FROM');
    assert.equal(a.image, 'golang:1.22');
    assert.equal(a.stageName, 'build');
    assert.deepEqual(a.flags, [{ name: 'platform', value: '$BUILDPLATFORM', line: 1, column: 6 }]);
    assert.equal(b.kind === 'FROM' && b.stageName, undefined);
    assert.equal(c.kind === 'FROM' && c.image, '${BASE}');
    assert.equal(a.line, 1);
    assert.equal(a.original, 'from --platform=$BUILDPLATFORM golang:1.22 As Build');
  });

  it('RUN shell form keeps the text as written, exec form decodes JSON', () => {
    const r = one('RUN echo   "a  b" && \\\n    echo $HOME', 'RUN');
    assert.deepEqual(r.args, ['echo   "a  b" &&     echo $HOME']);
    assert.equal(r.json, false);
    assert.equal(r.line, 2);
    assert.equal(r.endLine, 3);
    const e = one('RUN ["sh", "-c", "echo   a"]', 'RUN');
    assert.equal(e.json, true);
    assert.deepEqual(e.args, ['sh', '-c', 'echo   a']);
  });

  it('RUN flags: --mount repeats in order, --network, --security, raw values', () => {
    const r = one(
      'RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id="my secret" --network=none --security=insecure make',
      'RUN',
    );
    assert.deepEqual(
      r.flags.map((f) => [f.name, f.value]),
      [
        ['mount', 'type=cache,target=/root/.cache'],
        ['mount', 'type=secret,id=my secret'],
        ['network', 'none'],
        ['security', 'insecure'],
      ],
    );
    assert.deepEqual(r.args, ['make']);
    assert.deepEqual(
      one('RUN --mount=target=$DIR,type=cache ls', 'RUN').flags.map((f) => f.value),
      ['target=$DIR,type=cache'],
    );
  });

  it('CMD / ENTRYPOINT forms (BuildKit JSON detection)', () => {
    const cases: [string, boolean, string[]][] = [
      ['CMD ["sh","-c","echo   a"]', true, ['sh', '-c', 'echo   a']],
      ['CMD [ "a" ]', true, ['a']],
      ['CMD []', true, []],
      ['CMD', false, []],
      ['CMD [ "a", "b" ', false, ['[ "a", "b"']],
      ["CMD ['a']", false, ["['a']"]],
      ['CMD echo "[a]"', false, ['echo "[a]"']],
      ['ENTRYPOINT ["/bin/app", "--flag"]', true, ['/bin/app', '--flag']],
      ['ENTRYPOINT exec /bin/app', false, ['exec /bin/app']],
      ['CMD ["a\\u0041", "\\n"]', true, ['aA', '\n']],
    ];
    for (const [text, json, args] of cases) {
      const ins = parse(`FROM x\n${text}`)[1];
      assert.ok(ins.kind === 'CMD' || ins.kind === 'ENTRYPOINT');
      assert.equal(ins.json, json, text);
      assert.deepEqual(ins.args, args, text);
    }
  });

  it('LABEL and ENV: k=v pairs, legacy `ENV k v w`, raw values', () => {
    const l = one('LABEL a=1 "b c"="x y" d=e\\ f', 'LABEL');
    assert.deepEqual(l.pairs, [
      { key: 'a', value: '1' },
      { key: '"b c"', value: '"x y"' },
      { key: 'd', value: 'e\\ f' },
    ]);
    assert.deepEqual(one('ENV PATH /usr/bin:$PATH   and more', 'ENV').pairs, [
      { key: 'PATH', value: '/usr/bin:$PATH   and more' },
    ]);
    assert.deepEqual(one('ENV A=1 B="two words" C=', 'ENV').pairs, [
      { key: 'A', value: '1' },
      { key: 'B', value: '"two words"' },
      { key: 'C', value: '' },
    ]);
    assert.deepEqual(one('LABEL maintainer someone <a@b.c>', 'LABEL').pairs, [
      { key: 'maintainer', value: 'someone <a@b.c>' },
    ]);
  });

  it('ARG: several names, optional defaults', () => {
    assert.deepEqual(one('ARG A B=2 C="x y" D=', 'ARG').args, [
      { key: 'A', value: undefined },
      { key: 'B', value: '2' },
      { key: 'C', value: '"x y"' },
      { key: 'D', value: '' },
    ]);
    const [a] = parse('ARG VERSION=1.0\nFROM x');
    assert.equal(a.kind, 'ARG');
  });

  it('EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER', () => {
    assert.deepEqual(one('EXPOSE 80/tcp 53/udp $PORT', 'EXPOSE').ports, ['80/tcp', '53/udp', '$PORT']);
    const v = one('VOLUME ["/data", "/logs"]', 'VOLUME');
    assert.deepEqual([v.json, v.paths], [true, ['/data', '/logs']]);
    const w = one('VOLUME /a  /b', 'VOLUME');
    assert.deepEqual([w.json, w.paths], [false, ['/a', '/b']]);
    assert.equal(one('USER app:app', 'USER').user, 'app:app');
    assert.equal(one('WORKDIR /my dir/$X', 'WORKDIR').path, '/my dir/$X');
    assert.equal(one('STOPSIGNAL SIGQUIT', 'STOPSIGNAL').signal, 'SIGQUIT');
    assert.equal(one('MAINTAINER Jane Doe <j@d.e>', 'MAINTAINER').name, 'Jane Doe <j@d.e>');
  });

  it('COPY and ADD: flags, JSON form, sources and destination', () => {
    const c = one(
      'COPY --from=build --chown=1000:1000 --chmod=0755 --link --exclude=*.md --exclude=tmp --parents a b /dst/',
      'COPY',
    );
    assert.deepEqual(c.sources, ['a', 'b']);
    assert.equal(c.dest, '/dst/');
    assert.equal(c.json, false);
    assert.deepEqual(
      c.flags.map((f) => [f.name, f.value]),
      [
        ['from', 'build'],
        ['chown', '1000:1000'],
        ['chmod', '0755'],
        ['link', undefined],
        ['exclude', '*.md'],
        ['exclude', 'tmp'],
        ['parents', undefined],
      ],
    );
    const j = one('COPY ["a file", "/dst dir/"]', 'COPY');
    assert.deepEqual([j.json, j.sources, j.dest], [true, ['a file'], '/dst dir/']);
    const a = one(
      'ADD --checksum=sha256:abc --keep-git-dir=true --chown=app --chmod=644 --link=false --exclude=x https://e.x/f.tgz /opt/',
      'ADD',
    );
    assert.deepEqual(
      a.flags.map((f) => f.name),
      ['checksum', 'keep-git-dir', 'chown', 'chmod', 'link', 'exclude'],
    );
    assert.deepEqual(a.sources, ['https://e.x/f.tgz']);
  });

  it('HEALTHCHECK: NONE, flags then CMD in either form', () => {
    const n = one('HEALTHCHECK NONE', 'HEALTHCHECK');
    assert.equal(n.none, true);
    assert.equal(n.command, undefined);
    const h = one(
      'HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=500ms --retries=3 \\\n  CMD curl -f http://localhost/ || exit 1',
      'HEALTHCHECK',
    );
    assert.equal(h.none, false);
    assert.deepEqual(h.command, { json: false, args: ['curl -f http://localhost/ || exit 1'] });
    assert.deepEqual(
      h.flags.map((f) => [f.name, f.value]),
      [
        ['interval', '5s'],
        ['timeout', '3s'],
        ['start-period', '1m'],
        ['start-interval', '500ms'],
        ['retries', '3'],
      ],
    );
    assert.deepEqual(one('healthcheck cmd ["/bin/check", "-q"]', 'HEALTHCHECK').command, {
      json: true,
      args: ['/bin/check', '-q'],
    });
  });

  it('SHELL takes JSON', () => {
    assert.deepEqual(one('SHELL ["/bin/bash", "-o", "pipefail", "-c"]', 'SHELL').args, [
      '/bin/bash',
      '-o',
      'pipefail',
      '-c',
    ]);
  });

  it('ONBUILD: the trigger is parsed as an instruction, with its text kept for the image', () => {
    const o = one('ONBUILD RUN --mount=type=cache,target=/c make', 'ONBUILD');
    assert.equal(o.trigger.kind, 'RUN');
    assert.deepEqual(o.trigger.kind === 'RUN' && o.trigger.args, ['make']);
    assert.equal(o.trigger.flags[0].column, 13);
    assert.equal(o.triggerText, 'RUN --mount=type=cache,target=/c make');
    const c = one('onbuild copy . /app', 'ONBUILD');
    assert.equal(c.trigger.kind, 'COPY');
    assert.equal(c.triggerText, 'copy . /app');
  });

  it('parseInstructionLine re-parses a stored trigger, heredoc body included', () => {
    const ins = parseInstructionLine('COPY <<EOF /x\nhello $X\nEOF');
    assert.equal(ins.kind, 'COPY');
    assert.deepEqual(ins.heredocs, [{ name: 'EOF', content: 'hello $X\n', expand: true, chomp: false }]);
    const o = one('ONBUILD RUN <<EOF\necho hi\nEOF', 'ONBUILD');
    assert.equal(o.triggerText, 'RUN <<EOF\necho hi\nEOF');
    const again = parseInstructionLine(o.triggerText);
    assert.equal(again.kind, 'RUN');
    assert.deepEqual(again.heredocs, o.heredocs);
    assert.equal(parseInstructionLine('RUN echo `\n  hi', '`').kind, 'RUN');
    // No directives in a trigger: a comment is a comment.
    assert.throws(() => parseInstructionLine('# escape=`'), DockerfileParseError);
  });
});

describe('directives', () => {
  it('syntax, escape and check at the top', () => {
    const d = parseDockerfile(
      '# syntax=docker/dockerfile:1.7-labs\n# escape=`\n#check=skip=JSONArgsRecommended;error=true\nFROM x',
    ).directives;
    assert.deepEqual(d, {
      syntax: 'docker/dockerfile:1.7-labs',
      escape: '`',
      check: 'skip=JSONArgsRecommended;error=true',
    });
    assert.deepEqual(parseDockerfile('FROM x').directives, { escape: '\\' });
    assert.deepEqual(parseDockerfile('#  SYNTAX = a/b  \nFROM x').directives, {
      escape: '\\',
      syntax: 'a/b',
    });
  });

  it('after another line or comment a directive is a plain comment', () => {
    assert.deepEqual(parseDockerfile('FROM x\n# escape=`').directives, { escape: '\\' });
    assert.deepEqual(parseDockerfile('# hello\n# escape=`\nFROM x').directives, { escape: '\\' });
    assert.deepEqual(parseDockerfile('\n# escape=`\nFROM x').directives, { escape: '\\' });
    // An unknown key ends the directives too.
    assert.deepEqual(parseDockerfile('# foo=bar\n# escape=`\nFROM x').directives, { escape: '\\' });
  });

  it('a duplicate or invalid directive is an error', () => {
    parseError('# escape=`\n# escape=\\\nFROM x', 'only one escape parser directive can be used', 2);
    parseError('# syntax=a\n# syntax=b\nFROM x', 'only one syntax parser directive can be used', 2);
    parseError('# escape=x\nFROM x', "invalid escape token 'x' does not match ` or \\", 1);
  });

  it('escape=` makes backtick the continuation and backslash literal', () => {
    const ins = parse('# escape=`\nFROM x\nRUN dir C:\\ `\n  /s\nCOPY C:\\a\\ C:\\b\\');
    assert.deepEqual(ins[1].kind === 'RUN' && ins[1].args, ['dir C:\\   /s']);
    assert.ok(ins[2].kind === 'COPY');
    assert.deepEqual([ins[2].sources, ins[2].dest], [['C:\\a\\'], 'C:\\b\\']);
  });

  it('checkSyntaxDirective accepts only the built-in frontend', () => {
    for (const ok of [
      undefined,
      'docker/dockerfile:1',
      'docker/dockerfile:1.7',
      'docker/dockerfile:1.7.1',
      'docker/dockerfile:1-labs',
      'docker/dockerfile:1.4-labs',
      'docker.io/docker/dockerfile:1',
      `docker/dockerfile:1@sha256:${'a'.repeat(64)}`,
    ]) {
      assert.doesNotThrow(() => checkSyntaxDirective(ok), String(ok));
    }
    for (const bad of [
      'example/foo',
      'docker/dockerfile:0.9',
      'docker/dockerfile',
      'docker/dockerfile:2',
      'x:1',
    ]) {
      assert.throws(
        () => checkSyntaxDirective(bad),
        (err: unknown) =>
          err instanceof BerthError &&
          err.message ===
            `berth build supports only the built-in Dockerfile frontend (docker/dockerfile:1.x); remove or change "# syntax=${bad}"`,
      );
    }
  });
});

describe('continuations and comments', () => {
  it('comment and empty lines inside a continuation are skipped, with a warning for empty ones', () => {
    const df = parseDockerfile('FROM x\nRUN a \\\n# comment\n  b \\\n\n  c\nRUN d');
    const r = df.instructions[1];
    assert.deepEqual(r.kind === 'RUN' && r.args, ['a   b   c']);
    assert.equal(r.line, 2);
    assert.equal(r.endLine, 6);
    assert.equal(df.instructions[2].line, 7);
    assert.deepEqual(df.warnings, [{ line: 6, message: 'Empty continuation line found in: RUN a   b   c' }]);
  });

  it('whitespace after the escape char still continues; an escaped escape does not', () => {
    const ins = parse('FROM x\nRUN a \\   \n b\nRUN c \\\\\nRUN d');
    assert.deepEqual(ins[1].kind === 'RUN' && ins[1].args, ['a  b']);
    assert.deepEqual(ins[2].kind === 'RUN' && ins[2].args, ['c \\\\']);
    assert.equal(ins.length, 4);
  });

  it('CRLF line endings and a BOM', () => {
    const ins = parse('\uFEFFFROM x\r\nRUN a \\\r\n  b\r\n');
    assert.deepEqual(ins[1].kind === 'RUN' && ins[1].args, ['a   b']);
  });

  it('indented instructions and comments', () => {
    const ins = parse('  FROM x\n    # note\n\tRUN  true  ');
    assert.deepEqual(
      ins.map((i) => i.kind),
      ['FROM', 'RUN'],
    );
    assert.deepEqual(ins[1].kind === 'RUN' && ins[1].args, ['true']);
  });
});

describe('heredocs', () => {
  it('RUN <<EOF with the body after the line', () => {
    const df = parseDockerfile('FROM x\nRUN <<EOF\necho $HOME\n  indented\nEOF\nRUN next');
    const r = df.instructions[1];
    assert.equal(r.kind, 'RUN');
    assert.deepEqual(r.kind === 'RUN' && r.args, ['<<EOF']);
    assert.deepEqual(r.heredocs, [
      { name: 'EOF', content: 'echo $HOME\n  indented\n', expand: true, chomp: false },
    ]);
    assert.equal(r.endLine, 5);
    assert.equal(df.instructions[2].line, 6);
  });

  it('<<- strips leading tabs (body and terminator); quoted delimiters turn expansion off', () => {
    const ins = parse(
      "FROM x\nRUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\nRUN <<'RAW'\n$X\nRAW\nRUN <<\"Q\"\n$Y\nQ\nRUN <<E'O'F\nz\nEOF",
    );
    assert.deepEqual(ins[1].heredocs, [
      { name: 'EOT', content: 'echo a\necho b\n', expand: true, chomp: true },
    ]);
    assert.deepEqual(ins[2].heredocs, [{ name: 'RAW', content: '$X\n', expand: false, chomp: false }]);
    assert.deepEqual(ins[3].heredocs, [{ name: 'Q', content: '$Y\n', expand: false, chomp: false }]);
    assert.deepEqual(ins[4].heredocs, [{ name: 'EOF', content: 'z\n', expand: false, chomp: false }]);
  });

  it('several heredocs on one line, in order', () => {
    const ins = parse(
      'FROM x\nRUN cat <<A > /a && cat <<B > /b\nalpha\nA\nbeta\nB\nCOPY <<X <<Y /dir/\nY\nX\nX\nY',
    );
    assert.deepEqual(
      ins[1].heredocs.map((h) => [h.name, h.content]),
      [
        ['A', 'alpha\n'],
        ['B', 'beta\n'],
      ],
    );
    const c = ins[2];
    assert.ok(c.kind === 'COPY');
    assert.deepEqual(c.sources, ['<<X', '<<Y']);
    assert.equal(c.dest, '/dir/');
    assert.deepEqual(
      c.heredocs.map((h) => [h.name, h.content]),
      [
        ['X', 'Y\n'],
        ['Y', 'X\n'],
      ],
    );
  });

  it('COPY <<EOF /file and ADD, with sources normalised to <<NAME', () => {
    const ins = parse(
      'FROM x\nCOPY --chmod=755 <<-"EOF" /usr/bin/hello\n\t#!/bin/sh\n\techo hi\nEOF\nADD <<ONE /one\n1\nONE',
    );
    const c = ins[1];
    assert.ok(c.kind === 'COPY');
    assert.deepEqual(c.sources, ['<<EOF']);
    assert.deepEqual(c.heredocs, [
      { name: 'EOF', content: '#!/bin/sh\necho hi\n', expand: false, chomp: true },
    ]);
    assert.ok(ins[2].kind === 'ADD');
    assert.deepEqual(ins[2].heredocs[0].content, '1\n');
  });

  it('only RUN, COPY and ADD (and an ONBUILD of them) read heredocs; JSON forms never', () => {
    const ins = parse(
      'FROM x\nRUN ["<<EOF"]\nLABEL a=<<EOF\nONBUILD RUN <<EOF\nbody\nEOF\nRUN "<<NOHEREDOC"',
    );
    assert.deepEqual(ins[1].heredocs, []);
    assert.deepEqual(ins[2].heredocs, []);
    assert.deepEqual(
      ins[3].heredocs.map((h) => h.content),
      ['body\n'],
    );
    assert.ok(ins[3].kind === 'ONBUILD');
    assert.deepEqual(ins[3].trigger.heredocs, ins[3].heredocs);
    assert.deepEqual(ins[4].heredocs, []);
  });

  it('BuildKit heredoc word cases', () => {
    const cases: [string, string, boolean][] = [
      ["RUN <<eo\\'f\necho foo\neo'f", "eo'f", true],
      ["RUN <<'e'o\\'f\necho foo\neo'f", "eo'f", false],
      ["RUN <<'one two'\necho bar\none two", 'one two', false],
      ['RUN <<$EOF\n$EOF', '$EOF', true],
      ['RUN <<  EOF\nEOF', 'EOF', true],
      ['RUN <<  EOF  > foo\nEOF', 'EOF', true],
      ['RUN 3<<EMPTY2\nEMPTY2', 'EMPTY2', true],
      ['RUN <<COMPLEX python3\nprint(1)\nCOMPLEX', 'COMPLEX', true],
    ];
    for (const [text, name, expand] of cases) {
      const r = parse(`FROM x\n${text}`)[1];
      assert.deepEqual(
        r.heredocs.map((h) => [h.name, h.expand]),
        [[name, expand]],
        text,
      );
    }
  });

  it('a missing terminator is an error naming the instruction line', () => {
    parseError('FROM x\n\nRUN <<EOF\necho hi\n', /^unterminated heredoc EOF/, 3);
    parseError('FROM x\nCOPY <<A <<B /d\na\nA\nb\n', /^unterminated heredoc B/, 2);
  });
});

describe('errors name the line (and the column of a flag)', () => {
  const cases: [string, string | RegExp, number, number?][] = [
    ['FROM x\nFOO bar', 'unknown instruction: FOO (did you mean FROM?)', 2],
    ['FROM x\nPUBLISH bar', 'unknown instruction: PUBLISH', 2],
    ['FROM x\nfoo bar', 'unknown instruction: foo (did you mean from?)', 2],
    ['FROM x\nCOPPY a b', 'unknown instruction: COPPY (did you mean COPY?)', 2],
    ['FROM x\nrunn a', 'unknown instruction: runn (did you mean run?)', 2],
    ['FROM x\nWorkDire a', 'unknown instruction: WorkDire (did you mean workdir?)', 2],
    ['FROM', 'FROM requires either one or three arguments', 1],
    ['FROM a b', 'FROM requires either one or three arguments', 1],
    [
      'FROM a AS 1x',
      'invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
      1,
    ],
    ['FROM x\nCOPY onlyone', /^COPY requires at least two arguments, but only one was provided/, 2],
    ['FROM x\nADD \\\n  onlyone', /^ADD requires at least two arguments/, 2],
    ['FROM x\nCOPY <<EOF <<EOF\nEOF\nEOF', 'COPY cannot accept a heredoc as a destination', 2],
    ['FROM x\n\nCOPY --foo=x a b', 'unknown flag: --foo (did you mean from?)', 3, 6],
    ['FROM x\nCOPY --user=me a b', 'unknown flag: --user', 2, 6],
    ['FROM x\nCOPY --chmown=1 a b', 'unknown flag: --chmown (did you mean chown?)', 2, 6],
    ['FROM x\nCOPY --link \\\n  --from a b /c', 'missing a value on flag: --from', 3, 3],
    ['FROM x\nCOPY --from=a --from=b x y', 'duplicate flag specified: --from', 2, 15],
    ['FROM x\nCOPY --link=maybe a b', 'expecting boolean value for flag --link, not: maybe', 2, 6],
    ['FROM x\nCOPY --link= a b', 'missing a value on flag: --link', 2, 6],
    ['FROM --plattform=x y', 'unknown flag: --plattform (did you mean platform?)', 1, 6],
    ['FROM x\nRUN --network=bridge true', 'invalid network mode "bridge"', 2, 5],
    ['FROM x\nRUN --security=root true', 'security "root" is not valid', 2, 5],
    ['FROM x\nCMD --doit ["a"]', 'unknown flag: --doit', 2, 5],
    ['FROM x\nMAINTAINER --boo joe@example.com', 'unknown flag: --boo', 2, 12],
    ['FROM x\nSTOPSIGNAL SIGTERM SIGKILL', 'STOPSIGNAL requires exactly one argument', 2],
    ['FROM x\nSTOPSIGNAL', 'STOPSIGNAL requires exactly one argument', 2],
    ['FROM x\nUSER', 'USER requires exactly one argument', 2],
    ['FROM x\nWORKDIR', 'WORKDIR requires exactly one argument', 2],
    ['FROM x\nHEALTHCHECK', 'HEALTHCHECK requires at least one argument', 2],
    ['FROM x\nHEALTHCHECK CMD', 'Missing command after HEALTHCHECK CMD', 2],
    ['FROM x\nHEALTHCHECK CMD []', 'Missing command after HEALTHCHECK CMD', 2],
    ['FROM x\nHEALTHCHECK NONE x', 'HEALTHCHECK NONE takes no arguments', 2],
    ['FROM x\nHEALTHCHECK CONNECT TCP 7000', 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)', 2],
    ['FROM x\nHEALTHCHECK --interval=5 CMD true', 'time: missing unit in duration "5"', 2, 13],
    ['FROM x\nHEALTHCHECK --timeout=50ns CMD true', 'Interval "timeout" cannot be less than 1ms', 2, 13],
    ['FROM x\nHEALTHCHECK --retries=-1 CMD true', '--retries cannot be negative (-1)', 2, 13],
    ['FROM x\nHEALTHCHECK --retries=x CMD true', /^strconv.ParseInt: parsing "x"/, 2, 13],
    ['FROM x\nSHELL /bin/sh -c', 'SHELL requires the arguments to be in JSON form', 2],
    ['FROM x\nSHELL []', 'SHELL requires at least one argument', 2],
    ['FROM x\nCMD ["a", 1]', 'when using JSON array syntax, arrays must be comprised of strings only', 2],
    ['FROM x\nENV', 'ENV requires at least one argument', 2],
    ['FROM x\nENV PATH', 'ENV must have two arguments', 2],
    ['FROM x\nENV a=1 b', 'Syntax error - can\'t find = in "b". Must be of the form: name=value', 2],
    ['FROM x\nENV =1', 'ENV names can not be blank', 2],
    ['FROM x\nLABEL', 'LABEL requires at least one argument', 2],
    ['FROM x\nARG', 'ARG requires at least one argument', 2],
    ['FROM x\nARG =1', 'ARG names can not be blank', 2],
    ['FROM x\nEXPOSE', 'EXPOSE requires at least one argument', 2],
    ['FROM x\nVOLUME', 'VOLUME requires at least one argument', 2],
    ['FROM x\nVOLUME [""]', 'VOLUME specified can not be an empty string', 2],
    ['FROM x\nONBUILD', 'ONBUILD requires at least one argument', 2],
    ['FROM x\nONBUILD ONBUILD RUN x', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", 2],
    ['FROM x\nONBUILD FROM scratch', "FROM isn't allowed as an ONBUILD trigger", 2],
    ['FROM x\nONBUILD maintainer me', "MAINTAINER isn't allowed as an ONBUILD trigger", 2],
    ['FROM x\nONBUILD XYZZY', 'unknown instruction: XYZZY', 2],
    ['FROM x\nONBUILD COPY --bad=1 a b', 'unknown flag: --bad', 2, 14],
    ['RUN true', 'no build stage in current context', 1],
    ['ARG A\n# c\nENV A=1\nFROM x', 'no build stage in current context', 3],
    ['', 'file with no instructions', 1],
    ['# just a comment\n\n', 'file with no instructions', 2],
  ];
  for (const [text, reason, line, column] of cases) {
    it(`${JSON.stringify(text)} → ${reason}`, () => parseError(text, reason, line, column));
  }
});

describe('frontend facts', () => {
  it('instructionVariableRule follows the BuildKit dispatcher', () => {
    const expanded = [
      'ADD',
      'COPY',
      'ENV',
      'EXPOSE',
      'FROM',
      'LABEL',
      'STOPSIGNAL',
      'USER',
      'VOLUME',
      'WORKDIR',
      'ARG',
    ];
    const literal = ['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'HEALTHCHECK', 'ONBUILD', 'MAINTAINER'];
    for (const k of expanded) assert.equal(instructionVariableRule(k as Instruction['kind']), true, k);
    for (const k of literal) assert.equal(instructionVariableRule(k as Instruction['kind']), false, k);
  });

  it('expandedFlags', () => {
    assert.deepEqual(expandedFlags('COPY'), ['chown', 'chmod']);
    assert.deepEqual(expandedFlags('ADD'), ['chown', 'chmod', 'checksum']);
    assert.deepEqual(expandedFlags('FROM'), ['platform']);
    assert.deepEqual(expandedFlags('RUN'), ['mount']);
    assert.deepEqual(expandedFlags('CMD'), []);
  });
});

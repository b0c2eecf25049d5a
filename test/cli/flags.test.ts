import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CommandSpec,
  type FlagValue,
  flagBool,
  flagInt,
  flagString,
  flagStrings,
  helpText,
  type ParsedArgs,
  parseArgs,
  UsageError,
  usageMessage,
} from '../../src/cli/flags.ts';
import { BerthError } from '../../src/util/errors.ts';

/** A subset of `docker run`'s table: flags stop at the image, `-h` is the hostname. */
const runSpec: CommandSpec = {
  name: 'run',
  usage: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  interspersed: false,
  minArgs: 1,
  flags: [
    { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
    {
      name: 'detach',
      short: 'd',
      kind: 'bool',
      description: 'Run container in background and print container ID',
    },
    { name: 'rm', kind: 'bool', description: 'Automatically remove the container when it exits' },
    { name: 'volume', short: 'v', kind: 'stringArray', description: 'Bind mount a volume' },
    { name: 'env', short: 'e', kind: 'stringArray', description: 'Set environment variables' },
    {
      name: 'publish',
      short: 'p',
      kind: 'stringArray',
      description: "Publish a container's port(s) to the host",
    },
    { name: 'name', kind: 'string', description: 'Assign a name to the container' },
    { name: 'hostname', short: 'h', kind: 'string', description: 'Container host name' },
    { name: 'cpu-shares', short: 'c', kind: 'int', description: 'CPU shares (relative weight)' },
    { name: 'stop-timeout', kind: 'int', description: 'Timeout (in seconds) to stop a container' },
    { name: 'blkio-weight', kind: 'uint', valueName: 'uint16', description: 'Block IO (relative weight)' },
    { name: 'pull', kind: 'string', default: 'missing', description: 'Pull image before running' },
    { name: 'sig-proxy', kind: 'bool', default: true, description: 'Proxy received signals to the process' },
    { name: 'dns', kind: 'stringArray', default: ['1.1.1.1'], description: 'Set custom DNS servers' },
    { name: 'memory-swappiness', kind: 'int', default: -1, description: 'Tune container memory swappiness' },
  ],
};

/** A subset of `docker rm`: flags may follow positionals, no `-h`. */
const rmSpec: CommandSpec = {
  name: 'rm',
  usage: 'berth rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  interspersed: true,
  minArgs: 1,
  flags: [
    {
      name: 'force',
      short: 'f',
      kind: 'bool',
      description: 'Force the removal of a running container (uses SIGKILL)',
    },
    { name: 'link', short: 'l', kind: 'bool', description: 'Remove the specified link' },
    {
      name: 'volumes',
      short: 'v',
      kind: 'bool',
      description: 'Remove anonymous volumes associated with the container',
    },
  ],
};

function flagsOf(p: ParsedArgs): Record<string, FlagValue> {
  return Object.fromEntries(p.flags);
}

function parseError(argv: string[], spec: CommandSpec): UsageError {
  try {
    parseArgs(argv, spec);
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    return err;
  }
  assert.fail(`parseArgs(${JSON.stringify(argv)}) did not throw`);
}

describe('parseArgs: accepted command lines', () => {
  const cases: { argv: string[]; spec?: CommandSpec; flags: Record<string, FlagValue>; args: string[] }[] = [
    {
      // the full docker example: every value form, and everything after the image untouched
      argv: [
        '-it',
        '--rm',
        '-v',
        'a:/a',
        '-v=b:/b',
        '--volume',
        'c:/c',
        '-eFOO=1',
        '-e',
        'BAR=2',
        '-p',
        '80:80',
        '--name=web',
        'alpine',
        'sh',
        '-c',
        'echo --flag',
        '--flag',
        '-la',
      ],
      flags: {
        interactive: true,
        tty: true,
        rm: true,
        volume: ['a:/a', 'b:/b', 'c:/c'],
        env: ['FOO=1', 'BAR=2'],
        publish: ['80:80'],
        name: 'web',
      },
      args: ['alpine', 'sh', '-c', 'echo --flag', '--flag', '-la'],
    },
    { argv: ['-itd', 'img'], flags: { interactive: true, tty: true, detach: true }, args: ['img'] },
    // a value flag ends a group: the next word, or the rest of the group, is its value
    {
      argv: ['-itv', '/a:/b', 'img'],
      flags: { interactive: true, tty: true, volume: ['/a:/b'] },
      args: ['img'],
    },
    { argv: ['-itvx', 'img'], flags: { interactive: true, tty: true, volume: ['x'] }, args: ['img'] },
    { argv: ['-ite=A=1', 'img'], flags: { interactive: true, tty: true, env: ['A=1'] }, args: ['img'] },
    // `-e=` is two characters after the dash, so pflag reads `=` as the value
    { argv: ['-e=', 'img'], flags: { env: ['='] }, args: ['img'] },
    { argv: ['--rm=false', 'img'], flags: { rm: false }, args: ['img'] },
    { argv: ['--rm=true', 'img'], flags: { rm: true }, args: ['img'] },
    { argv: ['--rm=0', '-d=1', 'img'], flags: { rm: false, detach: true }, args: ['img'] },
    { argv: ['-d=false', 'img'], flags: { detach: false }, args: ['img'] },
    { argv: ['-it=false', 'img'], flags: { interactive: true, tty: false }, args: ['img'] },
    // a bool never takes the next word: `false` is the image here
    { argv: ['--rm', 'false'], flags: { rm: true }, args: ['false'] },
    { argv: ['--sig-proxy=False', 'img'], flags: { 'sig-proxy': false }, args: ['img'] },
    // a value flag takes the next word even when it looks like a flag
    { argv: ['--name', '--rm', 'img'], flags: { name: '--rm' }, args: ['img'] },
    { argv: ['--name=', 'img'], flags: { name: '' }, args: ['img'] },
    { argv: ['--name=a=b', 'img'], flags: { name: 'a=b' }, args: ['img'] },
    { argv: ['--name', 'a', '--name', 'b', 'img'], flags: { name: 'b' }, args: ['img'] },
    { argv: ['-h', 'box', 'img'], flags: { hostname: 'box' }, args: ['img'] },
    { argv: ['-hbox', 'img'], flags: { hostname: 'box' }, args: ['img'] },
    { argv: ['-c', '512', 'img'], flags: { 'cpu-shares': 512 }, args: ['img'] },
    { argv: ['-c=-5', 'img'], flags: { 'cpu-shares': -5 }, args: ['img'] },
    { argv: ['-c0x10', 'img'], flags: { 'cpu-shares': 16 }, args: ['img'] },
    { argv: ['--cpu-shares', '010', 'img'], flags: { 'cpu-shares': 8 }, args: ['img'] },
    { argv: ['--cpu-shares=1_000', 'img'], flags: { 'cpu-shares': 1000 }, args: ['img'] },
    { argv: ['--blkio-weight', '0b101', 'img'], flags: { 'blkio-weight': 5 }, args: ['img'] },
    // `--` ends the flags; after the first positional it is itself positional
    { argv: ['--', '-x', 'y'], flags: {}, args: ['-x', 'y'] },
    { argv: ['-d', '--', '--rm'], flags: { detach: true }, args: ['--rm'] },
    { argv: ['img', '--', '-d'], flags: {}, args: ['img', '--', '-d'] },
    { argv: ['img', '--help'], flags: {}, args: ['img', '--help'] },
    { argv: ['-', '-d'], flags: {}, args: ['-', '-d'] },
    // interspersed: flags anywhere until `--`
    { spec: rmSpec, argv: ['a', '-f', 'b'], flags: { force: true }, args: ['a', 'b'] },
    {
      spec: rmSpec,
      argv: ['a', '-fv', 'b', '--link'],
      flags: { force: true, volumes: true, link: true },
      args: ['a', 'b'],
    },
    { spec: rmSpec, argv: ['a', '--', '-f'], flags: {}, args: ['a', '-f'] },
    { spec: rmSpec, argv: ['-', 'x', '', '-f'], flags: { force: true }, args: ['-', 'x', ''] },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.argv), () => {
      const p = parseArgs(c.argv, c.spec ?? runSpec);
      assert.deepEqual(flagsOf(p), c.flags);
      assert.deepEqual(p.args, c.args);
    });
  }

  it('accepts --help anywhere flags are read and then skips the argument count', () => {
    assert.deepEqual(flagsOf(parseArgs(['--help'], runSpec)), { help: true });
    assert.deepEqual(flagsOf(parseArgs(['-f', '--help'], rmSpec)), { force: true, help: true });
    assert.deepEqual(flagsOf(parseArgs(['--help=false', 'c'], rmSpec)), { help: false });
  });

  it('does not modify argv', () => {
    const argv = ['-e', 'A=1', 'img'];
    const p = parseArgs(argv, runSpec);
    (p.flags.get('env') as string[]).push('x');
    assert.deepEqual(argv, ['-e', 'A=1', 'img']);
  });
});

describe('parseArgs: rejected command lines', () => {
  const cases: { argv: string[]; spec?: CommandSpec; message: string }[] = [
    { argv: ['--foo', 'img'], message: 'unknown flag: --foo' },
    { argv: ['--foo=bar', 'img'], message: 'unknown flag: --foo' },
    { argv: ['-z', 'img'], message: "unknown shorthand flag: 'z' in -z" },
    { argv: ['-itz', 'img'], message: "unknown shorthand flag: 'z' in -z" },
    { argv: ['-zit', 'img'], message: "unknown shorthand flag: 'z' in -zit" },
    { argv: ["-'"], message: "unknown shorthand flag: '\\'' in -'" },
    // `-h` is not help: without a shorthand h it is unknown
    { spec: rmSpec, argv: ['-h'], message: "unknown shorthand flag: 'h' in -h" },
    { spec: rmSpec, argv: ['c', '--nope'], message: 'unknown flag: --nope' },
    { argv: ['-d=', 'img'], message: "unknown shorthand flag: '=' in -=" },
    { argv: ['--name'], message: 'flag needs an argument: --name' },
    { argv: ['-e'], message: "flag needs an argument: 'e' in -e" },
    { argv: ['-ite'], message: "flag needs an argument: 'e' in -e" },
    { argv: ['---rm', 'img'], message: 'bad flag syntax: ---rm' },
    { argv: ['--=x', 'img'], message: 'bad flag syntax: --=x' },
    {
      argv: ['-c', 'x', 'img'],
      message:
        'invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax',
    },
    {
      argv: ['--stop-timeout=1.5', 'img'],
      message:
        'invalid argument "1.5" for "--stop-timeout" flag: strconv.ParseInt: parsing "1.5": invalid syntax',
    },
    {
      argv: ['--cpu-shares=9223372036854775808', 'img'],
      message:
        'invalid argument "9223372036854775808" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "9223372036854775808": value out of range',
    },
    {
      argv: ['--cpu-shares=1__0', 'img'],
      message:
        'invalid argument "1__0" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "1__0": invalid syntax',
    },
    {
      argv: ['--cpu-shares=09', 'img'],
      message:
        'invalid argument "09" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "09": invalid syntax',
    },
    {
      argv: ['--blkio-weight=-1', 'img'],
      message:
        'invalid argument "-1" for "--blkio-weight" flag: strconv.ParseUint: parsing "-1": invalid syntax',
    },
    {
      argv: ['--rm=maybe', 'img'],
      message: 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    },
    {
      argv: ['-d=yes', 'img'],
      message:
        'invalid argument "yes" for "-d, --detach" flag: strconv.ParseBool: parsing "yes": invalid syntax',
    },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.argv)} → ${c.message}`, () => {
      const err = parseError(c.argv, c.spec ?? runSpec);
      assert.equal(err.message, c.message);
      assert.equal(err.kind, 'flag');
      assert.equal(err.exitCode, 125);
      assert.ok(err instanceof BerthError);
    });
  }
});

describe('argument counts', () => {
  const base = { description: 'Do a thing', interspersed: true, flags: [] };
  const cases: { spec: CommandSpec; argv: string[]; message: string | null }[] = [
    { spec: runSpec, argv: [], message: '"berth run" requires at least 1 argument.' },
    { spec: runSpec, argv: ['-d'], message: '"berth run" requires at least 1 argument.' },
    { spec: runSpec, argv: ['img'], message: null },
    {
      spec: { ...base, name: 'cp', usage: 'berth cp [OPTIONS] SRC DEST', minArgs: 2 },
      argv: ['a'],
      message: '"berth cp" requires at least 2 arguments.',
    },
    {
      spec: { ...base, name: 'rename', usage: 'berth rename CONTAINER NEW_NAME', minArgs: 2, maxArgs: 2 },
      argv: ['a', 'b', 'c'],
      message: '"berth rename" requires exactly 2 arguments.',
    },
    {
      spec: { ...base, name: 'rename', usage: 'berth rename CONTAINER NEW_NAME', minArgs: 2, maxArgs: 2 },
      argv: ['a', 'b'],
      message: null,
    },
    {
      spec: { ...base, name: 'version', usage: 'berth version [OPTIONS]', maxArgs: 0 },
      argv: ['x'],
      message: '"berth version" accepts no arguments.',
    },
    {
      spec: { ...base, name: 'image ls', usage: 'berth image ls [OPTIONS] [REPOSITORY[:TAG]]', maxArgs: 1 },
      argv: ['a', 'b'],
      message: '"berth image ls" requires at most 1 argument.',
    },
    {
      spec: { ...base, name: 'logs', usage: 'berth x CONTAINER [N]', minArgs: 1, maxArgs: 2 },
      argv: [],
      message: '"berth x" requires at least 1 and at most 2 arguments.',
    },
    {
      spec: { ...base, name: 'logs', usage: 'berth x CONTAINER [N]', minArgs: 1, maxArgs: 2 },
      argv: ['a', 'b', 'c'],
      message: '"berth x" requires at least 1 and at most 2 arguments.',
    },
  ];
  for (const c of cases) {
    it(`${c.spec.usage} with ${JSON.stringify(c.argv)}`, () => {
      if (c.message === null) {
        assert.deepEqual(parseArgs(c.argv, c.spec).args, c.argv);
        return;
      }
      const err = parseError(c.argv, c.spec);
      assert.equal(err.message, c.message);
      assert.equal(err.kind, 'args');
    });
  }
});

describe('usageMessage', () => {
  it('gives docker’s two lines for a flag error', () => {
    assert.equal(
      usageMessage(parseError(['--foo'], runSpec), runSpec),
      "berth: unknown flag: --foo\nSee 'berth run --help'.",
    );
    assert.equal(
      usageMessage(parseError(['-z'], rmSpec), rmSpec),
      "berth: unknown shorthand flag: 'z' in -z\nSee 'berth rm --help'.",
    );
  });

  it('gives docker’s usage block for a wrong argument count', () => {
    assert.equal(
      usageMessage(parseError([], runSpec), runSpec),
      '"berth run" requires at least 1 argument.\n' +
        "See 'berth run --help'.\n\n" +
        'Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n' +
        'Create and run a new container from an image',
    );
  });

  it('names a multi-word command by its full path', () => {
    const spec: CommandSpec = {
      ...rmSpec,
      name: 'container rm',
      usage: 'berth container rm [OPTIONS] CONTAINER',
    };
    assert.equal(
      usageMessage(parseError(['--x'], spec), spec),
      "berth: unknown flag: --x\nSee 'berth container rm --help'.",
    );
  });
});

describe('helpText', () => {
  it('matches docker rm --help', () => {
    assert.equal(
      helpText(rmSpec),
      [
        '',
        'Usage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]',
        '',
        'Remove one or more containers',
        '',
        'Options:',
        '  -f, --force     Force the removal of a running container (uses SIGKILL)',
        '  -l, --link      Remove the specified link',
        '  -v, --volumes   Remove anonymous volumes associated with the container',
        '',
      ].join('\n'),
    );
  });

  const spec: CommandSpec = {
    name: 'run',
    usage: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]',
    description: 'Create and run a new container from an image',
    interspersed: false,
    flags: [
      { name: 'stop-timeout', kind: 'int', description: 'Timeout (in seconds) to stop a container' },
      {
        name: 'pull',
        kind: 'string',
        default: 'missing',
        description: 'Pull image before running ("always", "missing", "never")',
      },
      { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', description: 'Memory limit' },
      { name: 'env', short: 'e', kind: 'stringArray', description: 'Set environment variables' },
      {
        name: 'platform',
        kind: 'string',
        hidden: true,
        description: 'Set platform if server is multi-platform capable',
      },
      {
        name: 'sig-proxy',
        kind: 'bool',
        default: true,
        description: 'Proxy received signals to the process',
      },
      { name: 'format', kind: 'string', description: 'Format output using a custom `template`' },
    ],
  };
  // the description column starts 3 spaces after the longest flag column (`      --stop-timeout int`)
  const row = (flag: string, text: string) => flag.padEnd(27) + text;

  it('sorts flags, names values, shows defaults, hides hidden flags and --help, wraps at 79 columns', () => {
    assert.equal(
      helpText(spec),
      [
        '',
        'Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]',
        '',
        'Create and run a new container from an image',
        '',
        'Options:',
        row('  -e, --env list', 'Set environment variables'),
        row('      --format template', 'Format output using a custom template'),
        row('  -m, --memory bytes', 'Memory limit'),
        row('      --pull string', 'Pull image before running ("always",'),
        row('', '"missing", "never") (default "missing")'),
        // pflag keeps 5 columns of slop, so even a 52-character text breaks in a 52-column space
        row('      --sig-proxy', 'Proxy received signals to the process (default'),
        row('', 'true)'),
        row('      --stop-timeout int', 'Timeout (in seconds) to stop a container'),
        '',
      ].join('\n'),
    );
  });

  it('does not wrap on a wide terminal', () => {
    assert.ok(
      helpText(spec, 200).includes(
        row(
          '      --pull string',
          'Pull image before running ("always", "missing", "never") (default "missing")\n',
        ),
      ),
    );
  });

  it('omits the Options section when no flag is visible', () => {
    const bare: CommandSpec = {
      name: 'version',
      usage: 'berth version',
      description: 'Show the version',
      interspersed: true,
      flags: [{ name: 'secret', kind: 'bool', hidden: true, description: 'x' }],
    };
    assert.equal(helpText(bare), '\nUsage:  berth version\n\nShow the version\n');
  });
});

describe('typed getters', () => {
  it('apply defaults only when a flag was not given', () => {
    const none = parseArgs(['img'], runSpec);
    assert.equal(flagBool(none, runSpec, 'detach'), false);
    assert.equal(flagBool(none, runSpec, 'sig-proxy'), true);
    assert.equal(flagBool(none, runSpec, 'help'), false);
    assert.equal(flagString(none, runSpec, 'name'), undefined);
    assert.equal(flagString(none, runSpec, 'pull'), 'missing');
    assert.deepEqual(flagStrings(none, runSpec, 'env'), []);
    assert.deepEqual(flagStrings(none, runSpec, 'dns'), ['1.1.1.1']);
    assert.equal(flagInt(none, runSpec, 'cpu-shares'), undefined);
    assert.equal(flagInt(none, runSpec, 'memory-swappiness'), -1);

    const given = parseArgs(
      [
        '-d',
        '--sig-proxy=false',
        '--name',
        'x',
        '--pull=never',
        '-e',
        'A',
        '-e',
        'B',
        '--dns',
        '8.8.8.8',
        '-c',
        '7',
        'img',
      ],
      runSpec,
    );
    assert.equal(flagBool(given, runSpec, 'detach'), true);
    assert.equal(flagBool(given, runSpec, 'sig-proxy'), false);
    assert.equal(flagString(given, runSpec, 'name'), 'x');
    assert.equal(flagString(given, runSpec, 'pull'), 'never');
    assert.deepEqual(flagStrings(given, runSpec, 'env'), ['A', 'B']);
    assert.deepEqual(flagStrings(given, runSpec, 'dns'), ['8.8.8.8']);
    assert.equal(flagInt(given, runSpec, 'cpu-shares'), 7);
    assert.equal(flagBool(parseArgs(['--help'], runSpec), runSpec, 'help'), true);
  });

  it('reject names missing from the table and the wrong kind', () => {
    const p = parseArgs(['img'], runSpec);
    assert.throws(() => flagBool(p, runSpec, 'nope'), /flag accessed but not defined: nope/);
    assert.throws(() => flagString(p, runSpec, 'detach'), /is of kind bool, not string/);
    assert.throws(() => flagInt(p, runSpec, 'name'), /is of kind string, not int\/uint/);
  });
});

describe('flag tables', () => {
  const bad: { flags: CommandSpec['flags']; message: RegExp }[] = [
    {
      flags: [
        { name: 'a', short: 'x', kind: 'bool', description: '' },
        { name: 'b', short: 'x', kind: 'bool', description: '' },
      ],
      message: /shorthand -x is used by both --a and --b/,
    },
    {
      flags: [
        { name: 'a', kind: 'bool', description: '' },
        { name: 'a', kind: 'string', description: '' },
      ],
      message: /flag redefined: a/,
    },
    { flags: [{ name: 'a', short: 'xy', kind: 'bool', description: '' }], message: /must be one character/ },
    {
      flags: [{ name: 'a', kind: 'int', default: '1', description: '' }],
      message: /default that is not of kind int/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.message}`, () => {
      const spec: CommandSpec = {
        name: 't',
        usage: 'berth t',
        description: '',
        interspersed: true,
        flags: c.flags,
      };
      assert.throws(() => parseArgs([], spec), c.message);
    });
  }

  it('lets a table define its own help flag with -h', () => {
    const spec: CommandSpec = {
      name: 'ps',
      usage: 'berth ps [OPTIONS]',
      description: 'List containers',
      interspersed: true,
      flags: [{ name: 'help', short: 'h', kind: 'bool', hidden: true, description: 'Print usage' }],
    };
    assert.equal(flagBool(parseArgs(['-h'], spec), spec, 'help'), true);
  });
});

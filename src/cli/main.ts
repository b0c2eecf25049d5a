import type { Engine } from '../engine/engine.ts';
import { defaultPaths, type StorePaths } from '../store/paths.ts';
import { BerthError } from '../util/errors.ts';
import type { CliContext } from './context.ts';

const VERSION = '0.1.0';

const USAGE = `
Usage:  berth [OPTIONS] COMMAND

A container engine: a drop-in for docker.

Options:
      --root string      Where Berth keeps images and containers (default "/var/lib/berth", env BERTH_ROOT)
      --runroot string   Where Berth keeps runtime state (default "/run/berth", env BERTH_RUNROOT)
  -v, --version          Print version information and quit

Commands:
  run, create, start, stop, restart, kill, rm, ps, logs, inspect, wait, exec, attach,
  top, stats, rename, pause, unpause, import, images, tag, rmi, history

Management Commands:
  container   Manage containers
  image       Manage images

Run 'berth COMMAND --help' for more information on a command.
`;

interface Globals {
  paths: StorePaths;
  /** `--host`/`-H`, else BERTH_HOST, else DOCKER_HOST: the CLI is then a client of that engine. */
  host?: string;
  rest: string[];
}

/** Global options come before the command, as in docker. */
function parseGlobals(argv: string[]): Globals {
  const paths = defaultPaths();
  let host = process.env.BERTH_HOST || process.env.DOCKER_HOST || undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] =
      a.startsWith('--') && a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new BerthError(`flag needs an argument: ${name}`);
      return v;
    };
    if (name === '--root') paths.root = value();
    else if (name === '--runroot') paths.runroot = value();
    else if (name === '--host' || name === '-H') host = value();
    else if (name === '--log-level' || name === '-l') value();
    else if (name === '-D' || name === '--debug') continue;
    else break;
  }
  return { paths, host, rest: argv.slice(i) };
}

function commandWords(argv: string[]): string {
  return parseGlobals(argv).rest.slice(0, 2).join(' ');
}

async function main(argv: string[]): Promise<number> {
  const { paths, host, rest } = parseGlobals(argv);
  const first = rest[0];
  if (first === '-v' || first === '--version' || first === 'version') {
    process.stdout.write(`Berth version ${VERSION}\n`);
    return 0;
  }
  if (!first || first === '--help' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { COMMANDS } = await import('./registry.ts');
  const two = rest.length > 1 ? `${first} ${rest[1]}` : '';
  const key = two && COMMANDS[two] ? two : first;
  const loader = COMMANDS[key];
  if (!loader) {
    if (['container', 'image', 'volume', 'network'].includes(first)) {
      process.stderr.write(
        `berth: '${rest.slice(0, 2).join(' ')}' is not a berth command.\nSee 'berth --help'\n`,
      );
    } else {
      process.stderr.write(`berth: '${first}' is not a berth command.\nSee 'berth --help'\n`);
    }
    return 125;
  }
  const cmdArgs = rest.slice(key.split(' ').length);
  const cmd = await loader();
  const { parseArgs, UsageError, usageMessage, helpText } = await import('./flags.ts');
  let engine: Engine | undefined;
  const ctx: CliContext = {
    paths,
    out: process.stdout,
    err: process.stderr,
    async engine() {
      // The engine's own helpers (conmon's exit command, monitors, the server) always act locally.
      if (!engine && host && !/^(serve|container (cleanup|healthcheck-monitor)|system service)$/.test(key)) {
        const { RemoteEngine } = await import('../engine/remote.ts');
        engine = new RemoteEngine(host);
      }
      if (!engine) {
        const { LocalEngine } = await import('../engine/local.ts');
        engine = new LocalEngine(paths);
      }
      return engine;
    },
  };
  try {
    const parsed = parseArgs(cmdArgs, cmd.spec);
    if (parsed.flags.get('help') === true) {
      process.stdout.write(helpText(cmd.spec));
      return 0;
    }
    return await cmd.run(ctx, parsed);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${usageMessage(err, cmd.spec)}\n`);
      return 125;
    }
    throw err;
  }
}

/** docker exits 125 for engine errors in the commands that run containers, and 1 in every other command. */
const CONTAINER_COMMANDS = /^(container )?(run|create|exec)\b/;

function report(err: unknown, argv: string[]): number {
  if (err instanceof BerthError) {
    process.stderr.write(`Error: ${err.message}\n`);
    if (err.exitCode === 125 && err.name !== 'UsageError' && !CONTAINER_COMMANDS.test(commandWords(argv)))
      return 1;
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`Error: ${e?.stack ?? String(err)}\n`);
  return 125;
}

main(process.argv.slice(2)).then(
  // Exit explicitly: an attached stdin or a pending watcher must not keep a finished command alive.
  (code) => process.exit(code),
  (err: unknown) => process.exit(report(err, process.argv.slice(2))),
);

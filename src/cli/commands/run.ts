import { writeFileSync } from 'node:fs';
import type { Engine } from '../../engine/engine.ts';
import { BerthError } from '../../util/errors.ts';
import type { CliContext } from '../context.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool } from '../flags.ts';
import type { Command } from '../registry.ts';
import { openTerminal, proxySignals } from '../terminal.ts';
import { CREATE_FLAGS, createOptionsFrom, type ParsedCreate } from './create-flags.ts';

const runSpec: CommandSpec = {
  name: 'run',
  usage: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  interspersed: false,
  minArgs: 1,
  flags: [
    ...CREATE_FLAGS,
    {
      name: 'detach',
      short: 'd',
      kind: 'bool',
      description: 'Run container in background and print container ID',
    },
    {
      name: 'detach-keys',
      kind: 'string',
      description: 'Override the key sequence for detaching a container',
    },
    { name: 'sig-proxy', kind: 'bool', default: true, description: 'Proxy received signals to the process' },
  ],
};

const createSpec: CommandSpec = {
  name: 'create',
  usage: 'berth create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  interspersed: false,
  minArgs: 1,
  flags: CREATE_FLAGS,
};

/** As the docker CLI: a missing image (or `--pull always`) is pulled first, with progress on stderr. */
async function pullIfNeeded(
  ctx: CliContext,
  engine: Engine,
  pc: ParsedCreate,
  quiet: boolean,
): Promise<void> {
  if (pc.pull === 'never') return;
  if (pc.pull === 'missing') {
    const present = await engine.inspectImage(pc.create.image).then(
      () => true,
      () => false,
    );
    if (present) return;
    ctx.err.write(`Unable to find image '${pc.create.image}' locally\n`);
  }
  const { withProgress } = await import('../progress.ts');
  await withProgress(ctx.err, quiet, (sink) =>
    engine.pullImage(pc.create.image, { allTags: false, platform: pc.platform }, sink),
  );
}

async function create(ctx: CliContext, engine: Engine, pc: ParsedCreate): Promise<string> {
  await pullIfNeeded(ctx, engine, pc, pc.quiet);
  const { id, warnings } = await engine.createContainer(
    pc.create,
    pc.pull === 'always' ? 'missing' : pc.pull,
  );
  for (const w of warnings) ctx.err.write(`WARNING: ${w}\n`);
  if (pc.cidfile) writeFileSync(pc.cidfile, id);
  return id;
}

export const createCmd: Command = {
  spec: createSpec,
  async run(ctx, p) {
    const pc = createOptionsFrom(p, createSpec);
    const engine = await ctx.engine();
    print(ctx, await create(ctx, engine, pc));
    return 0;
  },
};

export const runCmd: Command = {
  spec: runSpec,
  async run(ctx, p) {
    const pc = createOptionsFrom(p, runSpec);
    if (pc.detach && pc.attach.length) throw new BerthError('Conflicting options: -a and -d');
    const engine = await ctx.engine();
    const id = await create(ctx, engine, pc);
    if (pc.detach) {
      await engine.startContainer(id).catch((err: unknown) => failedStart(engine, id, pc, err));
      print(ctx, id);
      return 0;
    }
    const streams = pc.attach.length
      ? pc.attach
      : ['stdout', 'stderr', ...(pc.create.openStdin ? ['stdin'] : [])];
    const term = openTerminal({
      tty: pc.create.tty,
      stdin: streams.includes('stdin'),
      stdout: streams.includes('stdout'),
      stderr: streams.includes('stderr'),
    });
    let unproxy: () => void = () => undefined;
    try {
      const wait = { result: undefined as Promise<{ StatusCode: number }> | undefined };
      const handle = await engine
        .startContainer(id, term.io)
        .catch((err: unknown) => failedStart(engine, id, pc, err));
      wait.result = engine.waitContainer(id, 'next-exit');
      if (handle) {
        const size = term.size();
        if (pc.create.tty && size) handle.resize(size.rows, size.cols);
        term.onResize((rows, cols) => handle.resize(rows, cols));
      }
      if (!pc.create.tty && flagBool(p, runSpec, 'sig-proxy')) {
        unproxy = proxySignals((sig) => void engine.killContainer(id, sig).catch(() => undefined));
      }
      const detached = handle ? handle.done.then((how) => how === 'detached') : Promise.resolve(false);
      const first = await Promise.race([
        wait.result.then((r) => ({ exit: r.StatusCode })),
        detached.then((d) => ({ detached: d })),
      ]);
      if ('detached' in first && first.detached) {
        term.restore();
        ctx.err.write('\n');
        return 0;
      }
      const code = 'exit' in first ? first.exit : (await wait.result).StatusCode;
      // Output may still be in flight on the attach socket after the exit is recorded.
      if (handle) await Promise.race([handle.done, new Promise((r) => setTimeout(r, 1000))]);
      handle?.close();
      return code;
    } finally {
      unproxy();
      term.restore();
    }
  },
};

/** docker removes a `--rm` container whose start failed, and exits with the start error's code. */
async function failedStart(engine: Engine, id: string, pc: ParsedCreate, err: unknown): Promise<never> {
  if (pc.create.host.autoRemove)
    await engine.removeContainer(id, { force: true, volumes: true }).catch(() => undefined);
  throw err;
}

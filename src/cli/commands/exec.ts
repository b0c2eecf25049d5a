import { BerthError } from '../../util/errors.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, flagStrings } from '../flags.ts';
import type { Command } from '../registry.ts';
import { openTerminal, proxySignals } from '../terminal.ts';
import { readEnvFile } from './create-flags.ts';

const execSpec: CommandSpec = {
  name: 'exec',
  usage: 'berth exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  interspersed: false,
  minArgs: 2,
  flags: [
    { name: 'detach', short: 'd', kind: 'bool', description: 'Detached mode: run command in the background' },
    {
      name: 'detach-keys',
      kind: 'string',
      description: 'Override the key sequence for detaching a container',
    },
    { name: 'env', short: 'e', kind: 'stringArray', description: 'Set environment variables' },
    { name: 'env-file', kind: 'stringArray', description: 'Read in a file of environment variables' },
    { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'privileged', kind: 'bool', description: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
    {
      name: 'user',
      short: 'u',
      kind: 'string',
      description: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
    },
    { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
  ],
};

export const execCmd: Command = {
  spec: execSpec,
  async run(ctx, p) {
    const [ref, ...cmd] = p.args;
    const engine = await ctx.engine();
    const tty = flagBool(p, execSpec, 'tty');
    const stdin = flagBool(p, execSpec, 'interactive');
    const detach = flagBool(p, execSpec, 'detach');
    const workdir = flagString(p, execSpec, 'workdir');
    if (workdir !== undefined && !workdir.startsWith('/'))
      throw new BerthError(`the working directory '${workdir}' is invalid, it needs to be an absolute path`);
    const term = detach ? undefined : openTerminal({ tty, stdin });
    const unproxy = tty || detach ? () => undefined : proxySignals(() => undefined);
    try {
      const h = await engine.execContainer(
        ref!,
        {
          cmd,
          env: [
            ...flagStrings(p, execSpec, 'env-file').flatMap(readEnvFile),
            ...flagStrings(p, execSpec, 'env'),
          ],
          workingDir: workdir,
          user: flagString(p, execSpec, 'user'),
          tty,
          stdin,
          detach,
          privileged: flagBool(p, execSpec, 'privileged'),
        },
        term?.io ?? {},
      );
      if (detach) return 0;
      const size = term?.size();
      if (tty && size) h.resize(size.rows, size.cols);
      term?.onResize((r, c) => h.resize(r, c));
      const first = await Promise.race([h.exitCode, h.detached.then((d) => (d ? -1 : h.exitCode))]);
      return first === -1 ? 0 : first;
    } finally {
      unproxy();
      term?.restore();
    }
  },
};

const attachSpec: CommandSpec = {
  name: 'attach',
  usage: 'berth attach [OPTIONS] CONTAINER',
  description: 'Attach local standard input, output, and error streams to a running container',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: 'detach-keys',
      kind: 'string',
      description: 'Override the key sequence for detaching a container',
    },
    { name: 'no-stdin', kind: 'bool', description: 'Do not attach STDIN' },
    {
      name: 'sig-proxy',
      kind: 'bool',
      default: true,
      description: 'Proxy all received signals to the process',
    },
  ],
};

export const attachCmd: Command = {
  spec: attachSpec,
  async run(ctx, p) {
    const ref = p.args[0]!;
    const engine = await ctx.engine();
    const info = (await engine.inspectContainer(ref, { size: false })) as {
      Config: { Tty: boolean; OpenStdin: boolean };
    };
    const term = openTerminal({
      tty: info.Config.Tty,
      stdin: info.Config.OpenStdin && !flagBool(p, attachSpec, 'no-stdin'),
    });
    const unproxy =
      info.Config.Tty || !flagBool(p, attachSpec, 'sig-proxy')
        ? () => undefined
        : proxySignals((s) => void engine.killContainer(ref, s).catch(() => undefined));
    try {
      const h = await engine.attachContainer(ref, term.io);
      const size = term.size();
      if (info.Config.Tty && size) h.resize(size.rows, size.cols);
      term.onResize((r, c) => h.resize(r, c));
      const how = await h.done;
      if (how === 'detached') {
        print(ctx, '');
        return 0;
      }
      const r = await engine.waitContainer(ref, 'not-running');
      return r.StatusCode;
    } finally {
      unproxy();
      term.restore();
    }
  },
};

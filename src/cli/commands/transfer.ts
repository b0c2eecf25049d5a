import { createInterface } from 'node:readline';
import { canonicalName, parseReference } from '../../image/reference.ts';
import { authKey, getCredentials, registryHostname } from '../../registry/credentials.ts';
import { BerthError } from '../../util/errors.ts';
import type { CliContext } from '../context.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, UsageError } from '../flags.ts';
import { withProgress } from '../progress.ts';
import type { Command } from '../registry.ts';

const contentTrustFlag = {
  name: 'disable-content-trust',
  kind: 'bool',
  default: true,
  description: 'Skip image verification',
} as const;

/** What pull and push print when done: the full reference (docker's `docker.io/library/x:latest`). */
function fullName(ref: string, allTags: boolean): string {
  const r = parseReference(ref);
  return allTags ? `${r.domain}/${r.path}` : canonicalName(r);
}

const pullSpec: CommandSpec = {
  name: 'pull',
  usage: 'berth pull [OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: 'all-tags',
      short: 'a',
      kind: 'bool',
      description: 'Download all tagged images in the repository',
    },
    { ...contentTrustFlag },
    {
      name: 'drop-compressed',
      kind: 'bool',
      description: 'Delete compressed layer blobs after unpack (fetched again when pushing or saving)',
    },
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' },
  ],
};

export const pullCmd: Command = {
  spec: pullSpec,
  async run(ctx, p) {
    const ref = p.args[0]!;
    const allTags = flagBool(p, pullSpec, 'all-tags');
    const quiet = flagBool(p, pullSpec, 'quiet');
    const engine = await ctx.engine();
    const platform = flagString(p, pullSpec, 'platform');
    const dropCompressed = flagBool(p, pullSpec, 'drop-compressed') || undefined;
    await withProgress(ctx.out, quiet, (sink) =>
      engine.pullImage(ref, { allTags, platform, dropCompressed }, sink),
    );
    print(ctx, fullName(ref, allTags));
    return 0;
  },
};

const pushSpec: CommandSpec = {
  name: 'push',
  usage: 'berth push [OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [
    {
      name: 'all-tags',
      short: 'a',
      kind: 'bool',
      description: 'Push all tags of an image to the repository',
    },
    { ...contentTrustFlag },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' },
  ],
};

export const pushCmd: Command = {
  spec: pushSpec,
  async run(ctx, p) {
    const ref = p.args[0]!;
    const allTags = flagBool(p, pushSpec, 'all-tags');
    const quiet = flagBool(p, pushSpec, 'quiet');
    const engine = await ctx.engine();
    await withProgress(ctx.out, quiet, (sink) => engine.pushImage(ref, { allTags }, sink));
    if (quiet) print(ctx, fullName(ref, allTags));
    return 0;
  },
};

const loginSpec: CommandSpec = {
  name: 'login',
  usage: 'berth login [OPTIONS] [SERVER]',
  description:
    'Log in to a registry.\nIf no server is specified, the default is defined by the daemon (docker.io).',
  interspersed: true,
  maxArgs: 1,
  flags: [
    { name: 'password', short: 'p', kind: 'string', description: 'Password' },
    { name: 'password-stdin', kind: 'bool', description: 'Take the password from stdin' },
    { name: 'username', short: 'u', kind: 'string', description: 'Username' },
  ],
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function requireTty(): void {
  if (!process.stdin.isTTY) {
    throw new BerthError('Cannot perform an interactive login from a non TTY device', 125, 'invalid');
  }
}

async function promptLine(ctx: CliContext, question: string): Promise<string> {
  requireTty();
  const rl = createInterface({ input: process.stdin, output: ctx.out, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
  }
}

/** Reads a line without echoing it, as docker's password prompt does. */
async function promptHidden(ctx: CliContext, question: string): Promise<string> {
  requireTty();
  ctx.out.write(question);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let chars: string[] = [];
      const finish = (err: Error | undefined) => {
        stdin.off('data', onData);
        if (err) reject(err);
        else resolve(chars.join(''));
      };
      const onData = (d: Buffer) => {
        for (const ch of d.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(undefined);
          if (ch === '\u0003') return finish(new BerthError('login cancelled', 130));
          if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1);
          else if (ch === '\u0015') chars = [];
          else chars.push(ch);
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    ctx.out.write('\n');
  }
}

export const loginCmd: Command = {
  spec: loginSpec,
  async run(ctx, p) {
    const server = p.args[0] ?? 'docker.io';
    let username = flagString(p, loginSpec, 'username');
    let password = flagString(p, loginSpec, 'password');
    const passwordStdin = flagBool(p, loginSpec, 'password-stdin');
    if (password !== undefined) {
      ctx.err.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (passwordStdin) throw new UsageError('--password and --password-stdin are mutually exclusive');
    }
    if (passwordStdin) {
      if (!username) throw new UsageError('Must provide --username with --password-stdin');
      password = (await readStdin()).replace(/\n$/, '').replace(/\r$/, '');
    }
    const engine = await ctx.engine();
    if (!username && !password) {
      // docker tries the stored credentials first and asks only when they no longer work.
      const stored = getCredentials(registryHostname(server));
      if (stored) {
        print(ctx, 'Authenticating with existing credentials...');
        try {
          print(ctx, await engine.login(server, stored.username, stored.password));
          return 0;
        } catch (err) {
          ctx.err.write(`Login did not succeed, error: ${(err as Error).message}\n`);
        }
      }
    }
    if (!username) {
      const stored = getCredentials(registryHostname(server))?.username;
      const answer = (await promptLine(ctx, stored ? `Username (${stored}): ` : 'Username: ')).trim();
      username = answer || stored;
    }
    if (!username) throw new BerthError('Username is required', 125, 'invalid');
    if (!password) password = await promptHidden(ctx, 'Password: ');
    if (!password) throw new BerthError('Password is required', 125, 'invalid');
    print(ctx, await engine.login(server, username, password));
    return 0;
  },
};

const logoutSpec: CommandSpec = {
  name: 'logout',
  usage: 'berth logout [SERVER]',
  description:
    'Log out from a registry.\nIf no server is specified, the default is defined by the daemon (docker.io).',
  interspersed: true,
  maxArgs: 1,
  flags: [],
};

export const logoutCmd: Command = {
  spec: logoutSpec,
  async run(ctx, p) {
    const server = p.args[0] ?? 'docker.io';
    const shown = authKey(server);
    const engine = await ctx.engine();
    try {
      await engine.logout(server);
    } catch (err) {
      // docker says so on stdout and succeeds: there is nothing to undo.
      if (err instanceof Error && err.message.startsWith('Not logged in to')) {
        print(ctx, `Not logged in to ${shown}`);
        return 0;
      }
      throw err;
    }
    print(ctx, `Removing login credentials for ${shown}`);
    return 0;
  },
};

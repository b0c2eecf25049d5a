import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { PassThrough, type Readable, type TransformCallback } from 'node:stream';
import type { Engine } from '../../engine/engine.ts';
import { BerthError } from '../../util/errors.ts';
import { humanSize } from '../../util/units.ts';
import type { CliContext } from '../context.ts';
import { print } from '../context.ts';
import { type CommandSpec, flagBool, flagString, flagStrings } from '../flags.ts';
import type { Command } from '../registry.ts';

// ---------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------

const exportSpec: CommandSpec = {
  name: 'export',
  usage: 'berth export [OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [{ name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT' }],
};

export const exportCmd: Command = {
  spec: exportSpec,
  async run(ctx, p) {
    const ref = p.args[0]!;
    const output = flagString(p, exportSpec, 'output');
    const engine = await ctx.engine();
    if (!output) {
      if (ctx.out.isTTY) {
        throw new BerthError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
      }
      return toStdout(ctx, (out) => engine.exportContainer(ref, out));
    }
    try {
      validateOutputPath(output);
    } catch (err) {
      throw new BerthError(`failed to export container: ${(err as Error).message}`);
    }
    await writeFileAtomically(output, (file) => engine.exportContainer(ref, file));
    return 0;
  },
};

/**
 * Streams to stdout. A reader that goes away (`| head`) ends the command quietly with 141, the
 * status a process killed by SIGPIPE has, as docker's CLI does.
 */
async function toStdout(
  ctx: CliContext,
  write: (out: NodeJS.WritableStream) => Promise<unknown>,
): Promise<number> {
  try {
    await write(ctx.out);
    await flushed(ctx.out);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 141;
    throw err;
  }
}

/** Resolves once everything written to `out` so far is flushed (the process may exit right after). */
function flushed(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => out.write('', (err) => (err ? reject(err) : resolve())));
}

/** Writes `path` through a temporary file renamed into place, so a failure leaves no half file behind. */
async function writeFileAtomically(
  path: string,
  fill: (out: NodeJS.WritableStream) => Promise<void>,
): Promise<void> {
  const tmp = posix.join(posix.dirname(path), `.berth-temp-${randomBytes(6).toString('hex')}`);
  const file = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
  const closed = new Promise<void>((resolve, reject) => {
    file.once('close', resolve);
    file.once('error', reject);
  });
  closed.catch(() => {});
  try {
    await fill(file);
    file.end();
    await closed;
    fs.renameSync(tmp, path);
  } catch (err) {
    file.destroy();
    await closed.catch(() => {});
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** docker's ValidateOutputPath: the parent directory exists; an existing path is a directory or a file. */
function validateOutputPath(path: string): void {
  const dir = posix.dirname(posix.normalize(path).replace(/(.)\/+$/, '$1'));
  if (dir !== '.' && !fs.existsSync(dir)) {
    throw new BerthError(`invalid output path: directory "${dir}" does not exist`);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    return;
  }
  if (!st.isDirectory() && !st.isFile()) {
    throw new BerthError(`invalid output path: "${path}" must be a directory or a regular file`);
  }
}

// ---------------------------------------------------------------------------------------------
// diff
// ---------------------------------------------------------------------------------------------

const diffSpec: CommandSpec = {
  name: 'diff',
  usage: 'berth diff CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  interspersed: true,
  minArgs: 1,
  maxArgs: 1,
  flags: [],
};

const KIND_LETTER = ['C', 'A', 'D'] as const;

export const diffCmd: Command = {
  spec: diffSpec,
  async run(ctx, p) {
    const changes = await (await ctx.engine()).containerChanges(p.args[0]!);
    if (changes.length > 0) print(ctx, changes.map((c) => `${KIND_LETTER[c.Kind]} ${c.Path}`).join('\n'));
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// commit
// ---------------------------------------------------------------------------------------------

const commitSpec: CommandSpec = {
  name: 'commit',
  usage: 'berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  interspersed: true,
  minArgs: 1,
  maxArgs: 2,
  flags: [
    {
      name: 'author',
      short: 'a',
      kind: 'string',
      description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
    },
    {
      name: 'change',
      short: 'c',
      kind: 'stringArray',
      description: 'Apply Dockerfile instruction to the created image',
    },
    { name: 'message', short: 'm', kind: 'string', description: 'Commit message' },
    {
      name: 'pause',
      short: 'p',
      kind: 'bool',
      default: true,
      description: 'Pause container during commit',
    },
  ],
};

export const commitCmd: Command = {
  spec: commitSpec,
  async run(ctx, p) {
    const [ref, reference] = p.args as [string, string | undefined];
    const id = await (await ctx.engine()).commitContainer(ref, {
      reference,
      changes: flagStrings(p, commitSpec, 'change'),
      message: flagString(p, commitSpec, 'message'),
      author: flagString(p, commitSpec, 'author'),
      pause: flagBool(p, commitSpec, 'pause'),
    });
    print(ctx, id);
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------
// cp
// ---------------------------------------------------------------------------------------------

const cpSpec: CommandSpec = {
  name: 'cp',
  usage:
    'berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  description: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
  interspersed: true,
  minArgs: 2,
  maxArgs: 2,
  flags: [
    { name: 'archive', short: 'a', kind: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', kind: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    {
      name: 'quiet',
      short: 'q',
      kind: 'bool',
      description:
        'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached',
    },
  ],
};

interface CpOptions {
  archive: boolean;
  followLink: boolean;
  /** Print docker's "Successfully copied" line on stderr. */
  progress: boolean;
}

export const cpCmd: Command = {
  spec: cpSpec,
  async run(ctx, p) {
    const [src, dst] = p.args as [string, string];
    if (src === '') throw new BerthError('source can not be empty');
    if (dst === '') throw new BerthError('destination can not be empty');
    const from = splitCpArg(src);
    const to = splitCpArg(dst);
    if (from.container === undefined && to.container === undefined) {
      throw new BerthError('must specify at least one container source');
    }
    if (from.container !== undefined && to.container !== undefined) {
      throw new BerthError('copying between containers is not supported');
    }
    const o: CpOptions = {
      archive: flagBool(p, cpSpec, 'archive'),
      followLink: flagBool(p, cpSpec, 'follow-link'),
      progress: !flagBool(p, cpSpec, 'quiet') && ctx.err.isTTY === true,
    };
    const engine = await ctx.engine();
    if (from.container !== undefined) return copyOut(ctx, engine, from.container, from.path, to.path, o);
    await copyIn(ctx, engine, to.container!, from.path, to.path, o);
    return 0;
  },
};

/** docker's splitCpArg: `CONTAINER:PATH`, unless the argument is an absolute or explicitly relative local path. */
function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon < 0 || arg.startsWith('.')) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** docker's SplitPathDirEntry: the parent and the entry a path names, keeping a trailing `/.` as '.'. */
function splitPathDirEntry(path: string): [dir: string, base: string] {
  let clean = posix.normalize(path);
  if (clean.length > 1) clean = clean.replace(/\/+$/, '');
  if (path === '.' || path.endsWith('/.')) clean = clean === '/' ? '/.' : `${clean}/.`;
  return [posix.dirname(clean), posix.basename(clean) || '/'];
}

/** The path asserts a directory: it ends in '/' or '/.'. */
function assertsDirectory(path: string): boolean {
  return path.endsWith('/') || path === '.' || path.endsWith('/.');
}

interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName?: string;
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function localError(err: unknown, op: string, path: string): BerthError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'ENOTDIR'
        ? 'not a directory'
        : (err as Error).message;
  return new BerthError(`${op} ${path}: ${why}`);
}

/** docker's CopyInfoDestinationPath: where a local destination really is, following symlinks at its end. */
function copyInfoDestinationPath(path: string): CopyInfo {
  let p = path;
  let st = lstatOrNull(p);
  for (let n = 0; st?.isSymbolicLink(); n++) {
    if (n >= 10) throw new BerthError(`too many symlinks in ${path}`);
    const target = fs.readlinkSync(p);
    p = target.startsWith('/') ? target : posix.join(splitPathDirEntry(p)[0], target);
    st = lstatOrNull(p);
  }
  if (st) return { path: p, exists: true, isDir: st.isDirectory() };
  // A missing destination is fine when its parent directory exists: the copy creates it.
  const parent = splitPathDirEntry(p)[0];
  let pst: fs.Stats;
  try {
    pst = fs.statSync(parent);
  } catch (err) {
    throw localError(err, 'stat', parent);
  }
  if (!pst.isDirectory()) throw new BerthError(`${parent}: not a directory`);
  return { path: p, exists: false, isDir: false };
}

/** docker's CopyInfoSourcePath: the local source with symlinks resolved (only before its last component, unless -L). */
function copyInfoSourcePath(path: string, followLink: boolean): CopyInfo {
  let resolved: string;
  let rebaseName: string | undefined;
  try {
    if (followLink) {
      resolved = fs.realpathSync(path);
      if (path === '.' || path.endsWith('/.')) resolved = `${resolved.replace(/\/$/, '')}/.`;
      else if (path.endsWith('/')) resolved = `${resolved.replace(/\/$/, '')}/`;
      if (splitPathDirEntry(path)[1] !== splitPathDirEntry(resolved)[1])
        rebaseName = splitPathDirEntry(path)[1];
    } else {
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '.' : path.slice(0, slash + 1);
      const base = path.slice(slash + 1);
      resolved = `${fs.realpathSync(dir).replace(/\/$/, '')}/${base}`;
      if (path.endsWith('/') && splitPathDirEntry(path)[1] !== splitPathDirEntry(resolved)[1]) {
        rebaseName = splitPathDirEntry(path)[1];
      }
    }
  } catch (err) {
    throw localError(err, 'lstat', path);
  }
  let st: fs.Stats;
  try {
    // A trailing slash follows a symlink to the directory it names, as the kernel's lookup does.
    st = path.endsWith('/') || path.endsWith('/.') ? fs.statSync(resolved) : fs.lstatSync(resolved);
  } catch (err) {
    throw localError(err, 'lstat', path);
  }
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName };
}

/**
 * docker's PrepareArchiveCopy: the directory to extract into, and the name the archive's top
 * entry must take there (undefined: keep it).
 */
function prepareArchiveCopy(srcIsDir: boolean, dst: CopyInfo): { dir: string; rebase?: string } {
  const [dstDir, dstBase] = splitPathDirEntry(dst.path);
  if (dst.exists && dst.isDir) return { dir: dst.path };
  if (dst.exists && srcIsDir) throw new BerthError('cannot copy directory');
  if (dst.exists || srcIsDir) return { dir: dstDir, rebase: dstBase };
  if (assertsDirectory(dst.path)) throw new BerthError('no such directory');
  return { dir: dstDir, rebase: dstBase };
}

/** Renames the archive's top entry `from` to `to` in an entry name (docker's RebaseArchiveEntries). */
function rebaseName(name: string, from: string, to: string): string {
  const slash = name.indexOf('/');
  const head = slash < 0 ? name : name.slice(0, slash);
  if (head !== from) return name;
  return slash < 0 ? to : `${to}${name.slice(slash)}`;
}

/** The stream between the engine and us; it counts what passes, for docker's progress line. */
class CountingPipe extends PassThrough {
  bytes = 0;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Runs the engine's half and ours of a copy side by side over `pipe`; the first failure is the one
 * reported (the other side's is only its consequence).
 */
async function bothSides<T>(
  pipe: CountingPipe,
  engineSide: Promise<T>,
  localSide: (pipe: CountingPipe) => Promise<void>,
  engineWrites: boolean,
): Promise<T> {
  let first: unknown;
  // Both sides see a destroyed pipe through their own calls; the event itself has no audience.
  pipe.on('error', () => {});
  const fail = (err: unknown) => {
    first ??= err;
    pipe.destroy(err as Error);
    throw err;
  };
  const engineDone = engineSide.then((v) => {
    if (engineWrites) pipe.end();
    return v;
  }, fail);
  const localDone = localSide(pipe).catch(fail);
  const [e, l] = await Promise.allSettled([engineDone, localDone]);
  if (first !== undefined) throw first;
  if (l.status === 'rejected') throw l.reason;
  if (e.status === 'rejected') throw e.reason;
  return e.value;
}

/** `cp CONTAINER:SRC DEST`: the engine archives the source, we extract it with docker's rules. */
async function copyOut(
  ctx: CliContext,
  engine: Engine,
  container: string,
  srcPath: string,
  dstPath: string,
  o: CpOptions,
): Promise<number> {
  if (dstPath === '-') {
    return toStdout(ctx, (out) =>
      engine.copyFromContainer(container, srcPath, out, { followLink: o.followLink }),
    );
  }
  let dst = dstPath;
  // A symlink as the destination is followed, as docker does.
  if (lstatOrNull(dst)?.isSymbolicLink()) {
    try {
      dst = fs.realpathSync(dst);
    } catch (err) {
      throw localError(err, 'lstat', dstPath);
    }
  }
  validateOutputPath(dst);
  const dstInfo = copyInfoDestinationPath(dst);
  const { Extractor, Scope, forEachEntry } = await import('../../container/copy.ts');
  const { cleanEntryName } = await import('../../image/tar-name.ts');
  const { openDir } = await import('../../container/export.ts');
  const pipe = new CountingPipe();
  const local = async (input: Readable) => {
    let ex: InstanceType<typeof Extractor> | undefined;
    let rootFd: number | undefined;
    let rename = (name: string) => name;
    try {
      await forEachEntry(input, async (h, body) => {
        if (!ex) {
          // The archive's top entry tells what the source is; docker's CLI asks the engine first.
          const srcBase = cleanEntryName(h.name)?.[0] ?? '.';
          const plan = prepareArchiveCopy(h.type === 'directory', dstInfo);
          rootFd = openDir(fs.realpathSync(plan.dir));
          ex = new Extractor(new Scope(rootFd), [], { owner: o.archive ? 'archive' : 'none' });
          const to = plan.rebase;
          if (to !== undefined) rename = (name) => rebaseName(name, srcBase, to);
        }
        h.name = rename(h.name);
        if (h.type === 'link' && h.linkname) h.linkname = rename(h.linkname);
        return ex.apply(h, body);
      });
    } finally {
      ex?.finish();
      if (rootFd !== undefined) fs.closeSync(rootFd);
    }
  };
  await bothSides(
    pipe,
    engine.copyFromContainer(container, srcPath, pipe, { followLink: o.followLink }),
    local,
    true,
  );
  if (o.progress) ctx.err.write(`Successfully copied ${humanSize(pipe.bytes, 4)} to ${dstPath}\n`);
  return 0;
}

function isMissingFile(err: unknown): boolean {
  return /^Could not find the file /.test((err as Error).message ?? '');
}

function isNotDirectory(err: unknown): boolean {
  return /extraction point is not a directory/.test((err as Error).message ?? '');
}

/** `cp SRC CONTAINER:DEST`: we archive the source so that extracting it into a directory gives docker's result. */
async function copyIn(
  ctx: CliContext,
  engine: Engine,
  container: string,
  srcPath: string,
  dstPath: string,
  o: CpOptions,
): Promise<void> {
  const opts = { copyUidGid: o.archive };
  if (srcPath === '-') {
    if (process.stdin.isTTY) throw new BerthError('cp: stdin is a terminal; pipe a tar archive into it');
    try {
      await engine.copyToContainer(container, dstPath, process.stdin, opts);
    } catch (err) {
      if (isMissingFile(err) || isNotDirectory(err)) {
        throw new BerthError(`destination "${container}:${dstPath}" must be a directory`);
      }
      throw err;
    }
    return;
  }
  const src = copyInfoSourcePath(srcPath, o.followLink);
  const srcBase = src.rebaseName ?? splitPathDirEntry(src.path)[1];
  const { packLocal } = await import('../../container/copy.ts');
  let bytes = 0;
  const send = async (dir: string, entryName: string) => {
    const pipe = new CountingPipe();
    await bothSides(
      pipe,
      engine.copyToContainer(container, dir, pipe, opts),
      (out) => packLocal(src.path, entryName, out).then(() => void out.end()),
      false,
    );
    bytes = pipe.bytes;
  };
  // The engine extracts into existing directories only. Try the destination as one; what the engine
  // says about it otherwise (missing, or a file) tells which of docker's other cases applies.
  const [dstDir, dstBase] = splitPathDirEntry(dstPath);
  try {
    await send(dstPath, srcBase);
  } catch (err) {
    if (isMissingFile(err)) {
      if (!src.isDir && assertsDirectory(dstPath)) throw new BerthError('no such directory');
      await send(dstDir, dstBase);
    } else if (isNotDirectory(err)) {
      if (src.isDir) throw new BerthError('cannot copy directory');
      await send(dstDir, dstBase);
    } else {
      throw err;
    }
  }
  if (o.progress) ctx.err.write(`Successfully copied ${humanSize(bytes, 4)} to ${container}:${dstPath}\n`);
}

import { existsSync, type FSWatcher, lstatSync, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, posix, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { globMatch } from '../engine/filters.ts';
import type { ServiceConfig, WatchRule } from './model.ts';
import { buildService, type ComposeRun, converge, serviceContainers, status } from './ops.ts';

/** Paths docker compose never syncs. */
const ALWAYS_IGNORED = ['.git', '.git/**', '**/*~', '**/.*.swp', '**/.DS_Store'];

function ignored(rule: WatchRule, rel: string): boolean {
  const parts = rel.split(sep).join('/');
  return [...ALWAYS_IGNORED, ...(rule.ignore ?? [])].some((pat) => {
    const p = pat.replace(/\/$/, '');
    if (p.includes('**')) {
      const re = new RegExp(
        `^${p
          .replace(/[.+^${}()|\\]/g, '\\$&')
          .replace(/\*\*\/?/g, '\u0000')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')
          .replace(/\u0000/g, '(?:.*/)?')}$`,
      );
      return re.test(parts);
    }
    return (
      globMatch(p, parts) ||
      parts.startsWith(`${p}/`) ||
      parts.split('/').some((seg) => globMatch(p, seg) && !p.includes('/'))
    );
  });
}

/** A tar of the changed host files, named relative to the directory they are extracted into. */
async function tarOf(files: { host: string; name: string }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const drained = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const f of files) {
    const st = lstatSync(f.host);
    if (!st.isFile()) continue;
    await new Promise<void>((res, rej) =>
      p.entry(
        { name: f.name, mode: st.mode & 0o7777, mtime: st.mtime, size: st.size },
        readFileSync(f.host),
        (e) => (e ? rej(e) : res()),
      ),
    );
  }
  p.finalize();
  await drained;
  return Buffer.concat(chunks);
}

async function execIn(r: ComposeRun, id: string, cmd: string[]): Promise<void> {
  const h = await r.engine.execContainer(
    id,
    { cmd, env: [], tty: false, stdin: false, detach: false, privileged: false },
    {},
  );
  await h.exitCode;
}

/** Copies changed files into every container of the service; removes the ones deleted on the host. */
async function sync(r: ComposeRun, s: ServiceConfig, rule: WatchRule, changed: string[]): Promise<void> {
  if (!rule.target) return;
  const containers = await serviceContainers(r, [s.name], { all: false, oneoff: false });
  const ruleIsFile = existsSync(rule.path) && statSync(rule.path).isFile();
  const present: { host: string; name: string }[] = [];
  const gone: string[] = [];
  for (const host of changed) {
    const rel = ruleIsFile ? '' : relative(rule.path, host).split(sep).join('/');
    const target = rel ? posix.join(rule.target, rel) : rule.target;
    if (existsSync(host)) {
      if (statSync(host).isDirectory()) continue;
      present.push({ host, name: ruleIsFile ? basename(rule.target) : rel });
    } else gone.push(target);
  }
  const destDir = ruleIsFile ? posix.dirname(rule.target) : rule.target;
  for (const c of containers) {
    if (present.length) {
      // docker compose creates the target directory when it is missing; copyToContainer needs it.
      await execIn(r, c.id, ['mkdir', '-p', destDir]);
      const tar = await tarOf(present);
      await r.engine.copyToContainer(c.id, destDir, Readable.from([tar]), { copyUidGid: false });
    }
    if (gone.length) await execIn(r, c.id, ['rm', '-rf', ...gone]);
  }
  status(r, 'Container', s.name, `Synced ${present.length + gone.length} file(s)`);
}

async function restart(r: ComposeRun, s: ServiceConfig): Promise<void> {
  for (const c of await serviceContainers(r, [s.name], { oneoff: false })) {
    await r.engine.restartContainer(c.id);
    status(r, 'Container', c.name, 'Restarted');
  }
}

async function rebuild(r: ComposeRun, s: ServiceConfig, quiet: boolean): Promise<void> {
  const id = await buildService(r, s, { quiet });
  await converge(r, [s], { imageIds: { [s.name]: id } });
}

/**
 * `compose watch`: fs.watch (recursive) on every rule's path; changes are batched for a short
 * while, then each rule acts once: sync (copy into the containers), restart, sync+restart or rebuild.
 */
export async function watchProject(
  r: ComposeRun,
  services: ServiceConfig[],
  o: { signal: AbortSignal; quiet: boolean; out: NodeJS.WritableStream; debounceMs?: number },
): Promise<void> {
  const watchers: FSWatcher[] = [];
  const rules = services.flatMap((s) => (s.develop?.watch ?? []).map((rule) => ({ s, rule })));
  if (rules.length === 0)
    throw new Error(
      "none of the selected services is configured for watch, consider setting a 'develop' section",
    );
  let queue = Promise.resolve();
  for (const { s, rule } of rules) {
    const pending = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    const base = existsSync(rule.path) && statSync(rule.path).isFile() ? dirname(rule.path) : rule.path;
    const fire = () => {
      const changed = [...pending];
      pending.clear();
      queue = queue.then(async () => {
        try {
          if (rule.action === 'sync' || rule.action === 'sync+restart' || rule.action === 'sync+exec')
            await sync(r, s, rule, changed);
          if (rule.action === 'restart' || rule.action === 'sync+restart') await restart(r, s);
          if (rule.action === 'rebuild') await rebuild(r, s, o.quiet);
        } catch (err) {
          r.err.write(`watch: ${s.name}: ${(err as Error).message}\n`);
        }
      });
    };
    const w = watch(rule.path, { recursive: true }, (_ev, file) => {
      const host = file ? join(base, file.toString()) : rule.path;
      const rel = relative(rule.path, host);
      if (rel && ignored(rule, rel)) return;
      pending.add(host);
      clearTimeout(timer);
      timer = setTimeout(fire, o.debounceMs ?? 200);
    });
    watchers.push(w);
  }
  o.out.write('Watch enabled\n');
  await new Promise<void>((res) => {
    if (o.signal.aborted) res();
    o.signal.addEventListener('abort', () => res(), { once: true });
  });
  for (const w of watchers) w.close();
  await queue;
}

import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { Readable } from 'node:stream';
import type { BuildCacheItem } from '../build/cache-usage.ts';
import type { BuildCachePruneOptions, BuildOptions, BuildProgressSink, BuildResult } from '../build/types.ts';
import { type AttachIO, connectAttach, preloadAttach, relayAttach } from '../container/attach.ts';
import { cleanupContainer, pidAlive, reconcile, watchExit } from '../container/cleanup.ts';
import { conmonRotates, conmonVersion } from '../container/conmon.ts';
import { type CreateOptions, createContainer } from '../container/create.ts';
import { writeResize } from '../container/ctl.ts';
import { type ExecHandle, type ExecOptions, execInContainer } from '../container/exec.ts';
import { readExitFile, waitExitFile } from '../container/exit-file.ts';
import { type HealthcheckRunResult, healthStatus } from '../container/health-state.ts';
import { inspectContainer, summarize } from '../container/inspect.ts';
import { type LogEntry, type LogOptions, readLogs } from '../container/logs.ts';
import { containerFiles } from '../container/paths.ts';
import { runtimeExec, selectRuntime } from '../container/runtime.ts';
import { startContainer } from '../container/start.ts';
import { cpuPercent, type StatsSample, sampleStats } from '../container/stats.ts';
import { isActive, killContainer, removeContainer, stopContainer } from '../container/stop.ts';
import { type TopResult, topContainer } from '../container/top.ts';
import { type ContainerRecord, ZERO_TIME } from '../container/types.ts';
import type { UpdateOptions } from '../container/update.ts';
import { imageHistory, imageInspect, imageSummary, pruneImages, removeImage } from '../image/image-ops.ts';
import type { ImportOptions } from '../image/import.ts';
import { canonicalName, familiarName, parseReference } from '../image/reference.ts';
import type { NetworkCreateOptions, NetworkInspect } from '../network/types.ts';
import { withLock } from '../store/lock.ts';
import type { StorePaths } from '../store/paths.ts';
import { BerthError, ConflictError, InvalidArgumentError, NotFoundError } from '../util/errors.ts';
import { parseTimestamp } from '../util/units.ts';
import type { VolumeInfo } from '../volume/volume-ops.ts';
import { openContext, type StoreContext } from './context.ts';
import type {
  AttachHandle,
  ChangeItem,
  CommitOptions,
  CopyFromOptions,
  Engine,
  Filters,
  PathStat,
  PullOptions,
  PullPolicy,
  PushOptions,
} from './engine.ts';
import {
  containerAttributes,
  type EventMessage,
  type EventQuery,
  lastExitCode,
  readEvents,
  recordEvent,
  recordVolumeEvents,
} from './events.ts';
import { globMatch, matchLabels } from './filters.ts';
import type { ProgressSink } from './progress.ts';
import { type DiskUsage, systemInfo } from './system.ts';
import type {
  ContainerSummary,
  HistoryItem,
  ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  PruneResult,
  StatsEntry,
  WaitResult,
} from './types.ts';

/** The in-process engine: every call works directly on the stores and the runtime. */
export class LocalEngine implements Engine {
  readonly ctx: StoreContext;

  constructor(paths: StorePaths) {
    this.ctx = openContext(paths);
  }

  // ---- images ----

  async importImage(source: Readable, o: ImportOptions): Promise<string> {
    const { importImage } = await import('../image/import.ts');
    const id = (await importImage(this.ctx, source, o)).id;
    recordEvent(this.ctx.db, 'image', 'import', id, { name: id });
    return id;
  }

  async listImages(o: { all: boolean; filters: Filters }): Promise<ImageSummary[]> {
    const f = o.filters;
    const stored = this.ctx.images.list();
    let imgs = stored;
    if (f.dangling) {
      const want = f.dangling[0] === 'true' || f.dangling[0] === '1';
      imgs = imgs.filter((i) => (i.tags.length === 0) === want);
    }
    if (f.label) imgs = imgs.filter((i) => matchLabels(i.config.config?.Labels ?? {}, f.label));
    if (f.reference) {
      // As in docker, an image is listed under the names that match only, and hidden when none does.
      const matches = (t: string) => {
        const fam = familiarName(t);
        const repo = fam.replace(/[:@][^:@/]*$/, '');
        return f.reference!.some((p) => globMatch(p, fam) || globMatch(p, repo));
      };
      imgs = imgs.map((i) => ({ ...i, tags: i.tags.filter(matches) })).filter((i) => i.tags.length > 0);
    }
    // Without -a docker hides intermediate images: untagged ones that other images build on.
    if (!o.all) {
      const parents = new Set(stored.map((i) => i.parent));
      imgs = imgs.filter((i) => i.tags.length > 0 || !parents.has(i.id));
    }
    for (const key of ['before', 'since'] as const) {
      if (!f[key]) continue;
      const ref = this.ctx.images.mustFind(f[key][0]!);
      imgs = imgs.filter((i) => (key === 'before' ? i.created < ref.created : i.created > ref.created));
    }
    return imgs.map((i) => imageSummary(this.ctx, i));
  }

  async inspectImage(ref: string): Promise<ImageInspect> {
    return imageInspect(this.ctx.images.mustFind(ref), this.ctx);
  }

  async tagImage(source: string, target: string): Promise<void> {
    const img = this.ctx.images.mustFind(source);
    const ref = parseReference(target);
    if (ref.digest) throw new BerthError(`refusing to create a tag with a digest reference: ${target}`);
    this.ctx.images.tag(img.id, canonicalName(ref));
    recordEvent(this.ctx.db, 'image', 'tag', img.id, { name: familiarName(canonicalName(ref)) });
  }

  async removeImage(ref: string, o: { force: boolean; noPrune: boolean }): Promise<ImageDeleteItem[]> {
    const items = removeImage(this.ctx, ref, o.force, o.noPrune);
    for (const i of items) {
      if (i.Untagged) recordEvent(this.ctx.db, 'image', 'untag', i.Untagged, { name: i.Untagged });
      if (i.Deleted) recordEvent(this.ctx.db, 'image', 'delete', i.Deleted, { name: i.Deleted });
    }
    return items;
  }

  async imageHistory(ref: string): Promise<HistoryItem[]> {
    return imageHistory(this.ctx.images.mustFind(ref));
  }

  async pruneImages(o: { all: boolean; filters: Filters }): Promise<PruneResult> {
    const until = o.filters.until?.[0];
    const untilMs = until ? parseTimestamp(until, Date.now()) : undefined;
    const r = pruneImages(this.ctx, o.all, (i) => {
      if (untilMs !== undefined && Date.parse(i.created) >= untilMs) return true;
      if (o.filters.label && !matchLabels(i.config.config?.Labels ?? {}, o.filters.label)) return true;
      return false;
    });
    return {
      deleted: r.deleted.map((d) => (d.Deleted ? `deleted: ${d.Deleted}` : `untagged: ${d.Untagged}`)),
      spaceReclaimed: r.spaceReclaimed,
    };
  }

  // ---- containers ----

  async createContainer(
    o: CreateOptions,
    pull: PullPolicy,
  ): Promise<{ id: string; name: string; warnings: string[] }> {
    let img = pull === 'always' ? undefined : this.ctx.images.find(o.image);
    if (!img) {
      if (pull === 'never') throw new NotFoundError(`No such image: ${o.image}`);
      parseReference(o.image);
      throw new NotFoundError(`No such image: ${o.image}`);
    }
    img = this.ctx.images.mustFind(img.id);
    const c = createContainer(this.ctx, img, o);
    recordEvent(this.ctx.db, 'container', 'create', c.id, containerAttributes(c));
    const warnings: string[] = [];
    if (c.config.host.log.maxFile > 1 && !conmonRotates()) {
      warnings.push(
        `conmon ${conmonVersion().join('.')} cannot keep rotated logs (2.2 can): the log is cut at max-size and max-file is ignored`,
      );
    }
    return { id: c.id, name: c.name, warnings };
  }

  private attachHandle(id: string, session: ReturnType<typeof relayAttach>): AttachHandle {
    const ctl = containerFiles(this.ctx.paths, id).ctl;
    return {
      done: session.done,
      close: () => session.close(),
      resize: (rows, cols) => writeResize(ctl, rows, cols),
    };
  }

  async startContainer(ref: string, attach?: AttachIO): Promise<AttachHandle | undefined> {
    const c = this.ctx.containers.mustFind(ref);
    let handle: AttachHandle | undefined;
    const waiting = [...(this.pendingAttach.get(c.id) ?? [])];
    if (attach || waiting.length) preloadAttach();
    const before = c.state.status;
    const started = await startContainer(this.ctx, c.id, {
      consoleSize: attach?.consoleSize ?? waiting.find((w) => w.io.consoleSize)?.io.consoleSize,
      beforeStart:
        attach || waiting.length
          ? async (path) => {
              // Someone is attached and waits for the exit: record it from here, promptly.
              watchExit(this.ctx, c.id);
              if (attach) handle = this.attachHandle(c.id, relayAttach(await connectAttach(path), attach));
              // Attaches made before the start (docker run's order) are connected before the process runs.
              await Promise.all(waiting.map((w) => w.connect(path)));
            }
          : undefined,
    });
    if (before !== 'running' && before !== 'paused' && started.state.status === 'running') {
      recordVolumeEvents(this.ctx.db, started, 'mount');
      recordEvent(this.ctx.db, 'container', 'start', c.id, containerAttributes(c));
    }
    return handle;
  }

  /** Attaches made to a container that is not running yet, connected by the next start. */
  private readonly pendingAttach = new Map<string, Set<PendingAttach>>();

  async attachContainer(ref: string, io: AttachIO): Promise<AttachHandle> {
    const c = this.ctx.containers.mustFind(ref);
    recordEvent(this.ctx.db, 'container', 'attach', c.id, containerAttributes(c));
    if (c.state.status === 'running' || c.state.status === 'paused') {
      const sock = await connectAttach(containerFiles(this.ctx.paths, c.id).attach());
      return this.attachHandle(c.id, relayAttach(sock, io));
    }
    if (c.state.status !== 'created' && c.state.status !== 'exited' && c.state.status !== 'restarting') {
      throw new ConflictError('You cannot attach to a stopped container, start it first');
    }
    return this.attachBeforeStart(c.id, io);
  }

  /**
   * docker's API attaches before it starts (`docker run`, `start -a`): the attach waits for the
   * start. A start in this process connects it before the process runs; a start elsewhere (another
   * berth process) is noticed by polling and connected as soon as the container runs.
   */
  private attachBeforeStart(id: string, io: AttachIO): AttachHandle {
    let session: ReturnType<typeof relayAttach> | undefined;
    let closed = false;
    let settle: (how: 'exited' | 'detached') => void = () => undefined;
    const done = new Promise<'exited' | 'detached'>((resolve) => {
      settle = resolve;
    });
    const set = this.pendingAttach.get(id) ?? new Set<PendingAttach>();
    this.pendingAttach.set(id, set);
    const forget = () => {
      set.delete(entry);
      if (set.size === 0 && this.pendingAttach.get(id) === set) this.pendingAttach.delete(id);
      clearInterval(poll);
    };
    const entry: PendingAttach = {
      io,
      connect: async (path) => {
        forget();
        if (closed || session) return;
        session = relayAttach(await connectAttach(path), io);
        void session.done.then(settle);
      },
    };
    set.add(entry);
    const poll = setInterval(() => {
      const cur = this.ctx.containers.get(id);
      if (!cur) {
        forget();
        settle('exited');
      } else if (cur.state.status === 'running' && !session) {
        entry.connect(containerFiles(this.ctx.paths, id).attach()).catch(() => settle('exited'));
      }
    }, 200);
    const ctl = containerFiles(this.ctx.paths, id).ctl;
    return {
      done,
      resize: (rows, cols) => {
        if (session) writeResize(ctl, rows, cols);
        else io.consoleSize = { rows, cols };
      },
      close: () => {
        closed = true;
        forget();
        if (session) session.close();
        else settle('detached');
      },
    };
  }

  async resizeContainer(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.ctx.containers.mustFind(ref);
    writeResize(containerFiles(this.ctx.paths, c.id).ctl, rows, cols);
  }

  async waitContainer(ref: string, condition: 'not-running' | 'next-exit' | 'removed'): Promise<WaitResult> {
    const c = this.ctx.containers.mustFind(ref);
    const f = containerFiles(this.ctx.paths, c.id);
    // A container that has not run yet is removed only after it runs (`docker run --rm` waits first).
    if (
      condition !== 'next-exit' &&
      !isActive(c) &&
      !(condition === 'removed' && c.state.status === 'created')
    ) {
      if (condition === 'removed') return this.waitRemoved(c);
      return { StatusCode: c.state.exitCode };
    }
    for (;;) {
      const cur = this.ctx.containers.get(c.id);
      if (!cur) return { StatusCode: c.state.exitCode };
      if (cur.state.status === 'restarting') {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const code = await waitExitFile(f.exitDir, c.id, 1000);
      if (code === undefined) {
        const now = this.ctx.containers.get(c.id);
        // Not started yet (the API's `docker run` waits before it starts): keep waiting.
        const notYet = now?.state.status === 'created' && now.state.generation === c.state.generation;
        if (!now || (!notYet && !isActive(now) && now.state.cleanedGeneration >= now.state.generation)) {
          // Removed meanwhile (--rm by conmon's exit command): its exit is in the event log.
          return { StatusCode: now?.state.exitCode ?? lastExitCode(this.ctx.db, c.id) ?? c.state.exitCode };
        }
        if (now.state.status === 'running' && !pidAlive(now.state.conmonPid)) {
          await cleanupContainer(this.ctx, c.id, { force: true });
        }
        continue;
      }
      // Record the exit here rather than wait for conmon's exit command to do it.
      await cleanupContainer(this.ctx, c.id);
      if (condition === 'removed') return this.waitRemoved(c, code);
      return { StatusCode: code };
    }
  }

  private async waitRemoved(c: ContainerRecord, code = c.state.exitCode): Promise<WaitResult> {
    while (this.ctx.containers.get(c.id)) await new Promise((r) => setTimeout(r, 100));
    return { StatusCode: code };
  }

  async stopContainer(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = await stopContainer(this.ctx, ref, timeoutSec, signal);
    recordEvent(this.ctx.db, 'container', 'stop', c.id, containerAttributes(c));
  }

  async restartContainer(ref: string, timeoutSec?: number): Promise<void> {
    const c = await stopContainer(this.ctx, ref, timeoutSec);
    await startContainer(this.ctx, c.id);
    recordEvent(this.ctx.db, 'container', 'restart', c.id, containerAttributes(c));
  }

  async killContainer(ref: string, signal: string): Promise<void> {
    const c = await killContainer(this.ctx, ref, signal);
    recordEvent(this.ctx.db, 'container', 'kill', c.id, containerAttributes(c, { signal }));
  }

  async removeContainer(ref: string, o: { force: boolean; volumes: boolean }): Promise<void> {
    const c = await removeContainer(this.ctx, ref, o);
    recordEvent(this.ctx.db, 'container', 'destroy', c.id, containerAttributes(c));
  }

  async renameContainer(ref: string, name: string): Promise<void> {
    const { validateName } = await import('../container/names.ts');
    const c = this.ctx.containers.mustFind(ref);
    if (!name) throw new InvalidArgumentError('Neither old nor new names may be empty');
    const newName = validateName(name);
    if (newName === c.name)
      throw new InvalidArgumentError('Renaming a container with the same name as its current name');
    const other = this.ctx.containers.find(newName);
    if (other && other.name === newName) {
      throw new ConflictError(
        `Conflict. The container name "/${newName}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    this.ctx.containers.rename(c.id, newName);
    recordEvent(
      this.ctx.db,
      'container',
      'rename',
      c.id,
      containerAttributes({ ...c, name: newName }, { oldName: `/${c.name}` }),
    );
  }

  async updateContainer(ref: string, o: UpdateOptions): Promise<{ warnings: string[] }> {
    const { updateContainer } = await import('../container/update.ts');
    const { record, warnings } = await updateContainer(this.ctx, ref, o);
    recordEvent(this.ctx.db, 'container', 'update', record.id, containerAttributes(record));
    return { warnings };
  }

  async pauseContainer(ref: string): Promise<void> {
    await this.pauseOrResume(ref, true);
  }

  async unpauseContainer(ref: string): Promise<void> {
    await this.pauseOrResume(ref, false);
  }

  private async pauseOrResume(ref: string, pause: boolean): Promise<void> {
    const c = this.ctx.containers.mustFind(ref);
    if (pause && c.state.status === 'paused') throw new ConflictError(`Container ${c.id} is already paused`);
    if (pause && c.state.status !== 'running') throw new ConflictError(`Container ${c.id} is not running`);
    if (!pause && c.state.status !== 'paused') throw new ConflictError(`Container ${c.id} is not paused`);
    await withLock(this.ctx.paths, c.id, async () => {
      const f = containerFiles(this.ctx.paths, c.id);
      await runtimeExec(selectRuntime(c.state.runtime || undefined), f.runtimeState, [
        pause ? 'pause' : 'resume',
        c.id,
      ]);
      this.ctx.containers.update(c.id, (s) => ({ ...s, status: pause ? 'paused' : 'running' }));
    });
    recordEvent(this.ctx.db, 'container', pause ? 'pause' : 'unpause', c.id, containerAttributes(c));
  }

  async listContainers(o: {
    all: boolean;
    size: boolean;
    limit?: number;
    filters: Filters;
  }): Promise<ContainerSummary[]> {
    await reconcile(this.ctx);
    let list = this.ctx.containers.list();
    const f = o.filters;
    // As docker: a status filter lists stopped containers too; an exited filter does not.
    const all = o.all || (o.limit !== undefined && o.limit > 0) || !!f.status;
    if (!all)
      list = list.filter(
        (c) => c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting',
      );
    const badStatus = f.status?.find((s) => !CONTAINER_STATES.includes(s));
    if (badStatus !== undefined) throw new InvalidArgumentError(`invalid filter 'status=${badStatus}'`);
    if (f.status)
      list = list.filter((c) =>
        f.status!.includes(
          c.state.status === 'exited' && c.state.finishedAt.startsWith('0001') ? 'created' : c.state.status,
        ),
      );
    // docker matches name and id as regular expressions, the name with and without its slash.
    if (f.name)
      list = list.filter((c) => f.name!.some((n) => regexMatch(n, `/${c.name}`) || regexMatch(n, c.name)));
    if (f.id) list = list.filter((c) => f.id!.some((p) => regexMatch(p, c.id)));
    if (f.label) list = list.filter((c) => matchLabels(c.config.labels, f.label));
    const badExit = f.exited?.find((e) => !/^[+-]?\d+$/.test(e));
    if (badExit !== undefined)
      throw new InvalidArgumentError(`strconv.Atoi: parsing "${badExit}": invalid syntax`);
    const exitCodes = f.exited?.map(Number);
    if (exitCodes)
      list = list.filter(
        (c) =>
          c.state.status === 'exited' &&
          c.state.startedAt !== ZERO_TIME &&
          exitCodes.includes(c.state.exitCode),
      );
    const badHealth = f.health?.find((h) => !['starting', 'healthy', 'unhealthy', 'none'].includes(h));
    if (badHealth !== undefined)
      throw new InvalidArgumentError(`Unrecognised filter value for health: ${badHealth}`);
    if (f.health) list = list.filter((c) => f.health!.includes(healthStatus(c)));
    if (f.ancestor) {
      const ids = new Set(f.ancestor.map((a) => this.ctx.images.find(a)?.id ?? a));
      list = list.filter((c) => ids.has(c.imageId));
    }
    for (const key of ['before', 'since'] as const) {
      if (!f[key]) continue;
      const ref = this.ctx.containers.mustFind(f[key][0]!);
      list = list.filter((c) => (key === 'before' ? c.created < ref.created : c.created > ref.created));
    }
    if (o.limit !== undefined && o.limit > 0) list = list.slice(0, o.limit);
    return list.map((c) => summarize(this.ctx, c, o.size));
  }

  async inspectContainer(ref: string, o: { size: boolean }): Promise<Record<string, unknown>> {
    let c = this.ctx.containers.mustFind(ref);
    if (
      c.state.status === 'running' &&
      readExitFile(containerFiles(this.ctx.paths, c.id).exitDir, c.id) !== undefined
    ) {
      await cleanupContainer(this.ctx, c.id);
      c = this.ctx.containers.get(c.id) ?? c;
    }
    return inspectContainer(this.ctx, c, o.size);
  }

  async containerLogs(ref: string, o: LogOptions): Promise<AsyncIterable<LogEntry>> {
    const c = this.ctx.containers.mustFind(ref);
    const f = containerFiles(this.ctx.paths, c.id);
    const gen = c.state.generation;
    const running = () => {
      const cur = this.ctx.containers.get(c.id);
      if (!cur) return false;
      if (cur.state.status === 'restarting') return true;
      if (cur.state.generation !== gen) return isActive(cur);
      return isActive(cur) && readExitFile(f.exitDir, c.id) === undefined;
    };
    return readLogs(f.log, o, running);
  }

  async execContainer(ref: string, o: ExecOptions, io: AttachIO): Promise<ExecHandle> {
    const c = this.ctx.containers.mustFind(ref);
    const h = await execInContainer(this.ctx, ref, o, io);
    const cmd = o.cmd.join(' ');
    const attrs = containerAttributes(c, { execID: h.execId });
    recordEvent(this.ctx.db, 'container', `exec_create: ${cmd}`, c.id, attrs);
    recordEvent(this.ctx.db, 'container', `exec_start: ${cmd}`, c.id, attrs);
    if (!o.detach)
      h.exitCode.then(
        (code) =>
          recordEvent(this.ctx.db, 'container', 'exec_die', c.id, { ...attrs, exitCode: String(code) }),
        () => undefined,
      );
    return h;
  }

  async topContainer(ref: string, psArgs: string[]): Promise<TopResult> {
    return topContainer(this.ctx, ref, psArgs);
  }

  async *containerStats(refs: string[], o: { stream: boolean; all: boolean }): AsyncIterable<StatsEntry[]> {
    const ncpu = cpus().length;
    // A paused container still holds its memory and processes: docker lists and samples it.
    const live = (c: ContainerRecord) => c.state.status === 'running' || c.state.status === 'paused';
    const pick = (): ContainerRecord[] =>
      refs.length
        ? refs.map((r) => this.ctx.containers.mustFind(r))
        : this.ctx.containers.list().filter((c) => o.all || live(c));
    let prev = new Map<string, StatsSample>();
    for (const c of pick()) if (live(c)) prev.set(c.id, sampleStats(c, ncpu));
    for (;;) {
      await new Promise((r) => setTimeout(r, o.stream ? 1000 : 500));
      const next = new Map<string, StatsSample>();
      const rows: StatsEntry[] = [];
      for (const c of pick()) {
        const cur = live(c) ? sampleStats(c, ncpu) : undefined;
        const before = prev.get(c.id);
        if (cur) next.set(c.id, cur);
        const mem = cur ? Math.max(0, cur.memoryUsage - cur.memoryCache) : 0;
        rows.push({
          id: c.id,
          name: c.name,
          cpuPercent: cur && before ? cpuPercent(before, cur) : 0,
          memUsage: mem,
          memLimit: cur?.memoryLimit ?? 0,
          memPercent: cur?.memoryLimit ? (mem / cur.memoryLimit) * 100 : 0,
          netRx: cur?.netRx ?? 0,
          netTx: cur?.netTx ?? 0,
          blockRead: cur?.blockRead ?? 0,
          blockWrite: cur?.blockWrite ?? 0,
          pids: cur?.pids ?? 0,
          ...(cur && before
            ? {
                cpu: {
                  usageNs: cur.cpuUsageNs,
                  systemNs: cur.systemCpuNs,
                  preUsageNs: before.cpuUsageNs,
                  preSystemNs: before.systemCpuNs,
                  onlineCpus: cur.onlineCpus,
                },
              }
            : {}),
        });
      }
      prev = next;
      yield rows;
      if (!o.stream) return;
    }
  }

  async pruneContainers(filters: Filters): Promise<PruneResult> {
    await reconcile(this.ctx);
    const until = filters.until?.[0];
    const untilMs = until ? parseTimestamp(until, Date.now()) : undefined;
    const deleted: string[] = [];
    let spaceReclaimed = 0;
    for (const c of this.ctx.containers.list()) {
      if (isActive(c)) continue;
      if (untilMs !== undefined && Date.parse(c.created) >= untilMs) continue;
      if (filters.label && !matchLabels(c.config.labels, filters.label)) continue;
      const { sizeRw } = await import('../container/inspect.ts');
      spaceReclaimed += sizeRw(this.ctx, c.id);
      await removeContainer(this.ctx, c.id, { force: false, volumes: false });
      recordEvent(this.ctx.db, 'container', 'destroy', c.id, containerAttributes(c));
      deleted.push(c.id);
    }
    return { deleted, spaceReclaimed };
  }

  // ---- moving images and container filesystems ----

  async pullImage(ref: string, o: PullOptions, progress: ProgressSink): Promise<string[]> {
    const { pullImage } = await import('../registry/pull.ts');
    const ids = await pullImage(this.ctx, ref, o, progress);
    const name = familiarName(canonicalName(parseReference(ref)));
    for (const id of ids) recordEvent(this.ctx.db, 'image', 'pull', name, { name, id });
    return ids;
  }

  async pushImage(ref: string, o: PushOptions, progress: ProgressSink): Promise<void> {
    const { pushImage } = await import('../registry/push.ts');
    await pushImage(this.ctx, ref, o, progress);
    recordEvent(this.ctx.db, 'image', 'push', ref, { name: ref });
  }

  async login(server: string, username: string, password: string): Promise<string> {
    const { login } = await import('../registry/login.ts');
    return login(server, username, password);
  }

  async logout(server: string): Promise<void> {
    const { logout } = await import('../registry/login.ts');
    await logout(server);
  }

  async saveImages(
    refs: string[],
    out: NodeJS.WritableStream,
    o: { format: 'docker' | 'oci' },
  ): Promise<void> {
    const { saveImages } = await import('../image/save.ts');
    await saveImages(this.ctx, refs, out, o);
    for (const r of refs) recordEvent(this.ctx.db, 'image', 'save', r, { name: r });
  }

  async loadImages(input: Readable, progress: ProgressSink): Promise<string[]> {
    const { loadImages } = await import('../image/load.ts');
    const lines = await loadImages(this.ctx, input, progress);
    for (const l of lines) {
      const name = l.replace(/^Loaded image( ID)?: /, '');
      recordEvent(this.ctx.db, 'image', 'load', name, { name });
    }
    return lines;
  }

  async exportContainer(ref: string, out: NodeJS.WritableStream): Promise<void> {
    const { exportContainer } = await import('../container/export.ts');
    await exportContainer(this.ctx, ref, out);
  }

  async commitContainer(ref: string, o: CommitOptions): Promise<string> {
    const { commitContainer } = await import('../container/commit.ts');
    return commitContainer(this.ctx, ref, o);
  }

  async containerChanges(ref: string): Promise<ChangeItem[]> {
    const { containerChanges } = await import('../container/diff.ts');
    return containerChanges(this.ctx, ref);
  }

  async copyFromContainer(
    ref: string,
    path: string,
    out: NodeJS.WritableStream,
    o: CopyFromOptions,
  ): Promise<PathStat> {
    const { copyFromContainer } = await import('../container/copy.ts');
    return copyFromContainer(this.ctx, ref, path, out, o);
  }

  async copyToContainer(
    ref: string,
    path: string,
    input: Readable,
    o: { copyUidGid: boolean },
  ): Promise<void> {
    const { copyToContainer } = await import('../container/copy.ts');
    await copyToContainer(this.ctx, ref, path, input, o);
  }

  // ---- volumes ----

  async volumeCreate(
    name: string | undefined,
    o: { labels: Record<string, string>; options: Record<string, string> },
  ): Promise<VolumeInfo> {
    const { volumeInfo } = await import('../volume/volume-ops.ts');
    const n = name || randomBytes(32).toString('hex');
    const v = volumeInfo(this.ctx, this.ctx.volumes.create(n, { ...o, anonymous: !name }));
    recordEvent(this.ctx.db, 'volume', 'create', v.Name, { driver: v.Driver });
    return v;
  }

  async volumeList(filters: Filters): Promise<VolumeInfo[]> {
    const { volumeInfo } = await import('../volume/volume-ops.ts');
    const { volumeUsers } = await import('../volume/container-mounts.ts');
    let list = this.ctx.volumes.list();
    if (filters.name) list = list.filter((v) => filters.name!.some((n) => v.name.includes(n)));
    if (filters.label) list = list.filter((v) => matchLabels(v.labels, filters.label));
    if (filters.driver) list = list.filter((v) => filters.driver!.includes(v.driver));
    if (filters.dangling) {
      const want = filters.dangling[0] === 'true' || filters.dangling[0] === '1';
      list = list.filter((v) => (volumeUsers(this.ctx, v.name).length === 0) === want);
    }
    return list.map((v) => volumeInfo(this.ctx, v));
  }

  async volumeInspect(name: string): Promise<VolumeInfo> {
    const { volumeInfo } = await import('../volume/volume-ops.ts');
    return volumeInfo(this.ctx, this.ctx.volumes.mustGet(name));
  }

  async volumeRemove(name: string, force: boolean): Promise<void> {
    const { removeVolume } = await import('../volume/volume-ops.ts');
    if (force && !this.ctx.volumes.get(name)) return;
    removeVolume(this.ctx, name, force);
    recordEvent(this.ctx.db, 'volume', 'destroy', name, { driver: 'local' });
  }

  async volumePrune(o: {
    all: boolean;
    filters: Filters;
  }): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const { pruneVolumes } = await import('../volume/volume-ops.ts');
    const { execFileSync } = await import('node:child_process');
    let space = 0;
    const r = pruneVolumes(this.ctx, o.all || !!o.filters.all, (v) => {
      if (o.filters.label && !matchLabels(v.labels, o.filters.label)) return true;
      try {
        space +=
          Number(
            execFileSync('du', ['-sb', this.ctx.volumes.dataDir(v.name)], { encoding: 'utf8' }).split(
              '\t',
            )[0],
          ) || 0;
      } catch {
        // size is only reported
      }
      return false;
    });
    return { deleted: r.deleted, spaceReclaimed: space };
  }

  // ---- networks ----

  async networkCreate(o: NetworkCreateOptions): Promise<string> {
    const { createNetworkOp } = await import('../network/manage.ts');
    const id = await createNetworkOp(this.ctx, o);
    recordEvent(this.ctx.db, 'network', 'create', id, { name: o.name, type: 'bridge' });
    return id;
  }

  async networkList(filters: Filters): Promise<NetworkInspect[]> {
    const { listNetworks } = await import('../network/manage.ts');
    return listNetworks(this.ctx, filters);
  }

  async networkInspect(ref: string): Promise<NetworkInspect> {
    const { networkInspect } = await import('../network/manage.ts');
    const { findNetwork } = await import('../network/networks.ts');
    return networkInspect(this.ctx, findNetwork(this.ctx, ref));
  }

  async networkRemove(ref: string): Promise<void> {
    const { removeNetwork } = await import('../network/manage.ts');
    removeNetwork(this.ctx, ref);
    recordEvent(this.ctx.db, 'network', 'destroy', ref, { name: ref, type: 'bridge' });
  }

  async networkPrune(filters: Filters): Promise<string[]> {
    const { pruneNetworks } = await import('../network/manage.ts');
    return pruneNetworks(this.ctx, filters);
  }

  async networkConnect(
    network: string,
    container: string,
    o: { aliases: string[]; ip?: string },
  ): Promise<void> {
    const { connectOp } = await import('../network/manage.ts');
    await connectOp(this.ctx, network, container, o);
    const c = this.ctx.containers.find(container);
    recordEvent(this.ctx.db, 'network', 'connect', network, {
      name: network,
      type: 'bridge',
      container: c?.id ?? container,
    });
  }

  async networkDisconnect(network: string, container: string, force: boolean): Promise<void> {
    const { disconnectOp } = await import('../network/manage.ts');
    try {
      await disconnectOp(this.ctx, network, container);
      const c = this.ctx.containers.find(container);
      recordEvent(this.ctx.db, 'network', 'disconnect', network, {
        name: network,
        type: 'bridge',
        container: c?.id ?? container,
      });
    } catch (err) {
      if (!force) throw err;
    }
  }

  async build(o: BuildOptions, progress: BuildProgressSink): Promise<BuildResult> {
    const { runBuild } = await import('../build/build.ts');
    return runBuild(this.ctx, this, o, progress);
  }

  async pruneBuildCache(o: BuildCachePruneOptions): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const { pruneBuildCache } = await import('../build/build.ts');
    return pruneBuildCache(this.ctx, o);
  }

  async buildCacheUsage(): Promise<BuildCacheItem[]> {
    const { buildCacheUsage } = await import('../build/cache-usage.ts');
    return buildCacheUsage(this.ctx);
  }

  async exportBuildCacheMounts(ids: string[], out: NodeJS.WritableStream): Promise<void> {
    const { exportCacheMounts } = await import('../build/cache-mounts-archive.ts');
    return exportCacheMounts(this.ctx, ids, out);
  }

  async importBuildCacheMounts(input: Readable, replace: boolean): Promise<string[]> {
    const { importCacheMounts } = await import('../build/cache-mounts-archive.ts');
    return importCacheMounts(this.ctx, input, replace);
  }

  async healthcheckRun(ref: string): Promise<HealthcheckRunResult> {
    const { healthcheckRun } = await import('../container/health.ts');
    return healthcheckRun(this.ctx, ref);
  }

  async containerExited(ref: string): Promise<void> {
    const c = this.ctx.containers.find(ref);
    if (!c) return;
    await cleanupContainer(this.ctx, c.id);
    // Restart policies live here, in conmon's exit command: there is no daemon to do it. Whoever
    // recorded the exit (this process, an attached run, a `ps`) left the container `restarting`.
    for (let attempt = 0; attempt < 10; attempt++) {
      const cur = this.ctx.containers.get(c.id);
      if (cur?.state.status !== 'restarting' || cur.state.manuallyStopped) return;
      const generation = cur.state.generation;
      await new Promise((r) => setTimeout(r, cur.state.restartDelayMs ?? 100));
      const now = this.ctx.containers.get(c.id);
      if (
        now?.state.status !== 'restarting' ||
        now.state.manuallyStopped ||
        now.state.generation !== generation
      )
        return;
      try {
        await startContainer(this.ctx, c.id, { onlyIfRestarting: true });
        return;
      } catch {
        // A failed start is recorded on the container; its policy may ask for another try.
        await cleanupContainer(this.ctx, c.id, { force: true });
      }
    }
  }

  // ---- system ----

  events(q: EventQuery, signal?: AbortSignal): AsyncIterable<EventMessage> {
    return readEvents(this.ctx.db, q, signal);
  }

  async systemInfo(): Promise<Record<string, unknown>> {
    await reconcile(this.ctx);
    const containers = this.ctx.containers.list().map((c) => ({ State: c.state.status }));
    return systemInfo(this.ctx.paths.root, { containers, images: this.ctx.images.list().length });
  }

  async systemDf(): Promise<DiskUsage> {
    const { volumeInfo } = await import('../volume/volume-ops.ts');
    const { volumeUsers } = await import('../volume/container-mounts.ts');
    const { execFileSync } = await import('node:child_process');
    const images = await this.listImages({ all: true, filters: {} });
    const containers = await this.listContainers({ all: true, size: true, filters: {} });
    const volumes = this.ctx.volumes.list().map((v) => {
      let size = -1;
      try {
        size = Number(
          execFileSync('du', ['-sb', this.ctx.volumes.dataDir(v.name)], { encoding: 'utf8' }).split('\t')[0],
        );
      } catch {
        // docker reports -1 when the size is unknown
      }
      return {
        ...volumeInfo(this.ctx, v),
        UsageData: { Size: size, RefCount: volumeUsers(this.ctx, v.name).length },
      };
    });
    const layersSize = this.ctx.images.list().reduce((n, i) => n + i.size, 0);
    return {
      LayersSize: layersSize,
      Images: images,
      Containers: containers,
      Volumes: volumes,
      BuildCache: await this.buildCacheUsage(),
    };
  }
}

interface PendingAttach {
  io: AttachIO;
  connect(attachSocket: string): Promise<void>;
}

/** docker's container states, the values `ps --filter status=` accepts. */
const CONTAINER_STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** Go's regexp.MatchString as docker's filters use it: a pattern that does not compile matches nothing. */
function regexMatch(pattern: string, s: string): boolean {
  try {
    return new RegExp(pattern).test(s);
  } catch {
    return false;
  }
}

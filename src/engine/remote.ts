import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodeUpdate } from '../api/decode/container-update.ts';
import { encodeFilters } from '../api/decode/filters.ts';
import { encodeRegistryAuth } from '../api/decode/registry-auth.ts';
import { decodeBuildEvent, type EncodedBuildEvent } from '../api/routes/build.ts';
import type { BuildCacheItem } from '../build/cache-usage.ts';
import { BuildStepError } from '../build/errors.ts';
import type { BuildCachePruneOptions, BuildOptions, BuildProgressSink, BuildResult } from '../build/types.ts';
import type { AttachIO } from '../container/attach.ts';
import type { CreateOptions } from '../container/create.ts';
import type { ExecHandle, ExecOptions } from '../container/exec.ts';
import type { HealthcheckRunResult } from '../container/health-state.ts';
import type { LogEntry, LogOptions } from '../container/logs.ts';
import type { TopResult } from '../container/top.ts';
import type { UpdateOptions } from '../container/update.ts';
import type { ImportOptions } from '../image/import.ts';
import { parseReference } from '../image/reference.ts';
import type { NetworkCreateOptions, NetworkInspect } from '../network/types.ts';
import {
  getCredentials,
  registryHostname,
  removeCredentials,
  storeCredentials,
} from '../registry/credentials.ts';
import { BerthError, InvalidArgumentError } from '../util/errors.ts';
import { parseTimestamp } from '../util/units.ts';
import type { VolumeInfo } from '../volume/volume-ops.ts';
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
import type { EventMessage, EventQuery } from './events.ts';
import type { ProgressSink } from './progress.ts';
import { createBody } from './remote-create.ts';
import { Demuxer, errorFor, jsonLines, pathPart, type Query, Transport } from './remote-http.ts';
import type { DiskUsage } from './system.ts';
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

/** One of docker's JSON messages as pull, push, load, import and build stream them. */
interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string; berthStep?: { line: number; endLine: number; exitStatus: number } };
  berthEvent?: EncodedBuildEvent;
  berthResult?: BuildResult;
}

/** The reference split as docker's client sends it: `fromImage` and `tag` (a digest is a tag too). */
function splitRef(ref: string): { name: string; tag?: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { name: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref };
}

const seconds = (ms: number) => (ms / 1000).toFixed(9);

function filterQuery(f: Filters): string | undefined {
  return Object.keys(f).length ? encodeFilters(f) : undefined;
}

/**
 * The Engine as a client of a Berth (or docker) Engine API server: `berth --host`, `BERTH_HOST`,
 * `DOCKER_HOST`. Every call is the request docker's own CLI would make, and errors come back as the
 * BerthErrors the local engine throws, so the CLI's output does not depend on where the engine runs.
 *
 * Builds stream docker's legacy messages; with the `X-Berth-Build-Events: 1` header a Berth server
 * also sends each of Berth's BuildEvents (`berthEvent`) and the result (`berthResult`), which this
 * client renders with the same progress display as a local build.
 */
export class RemoteEngine implements Engine {
  readonly http: Transport;

  constructor(host: string) {
    this.http = new Transport(host);
  }

  /** Reads a JSON-messages stream, feeding progress; an in-stream error becomes a thrown BerthError. */
  private async messages(body: AsyncIterable<Buffer>, each: (m: JsonMessage) => void): Promise<void> {
    for await (const m of jsonLines<JsonMessage>(body)) {
      const step = m.errorDetail?.berthStep;
      if (step)
        throw new BuildStepError(m.errorDetail?.message ?? '', step.line, step.endLine, step.exitStatus);
      if (m.error || m.errorDetail) throw errorFor(500, m.errorDetail?.message ?? m.error ?? 'unknown error');
      each(m);
    }
  }

  private static progressOf(m: JsonMessage): Parameters<ProgressSink>[0] | undefined {
    if (m.status === undefined) return undefined;
    const d = m.progressDetail;
    return {
      ...(m.id !== undefined ? { id: m.id } : {}),
      status: m.status,
      ...(d?.current !== undefined && d.total !== undefined ? { current: d.current, total: d.total } : {}),
    };
  }

  // ---- images ----

  async importImage(source: Readable, o: ImportOptions): Promise<string> {
    const r = o.reference ? splitRef(o.reference) : undefined;
    const res = await this.http.request('POST', '/images/create', {
      query: {
        fromSrc: '-',
        repo: r?.name,
        tag: r?.tag,
        message: o.message,
        changes: o.changes,
        platform: o.platform ? `${o.platform.os}/${o.platform.architecture}` : undefined,
      },
      body: source,
    });
    let id = '';
    await this.messages(res.body, (m) => {
      if (m.status) id = m.status;
    });
    return id;
  }

  listImages(o: { all: boolean; filters: Filters }): Promise<ImageSummary[]> {
    return this.http.json('GET', '/images/json', { query: { all: o.all, filters: filterQuery(o.filters) } });
  }

  inspectImage(ref: string): Promise<ImageInspect> {
    return this.http.json('GET', `/images/${pathPart(ref)}/json`);
  }

  async tagImage(source: string, target: string): Promise<void> {
    const t = splitRef(target);
    await this.http.call('POST', `/images/${pathPart(source)}/tag`, { query: { repo: t.name, tag: t.tag } });
  }

  removeImage(ref: string, o: { force: boolean; noPrune: boolean }): Promise<ImageDeleteItem[]> {
    return this.http.json('DELETE', `/images/${pathPart(ref)}`, {
      query: { force: o.force, noprune: o.noPrune },
    });
  }

  imageHistory(ref: string): Promise<HistoryItem[]> {
    return this.http.json('GET', `/images/${pathPart(ref)}/history`);
  }

  async pruneImages(o: { all: boolean; filters: Filters }): Promise<PruneResult> {
    const f = { ...o.filters, ...(o.all ? { dangling: ['false'] } : {}) };
    const r = await this.http.json<{ ImagesDeleted: ImageDeleteItem[] | null; SpaceReclaimed: number }>(
      'POST',
      '/images/prune',
      { query: { filters: filterQuery(f) } },
    );
    return {
      deleted: (r.ImagesDeleted ?? []).map((d) =>
        d.Deleted ? `deleted: ${d.Deleted}` : `untagged: ${d.Untagged}`,
      ),
      spaceReclaimed: r.SpaceReclaimed,
    };
  }

  // ---- containers ----

  async createContainer(
    o: CreateOptions,
    _pull: PullPolicy,
  ): Promise<{ id: string; name: string; warnings: string[] }> {
    // The pull policy is the client's business (the CLI pulls before it creates), as with docker.
    const r = await this.http.json<{ Id: string; Warnings: string[] | null }>('POST', '/containers/create', {
      query: { name: o.name },
      body: createBody(o),
    });
    const name =
      o.name ??
      ((await this.http.json<{ Name: string }>('GET', `/containers/${r.Id}/json`)).Name ?? '').replace(
        /^\//,
        '',
      );
    return { id: r.Id, name, warnings: r.Warnings ?? [] };
  }

  private async tty(ref: string): Promise<boolean> {
    const c = await this.http.json<{ Config: { Tty: boolean } }>('GET', `/containers/${pathPart(ref)}/json`);
    return c.Config.Tty;
  }

  /** The hijacked attach connection, relayed to the caller's streams. */
  private async hijack(
    path: string,
    query: Query,
    body: unknown,
    io: AttachIO,
    tty: boolean,
  ): Promise<Relay> {
    const { socket } = await this.http.upgrade(path, { query, body });
    return relay(socket, io, tty);
  }

  async startContainer(ref: string, attach?: AttachIO): Promise<AttachHandle | undefined> {
    let handle: AttachHandle | undefined;
    if (attach) handle = await this.attachContainer(ref, attach);
    try {
      await this.http.call('POST', `/containers/${pathPart(ref)}/start`);
    } catch (err) {
      handle?.close();
      throw err;
    }
    if (handle && attach?.consoleSize) handle.resize(attach.consoleSize.rows, attach.consoleSize.cols);
    return handle;
  }

  async attachContainer(ref: string, io: AttachIO): Promise<AttachHandle> {
    const tty = await this.tty(ref);
    const r = await this.hijack(
      `/containers/${pathPart(ref)}/attach`,
      { stream: true, stdin: !!io.stdin, stdout: !!io.stdout, stderr: !!io.stderr },
      undefined,
      io,
      tty,
    );
    return {
      done: r.done,
      close: r.close,
      resize: (rows, cols) => void this.resizeContainer(ref, rows, cols).catch(() => undefined),
    };
  }

  async resizeContainer(ref: string, rows: number, cols: number): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/resize`, { query: { h: rows, w: cols } });
  }

  async waitContainer(ref: string, condition: 'not-running' | 'next-exit' | 'removed'): Promise<WaitResult> {
    return this.http.json('POST', `/containers/${pathPart(ref)}/wait`, { query: { condition } });
  }

  async stopContainer(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/stop`, { query: { t: timeoutSec, signal } });
  }

  async restartContainer(ref: string, timeoutSec?: number): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/restart`, { query: { t: timeoutSec } });
  }

  async killContainer(ref: string, signal: string): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/kill`, { query: { signal } });
  }

  async removeContainer(ref: string, o: { force: boolean; volumes: boolean }): Promise<void> {
    await this.http.call('DELETE', `/containers/${pathPart(ref)}`, {
      query: { force: o.force, v: o.volumes },
    });
  }

  async renameContainer(ref: string, name: string): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/rename`, { query: { name } });
  }

  async updateContainer(ref: string, o: UpdateOptions): Promise<{ warnings: string[] }> {
    const r = await this.http.json<{ Warnings?: string[] | null }>(
      'POST',
      `/containers/${pathPart(ref)}/update`,
      { body: encodeUpdate(o) },
    );
    return { warnings: r.Warnings ?? [] };
  }

  async pauseContainer(ref: string): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/pause`);
  }

  async unpauseContainer(ref: string): Promise<void> {
    await this.http.call('POST', `/containers/${pathPart(ref)}/unpause`);
  }

  listContainers(o: {
    all: boolean;
    size: boolean;
    limit?: number;
    filters: Filters;
  }): Promise<ContainerSummary[]> {
    return this.http.json('GET', '/containers/json', {
      query: { all: o.all, size: o.size, limit: o.limit, filters: filterQuery(o.filters) },
    });
  }

  async inspectContainer(ref: string, o: { size: boolean }): Promise<Record<string, unknown>> {
    const r = await this.http.request('GET', `/containers/${pathPart(ref)}/json`, {
      query: { size: o.size },
    });
    const c = JSON.parse(await (r.body as unknown as { text(): Promise<string> }).text()) as Record<
      string,
      unknown
    >;
    // A Berth server names conmon's k8s-file log "json-file" for docker's SDKs, which read only the
    // drivers they know; Berth has no json-file driver, so its own CLI gets the real name back.
    const server = String(r.headers.server ?? '');
    const lc = (c.HostConfig as { LogConfig?: { Type: string } } | undefined)?.LogConfig;
    if (server.startsWith('Berth/') && lc?.Type === 'json-file') lc.Type = 'k8s-file';
    return c;
  }

  async containerLogs(ref: string, o: LogOptions): Promise<AsyncIterable<LogEntry>> {
    const tty = await this.tty(ref);
    const r = await this.http.request('GET', `/containers/${pathPart(ref)}/logs`, {
      query: {
        stdout: true,
        stderr: true,
        timestamps: true,
        follow: o.follow,
        tail: o.tail === undefined ? 'all' : o.tail,
        since: o.sinceMs !== undefined ? seconds(o.sinceMs) : undefined,
        until: o.untilMs !== undefined ? seconds(o.untilMs) : undefined,
      },
    });
    return logEntries(r.body, tty);
  }

  async execContainer(ref: string, o: ExecOptions, io: AttachIO): Promise<ExecHandle> {
    const created = await this.http.json<{ Id: string }>('POST', `/containers/${pathPart(ref)}/exec`, {
      body: {
        Cmd: o.cmd,
        Env: o.env,
        ...(o.workingDir ? { WorkingDir: o.workingDir } : {}),
        ...(o.user ? { User: o.user } : {}),
        Tty: o.tty,
        Privileged: o.privileged,
        AttachStdin: o.stdin && !o.detach,
        AttachStdout: !o.detach,
        AttachStderr: !o.detach,
        ...(o.tty && io.consoleSize ? { ConsoleSize: [io.consoleSize.rows, io.consoleSize.cols] } : {}),
      },
    });
    const id = created.Id;
    const resize = (rows: number, cols: number) =>
      void this.http
        .call('POST', `/exec/${id}/resize`, { query: { h: rows, w: cols } })
        .catch(() => undefined);
    if (o.detach) {
      await this.http.call('POST', `/exec/${id}/start`, { body: { Detach: true, Tty: o.tty } });
      return { execId: id, pid: 0, exitCode: Promise.resolve(0), resize, detached: Promise.resolve(true) };
    }
    const r = await this.hijack(
      `/exec/${id}/start`,
      {},
      {
        Detach: false,
        Tty: o.tty,
        ...(o.tty && io.consoleSize ? { ConsoleSize: [io.consoleSize.rows, io.consoleSize.cols] } : {}),
      },
      o.stdin ? io : { ...io, stdin: undefined },
      o.tty,
    );
    const exitCode = r.done.then(async (how) => {
      if (how === 'detached') return 0;
      // The exec's record may lag its stream's end by a moment.
      for (let i = 0; i < 50; i++) {
        const x = await this.http.json<{ Running: boolean; ExitCode: number | null }>(
          'GET',
          `/exec/${id}/json`,
        );
        if (!x.Running && x.ExitCode !== null) return x.ExitCode;
        await new Promise((res) => setTimeout(res, 20));
      }
      return -1;
    });
    return { execId: id, pid: 0, exitCode, resize, detached: r.done.then((how) => how === 'detached') };
  }

  topContainer(ref: string, psArgs: string[]): Promise<TopResult> {
    return this.http.json('GET', `/containers/${pathPart(ref)}/top`, {
      query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined },
    });
  }

  async *containerStats(refs: string[], o: { stream: boolean; all: boolean }): AsyncIterable<StatsEntry[]> {
    for (;;) {
      const targets = refs.length
        ? refs
        : (await this.listContainers({ all: o.all, size: false, filters: {} })).map((c) => c.Id);
      const rows = await Promise.all(
        targets.map(async (ref) =>
          statsEntry(
            await this.http.json<DockerStats>('GET', `/containers/${pathPart(ref)}/stats`, {
              query: { stream: false },
            }),
          ),
        ),
      );
      yield rows;
      if (!o.stream) return;
    }
  }

  async pruneContainers(filters: Filters): Promise<PruneResult> {
    const r = await this.http.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
      'POST',
      '/containers/prune',
      { query: { filters: filterQuery(filters) } },
    );
    return { deleted: r.ContainersDeleted ?? [], spaceReclaimed: r.SpaceReclaimed };
  }

  // ---- moving images and container filesystems ----

  /** X-Registry-Auth as docker's CLI sends it: the given credentials, else the ones stored here. */
  private authHeader(ref: string, auth?: { username: string; password: string }): Record<string, string> {
    const domain = parseReference(ref).domain;
    const creds = auth ?? getCredentials(domain);
    return {
      'X-Registry-Auth': creds ? encodeRegistryAuth(creds, domain) : Buffer.from('{}').toString('base64url'),
    };
  }

  async pullImage(ref: string, o: PullOptions, progress: ProgressSink): Promise<string[]> {
    const r = splitRef(ref);
    const res = await this.http.request('POST', '/images/create', {
      query: { fromImage: r.name, tag: r.tag ?? (o.allTags ? undefined : 'latest'), platform: o.platform },
      headers: this.authHeader(ref, o.auth),
    });
    await this.messages(res.body, (m) => {
      const e = RemoteEngine.progressOf(m);
      if (e) progress(e);
    });
    if (o.allTags) return [];
    return [(await this.inspectImage(ref)).Id];
  }

  async pushImage(ref: string, o: PushOptions, progress: ProgressSink): Promise<void> {
    const r = splitRef(ref);
    const res = await this.http.request('POST', `/images/${pathPart(r.name)}/push`, {
      query: { tag: r.tag ?? (o.allTags ? undefined : 'latest') },
      headers: this.authHeader(ref, o.auth),
    });
    await this.messages(res.body, (m) => {
      const e = RemoteEngine.progressOf(m);
      if (e) progress(e);
    });
  }

  /** As docker: the server checks the credentials; the client keeps them. */
  async login(server: string, username: string, password: string): Promise<string> {
    const host = registryHostname(server);
    const r = await this.http.json<{ Status: string }>('POST', '/auth', {
      body: { username, password, serveraddress: host },
    });
    storeCredentials(host, { username, password });
    return r.Status;
  }

  async logout(server: string): Promise<void> {
    const { NotLoggedInError } = await import('../registry/login.ts');
    const host = registryHostname(server);
    if (!removeCredentials(host)) throw new NotLoggedInError(host);
  }

  async saveImages(
    refs: string[],
    out: NodeJS.WritableStream,
    o: { format: 'docker' | 'oci' },
  ): Promise<void> {
    const r = await this.http.request('GET', '/images/get', {
      query: { names: refs, ...(o.format === 'oci' ? { format: 'oci' } : {}) },
    });
    await pipeline(r.body, out);
  }

  async loadImages(input: Readable, progress: ProgressSink): Promise<string[]> {
    const res = await this.http.request('POST', '/images/load', { query: { quiet: false }, body: input });
    const lines: string[] = [];
    await this.messages(res.body, (m) => {
      if (m.stream !== undefined) lines.push(...m.stream.split('\n').filter(Boolean));
      const e = RemoteEngine.progressOf(m);
      if (e) progress(e);
    });
    return lines;
  }

  async exportContainer(ref: string, out: NodeJS.WritableStream): Promise<void> {
    const r = await this.http.request('GET', `/containers/${pathPart(ref)}/export`);
    await pipeline(r.body, out);
  }

  async commitContainer(ref: string, o: CommitOptions): Promise<string> {
    const r = o.reference ? splitRef(o.reference) : undefined;
    const res = await this.http.json<{ Id: string }>('POST', '/commit', {
      query: {
        container: ref,
        repo: r?.name,
        tag: r?.tag,
        comment: o.message,
        author: o.author,
        pause: o.pause,
        changes: o.changes,
      },
      body: {},
    });
    return res.Id;
  }

  containerChanges(ref: string): Promise<ChangeItem[]> {
    return this.http
      .json<ChangeItem[] | null>('GET', `/containers/${pathPart(ref)}/changes`)
      .then((r) => r ?? []);
  }

  private async statPath(ref: string, path: string): Promise<PathStat> {
    const r = await this.http.request('HEAD', `/containers/${pathPart(ref)}/archive`, { query: { path } });
    await r.body.resume();
    return pathStat(r.headers);
  }

  async copyFromContainer(
    ref: string,
    path: string,
    out: NodeJS.WritableStream,
    o: CopyFromOptions,
  ): Promise<PathStat> {
    let src = path;
    if (o.followLink || o.onStat) {
      const st = await this.statPath(ref, path);
      // As docker's CLI: a link is followed by asking for its target (the API has no follow flag).
      if (o.followLink && st.mode & GO_SYMLINK && st.linkTarget) src = st.linkTarget;
      else if (o.onStat?.(st) === false) return st;
    }
    const r = await this.http.request('GET', `/containers/${pathPart(ref)}/archive`, {
      query: { path: src },
    });
    const stat = pathStat(r.headers);
    if (src !== path && o.onStat?.(stat) === false) {
      await r.body.resume();
      return stat;
    }
    await pipeline(r.body, out);
    return stat;
  }

  async copyToContainer(
    ref: string,
    path: string,
    input: Readable,
    o: { copyUidGid: boolean },
  ): Promise<void> {
    await this.http.call('PUT', `/containers/${pathPart(ref)}/archive`, {
      query: { path, copyUIDGID: o.copyUidGid, noOverwriteDirNonDir: true },
      body: input,
    });
  }

  // ---- volumes ----

  volumeCreate(
    name: string | undefined,
    o: { labels: Record<string, string>; options: Record<string, string> },
  ): Promise<VolumeInfo> {
    return this.http.json('POST', '/volumes/create', {
      body: { ...(name ? { Name: name } : {}), Driver: 'local', DriverOpts: o.options, Labels: o.labels },
    });
  }

  async volumeList(filters: Filters): Promise<VolumeInfo[]> {
    const r = await this.http.json<{ Volumes: VolumeInfo[] | null }>('GET', '/volumes', {
      query: { filters: filterQuery(filters) },
    });
    return r.Volumes ?? [];
  }

  volumeInspect(name: string): Promise<VolumeInfo> {
    return this.http.json('GET', `/volumes/${pathPart(name)}`);
  }

  async volumeRemove(name: string, force: boolean): Promise<void> {
    await this.http.call('DELETE', `/volumes/${pathPart(name)}`, { query: { force } });
  }

  async volumePrune(o: {
    all: boolean;
    filters: Filters;
  }): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const f = { ...o.filters, ...(o.all ? { all: ['true'] } : {}) };
    const r = await this.http.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
      'POST',
      '/volumes/prune',
      { query: { filters: filterQuery(f) } },
    );
    return { deleted: r.VolumesDeleted ?? [], spaceReclaimed: r.SpaceReclaimed };
  }

  // ---- networks ----

  async networkCreate(o: NetworkCreateOptions): Promise<string> {
    const pool = o.subnet || o.gateway || o.ipRange;
    const r = await this.http.json<{ Id: string }>('POST', '/networks/create', {
      body: {
        Name: o.name,
        ...(o.driver ? { Driver: o.driver } : {}),
        Internal: o.internal,
        Labels: o.labels,
        Options: o.options,
        ...(pool
          ? {
              IPAM: {
                Driver: 'default',
                Config: [
                  {
                    ...(o.subnet ? { Subnet: o.subnet } : {}),
                    ...(o.gateway ? { Gateway: o.gateway } : {}),
                    ...(o.ipRange ? { IPRange: o.ipRange } : {}),
                  },
                ],
              },
            }
          : {}),
      },
    });
    return r.Id;
  }

  networkList(filters: Filters): Promise<NetworkInspect[]> {
    return this.http.json('GET', '/networks', { query: { filters: filterQuery(filters) } });
  }

  networkInspect(ref: string): Promise<NetworkInspect> {
    return this.http.json('GET', `/networks/${pathPart(ref)}`);
  }

  async networkRemove(ref: string): Promise<void> {
    await this.http.call('DELETE', `/networks/${pathPart(ref)}`);
  }

  async networkPrune(filters: Filters): Promise<string[]> {
    const r = await this.http.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', {
      query: { filters: filterQuery(filters) },
    });
    return r.NetworksDeleted ?? [];
  }

  async networkConnect(
    network: string,
    container: string,
    o: { aliases: string[]; ip?: string },
  ): Promise<void> {
    await this.http.call('POST', `/networks/${pathPart(network)}/connect`, {
      body: {
        Container: container,
        EndpointConfig: { Aliases: o.aliases, ...(o.ip ? { IPAMConfig: { IPv4Address: o.ip } } : {}) },
      },
    });
  }

  async networkDisconnect(network: string, container: string, force: boolean): Promise<void> {
    await this.http.call('POST', `/networks/${pathPart(network)}/disconnect`, {
      body: { Container: container, Force: force },
    });
  }

  // ---- build ----

  async build(o: BuildOptions, progress: BuildProgressSink): Promise<BuildResult> {
    if (o.secrets.length) throw new InvalidArgumentError('build secrets cannot be sent to a remote engine');
    if (o.outputs.some((x) => x.type !== 'image'))
      throw new InvalidArgumentError('a remote build can only produce an image: drop --output');
    const ctx = buildContextTar(o);
    try {
      const res = await this.http.request('POST', '/build', {
        query: {
          dockerfile: ctx.dockerfile,
          t: o.tags,
          buildargs: JSON.stringify(o.buildArgs),
          labels: JSON.stringify(o.labels),
          target: o.target,
          nocache: o.noCache,
          pull: o.pull,
          networkmode: o.network,
          platform: o.platform,
          extrahosts: o.extraHosts?.length ? o.extraHosts.join(',') : undefined,
          rm: true,
        },
        headers: { 'X-Berth-Build-Events': '1' },
        body: ctx.stream,
      });
      let result: BuildResult | undefined;
      let id = '';
      await this.messages(res.body, (m) => {
        if (m.berthEvent) progress(decodeBuildEvent(m.berthEvent));
        if (m.berthResult) result = m.berthResult;
        if (m.aux?.ID) id = m.aux.ID;
      });
      return result ?? { imageId: id, warnings: [] };
    } finally {
      ctx.cleanup();
    }
  }

  async pruneBuildCache(o: BuildCachePruneOptions): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const r = await this.http.json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>(
      'POST',
      '/build/prune',
      {
        query: { all: o.all, filters: filterQuery(o.filters), 'keep-storage': o.keepStorage },
      },
    );
    return { deleted: r.CachesDeleted ?? [], spaceReclaimed: r.SpaceReclaimed };
  }

  async buildCacheUsage(): Promise<BuildCacheItem[]> {
    return (await this.systemDf()).BuildCache as BuildCacheItem[];
  }

  async exportBuildCacheMounts(_ids: string[], _out: NodeJS.WritableStream): Promise<void> {
    // docker's API has no call for cache mounts (BuildKit keeps them inside its own store).
    throw new BerthError(
      "build cache mounts cannot be exported over --host yet: run it on the engine's machine",
    );
  }

  async importBuildCacheMounts(_input: Readable, _replace: boolean): Promise<string[]> {
    throw new BerthError(
      "build cache mounts cannot be imported over --host yet: run it on the engine's machine",
    );
  }

  async healthcheckRun(_ref: string): Promise<HealthcheckRunResult> {
    // docker's API has no such call (podman's has /libpod/…/healthcheck); Berth's server does not serve one yet.
    throw new BerthError("healthcheck run is not available over --host: run it on the engine's machine");
  }

  async containerExited(_ref: string): Promise<void> {
    throw new BerthError(
      'container exits are recorded by the engine that runs the container, not over --host',
    );
  }

  // ---- system ----

  async *events(q: EventQuery, signal?: AbortSignal): AsyncIterable<EventMessage> {
    const now = Date.now();
    let res: Awaited<ReturnType<Transport['request']>>;
    try {
      res = await this.http.request('GET', '/events', {
        query: {
          since: q.since ? seconds(parseTimestamp(q.since, now)) : undefined,
          until: q.until ? seconds(parseTimestamp(q.until, now)) : undefined,
          filters: filterQuery(q.filters),
        },
        signal,
      });
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    try {
      for await (const m of jsonLines<EventMessage>(res.body)) yield m;
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
  }

  systemInfo(): Promise<Record<string, unknown>> {
    return this.http.json('GET', '/info');
  }

  systemDf(): Promise<DiskUsage> {
    return this.http.json('GET', '/system/df');
  }
}

// ---- helpers ----

/** Go's os.ModeSymlink, as the archive stat header carries it. */
const GO_SYMLINK = 1 << 27;

function pathStat(headers: Record<string, string | string[] | undefined>): PathStat {
  const h = headers['x-docker-container-path-stat'];
  const raw = Array.isArray(h) ? h[0] : h;
  if (!raw) throw new BerthError('the server sent no X-Docker-Container-Path-Stat header');
  return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as PathStat;
}

interface Relay {
  done: Promise<'exited' | 'detached'>;
  close(): void;
}

/**
 * Relays a hijacked connection: output (raw with a TTY, multiplexed without) to the caller's
 * streams, stdin to the connection, and stdin's end as a half-close, which the server turns into
 * the container's stdin EOF. The detach keys are watched here, as the local engine watches them.
 */
function relay(socket: Duplex, io: AttachIO, tty: boolean): Relay {
  let finish: (how: 'exited' | 'detached') => void = () => undefined;
  const done = new Promise<'exited' | 'detached'>((resolve) => {
    finish = resolve;
  });
  const demux = new Demuxer((stream, data) => (stream === 1 ? io.stdout : io.stderr)?.write(data));
  socket.on('data', (chunk: Buffer) => {
    if (tty) io.stdout?.write(chunk);
    else demux.push(chunk);
  });
  socket.on('end', () => finish('exited'));
  socket.on('close', () => finish('exited'));
  socket.on('error', () => finish('exited'));
  let onData: ((chunk: Buffer) => void) | undefined;
  let onEnd: (() => void) | undefined;
  if (io.stdin) {
    const stdin = io.stdin;
    onData = (chunk: Buffer) => {
      let data = chunk;
      if (io.detachKeys) {
        const r = io.detachKeys(chunk);
        data = r.pass;
        if (r.detach) {
          if (data.length) socket.write(data);
          finish('detached');
          socket.destroy();
          return;
        }
      }
      socket.write(data);
    };
    onEnd = () => socket.end();
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    if ((stdin as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded) onEnd();
  }
  return {
    done,
    close() {
      if (onData) io.stdin?.off('data', onData);
      if (onEnd) io.stdin?.off('end', onEnd);
      socket.destroy();
    },
  };
}

/** `docker logs` output with `timestamps=1`: each line starts with its RFC 3339 time and a space. */
async function* logEntries(body: AsyncIterable<Buffer>, tty: boolean): AsyncIterable<LogEntry> {
  const queue: LogEntry[] = [];
  const partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  const take = (stream: 'stdout' | 'stderr', data: Buffer) => {
    const text = partial[stream] + data.toString('utf8');
    const lines = text.split('\n');
    partial[stream] = lines.pop() ?? '';
    for (const l of lines) {
      const sp = l.indexOf(' ');
      queue.push({ time: l.slice(0, sp), stream, text: `${l.slice(sp + 1)}\n` });
    }
  };
  const demux = new Demuxer((s, d) => take(s === 1 ? 'stdout' : 'stderr', d));
  for await (const chunk of body) {
    if (tty) take('stdout', chunk);
    else demux.push(chunk);
    while (queue.length) yield queue.shift()!;
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const l = partial[stream];
    if (!l) continue;
    const sp = l.indexOf(' ');
    yield { time: l.slice(0, sp), stream, text: l.slice(sp + 1) };
  }
}

/** The parts of docker's stats JSON the CLI's columns come from. */
interface DockerStats {
  id: string;
  name: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  pids_stats?: { current?: number };
}

/** docker's CLI arithmetic (cli/command/container/stats_helpers.go) over one stats sample. */
function statsEntry(s: DockerStats): StatsEntry {
  const cpu = s.cpu_stats;
  const pre = s.precpu_stats;
  const cpuDelta = (cpu?.cpu_usage?.total_usage ?? 0) - (pre?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu?.system_cpu_usage ?? 0) - (pre?.system_cpu_usage ?? 0);
  const cpuPercent = cpuDelta > 0 && sysDelta > 0 ? (cpuDelta / sysDelta) * (cpu?.online_cpus ?? 1) * 100 : 0;
  const m = s.memory_stats;
  const cache = m?.stats?.total_inactive_file ?? m?.stats?.inactive_file ?? m?.stats?.cache ?? 0;
  const mem = Math.max(0, (m?.usage ?? 0) - cache);
  const limit = m?.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    if (e.op.toLowerCase() === 'write') write += e.value;
  }
  return {
    id: s.id,
    name: s.name.replace(/^\//, ''),
    cpuPercent,
    memUsage: mem,
    memLimit: limit,
    memPercent: limit ? (mem / limit) * 100 : 0,
    netRx: rx,
    netTx: tx,
    blockRead: read,
    blockWrite: write,
    pids: s.pids_stats?.current ?? 0,
  };
}

/** The build context as a tar stream: a tar the caller gave, or the directory packed by GNU tar. */
function buildContextTar(o: BuildOptions): { stream: Readable; dockerfile?: string; cleanup: () => void } {
  const df = o.dockerfile;
  if ('tar' in o.context) {
    if (df && 'text' in df) throw new InvalidArgumentError('a Dockerfile on stdin needs a context directory');
    return { stream: o.context.tar, dockerfile: df?.path, cleanup: () => undefined };
  }
  let tmp: string | undefined;
  const args = ['-c', '-f', '-'];
  if ('dir' in o.context) args.push('-C', o.context.dir, '.');
  let dockerfile = df && 'path' in df ? df.path : undefined;
  if (df && 'text' in df) {
    // As docker's CLI: a Dockerfile from stdin travels inside the context under a random name.
    tmp = mkdtempSync(join(tmpdir(), 'berth-build-'));
    dockerfile = `.dockerfile.${randomBytes(10).toString('hex')}`;
    writeFileSync(join(tmp, dockerfile), df.text);
    args.push('-C', tmp, dockerfile);
  }
  if (!('dir' in o.context) && !tmp)
    throw new InvalidArgumentError('a build without a context needs a Dockerfile');
  const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return {
    stream: child.stdout,
    dockerfile,
    cleanup: () => {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    },
  };
}

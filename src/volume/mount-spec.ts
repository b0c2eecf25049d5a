import { posix } from 'node:path';
import { InvalidArgumentError } from '../util/errors.ts';
import { parseBytes } from '../util/units.ts';

/** One mount a container asked for, from `-v`, `--mount`, `--tmpfs`, `--volumes-from` or an image VOLUME. */
export interface MountSpec {
  type: 'volume' | 'bind' | 'tmpfs';
  /** Volume name (set for anonymous ones at create), absolute host path, or '' for tmpfs. */
  source: string;
  target: string;
  readonly: boolean;
  /** Volume: do not copy the image's content into an empty volume. */
  nocopy?: boolean;
  /** Volume created for this container only (`-v /path`, image VOLUME): removed with `rm -v` / `--rm`. */
  anonymous?: boolean;
  /** Bind: rprivate (default), private, rshared, shared, rslave, slave. */
  propagation?: string;
  /** Bind from `-v`: docker creates a missing host directory; `--mount` refuses it. */
  createHostDir?: boolean;
  tmpfsSize?: number;
  tmpfsMode?: number;
  volumeOptions?: Record<string, string>;
}

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

function checkTarget(target: string, spec: string): string {
  if (!target.startsWith('/'))
    throw new InvalidArgumentError(
      `invalid mount config: invalid mount path: '${target}' mount path must be absolute (in "${spec}")`,
    );
  if (posix.normalize(target) === '/')
    throw new InvalidArgumentError(`invalid specification: destination can't be '/' in "${spec}"`);
  return posix.normalize(target);
}

/** docker's `-v [SOURCE:]TARGET[:OPTIONS]`. */
export function parseVolumeFlag(spec: string): MountSpec {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === ''))
    throw new InvalidArgumentError(`invalid volume specification: '${spec}'`);
  let source = '';
  let target: string;
  let opts = '';
  if (parts.length === 1) target = parts[0]!;
  else if (parts.length === 2) {
    // `/path:ro` is an anonymous volume with options only when the second part is not a path.
    if (parts[1]!.startsWith('/')) [source, target] = [parts[0]!, parts[1]!];
    else [target, opts] = [parts[0]!, parts[1]!];
  } else [source, target, opts] = [parts[0]!, parts[1]!, parts[2]!];
  const m: MountSpec = { type: 'volume', source: '', target: checkTarget(target, spec), readonly: false };
  if (source.startsWith('/') || source.startsWith('.') || source.startsWith('~')) {
    if (!source.startsWith('/'))
      throw new InvalidArgumentError(
        `invalid volume specification: '${spec}': bind source must be an absolute path`,
      );
    m.type = 'bind';
    m.source = posix.normalize(source);
    m.createHostDir = true;
  } else if (source) {
    m.source = source;
  } else {
    m.anonymous = true;
  }
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro') m.readonly = true;
    else if (o === 'rw') m.readonly = false;
    else if (o === 'nocopy' && m.type === 'volume') m.nocopy = true;
    else if (PROPAGATIONS.includes(o) && m.type === 'bind') m.propagation = o;
    else if (['z', 'Z', 'consistent', 'cached', 'delegated'].includes(o)) continue;
    else throw new InvalidArgumentError(`invalid mode: ${o}`);
  }
  return m;
}

/** docker's `--mount type=…,source=…,target=…,…`. */
export function parseMountFlag(spec: string): MountSpec {
  const fields = new Map<string, string>();
  const volumeOptions: Record<string, string> = {};
  for (const f of spec.split(',')) {
    const eq = f.indexOf('=');
    const k = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? '' : f.slice(eq + 1);
    if (k === 'volume-opt') {
      const e = v.indexOf('=');
      if (e <= 0) throw new InvalidArgumentError(`invalid volume-opt: ${v}`);
      volumeOptions[v.slice(0, e)] = v.slice(e + 1);
      continue;
    }
    fields.set(k, v);
  }
  const type = fields.get('type') ?? 'volume';
  if (type !== 'volume' && type !== 'bind' && type !== 'tmpfs') {
    throw new InvalidArgumentError(
      `invalid argument "${spec}" for "--mount" flag: mount type '${type}' is not supported`,
    );
  }
  const target = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  if (!target)
    throw new InvalidArgumentError(`invalid argument "${spec}" for "--mount" flag: target is required`);
  const source = fields.get('source') ?? fields.get('src') ?? '';
  const bool = (k: string) => {
    if (!fields.has(k)) return undefined;
    const v = fields.get(k)!;
    if (v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new InvalidArgumentError(`invalid value for ${k}: ${v}`);
  };
  const m: MountSpec = {
    type,
    source: '',
    target: checkTarget(target, spec),
    readonly: bool('readonly') ?? bool('ro') ?? false,
  };
  const known = new Set([
    'type',
    'source',
    'src',
    'target',
    'dst',
    'destination',
    'readonly',
    'ro',
    'consistency',
  ]);
  if (type === 'volume') {
    for (const k of ['volume-nocopy', 'volume-driver', 'volume-subpath']) known.add(k);
    m.source = source;
    m.anonymous = source === '';
    m.nocopy = bool('volume-nocopy') ?? false;
    const driver = fields.get('volume-driver');
    if (driver && driver !== 'local')
      throw new InvalidArgumentError(`volume driver "${driver}" is not supported: only "local"`);
    if (Object.keys(volumeOptions).length) m.volumeOptions = volumeOptions;
  } else if (type === 'bind') {
    for (const k of ['bind-propagation', 'bind-nonrecursive', 'bind-recursive']) known.add(k);
    if (!source.startsWith('/'))
      throw new InvalidArgumentError(
        `invalid argument "${spec}" for "--mount" flag: bind source must be an absolute path`,
      );
    m.source = posix.normalize(source);
    const p = fields.get('bind-propagation');
    if (p !== undefined) {
      if (!PROPAGATIONS.includes(p)) throw new InvalidArgumentError(`invalid bind-propagation: ${p}`);
      m.propagation = p;
    }
  } else {
    for (const k of ['tmpfs-size', 'tmpfs-mode']) known.add(k);
    if (source)
      throw new InvalidArgumentError(
        `invalid argument "${spec}" for "--mount" flag: source is not allowed for tmpfs mounts`,
      );
    const size = fields.get('tmpfs-size');
    if (size) m.tmpfsSize = parseBytes(size);
    const mode = fields.get('tmpfs-mode');
    if (mode) {
      if (!/^[0-7]{1,4}$/.test(mode)) throw new InvalidArgumentError(`invalid tmpfs-mode: ${mode}`);
      m.tmpfsMode = Number.parseInt(mode, 8);
    }
  }
  for (const k of fields.keys()) {
    if (!known.has(k))
      throw new InvalidArgumentError(
        `invalid argument "${spec}" for "--mount" flag: unexpected key '${k}' in '${spec}'`,
      );
  }
  return m;
}

/** The Mode string docker shows in inspect for a -v mount. */
export function modeString(m: MountSpec): string {
  const parts: string[] = [];
  if (m.readonly) parts.push('ro');
  if (m.type === 'volume' && m.nocopy) parts.push('nocopy');
  if (m.type === 'bind' && m.propagation) parts.push(m.propagation);
  return parts.join(',');
}

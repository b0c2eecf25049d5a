import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  type ScalarTag,
  type YAMLMap,
} from 'yaml';
import { BerthError } from '../../util/errors.ts';

/**
 * One YAML document of a compose file turned into plain data, the way compose reads it: anchors
 * and aliases expanded, merge keys `<<` applied (explicit keys win), duplicate keys rejected,
 * and the `!reset` / `!override` tags recorded by path (a `!reset` value is dropped).
 */
export interface ParsedDoc {
  data: Record<string, unknown>;
  /** Paths tagged `!reset`: removed from what earlier files defined. */
  resets: string[][];
  /** Paths tagged `!override`: replace what earlier files defined instead of merging with it. */
  overrides: string[][];
  /** Line of a path (dot-joined), for error messages. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

/** Expanding aliases can blow up (the "billion laughs"); compose caps the nodes it visits too. */
const MAX_NODES = 100_000;

export class ComposeFileError extends BerthError {
  constructor(message: string) {
    super(message, 1, 'invalid');
  }
}

/** `mode: 0440` is octal for compose (go-yaml reads a leading 0 as octal); YAML 1.2 would say 440. */
const legacyOctal: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^0[0-7]+$/,
  resolve: (s) => Number.parseInt(s, 8),
};

export function parseComposeYaml(src: string, file: string): ParsedDoc[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(src, {
    lineCounter: lc,
    uniqueKeys: true,
    merge: false,
    prettyErrors: false,
    customTags: (tags) => [legacyOctal, ...tags],
  });
  if (!Array.isArray(docs)) return [];
  const out: ParsedDoc[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const { line, col } = lc.linePos(err.pos[0]);
      const what = err.code === 'DUPLICATE_KEY' ? 'mapping key already defined' : err.message.split('\n')[0];
      throw new ComposeFileError(`failed to parse ${file}: line ${line}, column ${col}: ${what}`);
    }
    out.push(convertDoc(doc, lc, file));
  }
  return out;
}

function convertDoc(doc: Document.Parsed, lc: LineCounter, file: string): ParsedDoc {
  const lines = new Map<string, number>();
  const resets: string[][] = [];
  const overrides: string[][] = [];
  let visits = 0;

  const lineAt = (n: Node | null | undefined): number | undefined =>
    n?.range ? lc.linePos(n.range[0]).line : undefined;

  const keyString = (k: unknown): string => {
    if (isScalar(k)) return k.value === null ? '' : String(k.value);
    throw new ComposeFileError(`${file}: line ${lineAt(k as Node)}: mapping keys must be strings`);
  };

  const convert = (node: unknown, path: string[], record: boolean): unknown => {
    if (++visits > MAX_NODES)
      throw new ComposeFileError(
        `${file}: too many YAML nodes (more than ${MAX_NODES}); aliases nested too deeply?`,
      );
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (!target) throw new ComposeFileError(`${file}: line ${lineAt(node)}: unknown alias *${node.source}`);
      return convert(target, path, false);
    }
    if (record && node && typeof node === 'object' && !lines.has(path.join('.'))) {
      const l = lineAt(node as Node);
      if (l !== undefined) lines.set(path.join('.'), l);
    }
    if (isMap(node)) return convertMap(node, path, record);
    if (isSeq(node)) {
      const out: unknown[] = [];
      for (const item of node.items) {
        const p = [...path, String(out.length)];
        const tag = tagOf(item);
        if (tag === '!reset') {
          resets.push(p);
          continue;
        }
        if (tag === '!override') overrides.push(p);
        out.push(convert(item, p, record));
      }
      return out;
    }
    if (isScalar(node)) {
      const v = node.value;
      // YAML 1.2 core schema already gives numbers/booleans/null; big ints stay numbers
      return typeof v === 'bigint' ? Number(v) : v;
    }
    return node ?? null;
  };

  const tagOf = (n: unknown): string | undefined => {
    if (isAlias(n)) return tagOf(n.resolve(doc));
    return n && typeof n === 'object' && 'tag' in n ? (n as { tag?: string }).tag : undefined;
  };

  const convertMap = (node: YAMLMap, path: string[], record: boolean): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const merged: Record<string, unknown>[] = [];
    for (const pair of node.items) {
      const key = keyString(pair.key);
      if (key === '<<' && !(isScalar(pair.key) && pair.key.type !== 'PLAIN')) {
        // merge key: a mapping or a list of mappings, applied below explicit keys
        const v = pair.value;
        const sources = isSeq(v) ? v.items : [v];
        for (const s of sources) {
          const m = convert(s, path, false);
          if (!m || typeof m !== 'object' || Array.isArray(m))
            throw new ComposeFileError(
              `${file}: line ${lineAt(pair.key as Node)}: merge key << needs a mapping`,
            );
          merged.push(m as Record<string, unknown>);
        }
        continue;
      }
      const p = [...path, key];
      if (record) {
        const l = lineAt(pair.key as Node);
        if (l !== undefined) lines.set(p.join('.'), l);
      }
      const tag = tagOf(pair.value);
      if (tag === '!reset') {
        resets.push(p);
        continue;
      }
      if (tag === '!override') overrides.push(p);
      out[key] = convert(pair.value, p, record);
    }
    if (merged.length === 0) return out;
    // earlier sources in `<<: [*a, *b]` win over later ones, explicit keys over all
    const result: Record<string, unknown> = {};
    for (const m of [...merged].reverse()) Object.assign(result, m);
    for (const [k, v] of Object.entries(out)) result[k] = v;
    // a key `!reset` in this mapping also removes what a merge key brought in
    for (const r of resets)
      if (r.length === path.length + 1 && r.slice(0, -1).join('.') === path.join('.'))
        delete result[r[r.length - 1] as string];
    return result;
  };

  const data = doc.contents === null ? {} : convert(doc.contents, [], true);
  if (data === null || data === undefined) return { data: {}, resets, overrides, lineOf: () => undefined };
  if (typeof data !== 'object' || Array.isArray(data))
    throw new ComposeFileError(`${file}: top-level object must be a mapping`);
  return {
    data: data as Record<string, unknown>,
    resets,
    overrides,
    lineOf: (p) => {
      // the closest recorded ancestor
      for (let n = p.length; n >= 0; n--) {
        const l = lines.get(p.slice(0, n).join('.'));
        if (l !== undefined) return l;
      }
      return undefined;
    },
  };
}

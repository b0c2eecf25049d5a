/**
 * Dockerfile text → AST (ast.ts), with BuildKit's rules: parser directives, line continuations with
 * the escape char, comments, heredocs, JSON-or-shell argument forms, per-instruction grammars and
 * flags. Two layers, like BuildKit: `parseDockerfileNodes` is the lenient line parser
 * (`parser.Parse`), `parseDockerfile` also checks each instruction (`instructions.Parse`).
 * Nothing is expanded here: variables depend on the stage, which is the frontend's business.
 */
import { BerthError } from '../../util/errors.ts';
import { parseDuration } from '../../util/units.ts';
import type {
  CommandArgs,
  Directives,
  Dockerfile,
  Heredoc,
  Instruction,
  InstructionFlag,
  InstructionKind,
  KeyValue,
} from './ast.ts';
import { chompHeredocContent, heredocWordsOfLine, isHeredocTerminator, parseHeredocWord } from './heredoc.ts';
import { isUnicodeSpace } from './shell-words.ts';

/** A Dockerfile error with its place; the message reads like BuildKit's. */
export class DockerfileParseError extends BerthError {
  constructor(
    /** The error without its location. */
    readonly reason: string,
    readonly line: number,
    readonly column?: number,
  ) {
    super(
      `dockerfile parse error on line ${line}${column ? `, column ${column}` : ''}: ${reason}`,
      1,
      'invalid',
    );
    this.name = 'DockerfileParseError';
  }
}

/** A raw flag word as written before the arguments (`--mount=type=cache,target=/x`), quotes removed. */
export interface RawFlag {
  text: string;
  line: number;
  column: number;
}

/** One instruction as BuildKit's line parser sees it (its `parser.Node`), before any checking. */
export interface RawNode {
  /** The instruction keyword as written. */
  cmd: string;
  flags: RawFlag[];
  /**
   * The argument values (BuildKit's `Next` chain): JSON array items, whitespace-separated words, the
   * whole rest of the line, or for ENV/LABEL key, value, delimiter triples ("=" or "" for `ENV k v`).
   */
  args: string[];
  json: boolean;
  /** ONBUILD's trigger. */
  sub?: RawNode;
  original: string;
  heredocs: Heredoc[];
  line: number;
  endLine: number;
}

export interface RawDockerfile {
  directives: Directives;
  nodes: RawNode[];
  warnings: { line: number; message: string }[];
}

type Escape = '\\' | '`';

const WHITESPACE_RUN = /[\t\v\f\r ]+/;

const KINDS: Record<string, InstructionKind> = {
  add: 'ADD',
  arg: 'ARG',
  cmd: 'CMD',
  copy: 'COPY',
  entrypoint: 'ENTRYPOINT',
  env: 'ENV',
  expose: 'EXPOSE',
  from: 'FROM',
  healthcheck: 'HEALTHCHECK',
  label: 'LABEL',
  maintainer: 'MAINTAINER',
  onbuild: 'ONBUILD',
  run: 'RUN',
  shell: 'SHELL',
  stopsignal: 'STOPSIGNAL',
  user: 'USER',
  volume: 'VOLUME',
  workdir: 'WORKDIR',
};

/** Heredocs are only read for these (BuildKit's rule); ONBUILD looks at its trigger. */
const HEREDOC_KINDS = new Set<InstructionKind>(['ADD', 'COPY', 'RUN']);

/** Where a character of a joined (continued) line came from. */
interface Segment {
  start: number;
  line: number;
  /** 0-based column of `start` in its physical line. */
  col: number;
}

class LocationMap {
  constructor(private readonly segments: Segment[]) {}

  at(offset: number): { line: number; column: number } {
    let seg = this.segments[0];
    for (const s of this.segments) {
      if (s.start <= offset) seg = s;
      else break;
    }
    return { line: seg.line, column: seg.col + (offset - seg.start) + 1 };
  }
}

/** Raised inside the line parser; located by the caller. */
class NodeError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Parser directives

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

class DirectiveParser {
  private done: boolean;
  private readonly seen = new Set<string>();
  readonly directives: Directives = { escape: '\\' };

  constructor(enabled: boolean) {
    this.done = !enabled;
  }

  /** Reads a directive from a line (newline and leading whitespace already trimmed); true if it was one. */
  parseLine(text: string, line: number): boolean {
    if (this.done) return false;
    if (!text.startsWith('#')) {
      this.done = true;
      return false;
    }
    const m = DIRECTIVE.exec(trimLeftSpace(text.slice(1)));
    if (!m) {
      this.done = true;
      return false;
    }
    const key = m[1].toLowerCase();
    if (!KNOWN_DIRECTIVES.has(key)) {
      this.done = true;
      return false;
    }
    if (this.seen.has(key))
      throw new DockerfileParseError(`only one ${key} parser directive can be used`, line);
    this.seen.add(key);
    const value = m[2];
    if (key === 'escape') {
      if (value !== '`' && value !== '\\') {
        throw new DockerfileParseError(`invalid escape token '${value}' does not match \` or \\`, line);
      }
      this.directives.escape = value;
    } else if (key === 'syntax') {
      this.directives.syntax = value;
    } else {
      this.directives.check = value;
    }
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isUnicodeSpace(s[i])) i++;
  return s.slice(i);
}

function trimSpace(s: string): { text: string; lead: number } {
  let i = 0;
  while (i < s.length && isUnicodeSpace(s[i])) i++;
  let j = s.length;
  while (j > i && isUnicodeSpace(s[j - 1])) j--;
  return { text: s.slice(i, j), lead: i };
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, '');
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith('#');
}

function continuationRegex(esc: Escape): RegExp {
  const e = '\\' + esc;
  // The escape char as the last non-blank char continues the line, unless it is itself escaped.
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

/** Splits text into lines that keep their "\n". */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let i = 0;
  while (i < text.length) {
    const j = text.indexOf('\n', i);
    if (j < 0) {
      lines.push(text.slice(i));
      break;
    }
    lines.push(text.slice(i, j + 1));
    i = j + 1;
  }
  return lines;
}

function quoteGo(s: string): string {
  return JSON.stringify(s);
}

function levenshtein(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length];
}

/** BuildKit's suggest.Search: the closest option within distance 2, in the case the user wrote. */
function suggest(value: string, options: string[], caseSensitive: boolean): string | undefined {
  const val = caseSensitive ? value : value.toLowerCase();
  let match: string | undefined;
  let min = 3;
  for (const opt of options) {
    const o = caseSensitive ? opt : opt.toLowerCase();
    if (o === val) return undefined;
    const d = levenshtein(val, o);
    if (d < min) {
      min = d;
      match = o;
      if (!caseSensitive) {
        if (value === value.toLowerCase()) match = o.toLowerCase();
        else if (value === value.toUpperCase()) match = o.toUpperCase();
        else match = opt;
      }
    }
  }
  return match;
}

// ---------------------------------------------------------------------------------------------
// Line parsers (BuildKit's line_parsers.go), working on one joined line

/** Words with quotes and escapes kept (they are removed at expansion time). */
function parseWords(rest: string, esc: Escape): string[] {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let sb = '';
  const chars = Array.from(rest);
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = pos < chars.length ? chars[pos] : '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isUnicodeSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || sb.length > 0) words.push(sb);
      break;
    }
    if (phase === 'word') {
      if (isUnicodeSpace(ch)) {
        phase = 'spaces';
        if (blankOK || sb.length > 0) words.push(sb);
        sb = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === esc) {
        if (pos + 1 === chars.length) continue;
        // Outside quotes an escape keeps itself and the next char, even a quote.
        sb += ch;
        pos++;
        ch = chars[pos];
      }
      sb += ch;
      continue;
    }
    // In quotes: the escape char protects the next char, except in single quotes.
    if (ch === quote) phase = 'word';
    if (ch === esc && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      sb += ch;
      ch = chars[pos];
    }
    sb += ch;
  }
  return words;
}

/** Leading `--flag[=value]` words; returns the rest of the line. Offsets are relative to `base`. */
function extractBuilderFlags(
  line: string,
  base: number,
  esc: Escape,
): { rest: string; restOffset: number; flags: { text: string; offset: number }[] } {
  const flags: { text: string; offset: number }[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let sb = '';
  let quote = '';
  let blankOK = false;
  let wordStart = 0;
  for (let pos = 0; pos <= line.length; pos++) {
    let ch = pos < line.length ? line[pos] : '';
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (isUnicodeSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') {
        return { rest: line.slice(pos), restOffset: base + pos, flags };
      }
      phase = 'word';
      wordStart = pos;
    }
    if (pos === line.length) {
      if (sb !== '--' && (blankOK || sb.length > 0)) flags.push({ text: sb, offset: base + wordStart });
      break;
    }
    if (phase === 'word') {
      if (isUnicodeSpace(ch)) {
        phase = 'spaces';
        // A bare `--` ends the flags.
        if (sb === '--') return { rest: line.slice(pos), restOffset: base + pos, flags };
        if (blankOK || sb.length > 0) flags.push({ text: sb, offset: base + wordStart });
        sb = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === esc) {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos];
      }
      sb += ch;
      continue;
    }
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === esc) {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = line[pos];
    }
    sb += ch;
  }
  return { rest: '', restOffset: base + line.length, flags };
}

class NotStringArrayError extends Error {}

/** A JSON array of strings, or undefined when the text is not a JSON array. */
function parseJSONArray(rest: string): string[] | undefined {
  const t = trimLeftSpace(rest);
  if (!t.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  for (const v of parsed) {
    if (typeof v !== 'string') {
      throw new NotStringArrayError('when using JSON array syntax, arrays must be comprised of strings only');
    }
  }
  return parsed as string[];
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(/[\t\v\f\r ]+/);
}

function maybeJSON(rest: string): { args: string[]; json: boolean } {
  if (rest === '') return { args: [], json: false };
  const arr = parseJSONArray(rest);
  if (arr) return { args: arr, json: true };
  return { args: [rest], json: false };
}

function maybeJSONToList(rest: string): { args: string[]; json: boolean } {
  const arr = parseJSONArray(rest);
  if (arr) return { args: arr, json: true };
  return { args: splitWhitespace(rest), json: false };
}

/** ENV/LABEL: `k=v ...` or the legacy `k v w` (the value is the rest of the line). */
function parseNameVal(rest: string, keyword: string, esc: Escape): string[] {
  const words = parseWords(rest, esc);
  if (words.length === 0) return [];
  if (!words[0].includes('=')) {
    const m = WHITESPACE_RUN.exec(rest);
    if (!m) throw new NodeError(`${keyword} must have two arguments`);
    return [rest.slice(0, m.index), rest.slice(m.index + m[0].length), ''];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) {
      throw new NodeError(`Syntax error - can't find = in ${quoteGo(w)}. Must be of the form: name=value`);
    }
    out.push(w.slice(0, eq), w.slice(eq + 1), '=');
  }
  return out;
}

function parseHealthConfig(rest: string): { args: string[]; json: boolean } {
  let sep = 0;
  while (sep < rest.length && !isUnicodeSpace(rest[sep])) sep++;
  if (sep === 0) return { args: [], json: false };
  let next = sep;
  while (next < rest.length && isUnicodeSpace(rest[next])) next++;
  const cmd = maybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/** One joined line → a raw node (BuildKit's newNodeFromLine). `base` is the line's offset in the full line. */
function nodeFromLine(line: string, base: number, esc: Escape, loc: LocationMap): RawNode {
  const { text: trimmed, lead } = trimSpace(line);
  const m = WHITESPACE_RUN.exec(trimmed);
  const cmd = m ? trimmed.slice(0, m.index) : trimmed;
  let rest = '';
  let restOffset = base + lead + trimmed.length;
  let rawFlags: { text: string; offset: number }[] = [];
  if (m) {
    const argsStart = m.index + m[0].length;
    const ex = extractBuilderFlags(trimmed.slice(argsStart), base + lead + argsStart, esc);
    const t = trimSpace(ex.rest);
    rest = t.text;
    restOffset = ex.restOffset + t.lead;
    rawFlags = ex.flags;
  }
  const node: RawNode = {
    cmd,
    flags: rawFlags.map((f) => ({ text: f.text, ...loc.at(f.offset) })),
    args: [],
    json: false,
    original: line,
    heredocs: [],
    line: 0,
    endLine: 0,
  };
  const kind = KINDS[cmd.toLowerCase()];
  try {
    switch (kind) {
      case 'ADD':
      case 'COPY':
      case 'VOLUME': {
        const r = maybeJSONToList(rest);
        node.args = r.args;
        node.json = r.json;
        break;
      }
      case 'RUN':
      case 'CMD':
      case 'ENTRYPOINT':
      case 'SHELL': {
        const r = maybeJSON(rest);
        node.args = r.args;
        node.json = r.json;
        break;
      }
      case 'ARG':
        node.args = parseWords(rest, esc);
        break;
      case 'ENV':
      case 'LABEL':
        node.args = parseNameVal(rest, kind, esc);
        break;
      case 'EXPOSE':
      case 'FROM':
        node.args = splitWhitespace(rest);
        break;
      case 'MAINTAINER':
      case 'STOPSIGNAL':
      case 'USER':
      case 'WORKDIR':
        node.args = rest === '' ? [] : [rest];
        break;
      case 'HEALTHCHECK': {
        const r = parseHealthConfig(rest);
        node.args = r.args;
        node.json = r.json;
        break;
      }
      case 'ONBUILD':
        if (rest !== '') node.sub = nodeFromLine(rest, restOffset, esc, loc);
        break;
      default:
        // Unknown instructions are reported by the checking layer, like BuildKit does.
        break;
    }
  } catch (err) {
    if (err instanceof NotStringArrayError) throw new NodeError(err.message);
    throw err;
  }
  return node;
}

function canContainHeredoc(node: RawNode): boolean {
  const target = KINDS[node.cmd.toLowerCase()] === 'ONBUILD' && node.sub ? node.sub : node;
  const kind = KINDS[target.cmd.toLowerCase()];
  return kind !== undefined && HEREDOC_KINDS.has(kind) && !target.json;
}

// ---------------------------------------------------------------------------------------------
// The line parser

interface ParseOptions {
  /** Read parser directives at the top (false for ONBUILD triggers). */
  directives: boolean;
  escape?: Escape;
}

function parseNodes(text: string, opts: ParseOptions): RawDockerfile {
  const dp = new DirectiveParser(opts.directives);
  if (opts.escape) dp.directives.escape = opts.escape;
  const lines = splitLines(text);
  if (lines.length > 0 && lines[0].startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  const nodes: RawNode[] = [];
  const warnings: { line: number; message: string }[] = [];
  let idx = 0;
  let currentLine = 0;

  // BuildKit's processLine: drop the newline, (maybe) leading blanks, look for a directive, drop comments.
  const processLine = (raw: string, stripLeft: boolean, lineNo: number): { text: string; lead: number } => {
    let t = trimNewline(raw);
    let lead = 0;
    if (stripLeft) {
      const before = t.length;
      t = trimLeftSpace(t);
      lead = before - t.length;
    }
    dp.parseLine(t, lineNo);
    return { text: isComment(t) ? '' : t, lead };
  };

  while (idx < lines.length) {
    const first = processLine(lines[idx++], true, currentLine + 1);
    currentLine++;
    const startLine = currentLine;
    const cont = continuationRegex(dp.directives.escape);
    let eol = !cont.test(first.text);
    let content = eol ? first.text : first.text.replace(cont, '$1');
    if (eol && content === '') continue;

    const segments: Segment[] = [{ start: 0, line: currentLine, col: first.lead }];
    let buf = content;
    let emptyContinuation = false;
    while (!eol && idx < lines.length) {
      const raw = lines[idx++];
      const next = processLine(raw, false, currentLine + 1);
      currentLine++;
      // Comment lines and blank lines inside a continuation are skipped.
      if (isComment(raw)) continue;
      if (trimLeftSpace(trimNewline(next.text)) === '') {
        emptyContinuation = true;
        continue;
      }
      eol = !cont.test(next.text);
      content = eol ? next.text : next.text.replace(cont, '$1');
      segments.push({ start: buf.length, line: currentLine, col: 0 });
      buf += content;
    }
    if (emptyContinuation) {
      warnings.push({ line: currentLine, message: `Empty continuation line found in: ${buf}` });
    }

    const loc = new LocationMap(segments);
    let node: RawNode;
    try {
      node = nodeFromLine(buf, 0, dp.directives.escape, loc);
    } catch (err) {
      if (err instanceof NodeError) throw new DockerfileParseError(err.message, startLine);
      throw err;
    }

    if (canContainHeredoc(node) && buf.includes('<<')) {
      let words: ReturnType<typeof heredocWordsOfLine>;
      try {
        words = heredocWordsOfLine(buf);
      } catch (err) {
        throw new DockerfileParseError(err instanceof Error ? err.message : String(err), startLine);
      }
      for (const w of words) {
        let body = '';
        let terminated = false;
        while (idx < lines.length) {
          const raw = lines[idx++];
          currentLine++;
          if (isHeredocTerminator(raw, w)) {
            terminated = true;
            break;
          }
          body += raw;
        }
        if (!terminated) {
          throw new DockerfileParseError(
            `unterminated heredoc ${w.name} (no line "${w.name}" ends it)`,
            startLine,
          );
        }
        node.heredocs.push({
          name: w.name,
          content: w.chomp ? chompHeredocContent(body) : body,
          expand: w.expand,
          chomp: w.chomp,
        });
      }
    }
    node.line = startLine;
    node.endLine = currentLine;
    if (node.sub) {
      node.sub.line = startLine;
      node.sub.endLine = currentLine;
      node.sub.heredocs = node.heredocs;
    }
    nodes.push(node);
  }

  if (nodes.length === 0)
    throw new DockerfileParseError('file with no instructions', Math.max(currentLine, 1));
  return { directives: dp.directives, nodes, warnings };
}

/**
 * BuildKit's lenient line parser (`parser.Parse`): directives, continuations, heredocs and argument
 * forms, without checking instructions, their arguments or flags.
 */
export function parseDockerfileNodes(text: string): RawDockerfile {
  return parseNodes(text, { directives: true });
}

// ---------------------------------------------------------------------------------------------
// Checking instructions (BuildKit's instructions.Parse)

type FlagType = 'bool' | 'string' | 'strings';

const FLAG_SPECS: Partial<Record<InstructionKind, Record<string, FlagType>>> = {
  FROM: { platform: 'string' },
  RUN: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  ADD: {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    'keep-git-dir': 'bool',
    checksum: 'string',
    unpack: 'bool',
    exclude: 'strings',
  },
  COPY: {
    chown: 'string',
    from: 'string',
    chmod: 'string',
    link: 'bool',
    exclude: 'strings',
    parents: 'bool',
  },
  HEALTHCHECK: {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  },
};

class FlagError extends Error {
  constructor(
    message: string,
    readonly flag: RawFlag,
  ) {
    super(message);
  }
}

/** BuildKit's BFlags.Parse: known names only, values where needed, repeats only for list flags. */
function checkFlags(node: RawNode, spec: Record<string, FlagType>): InstructionFlag[] {
  const out: InstructionFlag[] = [];
  const used = new Set<string>();
  for (const f of node.flags) {
    const eq = f.text.indexOf('=');
    const flagName = eq < 0 ? f.text : f.text.slice(0, eq);
    const value = eq < 0 ? undefined : f.text.slice(eq + 1);
    const name = flagName.slice(2);
    const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!type) {
      const s = suggest(name, Object.keys(spec), true);
      throw new FlagError(`unknown flag: ${flagName}${s ? ` (did you mean ${s}?)` : ''}`, f);
    }
    if (used.has(name) && type !== 'strings') throw new FlagError(`duplicate flag specified: ${flagName}`, f);
    used.add(name);
    if (type === 'bool') {
      if (value === '') throw new FlagError(`missing a value on flag: ${flagName}`, f);
      if (value !== undefined && !['true', 'false'].includes(value.toLowerCase())) {
        throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`, f);
      }
    } else if (value === undefined) {
      throw new FlagError(`missing a value on flag: ${flagName}`, f);
    }
    out.push({ name, value, line: f.line, column: f.column });
  }
  return out;
}

function flagValue(
  flags: InstructionFlag[],
  name: string,
): { flag: InstructionFlag; value: string } | undefined {
  for (let i = flags.length - 1; i >= 0; i--) {
    const f = flags[i];
    if (f.name === name && f.value !== undefined) return { flag: f, value: f.value };
  }
  return undefined;
}

class InstructionError extends Error {
  constructor(
    message: string,
    readonly column?: number,
    readonly line?: number,
  ) {
    super(message);
  }
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function commandArgs(node: RawNode): CommandArgs {
  if (node.json) return { json: true, args: node.args };
  return { json: false, args: node.args.length === 0 ? [] : [node.args.join(' ')] };
}

function keyValues(node: RawNode, keyword: string): KeyValue[] {
  if (node.args.length === 0) throw new InstructionError(`${keyword} requires at least one argument`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < node.args.length; i += 3) {
    if (node.args[i] === '') throw new InstructionError(`${keyword} names can not be blank`);
    pairs.push({ key: node.args[i], value: node.args[i + 1] });
  }
  return pairs;
}

function checkDuration(f: { flag: InstructionFlag; value: string } | undefined): void {
  if (!f || f.value === '') return;
  let ms: number;
  try {
    ms = parseDuration(f.value);
  } catch (err) {
    throw new InstructionError(err instanceof Error ? err.message : String(err), f.flag.column, f.flag.line);
  }
  if (ms !== 0 && ms < 1) {
    throw new InstructionError(
      `Interval ${quoteGo(f.flag.name)} cannot be less than 1ms`,
      f.flag.column,
      f.flag.line,
    );
  }
}

function toInstruction(node: RawNode): Instruction {
  const kind = KINDS[node.cmd.toLowerCase()];
  if (!kind) {
    const s = suggest(node.cmd, Object.keys(KINDS), false);
    throw new InstructionError(`unknown instruction: ${node.cmd}${s ? ` (did you mean ${s}?)` : ''}`);
  }
  const base = (flags: InstructionFlag[]) => ({
    line: node.line,
    endLine: node.endLine,
    original: node.original,
    flags,
    heredocs: node.heredocs,
  });
  const noFlags = () => checkFlags(node, {});
  const args = node.args;
  const exactlyOne = () => {
    if (args.length !== 1) throw new InstructionError(`${kind} requires exactly one argument`);
    return args[0];
  };
  switch (kind) {
    case 'FROM': {
      let stageName: string | undefined;
      if (args.length === 3 && args[1].toLowerCase() === 'as') {
        stageName = args[2].toLowerCase();
        if (!STAGE_NAME.test(stageName)) {
          throw new InstructionError(
            `invalid name for build stage: ${quoteGo(args[2])}, name can't start with a number or contain symbols`,
          );
        }
      } else if (args.length !== 1) {
        throw new InstructionError('FROM requires either one or three arguments');
      }
      const flags = checkFlags(node, FLAG_SPECS.FROM!);
      return { ...base(flags), kind, image: args[0], ...(stageName ? { stageName } : {}) };
    }
    case 'RUN': {
      const flags = checkFlags(node, FLAG_SPECS.RUN!);
      const network = flagValue(flags, 'network');
      if (network && !['default', 'none', 'host'].includes(network.value)) {
        throw new InstructionError(
          `invalid network mode ${quoteGo(network.value)}`,
          network.flag.column,
          network.flag.line,
        );
      }
      const security = flagValue(flags, 'security');
      if (security && !['sandbox', 'insecure'].includes(security.value)) {
        throw new InstructionError(
          `security ${quoteGo(security.value)} is not valid`,
          security.flag.column,
          security.flag.line,
        );
      }
      return { ...base(flags), kind, ...commandArgs(node) };
    }
    case 'CMD':
    case 'ENTRYPOINT':
      return { ...base(noFlags()), kind, ...commandArgs(node) };
    case 'SHELL': {
      const flags = noFlags();
      const c = commandArgs(node);
      if (c.args.length === 0) throw new InstructionError('SHELL requires at least one argument');
      if (!c.json) throw new InstructionError('SHELL requires the arguments to be in JSON form');
      return { ...base(flags), kind, ...c };
    }
    case 'LABEL':
    case 'ENV': {
      const flags = noFlags();
      return { ...base(flags), kind, pairs: keyValues(node, kind) };
    }
    case 'ARG': {
      if (args.length === 0) throw new InstructionError('ARG requires at least one argument');
      const flags = noFlags();
      const kv: KeyValue[] = args.map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0) return { key: a, value: undefined };
        if (eq === 0) throw new InstructionError('ARG names can not be blank');
        return { key: a.slice(0, eq), value: a.slice(eq + 1) };
      });
      return { ...base(flags), kind, args: kv };
    }
    case 'EXPOSE': {
      if (args.length === 0) throw new InstructionError('EXPOSE requires at least one argument');
      return { ...base(noFlags()), kind, ports: args };
    }
    case 'VOLUME': {
      if (args.length === 0) throw new InstructionError('VOLUME requires at least one argument');
      const flags = noFlags();
      const paths = args.map((v) => {
        const t = trimSpace(v).text;
        if (t === '') throw new InstructionError('VOLUME specified can not be an empty string');
        return t;
      });
      return { ...base(flags), kind, json: node.json, paths };
    }
    case 'USER': {
      const user = exactlyOne();
      return { ...base(noFlags()), kind, user };
    }
    case 'WORKDIR': {
      const path = exactlyOne();
      return { ...base(noFlags()), kind, path };
    }
    case 'MAINTAINER': {
      const name = exactlyOne();
      return { ...base(noFlags()), kind, name };
    }
    case 'STOPSIGNAL': {
      const signal = exactlyOne();
      // BuildKit takes the rest of the line and fails later on `SIGTERM SIGKILL`; say so here.
      if (WHITESPACE_RUN.test(signal)) throw new InstructionError('STOPSIGNAL requires exactly one argument');
      return { ...base(noFlags()), kind, signal };
    }
    case 'COPY':
    case 'ADD': {
      if (args.length < 2) {
        throw new InstructionError(
          `${kind} requires at least two arguments, but only one was provided. Destination could not be determined`,
        );
      }
      const flags = checkFlags(node, FLAG_SPECS[kind]!);
      const dest = args[args.length - 1];
      if (safeHeredocWord(dest))
        throw new InstructionError(`${kind} cannot accept a heredoc as a destination`);
      const heredocs = [...node.heredocs];
      const sources = args.slice(0, -1).map((src) => {
        const h = safeHeredocWord(src);
        if (!h) return src;
        // BuildKit copies an empty file for a heredoc source that opened no body (e.g. in JSON form).
        if (!heredocs.some((d) => d.name === h.name)) {
          heredocs.push({ name: h.name, content: '', expand: h.expand, chomp: h.chomp });
        }
        return `<<${h.name}`;
      });
      return { ...base(flags), heredocs, kind, json: node.json, sources, dest };
    }
    case 'HEALTHCHECK': {
      if (args.length === 0) throw new InstructionError('HEALTHCHECK requires at least one argument');
      const typ = args[0].toUpperCase();
      if (typ === 'NONE') {
        if (args.length !== 1) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
        return { ...base(noFlags()), kind, none: true };
      }
      const flags = checkFlags(node, FLAG_SPECS.HEALTHCHECK!);
      if (typ !== 'CMD') throw new InstructionError(`Unknown type ${quoteGo(typ)} in HEALTHCHECK (try CMD)`);
      const rest = args.slice(1);
      if (rest.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD');
      for (const name of ['interval', 'timeout', 'start-period', 'start-interval']) {
        checkDuration(flagValue(flags, name));
      }
      const retries = flagValue(flags, 'retries');
      if (retries && retries.value !== '') {
        const n = /^[+-]?\d+$/.test(retries.value) ? Number.parseInt(retries.value, 10) : Number.NaN;
        if (!Number.isSafeInteger(n) || n > 2147483647 || n < -2147483648) {
          throw new InstructionError(
            `strconv.ParseInt: parsing ${quoteGo(retries.value)}: invalid syntax`,
            retries.flag.column,
            retries.flag.line,
          );
        }
        if (n < 0) {
          throw new InstructionError(
            `--retries cannot be negative (${n})`,
            retries.flag.column,
            retries.flag.line,
          );
        }
      }
      const command: CommandArgs = node.json
        ? { json: true, args: rest }
        : { json: false, args: [rest.join(' ')] };
      return { ...base(flags), kind, none: false, command };
    }
    case 'ONBUILD': {
      if (!node.sub) throw new InstructionError('ONBUILD requires at least one argument');
      const flags = noFlags();
      const trigger = node.sub.cmd.toUpperCase();
      if (trigger === 'ONBUILD')
        throw new InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'MAINTAINER' || trigger === 'FROM') {
        throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
      }
      let triggerText = node.original.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i, '');
      for (const h of node.heredocs) triggerText += '\n' + h.content + h.name;
      return { ...base(flags), kind, trigger: toInstruction(node.sub), triggerText };
    }
  }
}

/** MustParseHeredoc: a word that does not lex is simply not a heredoc. */
function safeHeredocWord(word: string): ReturnType<typeof parseHeredocWord> {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

function checkNode(node: RawNode): Instruction {
  try {
    return toInstruction(node);
  } catch (err) {
    if (err instanceof FlagError) throw new DockerfileParseError(err.message, err.flag.line, err.flag.column);
    if (err instanceof InstructionError) {
      throw new DockerfileParseError(err.message, err.line ?? node.line, err.column);
    }
    throw err;
  }
}

/** Parses and checks a whole Dockerfile. Throws DockerfileParseError naming the line (and column of a flag). */
export function parseDockerfile(text: string): Dockerfile {
  const raw = parseNodes(text, { directives: true });
  const instructions = raw.nodes.map(checkNode);
  // Only ARGs (the global build args) may come before the first FROM.
  const first = instructions.find((i) => i.kind !== 'ARG');
  if (first && first.kind !== 'FROM')
    throw new DockerfileParseError('no build stage in current context', first.line);
  return { directives: raw.directives, instructions, warnings: raw.warnings };
}

/**
 * One instruction from its text, e.g. an ONBUILD trigger stored in a base image's config (heredoc
 * bodies, if any, follow on the next lines). No parser directives are read; `esc` is the
 * Dockerfile's escape char.
 */
export function parseInstructionLine(text: string, esc: Escape = '\\'): Instruction {
  const raw = parseNodes(text, { directives: false, escape: esc });
  if (raw.nodes.length !== 1) {
    throw new DockerfileParseError(`expected one instruction, found ${raw.nodes.length}`, raw.nodes[1].line);
  }
  return checkNode(raw.nodes[0]);
}

// ---------------------------------------------------------------------------------------------
// Facts for the frontend

const EXPANDED_KINDS = new Set<InstructionKind>([
  'ADD',
  'COPY',
  'ENV',
  'EXPOSE',
  'FROM',
  'LABEL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
  'ARG',
]);

/**
 * Whether the builder expands variables in this instruction's arguments (BuildKit's
 * SupportsSingleWordExpansion, plus EXPOSE (split into words) and FROM (global ARGs only)).
 * RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD are left to the shell or to later.
 */
export function instructionVariableRule(kind: InstructionKind): boolean {
  return EXPANDED_KINDS.has(kind);
}

const EXPANDED_FLAGS: Partial<Record<InstructionKind, readonly string[]>> = {
  FROM: ['platform'],
  ADD: ['chown', 'chmod', 'checksum'],
  COPY: ['chown', 'chmod'],
  RUN: ['mount'],
};

/**
 * Flags whose values the builder expands: FROM --platform (global ARGs), ADD/COPY --chown/--chmod,
 * ADD --checksum, and each field of RUN --mount. COPY --from must not contain variables
 * (BuildKit: "variable expansion is not supported for --from"); --exclude, --network, --security
 * and the booleans are taken literally.
 */
export function expandedFlags(kind: InstructionKind): readonly string[] {
  return EXPANDED_FLAGS[kind] ?? [];
}

const BUILTIN_FRONTEND =
  /^(?:docker\.io\/)?docker\/dockerfile:1(?:\.\d+(?:\.\d+)?)?(?:-labs)?(?:@sha256:[0-9a-f]{64})?$/;

/**
 * Accepts a missing `# syntax=` or one naming the built-in frontend (docker/dockerfile:1, 1.x, 1.x.y,
 * optionally -labs, docker.io/ and a digest); anything else would need an external frontend image.
 */
export function checkSyntaxDirective(value: string | undefined): void {
  if (value === undefined) return;
  const ref = value.trim().split(/\s+/)[0];
  if (BUILTIN_FRONTEND.test(ref)) return;
  throw new BerthError(
    `berth build supports only the built-in Dockerfile frontend (docker/dockerfile:1.x); remove or change "# syntax=${value}"`,
    1,
    'invalid',
  );
}

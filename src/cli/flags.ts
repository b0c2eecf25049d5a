/**
 * Table-driven command-line parsing with the semantics of spf13/pflag v1.0.9 as the docker CLI
 * uses it, so that anything typed for `docker` parses the same way for `berth`: `--name value`,
 * `--name=value`, `-n value`, `-nvalue`, `-n=value`, bool groups `-itd`, a group ending in a value
 * flag (`-itv /a:/b`, `-itvx` gives v the value `x`), `--rm=false`, repeated list flags, `--` and a
 * lone `-`. Messages and help text follow pflag and docker's cobra templates.
 */
import { BerthError } from '../util/errors.ts';

export type FlagKind = 'bool' | 'string' | 'stringArray' | 'int' | 'uint';
export type FlagValue = string | number | boolean | string[];

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  default?: FlagValue;
  description: string;
  hidden?: boolean;
  /**
   * Word shown after the flag in help (docker: `bytes`, `filter`, `ulimit`, …). Without it the
   * kind decides: string → `string`, stringArray → `list` (docker's ListOpts), int, uint; bools none.
   * A `backquoted` word in the description takes precedence, as in pflag.
   */
  valueName?: string;
}

export interface CommandSpec {
  name: string;
  /** e.g. 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]'; its leading lowercase words are the command path. */
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** false: parsing stops at the first positional argument (docker run/exec/create); everything after it is positional */
  interspersed: boolean;
  minArgs?: number;
  maxArgs?: number;
}

export interface ParsedArgs {
  /** keyed by long name, only flags given on the command line */
  flags: Map<string, FlagValue>;
  args: string[];
}

/** `flag`: a pflag parse error; `args`: a wrong number of positional arguments. */
export type UsageErrorKind = 'flag' | 'args';

/** A command line docker would reject before running anything; exit code 125 like docker's. */
export class UsageError extends BerthError {
  constructor(
    message: string,
    readonly kind: UsageErrorKind = 'flag',
  ) {
    super(message, 125, 'invalid');
    this.name = 'UsageError';
  }
}

/** Docker registers `--help` on every command (hidden); `-h` stays free for flags like run's `--hostname`. */
const HELP_FLAG: FlagSpec = { name: 'help', kind: 'bool', description: 'Print usage', hidden: true };

interface FlagIndex {
  all: FlagSpec[];
  long: Map<string, FlagSpec>;
  short: Map<string, FlagSpec>;
}

function defaultMatchesKind(f: FlagSpec): boolean {
  const d = f.default;
  if (d === undefined) return true;
  switch (f.kind) {
    case 'bool':
      return typeof d === 'boolean';
    case 'string':
      return typeof d === 'string';
    case 'stringArray':
      return Array.isArray(d);
    case 'int':
      return typeof d === 'number' && Number.isInteger(d);
    case 'uint':
      return typeof d === 'number' && Number.isInteger(d) && d >= 0;
  }
}

/** Indexes a spec's flags, rejecting tables that pflag would refuse to register. */
function indexFlags(spec: CommandSpec): FlagIndex {
  const long = new Map<string, FlagSpec>();
  const short = new Map<string, FlagSpec>();
  const all = spec.flags.some((f) => f.name === 'help') ? spec.flags : [...spec.flags, HELP_FLAG];
  for (const f of all) {
    if (f.name === '' || f.name.startsWith('-') || f.name.includes('=')) {
      throw new BerthError(
        `command ${spec.name}: invalid flag name ${JSON.stringify(f.name)}; fix the flag table`,
      );
    }
    if (long.has(f.name)) {
      throw new BerthError(`command ${spec.name}: flag redefined: ${f.name}; fix the flag table`);
    }
    long.set(f.name, f);
    if (f.short !== undefined) {
      if ([...f.short].length !== 1 || f.short === '-' || f.short === '=') {
        throw new BerthError(
          `command ${spec.name}: flag --${f.name} has shorthand ${JSON.stringify(f.short)}; it must be one character`,
        );
      }
      const other = short.get(f.short);
      if (other) {
        throw new BerthError(
          `command ${spec.name}: shorthand -${f.short} is used by both --${other.name} and --${f.name}; fix the flag table`,
        );
      }
      short.set(f.short, f);
    }
    if (!defaultMatchesKind(f)) {
      throw new BerthError(
        `command ${spec.name}: flag --${f.name} has a default that is not of kind ${f.kind}; fix the flag table`,
      );
    }
  }
  return { all, long, short };
}

// ---------------------------------------------------------------------------------------------
// Go's strconv, for values and messages
// ---------------------------------------------------------------------------------------------

/** Go's strconv.Quote (`%q` of a string). */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) out += escapeChar(ch, '"');
  return out + '"';
}

/** Go's strconv.QuoteRune (`%q` of a rune), as in `unknown shorthand flag: 'z' in -z`. */
function goQuoteRune(ch: string): string {
  return `'${escapeChar(ch, "'")}'`;
}

function escapeChar(ch: string, quote: string): string {
  const cp = ch.codePointAt(0)!;
  if (ch === quote || ch === '\\') return '\\' + ch;
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  if (ch === '\x07') return '\\a';
  if (ch === '\b') return '\\b';
  if (ch === '\f') return '\\f';
  if (ch === '\v') return '\\v';
  if (cp < 0x20 || cp === 0x7f) return '\\x' + cp.toString(16).padStart(2, '0');
  if (cp >= 0x80 && cp < 0xa0) return '\\u' + cp.toString(16).padStart(4, '0');
  return ch;
}

/** strconv.ParseBool */
function parseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** Go's underscoreOK: `_` only between digits or after a base prefix. */
function underscoreOK(s: string): boolean {
  let saw = '^';
  let t = s;
  if (t.length >= 1 && (t[0] === '-' || t[0] === '+')) t = t.slice(1);
  let i = 0;
  let hex = false;
  if (t.length >= 2 && t[0] === '0' && 'box'.includes(t[1].toLowerCase())) {
    i = 2;
    saw = '0';
    hex = t[1].toLowerCase() === 'x';
  }
  for (; i < t.length; i++) {
    const c = t[i];
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

type NumResult = bigint | 'invalid syntax' | 'value out of range';

const UINT64_MAX = (1n << 64n) - 1n;

/** strconv.ParseUint(s, 0, 64): decimal, 0x/0o/0b prefixes, leading-0 octal, `_` separators. */
function parseUintBase0(s: string): NumResult {
  if (s === '') return 'invalid syntax';
  let base = 10;
  let digits = s;
  if (s[0] === '0') {
    const p = s.length >= 3 ? s[1].toLowerCase() : '';
    if (p === 'b' || p === 'o' || p === 'x') {
      base = p === 'b' ? 2 : p === 'o' ? 8 : 16;
      digits = s.slice(2);
    } else {
      base = 8;
      digits = s.slice(1);
    }
  }
  let n = 0n;
  let underscores = false;
  for (const c of digits) {
    if (c === '_') {
      underscores = true;
      continue;
    }
    const lc = c.toLowerCase();
    let d = 99;
    if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 48;
    else if (lc >= 'a' && lc <= 'z') d = lc.charCodeAt(0) - 87;
    if (d >= base) return 'invalid syntax';
    n = n * BigInt(base) + BigInt(d);
    if (n > UINT64_MAX) return 'value out of range';
  }
  if (underscores && !underscoreOK(s)) return 'invalid syntax';
  return n;
}

/** strconv.ParseInt(s, 0, 64) */
function parseIntBase0(s: string): NumResult {
  if (s === '') return 'invalid syntax';
  const neg = s[0] === '-';
  const u = parseUintBase0(s[0] === '-' || s[0] === '+' ? s.slice(1) : s);
  if (typeof u !== 'bigint') return u;
  const cutoff = 1n << 63n;
  if ((!neg && u >= cutoff) || (neg && u > cutoff)) return 'value out of range';
  return neg ? -u : u;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

function flagDisplayName(f: FlagSpec): string {
  return f.short ? `-${f.short}, --${f.name}` : `--${f.name}`;
}

function setFlag(flags: Map<string, FlagValue>, f: FlagSpec, value: string): void {
  const invalid = (cause: string) =>
    new UsageError(`invalid argument ${goQuote(value)} for ${goQuote(flagDisplayName(f))} flag: ${cause}`);
  switch (f.kind) {
    case 'bool': {
      const b = parseBool(value);
      if (b === undefined) throw invalid(`strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax`);
      flags.set(f.name, b);
      return;
    }
    case 'string':
      flags.set(f.name, value);
      return;
    case 'stringArray': {
      const prev = flags.get(f.name);
      flags.set(f.name, Array.isArray(prev) ? [...prev, value] : [value]);
      return;
    }
    case 'int':
    case 'uint': {
      const r = f.kind === 'int' ? parseIntBase0(value) : parseUintBase0(value);
      if (typeof r !== 'bigint') {
        const fn = f.kind === 'int' ? 'ParseInt' : 'ParseUint';
        throw invalid(`strconv.${fn}: parsing ${goQuote(value)}: ${r}`);
      }
      flags.set(f.name, Number(r));
      return;
    }
  }
}

/**
 * Parses `argv` (the words after the command name) against `spec`. Throws UsageError for what
 * pflag rejects and for a wrong number of positional arguments; the count is not checked when
 * `--help` was given, since the caller prints help instead.
 */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const index = indexFlags(spec);
  const flags = new Map<string, FlagValue>();
  const args: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const s = argv[i++];
    if (s.length < 2 || s[0] !== '-') {
      args.push(s);
      if (!spec.interspersed) {
        args.push(...argv.slice(i));
        break;
      }
      continue;
    }
    if (s[1] === '-') {
      if (s.length === 2) {
        args.push(...argv.slice(i));
        break;
      }
      const body = s.slice(2);
      if (body[0] === '-' || body[0] === '=') throw new UsageError(`bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const f = index.long.get(name);
      if (!f) throw new UsageError(`unknown flag: --${name}`);
      let value: string;
      if (eq >= 0) value = body.slice(eq + 1);
      else if (f.kind === 'bool') value = 'true';
      else if (i < argv.length) value = argv[i++];
      else throw new UsageError(`flag needs an argument: --${name}`);
      setFlag(flags, f, value);
      continue;
    }
    // A group of shorthands: each bool takes no value; the first value flag takes the rest.
    let rest = [...s.slice(1)];
    while (rest.length > 0) {
      const c = rest[0];
      const group = rest.join('');
      const f = index.short.get(c);
      if (!f) throw new UsageError(`unknown shorthand flag: ${goQuoteRune(c)} in -${group}`);
      let value: string;
      let next = rest.slice(1);
      if (rest.length > 2 && rest[1] === '=') {
        value = rest.slice(2).join('');
        next = [];
      } else if (f.kind === 'bool') {
        value = 'true';
      } else if (rest.length > 1) {
        value = rest.slice(1).join('');
        next = [];
      } else if (i < argv.length) {
        value = argv[i++];
      } else {
        throw new UsageError(`flag needs an argument: ${goQuoteRune(c)} in -${group}`);
      }
      setFlag(flags, f, value);
      rest = next;
    }
  }
  if (flags.get('help') !== true) checkArgCount(args.length, spec);
  return { flags, args };
}

function pluralize(word: string, n: number): string {
  return n === 1 ? word : word + 's';
}

/** docker's cli.NoArgs / RequiresMinArgs / RequiresMaxArgs / RequiresRangeArgs / ExactArgs. */
function checkArgCount(n: number, spec: CommandSpec): void {
  const { minArgs: min, maxArgs: max } = spec;
  const path = goQuote(commandPath(spec));
  if (max !== undefined && (min ?? 0) === max) {
    if (n === max) return;
    if (max === 0) throw new UsageError(`${path} accepts no arguments.`, 'args');
    throw new UsageError(`${path} requires exactly ${max} ${pluralize('argument', max)}.`, 'args');
  }
  if (min !== undefined && min > 0 && max !== undefined) {
    if (n >= min && n <= max) return;
    throw new UsageError(
      `${path} requires at least ${min} and at most ${max} ${pluralize('argument', max)}.`,
      'args',
    );
  }
  if (min !== undefined && n < min) {
    throw new UsageError(`${path} requires at least ${min} ${pluralize('argument', min)}.`, 'args');
  }
  if (max !== undefined && n > max) {
    throw new UsageError(`${path} requires at most ${max} ${pluralize('argument', max)}.`, 'args');
  }
}

/** The command path docker prints (`berth run`, `berth image ls`): the usage line's leading lowercase words. */
function commandPath(spec: CommandSpec): string {
  const words: string[] = [];
  for (const w of spec.usage.trim().split(/\s+/)) {
    if (!/^[a-z][a-z0-9_-]*$/.test(w)) break;
    words.push(w);
  }
  return words.length > 0 ? words.join(' ') : `berth ${spec.name}`;
}

/**
 * The text to print on stderr for a UsageError, in docker's forms:
 * `berth: unknown flag: --foo\nSee 'berth run --help'.` for flag errors, and for argument counts
 * `"berth run" requires at least 1 argument.\nSee 'berth run --help'.\n\nUsage:  …\n\n<description>`.
 */
export function usageMessage(err: UsageError, spec: CommandSpec): string {
  const path = commandPath(spec);
  const see = `See '${path} --help'.`;
  if (err.kind === 'args') {
    return `${err.message}\n${see}\n\nUsage:  ${spec.usage}\n\n${spec.description.trim()}`;
  }
  const bin = path.split(' ')[0];
  return `${bin}: ${err.message}\n${see}`;
}

// ---------------------------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------------------------

/** pflag's UnquoteUsage: a `backquoted` word in the description names the value. */
function unquoteUsage(f: FlagSpec): { varname: string; usage: string } {
  const m = /`([^`]*)`/.exec(f.description);
  if (m) {
    return {
      varname: m[1],
      usage: f.description.slice(0, m.index) + m[1] + f.description.slice(m.index + m[0].length),
    };
  }
  if (f.valueName !== undefined) return { varname: f.valueName, usage: f.description };
  const byKind: Record<FlagKind, string> = {
    bool: '',
    string: 'string',
    stringArray: 'list',
    int: 'int',
    uint: 'uint',
  };
  return { varname: byKind[f.kind], usage: f.description };
}

function defaultSuffix(f: FlagSpec): string {
  const d = f.default;
  if (d === undefined || d === false || d === 0 || d === '') return '';
  if (Array.isArray(d)) return d.length === 0 ? '' : ` (default [${d.join(' ')}])`;
  if (typeof d === 'string') return ` (default ${goQuote(d)})`;
  return ` (default ${d})`;
}

/** pflag's wrapN: split `s` at whitespace near `i` characters, allowing `slop` to avoid orphans. */
function wrapN(i: number, slop: number, s: string): [string, string] {
  if (i + slop > s.length) return [s, ''];
  const head = s.slice(0, i);
  const w = Math.max(head.lastIndexOf(' '), head.lastIndexOf('\t'), head.lastIndexOf('\n'));
  if (w <= 0) return [s, ''];
  const nl = head.lastIndexOf('\n');
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)];
  return [s.slice(0, w), s.slice(w + 1)];
}

/** pflag's wrap: `s` wrapped to `w` columns, continuation lines indented by `i`. */
function wrap(indent: number, w: number, s: string): string {
  let i = indent;
  if (w === 0) return s.replaceAll('\n', '\n' + ' '.repeat(i));
  let width = w - i;
  let r = '';
  if (width < 24) {
    i = 16;
    width = w - i;
    r += '\n' + ' '.repeat(i);
  }
  if (width < 24) return s.replaceAll('\n', r);
  const slop = 5;
  width -= slop;
  let [line, rest] = wrapN(width, slop, s);
  r += line.replaceAll('\n', '\n' + ' '.repeat(i));
  while (rest !== '') {
    [line, rest] = wrapN(width, slop, rest);
    r += '\n' + ' '.repeat(i) + line.replaceAll('\n', '\n' + ' '.repeat(i));
  }
  return r;
}

/** pflag's FlagUsagesWrapped: visible flags sorted by name, descriptions aligned in one column. */
function flagUsages(flags: readonly FlagSpec[], cols: number): string {
  const rows: { prefix: string; usage: string }[] = [];
  let maxlen = 0;
  for (const f of [...flags].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (f.hidden) continue;
    let prefix = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const { varname, usage } = unquoteUsage(f);
    if (varname) prefix += ' ' + varname;
    maxlen = Math.max(maxlen, prefix.length + 1);
    rows.push({ prefix, usage: usage + defaultSuffix(f) });
  }
  return rows
    .map(({ prefix, usage }) => {
      const spacing = ' '.repeat(maxlen - prefix.length);
      return `${prefix} ${spacing} ${wrap(maxlen + 2, cols, usage)}`.trimEnd();
    })
    .join('\n');
}

/**
 * Docker-style help for `berth CMD --help`: a blank line, `Usage:  <usage>`, the description and
 * an `Options:` table (hidden flags left out). `width` is the terminal width; docker wraps
 * descriptions at width - 1 and assumes 80 columns when stdout is not a terminal.
 */
export function helpText(spec: CommandSpec, width = 80): string {
  const index = indexFlags(spec);
  let out = `\nUsage:  ${spec.usage}\n\n${spec.description.trim()}\n`;
  const table = flagUsages(index.all, Math.max(width - 1, 0));
  if (table !== '') out += `\nOptions:\n${table}\n`;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Typed getters
// ---------------------------------------------------------------------------------------------

function lookup(spec: CommandSpec, name: string, kinds: readonly FlagKind[]): FlagSpec {
  const f = spec.flags.find((x) => x.name === name) ?? (name === 'help' ? HELP_FLAG : undefined);
  if (!f)
    throw new BerthError(
      `flag accessed but not defined: ${name} (command ${spec.name}); add it to the flag table`,
    );
  if (!kinds.includes(f.kind)) {
    throw new BerthError(
      `flag --${name} of command ${spec.name} is of kind ${f.kind}, not ${kinds.join('/')}`,
    );
  }
  return f;
}

/** A bool flag's value, or its default (false if none). */
export function flagBool(p: ParsedArgs, spec: CommandSpec, name: string): boolean {
  const f = lookup(spec, name, ['bool']);
  const v = p.flags.get(name);
  if (typeof v === 'boolean') return v;
  return f.default === true;
}

/** A string flag's value, or its default, or undefined. */
export function flagString(p: ParsedArgs, spec: CommandSpec, name: string): string | undefined {
  const f = lookup(spec, name, ['string']);
  const v = p.flags.get(name);
  if (typeof v === 'string') return v;
  return typeof f.default === 'string' ? f.default : undefined;
}

/** A repeatable flag's values in command-line order; the default only when the flag was not given. */
export function flagStrings(p: ParsedArgs, spec: CommandSpec, name: string): string[] {
  const f = lookup(spec, name, ['stringArray']);
  const v = p.flags.get(name);
  if (Array.isArray(v)) return [...v];
  return Array.isArray(f.default) ? [...f.default] : [];
}

/** An int or uint flag's value, or its default, or undefined. */
export function flagInt(p: ParsedArgs, spec: CommandSpec, name: string): number | undefined {
  const f = lookup(spec, name, ['int', 'uint']);
  const v = p.flags.get(name);
  if (typeof v === 'number') return v;
  return typeof f.default === 'number' ? f.default : undefined;
}

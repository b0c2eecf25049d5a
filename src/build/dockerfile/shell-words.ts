/**
 * Shell-style word expansion as Dockerfile instructions see it: the semantics of BuildKit's
 * `frontend/dockerfile/shell/lex.go` (quotes, the escape char, `$v`, `${v}`, the `:-`/`-`, `:+`/`+`,
 * `:?`/`?` modifiers, the `#`/`##`/`%`/`%%` trims and `/`/`//` replacement), written for Node.
 */
import { BerthError } from '../../util/errors.ts';

/** The value of a variable, or undefined when it is not set (an empty string is set). */
export type Lookup = (name: string) => string | undefined;

export interface LexOptions {
  /** The Dockerfile's escape char (`# escape=`). */
  escape?: '\\' | '`';
  /** Keep quote characters in the result (BuildKit's RawQuotes). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result (BuildKit's RawEscapes). */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written (BuildKit's SkipUnsetEnv). */
  skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (BuildKit's SkipProcessQuotes, used for heredoc bodies). */
  skipProcessQuotes?: boolean;
}

export interface ExpandResult {
  /** The whole word expanded (quotes removed, escapes processed). */
  result: string;
  /** The word split into fields: unquoted whitespace, including whitespace from expanded values, splits. */
  words: string[];
  /** Variables that were referenced and set. */
  matched: Set<string>;
  /** Variables that were referenced and not set. */
  unmatched: Set<string>;
}

/** A word that cannot be expanded; `variable` names the variable at fault when there is one. */
export class ShellExpansionError extends BerthError {
  constructor(
    readonly word: string,
    readonly reason: string,
    readonly variable?: string,
  ) {
    super(`failed to process ${JSON.stringify(word)}: ${reason}`, 125, 'invalid');
    this.name = 'ShellExpansionError';
  }
}

/** Thrown inside the lexer; wrapped into ShellExpansionError with the whole word. */
class LexError extends Error {
  constructor(
    message: string,
    readonly variable?: string,
  ) {
    super(message);
  }
}

const EOF = '';

/** Go's unicode.IsSpace. */
export function isUnicodeSpace(ch: string): boolean {
  switch (ch) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case '\u0085':
    case '\u00a0':
      return true;
  }
  const c = ch.codePointAt(0) ?? 0;
  if (c < 0x1680) return false;
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

function isLetter(ch: string): boolean {
  return ch !== EOF && LETTER.test(ch);
}

function isDigit(ch: string): boolean {
  return ch !== EOF && DIGIT.test(ch);
}

/** POSIX special parameters: never set in a Dockerfile, but `$@` must consume one char. */
function isSpecialParam(ch: string): boolean {
  return '@*#?-$!0'.includes(ch) && ch !== EOF;
}

/** Field splitting state (BuildKit's wordsStruct). */
class Words {
  buf = '';
  words: string[] = [];
  inWord = false;

  addChar(ch: string): void {
    if (isUnicodeSpace(ch)) {
      if (this.inWord && this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly escape: string;

  constructor(
    word: string,
    private readonly lookup: Lookup,
    private readonly opts: LexOptions,
  ) {
    this.chars = Array.from(word);
    this.rawEscapes = opts.rawEscapes ?? false;
    this.escape = opts.escape ?? '\\';
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos] : EOF;
  }

  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++] : EOF;
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  /** Reads up to `stop` (consumed) or the end of the word when `stop` is EOF. */
  private processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: words.getWords() };
        }
        let special: (() => string) | undefined;
        if (ch === '$') special = () => this.processDollar();
        else if (ch === '<') special = () => this.processPossibleHeredoc();
        else if (!this.opts.skipProcessQuotes && ch === "'") special = () => this.processSingleQuote();
        else if (!this.opts.skipProcessQuotes && ch === '"') special = () => this.processDoubleQuote();
        if (special) {
          const tmp = special();
          result += tmp;
          if (ch === '$') words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        ch = this.next();
        if (ch === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += ch;
          }
          // The escape char escapes anything, except the end of the word.
          ch = this.next();
          if (ch === EOF) break;
          words.addRawChar(ch);
        } else {
          words.addChar(ch);
        }
        result += ch;
      }
      if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    // Everything up to the next single quote is literal; a single quote cannot be escaped.
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === EOF)
        throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except `$`; the escape char escapes only `"`, `$` and itself.
    let result = '';
    const open = this.next();
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF)
        throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const ch = this.next();
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const n = this.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === this.escape) ch = this.next();
      }
      result += ch;
    }
  }

  private getEnv(name: string): string | undefined {
    const v = this.lookup(name);
    if (v !== undefined) this.matched.add(name);
    else this.unmatched.add(name);
    return v;
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = ch;
    if (ch === EOF) throw new LexError("syntax error: missing '}'");
    if (ch === '}') {
      const value = this.getEnv(name);
      if (value === undefined && this.opts.skipUnsetEnv) return '${' + name + '}';
      return value ?? '';
    }
    if (ch === '/') return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      chs += ch;
    } else if (!'+-?#%'.includes(ch)) {
      throw new LexError(`unsupported modifier (${chs}) in substitution`, name);
    }
    const trims = ch === '#' || ch === '%';
    if (nullIsUnset && trims) throw new LexError(`unsupported modifier (${chs}) in substitution`, name);
    let word: string;
    try {
      word = this.processStopOn('}', trims).result;
    } catch (err) {
      if (this.peek() === EOF) throw new LexError("syntax error: missing '}'", name);
      throw err;
    }
    const value = this.getEnv(name);
    const set = value !== undefined;
    if (this.opts.skipUnsetEnv && !set) return '${' + name + chs + word + '}';
    const v = value ?? '';
    switch (ch) {
      case '-':
        return !set || (nullIsUnset && v === '') ? word : v;
      case '+':
        return !set || (nullIsUnset && v === '') ? '' : word;
      case '?':
        if (!set) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`, name);
        if (nullIsUnset && v === '') {
          throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`, name);
        }
        return v;
      case '%':
      case '#': {
        // `%`/`#` remove the shortest match, `%%`/`##` the longest.
        let pattern = word;
        let greedy = false;
        if (pattern.length > 0 && pattern[0] === ch) {
          greedy = true;
          pattern = pattern.slice(1);
        }
        return ch === '%' ? trimSuffix(pattern, v, greedy, name) : trimPrefix(pattern, v, greedy, name);
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`, name);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).result;
    } catch (err) {
      if (this.peek() === EOF) throw new LexError("syntax error: missing '/' in $" + '{}', name);
      throw err;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn('}', true).result;
    } catch (err) {
      if (this.peek() === EOF) throw new LexError("syntax error: missing '}'", name);
      throw err;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.opts.skipUnsetEnv)
      return '${' + name + '/' + pattern + '/' + replacement + '}';
    const re = shellPatternToRegex(pattern, true, false, name);
    const v = value ?? '';
    if (all) return goReplaceAll(re, v, replacement);
    const m = re.exec(v);
    if (!m) return v;
    return v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length);
  }

  /** A name (letters, digits, `_`), a run of digits (positional), or one special parameter. */
  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return this.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  /** `<<` keeps the whitespace that follows it in the same field, so `<< EOF` stays one word. */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    while (this.peek() === '\t' || this.peek() === '\r' || this.peek() === ' ') space += this.next();
    return '<<' + space;
  }
}

/**
 * A shell pattern (`*`, `?`, `\` escapes; no bracket expressions) as a regular expression, like
 * BuildKit's convertShellPatternToRegex. Go's `.` never matches a newline, hence `[^\n]`.
 */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, name: string): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i];
    switch (tok) {
      case '*':
        out += star;
        continue;
      case '?':
        out += '[^\\n]';
        continue;
      case '\\': {
        // `\}` and `\/` only protect the closing chars of `${...}`: the backslash is not part of the pattern.
        const n = chars[i + 1];
        if (n === '}' || n === '/') continue;
        out += '\\';
        i++;
        tok = chars[i] ?? '';
        if (tok !== '*' && tok !== '?' && tok !== '\\') {
          throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${tok}'`, name);
        }
        break;
      }
      case '[':
      case ']':
      case '{':
      case '}':
      case '.':
      case '+':
      case '(':
      case ')':
      case '|':
      case '^':
      case '$':
        out += '\\';
        break;
    }
    out += tok;
  }
  return new RegExp(out, 'u');
}

/** Go's Regexp.ReplaceAllString with a literal replacement (Go skips an empty match right after a match). */
function goReplaceAll(re: RegExp, s: string, replacement: string): string {
  const g = new RegExp(re.source, 'gu');
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= s.length) {
    g.lastIndex = searchPos;
    const m = g.exec(s);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += s.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += replacement;
    lastMatchEnd = end;
    const width = searchPos < s.length ? (s.codePointAt(searchPos)! > 0xffff ? 2 : 1) : 1;
    if (searchPos + width > end) searchPos += width;
    else searchPos = end;
  }
  return out + s.slice(lastMatchEnd);
}

function trimPrefix(pattern: string, value: string, greedy: boolean, name: string): string {
  const re = shellPatternToRegex(pattern, greedy, true, name);
  const m = re.exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern keeping each `\x` escape pair in order, so a suffix search becomes a prefix search. */
function reversePattern(pattern: string): string {
  const p = Array.from(pattern);
  const out: string[] = new Array(p.length);
  const last = p.length - 1;
  for (let i = 0; i <= last; ) {
    const o = last - i;
    if (p[i] === '\\' && i !== last) {
      out[o - 1] = p[i];
      out[o] = p[i + 1];
      i += 2;
    } else {
      out[o] = p[i];
      i++;
    }
  }
  return out.join('');
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean, name: string): string {
  // A regex cannot find the shortest rightmost match, so search the reversed string.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy, name));
}

/** Expands `word` and reports which variables it used (BuildKit's ProcessWordWithMatches). */
export function processWord(word: string, lookup: Lookup, opts: LexOptions = {}): ExpandResult {
  const sw = new ShellWord(word, lookup, opts);
  try {
    const { result, words } = sw.run();
    return { result, words, matched: sw.matched, unmatched: sw.unmatched };
  } catch (err) {
    if (err instanceof LexError) throw new ShellExpansionError(word, err.message, err.variable);
    throw err;
  }
}

/** One word: quotes removed, escapes processed, variables expanded; whitespace is kept. */
export function expandWord(word: string, lookup: Lookup, esc: '\\' | '`' = '\\'): string {
  return processWord(word, lookup, { escape: esc }).result;
}

/** Fields: like expandWord, then split on whitespace that is neither quoted nor escaped. */
export function expandWords(word: string, lookup: Lookup, esc: '\\' | '`' = '\\'): string[] {
  return processWord(word, lookup, { escape: esc }).words;
}

/** A Lookup over a plain record; keys set to undefined count as unset. */
export function lookupFrom(vars: Record<string, string | undefined> | Map<string, string>): Lookup {
  if (vars instanceof Map) return (name) => vars.get(name);
  return (name) => (Object.hasOwn(vars, name) ? vars[name] : undefined);
}

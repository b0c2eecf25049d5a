/**
 * Go `text/template`, as docker's `--format` flag uses it: lexer, parser and executor written from
 * Go's documented semantics, with fmt-style printing and docker's template functions.
 *
 * JavaScript values stand for Go values this way: `undefined` is a missing value (Go's invalid
 * reflect.Value, printed `<no value>`), `null` is nil, plain objects and `Map`s are maps (a missing
 * key is `<no value>`), arrays are slices, an integral number is an int and any other number a
 * float64. A property holding a function is a method: `.Label "x"` calls it with the arguments.
 */
import { Buffer } from 'node:buffer';
import { BerthError } from '../../util/errors.ts';

export type TemplateFunc = (...args: unknown[]) => unknown;

export interface ExecuteOptions {
  /** Functions replacing the built-in ones of the same name (docker swaps these in for table headers). */
  readonly funcs?: Readonly<Record<string, TemplateFunc>>;
  /** Return what was written before an execution error instead of throwing (docker ignores header errors). */
  readonly partial?: boolean;
}

export interface Template {
  execute(data: unknown, options?: ExecuteOptions): string;
  /** Every field name the template reads (`.A.B` gives A and B), in order of first use. */
  readonly fields: readonly string[];
}

/** Template errors are the user's: docker exits 1 on them. */
function templateError(message: string): BerthError {
  return new BerthError(message, 1, 'invalid');
}

// ---------------------------------------------------------------------------------------------
// Lexer

type Keyword =
  | 'block'
  | 'break'
  | 'continue'
  | 'define'
  | 'dot'
  | 'else'
  | 'end'
  | 'if'
  | 'nil'
  | 'range'
  | 'template'
  | 'with';

type TokType =
  | Keyword
  | 'error'
  | 'bool'
  | 'char'
  | 'charConstant'
  | 'complex'
  | 'assign'
  | 'declare'
  | 'eof'
  | 'field'
  | 'identifier'
  | 'leftDelim'
  | 'leftParen'
  | 'number'
  | 'pipe'
  | 'rawString'
  | 'rightDelim'
  | 'rightParen'
  | 'space'
  | 'string'
  | 'text'
  | 'variable';

interface Token {
  readonly type: TokType;
  readonly val: string;
  readonly pos: number;
}

const KEYWORD_WORDS = [
  'block',
  'break',
  'continue',
  'define',
  'else',
  'end',
  'if',
  'nil',
  'range',
  'template',
  'with',
] as const;
const KEYWORDS: ReadonlySet<string> = new Set<string>(KEYWORD_WORDS);
const KEYWORD_TOKENS: ReadonlySet<TokType> = new Set<TokType>([...KEYWORD_WORDS, 'dot']);

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

const LETTER_OR_DIGIT = /^[\p{L}\p{Nd}]$/u;

/** Length in UTF-16 units of the letter, digit or underscore at `i`, or 0 if there is none. */
function alnumLength(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (Number.isNaN(c)) return 0;
  if (c < 0x80) {
    return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 ? 1 : 0;
  }
  const ch = String.fromCodePoint(s.codePointAt(i) ?? c);
  return LETTER_OR_DIGIT.test(ch) ? ch.length : 0;
}

/** Go's `%#U`: `U+0041 'A'`. */
function describeRune(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return isPrint(cp) ? `${hex} '${String.fromCodePoint(cp)}'` : hex;
}

function lex(src: string): Token[] {
  const toks: Token[] = [];
  const n = src.length;
  let pos = 0;
  const emit = (type: TokType, start: number, end: number): void => {
    toks.push({ type, val: src.slice(start, end), pos: start });
  };
  // Lexing stops at the first error; the parser reports it when it reaches that token.
  const fail = (message: string, at: number): Token[] => {
    toks.push({ type: 'error', val: message, pos: at });
    toks.push({ type: 'eof', val: '', pos: n });
    return toks;
  };
  // 0: no right delimiter here, 1: "}}", 2: " -}}" (trims the text that follows).
  const rightDelimAt = (p: number): 0 | 1 | 2 => {
    if (isSpace(src[p]) && src[p + 1] === '-' && src.startsWith('}}', p + 2)) return 2;
    return src.startsWith('}}', p) ? 1 : 0;
  };
  const atTerminator = (p: number): boolean => {
    if (p >= n) return true;
    const c = src[p];
    return (
      isSpace(c) ||
      c === '.' ||
      c === ',' ||
      c === '|' ||
      c === ':' ||
      c === ')' ||
      c === '(' ||
      src.startsWith('}}', p)
    );
  };
  const accept = (valid: string): boolean => {
    if (pos < n && valid.includes(src[pos])) {
      pos++;
      return true;
    }
    return false;
  };
  const acceptRun = (valid: string): void => {
    while (pos < n && valid.includes(src[pos])) pos++;
  };
  const skipAlnum = (): void => {
    for (let w = alnumLength(src, pos); w > 0; w = alnumLength(src, pos)) pos += w;
  };
  const scanNumber = (): boolean => {
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    if (digits.length === 23 && accept('pP')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    accept('i');
    const w = alnumLength(src, pos);
    if (w > 0) {
      pos += w;
      return false;
    }
    return true;
  };

  for (;;) {
    const x = src.indexOf('{{', pos);
    if (x < 0) {
      if (pos < n) emit('text', pos, n);
      toks.push({ type: 'eof', val: '', pos: n });
      return toks;
    }
    const trimLeft = src[x + 2] === '-' && isSpace(src[x + 3]);
    let textEnd = x;
    if (trimLeft) while (textEnd > pos && isSpace(src[textEnd - 1])) textEnd--;
    if (textEnd > pos) emit('text', pos, textEnd);
    pos = x + 2 + (trimLeft ? 2 : 0);

    if (src.startsWith('/*', pos)) {
      const start = pos;
      const close = src.indexOf('*/', pos + 2);
      if (close < 0) return fail('unclosed comment', start);
      pos = close + 2;
      const d = rightDelimAt(pos);
      if (d === 0) return fail('comment ends before closing delimiter', start);
      pos += d === 2 ? 4 : 2;
      if (d === 2) while (pos < n && isSpace(src[pos])) pos++;
      continue;
    }

    emit('leftDelim', x, x + 2);
    let parenDepth = 0;
    for (;;) {
      const d = rightDelimAt(pos);
      if (d !== 0) {
        if (parenDepth !== 0) return fail('unclosed left paren', pos);
        if (d === 2) pos += 2;
        emit('rightDelim', pos, pos + 2);
        pos += 2;
        if (d === 2) while (pos < n && isSpace(src[pos])) pos++;
        break;
      }
      if (pos >= n) return fail('unclosed action', pos);
      const start = pos;
      const c = src[pos];
      if (isSpace(c)) {
        let p = pos;
        while (p < n && isSpace(src[p])) p++;
        // The last space of " -}}" belongs to the trim marker.
        const end = src[p] === '-' && src.startsWith('}}', p + 1) ? p - 1 : p;
        if (end > start) emit('space', start, end);
        pos = end;
        continue;
      }
      pos++;
      switch (c) {
        case '=':
          emit('assign', start, pos);
          continue;
        case ':':
          if (src[pos] !== '=') return fail('expected :=', start);
          pos++;
          emit('declare', start, pos);
          continue;
        case '|':
          emit('pipe', start, pos);
          continue;
        case '"':
        case "'": {
          for (;;) {
            const q = src[pos++];
            if (q === '\\' && pos < n && src[pos] !== '\n') {
              pos++;
              continue;
            }
            if (q === undefined || q === '\n' || q === '\\') {
              return fail(
                c === '"' ? 'unterminated quoted string' : 'unterminated character constant',
                start,
              );
            }
            if (q === c) break;
          }
          emit(c === '"' ? 'string' : 'charConstant', start, pos);
          continue;
        }
        case '`': {
          const close = src.indexOf('`', pos);
          if (close < 0) return fail('unterminated raw quote', start);
          pos = close + 1;
          emit('rawString', start, pos);
          continue;
        }
        case '(':
          parenDepth++;
          emit('leftParen', start, pos);
          continue;
        case ')':
          parenDepth--;
          if (parenDepth < 0) return fail('unexpected right paren', start);
          emit('rightParen', start, pos);
          continue;
      }
      if (c === '$' || (c === '.' && pos < n && !isDigit(src[pos]))) {
        if (atTerminator(pos)) {
          emit(c === '$' ? 'variable' : 'dot', start, pos);
          continue;
        }
        skipAlnum();
        if (!atTerminator(pos))
          return fail(`bad character ${describeRune(src.codePointAt(pos) ?? 0)}`, start);
        emit(c === '$' ? 'variable' : 'field', start, pos);
        continue;
      }
      if (c === '.' || c === '+' || c === '-' || isDigit(c)) {
        pos = start;
        if (!scanNumber()) return fail(`bad number syntax: ${goQuote(src.slice(start, pos))}`, start);
        if (src[pos] === '+' || src[pos] === '-') {
          if (!scanNumber() || src[pos - 1] !== 'i') {
            return fail(`bad number syntax: ${goQuote(src.slice(start, pos))}`, start);
          }
          emit('complex', start, pos);
          continue;
        }
        emit('number', start, pos);
        continue;
      }
      pos = start;
      if (alnumLength(src, pos) > 0) {
        skipAlnum();
        if (!atTerminator(pos))
          return fail(`bad character ${describeRune(src.codePointAt(pos) ?? 0)}`, start);
        const word = src.slice(start, pos);
        if (KEYWORDS.has(word)) emit(word as Keyword, start, pos);
        else if (word === 'true' || word === 'false') emit('bool', start, pos);
        else emit('identifier', start, pos);
        continue;
      }
      const cp = src.codePointAt(start) ?? 0;
      if (cp >= 0x20 && cp < 0x7f) {
        pos = start + 1;
        emit('char', start, pos);
        continue;
      }
      return fail(`unrecognized character in action: ${describeRune(cp)}`, start);
    }
  }
}

/** How Go's parser names a token in "unexpected X" messages. */
function tokenString(t: Token): string {
  if (t.type === 'eof') return 'EOF';
  if (t.type === 'error') return t.val;
  if (KEYWORD_TOKENS.has(t.type)) return `<${t.val}>`;
  const runes = [...t.val];
  if (runes.length > 10) return `${goQuote(runes.slice(0, 10).join(''))}...`;
  return goQuote(t.val);
}

// ---------------------------------------------------------------------------------------------
// Parse tree

interface FieldNode {
  readonly k: 'field';
  readonly pos: number;
  readonly idents: readonly string[];
}
interface VariableNode {
  readonly k: 'variable';
  readonly pos: number;
  readonly idents: readonly string[];
}
interface ChainNode {
  readonly k: 'chain';
  readonly pos: number;
  readonly node: Operand;
  readonly fields: readonly string[];
}
interface IdentifierNode {
  readonly k: 'identifier';
  readonly pos: number;
  readonly name: string;
}
interface DotNode {
  readonly k: 'dot';
  readonly pos: number;
}
interface NilNode {
  readonly k: 'nil';
  readonly pos: number;
}
interface BoolNode {
  readonly k: 'bool';
  readonly pos: number;
  readonly value: boolean;
}
interface NumberNode {
  readonly k: 'number';
  readonly pos: number;
  readonly text: string;
  readonly value: number;
}
interface StringNode {
  readonly k: 'string';
  readonly pos: number;
  readonly quoted: string;
  readonly value: string;
}
interface PipeNode {
  readonly k: 'pipe';
  readonly pos: number;
  isAssign: boolean;
  readonly decl: VariableNode[];
  readonly cmds: CommandNode[];
}
interface CommandNode {
  readonly k: 'command';
  readonly pos: number;
  readonly args: Operand[];
}
type Operand =
  | FieldNode
  | VariableNode
  | ChainNode
  | IdentifierNode
  | DotNode
  | NilNode
  | BoolNode
  | NumberNode
  | StringNode
  | PipeNode;

interface TextNode {
  readonly k: 'text';
  readonly pos: number;
  readonly text: string;
}
interface ActionNode {
  readonly k: 'action';
  readonly pos: number;
  readonly pipe: PipeNode;
}
interface BranchNode {
  readonly k: 'if' | 'with' | 'range';
  readonly pos: number;
  readonly pipe: PipeNode;
  readonly list: ListNode;
  readonly elseList: ListNode | null;
}
interface TemplateNode {
  readonly k: 'template';
  readonly pos: number;
  readonly name: string;
  readonly pipe: PipeNode | null;
}
interface LoopControlNode {
  readonly k: 'break' | 'continue';
  readonly pos: number;
}
interface ListNode {
  readonly k: 'list';
  readonly pos: number;
  readonly nodes: Node[];
}
type Node = TextNode | ActionNode | BranchNode | TemplateNode | LoopControlNode | ListNode;
/** `{{end}}` and `{{else}}` only exist while parsing. */
interface DelimNode {
  readonly k: 'end' | 'else';
  readonly pos: number;
}
type AnyNode = Node | Operand | CommandNode | DelimNode;

function isDelim(n: Node | DelimNode): n is DelimNode {
  return n.k === 'end' || n.k === 'else';
}

/** The node as Go prints it in error messages. */
function nodeString(n: AnyNode): string {
  const inner = (o: Operand): string => (o.k === 'pipe' ? `(${nodeString(o)})` : nodeString(o));
  switch (n.k) {
    case 'field':
      return `.${n.idents.join('.')}`;
    case 'variable':
      return n.idents.join('.');
    case 'chain':
      return `${inner(n.node)}.${n.fields.join('.')}`;
    case 'identifier':
      return n.name;
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(n.value);
    case 'number':
      return n.text;
    case 'string':
      return n.quoted;
    case 'pipe': {
      const decl = n.decl.length ? `${n.decl.map(nodeString).join(', ')} ${n.isAssign ? '=' : ':='} ` : '';
      return decl + n.cmds.map(nodeString).join(' | ');
    }
    case 'command':
      return n.args.map(inner).join(' ');
    case 'text':
      return n.text;
    case 'action':
      return `{{${nodeString(n.pipe)}}}`;
    case 'if':
    case 'with':
    case 'range': {
      const tail = n.elseList ? `{{else}}${nodeString(n.elseList)}` : '';
      return `{{${n.k} ${nodeString(n.pipe)}}}${nodeString(n.list)}${tail}{{end}}`;
    }
    case 'template':
      return n.pipe
        ? `{{template ${goQuote(n.name)} ${nodeString(n.pipe)}}}`
        : `{{template ${goQuote(n.name)}}}`;
    case 'list':
      return n.nodes.map(nodeString).join('');
    default:
      return `{{${n.k}}}`;
  }
}

function isEmptyTree(list: ListNode): boolean {
  return list.nodes.every((n) => (n.k === 'text' ? n.text.trim() === '' : n.k === 'list' && isEmptyTree(n)));
}

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
  private i = 0;
  private lastRead = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private actionLine = 0;
  readonly trees = new Map<string, ListNode>();
  readonly fields = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly toks: readonly Token[],
    private readonly funcs: ReadonlySet<string>,
  ) {}

  parse(): Map<string, ListNode> {
    const root: ListNode = { k: 'list', pos: this.peek().pos, nodes: [] };
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'leftDelim') {
        const save = this.i;
        this.next();
        if (this.nextNonSpace().type === 'define') {
          this.parseDefinition();
          continue;
        }
        this.i = save;
      }
      const n = this.textOrAction();
      if (isDelim(n)) this.errorf(`unexpected ${nodeString(n)}`);
      root.nodes.push(n);
    }
    this.addTree('', root);
    return this.trees;
  }

  private lineOf(pos: number): number {
    let line = 1;
    for (let p = this.src.indexOf('\n'); p >= 0 && p < pos; p = this.src.indexOf('\n', p + 1)) line++;
    return line;
  }

  private errorf(message: string): never {
    throw templateError(`template: :${this.lineOf(this.toks[this.lastRead].pos)}: ${message}`);
  }

  private unexpected(t: Token, context: string): never {
    if (t.type === 'error') {
      let extra = '';
      if (this.actionLine !== 0 && this.actionLine !== this.lineOf(t.pos)) {
        extra = ` in action started at :${this.actionLine}`;
        // Avoid "unclosed action in action".
        if (t.val.endsWith(' action')) extra = extra.slice(' in action'.length);
      }
      this.errorf(t.val + extra);
    }
    this.errorf(`unexpected ${tokenString(t)} in ${context}`);
  }

  private next(): Token {
    const at = Math.min(this.i, this.toks.length - 1);
    this.i++;
    if (at > this.lastRead) this.lastRead = at;
    return this.toks[at];
  }

  private backup(): void {
    this.i--;
  }

  private peek(): Token {
    const t = this.next();
    this.backup();
    return t;
  }

  private nextNonSpace(): Token {
    let t = this.next();
    while (t.type === 'space') t = this.next();
    return t;
  }

  private peekNonSpace(): Token {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }

  private expect(type: TokType, context: string): Token {
    const t = this.nextNonSpace();
    if (t.type !== type) this.unexpected(t, context);
    return t;
  }

  private addTree(name: string, list: ListNode): void {
    const existing = this.trees.get(name);
    if (!existing || isEmptyTree(existing)) this.trees.set(name, list);
    else if (!isEmptyTree(list)) this.errorf(`template: multiple definition of template ${goQuote(name)}`);
  }

  /** Parses the body of a define or block: a template of its own, with no variables but `$`. */
  private subTemplate(name: string, context: string): void {
    const saved = { vars: this.vars, rangeDepth: this.rangeDepth };
    this.vars = ['$'];
    this.rangeDepth = 0;
    const [list, end] = this.itemList();
    if (end.k !== 'end') this.errorf(`unexpected ${nodeString(end)} in ${context}`);
    this.addTree(name, list);
    this.vars = saved.vars;
    this.rangeDepth = saved.rangeDepth;
  }

  private parseDefinition(): void {
    const context = 'define clause';
    const t = this.nextNonSpace();
    if (t.type !== 'string' && t.type !== 'rawString') this.unexpected(t, context);
    const name = this.unquote(t);
    this.expect('rightDelim', context);
    this.subTemplate(name, context);
  }

  private itemList(): [ListNode, DelimNode] {
    const list: ListNode = { k: 'list', pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().type !== 'eof') {
      const n = this.textOrAction();
      if (isDelim(n)) return [list, n];
      list.nodes.push(n);
    }
    this.errorf('unexpected EOF');
  }

  private textOrAction(): Node | DelimNode {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'text':
        return { k: 'text', pos: t.pos, text: t.val };
      case 'leftDelim':
        this.actionLine = this.lineOf(t.pos);
        try {
          return this.action();
        } finally {
          this.actionLine = 0;
        }
      default:
        this.unexpected(t, 'input');
    }
  }

  private action(): Node | DelimNode {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'block':
        return this.blockControl();
      case 'break':
      case 'continue':
        return this.loopControl(t);
      case 'else':
        return this.elseControl();
      case 'end':
        return { k: 'end', pos: this.expect('rightDelim', 'end').pos };
      case 'if':
      case 'range':
      case 'with':
        return this.control(t.type);
      case 'template':
        return this.templateControl();
    }
    this.backup();
    const pos = this.peek().pos;
    return { k: 'action', pos, pipe: this.pipeline('command', 'rightDelim') };
  }

  private loopControl(t: Token): LoopControlNode {
    const word = t.type === 'break' ? 'break' : 'continue';
    const after = this.nextNonSpace();
    if (after.type !== 'rightDelim') this.unexpected(after, `{{${word}}}`);
    if (this.rangeDepth === 0) this.errorf(`{{${word}}} outside {{range}}`);
    return { k: word, pos: t.pos };
  }

  private elseControl(): DelimNode {
    const p = this.peekNonSpace();
    // "{{else if" and "{{else with" leave the keyword for the enclosing control to chain on.
    if (p.type === 'if' || p.type === 'with') return { k: 'else', pos: p.pos };
    return { k: 'else', pos: this.expect('rightDelim', 'else').pos };
  }

  private control(kind: 'if' | 'range' | 'with'): BranchNode {
    const varsLength = this.vars.length;
    const pipe = this.pipeline(kind, 'rightDelim');
    if (kind === 'range') this.rangeDepth++;
    const [list, next] = this.itemList();
    if (kind === 'range') this.rangeDepth--;
    let elseList: ListNode | null = null;
    if (next.k === 'else') {
      const chained = this.peek().type;
      if ((kind === 'if' || kind === 'with') && chained === kind) {
        // {{if a}}_{{else if b}}_{{end}} is {{if a}}_{{else}}{{if b}}_{{end}}{{end}}.
        this.next();
        elseList = { k: 'list', pos: next.pos, nodes: [this.control(kind)] };
      } else {
        const [rest, end] = this.itemList();
        if (end.k !== 'end') this.errorf(`expected end; found ${nodeString(end)}`);
        elseList = rest;
      }
    }
    this.vars.length = varsLength;
    return { k: kind, pos: pipe.pos, pipe, list, elseList };
  }

  private templateName(t: Token, context: string): string {
    if (t.type !== 'string' && t.type !== 'rawString') this.unexpected(t, context);
    return this.unquote(t);
  }

  private blockControl(): TemplateNode {
    const context = 'block clause';
    const t = this.nextNonSpace();
    const name = this.templateName(t, context);
    const pipe = this.pipeline(context, 'rightDelim');
    this.subTemplate(name, context);
    return { k: 'template', pos: t.pos, name, pipe };
  }

  private templateControl(): TemplateNode {
    const context = 'template clause';
    const t = this.nextNonSpace();
    const name = this.templateName(t, context);
    let pipe: PipeNode | null = null;
    if (this.nextNonSpace().type !== 'rightDelim') {
      this.backup();
      pipe = this.pipeline(context, 'rightDelim');
    }
    return { k: 'template', pos: t.pos, name, pipe };
  }

  private pipeline(context: string, end: 'rightDelim' | 'rightParen'): PipeNode {
    const pipe: PipeNode = { k: 'pipe', pos: this.peekNonSpace().pos, isAssign: false, decl: [], cmds: [] };
    for (;;) {
      const v = this.peekNonSpace();
      if (v.type !== 'variable') break;
      const at = this.i;
      this.next();
      const after = this.peekNonSpace();
      if (after.type === 'assign' || after.type === 'declare') {
        pipe.isAssign = after.type === 'assign';
        this.nextNonSpace();
        pipe.decl.push({ k: 'variable', pos: v.pos, idents: [v.val] });
        this.vars.push(v.val);
      } else if (after.type === 'char' && after.val === ',') {
        this.nextNonSpace();
        pipe.decl.push({ k: 'variable', pos: v.pos, idents: [v.val] });
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().type;
          if (p === 'variable' || p === 'rightDelim' || p === 'rightParen') continue;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      } else {
        this.i = at;
      }
      break;
    }
    for (;;) {
      const t = this.nextNonSpace();
      if (t.type === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (t.type) {
        case 'bool':
        case 'charConstant':
        case 'complex':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(t, context);
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.forEach((c, i) => {
      const k = c.args[0].k;
      if (i > 0 && (k === 'bool' || k === 'dot' || k === 'nil' || k === 'number' || k === 'string')) {
        this.errorf(`non executable command in pipeline stage ${i + 1}`);
      }
    });
  }

  private command(): CommandNode {
    const cmd: CommandNode = { k: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const t = this.next();
      if (t.type === 'space') continue;
      if (t.type === 'rightDelim' || t.type === 'rightParen') this.backup();
      else if (t.type !== 'pipe') this.unexpected(t, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): Operand | null {
    const node = this.term();
    if (!node || this.peek().type !== 'field') return node;
    // Go positions a chained field at its second element.
    const pos = this.peek().pos;
    const fields: string[] = [];
    while (this.peek().type === 'field') fields.push(this.next().val.slice(1));
    for (const f of fields) this.fields.add(f);
    if (node.k === 'field') return { k: 'field', pos, idents: [...node.idents, ...fields] };
    if (node.k === 'variable') return { k: 'variable', pos, idents: [...node.idents, ...fields] };
    if (
      node.k === 'bool' ||
      node.k === 'string' ||
      node.k === 'number' ||
      node.k === 'nil' ||
      node.k === 'dot'
    ) {
      this.errorf(`unexpected . after term ${goQuote(nodeString(node))}`);
    }
    return { k: 'chain', pos, node, fields };
  }

  private term(): Operand | null {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'identifier':
        if (!this.funcs.has(t.val)) this.errorf(`function ${goQuote(t.val)} not defined`);
        return { k: 'identifier', pos: t.pos, name: t.val };
      case 'dot':
        return { k: 'dot', pos: t.pos };
      case 'nil':
        return { k: 'nil', pos: t.pos };
      case 'variable':
        if (!this.vars.includes(t.val)) this.errorf(`undefined variable ${goQuote(t.val)}`);
        return { k: 'variable', pos: t.pos, idents: [t.val] };
      case 'field':
        this.fields.add(t.val.slice(1));
        return { k: 'field', pos: t.pos, idents: [t.val.slice(1)] };
      case 'bool':
        return { k: 'bool', pos: t.pos, value: t.val === 'true' };
      case 'charConstant':
      case 'complex':
      case 'number':
        return { k: 'number', pos: t.pos, text: t.val, value: this.number(t) };
      case 'leftParen':
        return this.pipeline('parenthesized pipeline', 'rightParen');
      case 'string':
      case 'rawString':
        return { k: 'string', pos: t.pos, quoted: t.val, value: this.unquote(t) };
    }
    this.backup();
    return null;
  }

  private number(t: Token): number {
    if (t.type === 'charConstant') {
      const body = t.val.slice(1, -1);
      const decoded = unquoteChar(body, "'");
      if (!decoded) this.errorf('invalid syntax');
      if (decoded.rest !== '') this.errorf(`malformed character constant: ${t.val}`);
      return decoded.value;
    }
    if (t.type === 'complex' || t.val.endsWith('i'))
      this.errorf(`complex constants are not supported: ${t.val}`);
    const parsed = parseGoNumber(t.val);
    if (typeof parsed === 'string') this.errorf(parsed);
    return parsed;
  }

  private unquote(t: Token): string {
    const s = unquoteGo(t.val);
    if (s === null) this.errorf('invalid syntax');
    return s;
  }
}

const INT_FORMS: readonly [RegExp, number][] = [
  [/^0[xX](_?[0-9a-fA-F])+$/, 16],
  [/^0[oO](_?[0-7])+$/, 8],
  [/^0[bB](_?[01])+$/, 2],
  [/^0(_?[0-7])*$/, 8],
  [/^[1-9](_?[0-9])*$/, 10],
];
const FLOAT_FORM = /^(?=\.?\d)(\d(_?\d)*)?(\.(\d(_?\d)*)?)?([eE][+-]?\d(_?\d)*)?$/;

/** A Go integer or float literal's value, or the parser's message when it is not one. */
function parseGoNumber(text: string): number | string {
  const negative = text[0] === '-';
  const body = text[0] === '-' || text[0] === '+' ? text.slice(1) : text;
  for (const [form, base] of INT_FORMS) {
    if (!form.test(body)) continue;
    let digits = body.replace(/_/g, '');
    if (base !== 10) digits = digits.replace(/^0[xXoObB]?/, '') || '0';
    const magnitude =
      base === 10 ? Number(digits) : Number(BigInt(`0${'xob'[[16, 8, 2].indexOf(base)]}${digits}`));
    return negative ? -magnitude : magnitude;
  }
  if (FLOAT_FORM.test(body)) {
    if (!/[.eEpP]/.test(text)) return `integer overflow: ${text}`;
    const magnitude = Number(body.replace(/_/g, ''));
    return negative ? -magnitude : magnitude;
  }
  return `illegal number syntax: ${goQuote(text)}`;
}

function utf8Bytes(cp: number, out: number[]): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  '\\': 92,
};

/**
 * Go's strconv.UnquoteChar on the start of `s`: the value and whether it is a single byte (from
 * \x or octal escapes), or null on bad syntax.
 */
function unquoteChar(s: string, quote: '"' | "'"): { value: number; byte: boolean; rest: string } | null {
  if (s === '' || s[0] === quote) return null;
  if (s[0] !== '\\') {
    const cp = s.codePointAt(0) ?? 0;
    return { value: cp, byte: false, rest: s.slice(cp > 0xffff ? 2 : 1) };
  }
  const c = s[1];
  if (c === undefined) return null;
  if (c in SIMPLE_ESCAPES) return { value: SIMPLE_ESCAPES[c], byte: false, rest: s.slice(2) };
  if (c === quote) return { value: quote.charCodeAt(0), byte: false, rest: s.slice(2) };
  const hex = (len: number): { value: number; byte: boolean; rest: string } | null => {
    const digits = s.slice(2, 2 + len);
    if (digits.length !== len || !/^[0-9a-fA-F]+$/.test(digits)) return null;
    const value = Number.parseInt(digits, 16);
    if (len > 2 && (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))) return null;
    return { value, byte: len === 2, rest: s.slice(2 + len) };
  };
  if (c === 'x') return hex(2);
  if (c === 'u') return hex(4);
  if (c === 'U') return hex(8);
  if (c >= '0' && c <= '7') {
    const digits = s.slice(1, 4);
    if (!/^[0-7]{3}$/.test(digits)) return null;
    const value = Number.parseInt(digits, 8);
    return value > 255 ? null : { value, byte: true, rest: s.slice(4) };
  }
  return null;
}

/** Go's strconv.Unquote for "…" and `…` literals; null on bad syntax. */
function unquoteGo(lit: string): string | null {
  if (lit[0] === '`') return lit.slice(1, -1).replace(/\r/g, '');
  let body = lit.slice(1, -1);
  if (!body.includes('\\')) return body.includes('"') ? null : body;
  // Escapes may spell out UTF-8 bytes one at a time, so decode the bytes as a whole.
  const bytes: number[] = [];
  while (body !== '') {
    const ch = unquoteChar(body, '"');
    if (!ch) return null;
    if (ch.byte) bytes.push(ch.value);
    else utf8Bytes(ch.value, bytes);
    body = ch.rest;
  }
  return Buffer.from(bytes).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Values

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Objects that are maps to the template: everything but arrays, byte slices, dates and functions. */
function isMapLike(v: unknown): v is object {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !ArrayBuffer.isView(v) &&
    !(v instanceof Date) &&
    !(v instanceof Set)
  );
}

function isTrue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'number':
      return v !== 0;
    case 'bigint':
      return v !== 0n;
    case 'string':
      return v.length > 0;
    case 'object':
      if (Array.isArray(v)) return v.length > 0;
      if (v instanceof Uint8Array) return v.length > 0;
      if (v instanceof Map || v instanceof Set) return v.size > 0;
      // Plain objects are maps (true when not empty); class instances are structs, always true.
      return isPlainObject(v) ? Object.keys(v).length > 0 : true;
    default:
      return true;
  }
}

function compareKeys(a: unknown, b: unknown): number {
  const rank = (x: unknown): number =>
    typeof x === 'number' || typeof x === 'bigint' ? 0 : typeof x === 'string' ? 1 : 2;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 2) return 0;
  const x = a as number | string;
  const y = b as number | string;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A map's entries in Go's printing and ranging order: sorted by key. */
function mapEntries(v: object): [unknown, unknown][] {
  if (v instanceof Map) return [...v.entries()].sort((a, b) => compareKeys(a[0], b[0]));
  const record = v as Record<string, unknown>;
  return Object.keys(v)
    .sort(compareKeys)
    .map((k) => [k, record[k]]);
}

/** The property named like a Go field or method: own, or from a class (never Object.prototype). */
function lookupField(obj: object, name: string): { value: unknown } | undefined {
  const record = obj as Record<string, unknown>;
  if (Object.hasOwn(obj, name)) return { value: record[name] };
  if (name === 'constructor' || name === '__proto__') return undefined;
  for (
    let p = Object.getPrototypeOf(obj);
    p !== null && p !== Object.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    if (Object.hasOwn(p, name)) return { value: record[name] };
  }
  return undefined;
}

function allStrings(values: Iterable<unknown>): boolean {
  let any = false;
  for (const v of values) {
    if (typeof v !== 'string') return false;
    any = true;
  }
  return any;
}

/** The Go type a value stands for, as Go names it in messages and `%T`. */
function goType(v: unknown): string {
  if (v === undefined || v === null) return '<nil>';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return isIntegral(v) ? 'int' : 'float64';
    case 'bigint':
      return 'int64';
    case 'function':
      return 'func()';
  }
  if (v instanceof Date) return 'time.Time';
  if (v instanceof Uint8Array) return '[]uint8';
  if (Array.isArray(v)) return allStrings(v) ? '[]string' : '[]interface {}';
  if (v instanceof Map) return allStrings(v.values()) ? 'map[string]string' : 'map[interface {}]interface {}';
  if (typeof v === 'object' && !isPlainObject(v)) return `*${v.constructor?.name ?? 'struct'}`;
  return allStrings(Object.values(v as object)) ? 'map[string]string' : 'map[string]interface {}';
}

function isIntegral(v: number): boolean {
  return Number.isInteger(v) && Math.abs(v) < 1e21;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** A Date as Go's time.Time prints it (in UTC): `2006-01-02 15:04:05.999999999 +0000 UTC`. */
function goTimeParts(d: Date): [string, string] {
  if (Number.isNaN(d.getTime())) return ['0001-01-01', '00:00:00'];
  const date = `${String(d.getUTCFullYear()).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
  const ms = d.getUTCMilliseconds();
  const frac = ms ? `.${String(ms).padStart(3, '0').replace(/0+$/, '')}` : '';
  return [date, `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}${frac}`];
}

/** Go's fmt.Stringer, for values that have one: dates and class instances with their own toString. */
function stringerText(v: unknown): string | undefined {
  if (v instanceof Date) {
    const [date, time] = goTimeParts(v);
    return `${date} ${time} +0000 UTC`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map || isPlainObject(v)) {
    return undefined;
  }
  const s = (v as { toString?: unknown }).toString;
  return typeof s === 'function' && s !== Object.prototype.toString ? String(v) : undefined;
}

/** docker's `json` function: Go's encoding/json with HTML escaping off, on one line. */
function goJSON(v: unknown): string {
  const json = JSON.stringify(
    v === undefined ? null : v,
    function (this: unknown, key: string, value: unknown) {
      const original = (this as Record<string, unknown>)[key];
      if (original instanceof Date) {
        const [date, time] = goTimeParts(original);
        return `${date}T${time}Z`;
      }
      if (original instanceof Uint8Array) return Buffer.from(original).toString('base64');
      if (value instanceof Map) {
        return Object.fromEntries(mapEntries(value).map(([k, val]) => [String(k), val]));
      }
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'function') return undefined;
      return value;
    },
  );
  // Go escapes these line separators always and writes U+FFFD for what is not valid UTF-8.
  return json
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
    .replace(/\\ud[89a-f][0-9a-f]{2}/g, '\\ufffd');
}

// ---------------------------------------------------------------------------------------------
// fmt

interface Fmt {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  /** -1 when absent. */
  wid: number;
  /** -1 when absent. */
  prec: number;
  sharpV: boolean;
}

function newFmt(): Fmt {
  return {
    plus: false,
    minus: false,
    sharp: false,
    space: false,
    zero: false,
    wid: -1,
    prec: -1,
    sharpV: false,
  };
}

const PLAIN: Readonly<Fmt> = Object.freeze(newFmt());

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isPrint(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  return PRINTABLE.test(String.fromCodePoint(cp));
}

function runeCount(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const prev = s.charCodeAt(i - 1);
      if (prev >= 0xd800 && prev <= 0xdbff) n--;
    }
  }
  return n;
}

function hexDigits(n: number, width: number, upper = false): string {
  const s = n.toString(16).padStart(width, '0');
  return upper ? s.toUpperCase() : s;
}

function escapeRune(cp: number): string {
  switch (cp) {
    case 7:
      return '\\a';
    case 8:
      return '\\b';
    case 12:
      return '\\f';
    case 10:
      return '\\n';
    case 13:
      return '\\r';
    case 9:
      return '\\t';
    case 11:
      return '\\v';
  }
  if (cp < 0x20 || cp === 0x7f) return `\\x${hexDigits(cp, 2)}`;
  if (cp >= 0xd800 && cp <= 0xdfff) return '\\ufffd';
  if (cp < 0x10000) return `\\u${hexDigits(cp, 4)}`;
  return `\\U${hexDigits(cp, 8)}`;
}

/** Go's strconv.Quote (or QuoteToASCII). */
function goQuote(s: string, asciiOnly = false): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (isPrint(cp) && (!asciiOnly || cp < 0x80)) out += ch;
    else out += escapeRune(cp);
  }
  return `${out}"`;
}

function quoteRune(cp: number, asciiOnly: boolean): string {
  const r = cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0 ? 0xfffd : cp;
  if (r === 0x27 || r === 0x5c) return `'\\${String.fromCodePoint(r)}'`;
  if (isPrint(r) && (!asciiOnly || r < 0x80)) return `'${String.fromCodePoint(r)}'`;
  return `'${escapeRune(r)}'`;
}

function canBackquote(s: string): boolean {
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '`' || cp === 0xfeff || cp === 0xfffd || (cp < 0x20 && ch !== '\t') || cp === 0x7f)
      return false;
  }
  return true;
}

function pad(s: string, f: Readonly<Fmt>, zeroOk: boolean): string {
  if (f.wid <= 0) return s;
  const w = f.wid - runeCount(s);
  if (w <= 0) return s;
  if (f.minus) return s + ' '.repeat(w);
  return (zeroOk && f.zero ? '0' : ' ').repeat(w) + s;
}

function badVerb(verb: string, arg: unknown, f: Readonly<Fmt>): string {
  if (arg === undefined || arg === null) return `%!${verb}(<nil>)`;
  return `%!${verb}(${goType(arg)}=${fmtArg(arg, 'v', { ...f, sharpV: false }, 0)})`;
}

/** Formats one operand as Go's fmt does for `%<verb>`. */
function fmtArg(arg: unknown, verb: string, f: Readonly<Fmt>, depth: number): string {
  if (arg === undefined || arg === null) {
    return depth > 0 || verb === 'v' || verb === 'T' ? pad('<nil>', f, false) : badVerb(verb, arg, f);
  }
  if (verb === 'T') return pad(goType(arg), f, false);
  if (!f.sharpV && 'vsxXq'.includes(verb)) {
    const text = stringerText(arg);
    if (text !== undefined) return fmtString(text, verb, f);
  }
  switch (typeof arg) {
    case 'boolean':
      return verb === 't' || verb === 'v' ? pad(String(arg), f, true) : badVerb(verb, arg, f);
    case 'number':
      return isIntegral(arg) ? fmtInt(arg, verb, f) : fmtFloatVerb(arg, verb, f);
    case 'bigint':
      return fmtInt(arg, verb, f);
    case 'string':
      return fmtString(arg, verb, f);
    case 'function':
      return verb === 'v' ? pad('func()', f, false) : badVerb(verb, arg, f);
  }
  if (arg instanceof Uint8Array) {
    if ('sxXq'.includes(verb)) return fmtString(Buffer.from(arg).toString('utf8'), verb, f, arg);
    return `[${Array.from(arg, (b) => fmtInt(b, verb, f)).join(' ')}]`;
  }
  if (Array.isArray(arg)) {
    const items = arg.map((e) => fmtArg(e, verb, f, depth + 1));
    return f.sharpV ? `${goType(arg)}{${items.join(', ')}}` : `[${items.join(' ')}]`;
  }
  if (typeof arg === 'object') {
    const items = mapEntries(arg).map(
      ([k, v]) => `${fmtArg(k, verb, f, depth + 1)}:${fmtArg(v, verb, f, depth + 1)}`,
    );
    return f.sharpV ? `${goType(arg)}{${items.join(', ')}}` : `map[${items.join(' ')}]`;
  }
  return pad(String(arg), f, false);
}

function fmtInt(v: number | bigint, verb: string, f: Readonly<Fmt>): string {
  const negative = v < 0;
  const abs = negative ? -v : v;
  switch (verb) {
    case 'v':
    case 'd':
      return fmtInteger(negative, abs.toString(10), 10, verb, f);
    case 'b':
      return fmtInteger(negative, abs.toString(2), 2, verb, f);
    case 'o':
    case 'O':
      return fmtInteger(negative, abs.toString(8), 8, verb, f);
    case 'x':
    case 'X':
      return fmtInteger(negative, abs.toString(16), 16, verb, f);
    case 'c': {
      const cp = Number(v);
      const valid = cp >= 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      return pad(String.fromCodePoint(valid ? cp : 0xfffd), f, false);
    }
    case 'q':
      return pad(quoteRune(Number(v), f.plus), f, false);
    case 'U': {
      const cp = Number(v);
      let s = `U+${hexDigits(cp, Math.max(4, f.prec), true)}`;
      if (f.sharp && isPrint(cp)) s += ` '${String.fromCodePoint(cp)}'`;
      return pad(s, f, false);
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      // Go would reject an int here; data from JSON cannot tell 3.0 from 3, so format it as a float.
      return fmtFloatVerb(Number(v), verb, f);
    default:
      return badVerb(verb, v, f);
  }
}

function fmtInteger(negative: boolean, digits: string, base: number, verb: string, f: Readonly<Fmt>): string {
  let prec = 0;
  if (f.prec >= 0) {
    prec = f.prec;
    if (prec === 0 && digits === '0') return f.wid > 0 ? ' '.repeat(f.wid) : '';
  } else if (f.zero && !f.minus && f.wid >= 0) {
    prec = f.wid;
    if (negative || f.plus || f.space) prec--;
  }
  let s = verb === 'X' ? digits.toUpperCase() : digits;
  if (s.length < prec) s = '0'.repeat(prec - s.length) + s;
  if (f.sharp) {
    if (base === 2) s = `0b${s}`;
    else if (base === 8 && s[0] !== '0') s = `0${s}`;
    else if (base === 16) s = (verb === 'X' ? '0X' : '0x') + s;
  }
  if (verb === 'O') s = `0o${s}`;
  if (negative) s = `-${s}`;
  else if (f.plus) s = `+${s}`;
  else if (f.space) s = ` ${s}`;
  return pad(s, f, false);
}

function fmtFloatVerb(v: number, verb: string, f: Readonly<Fmt>): string {
  switch (verb) {
    case 'v':
      return fmtFloat(v, 'g', -1, f);
    case 'g':
    case 'G':
      return fmtFloat(v, verb, -1, f);
    case 'e':
    case 'E':
    case 'f':
      return fmtFloat(v, verb, 6, f);
    case 'F':
      return fmtFloat(v, 'f', 6, f);
    default:
      return badVerb(verb, v, f);
  }
}

function fmtFloat(v: number, verb: FloatFormat, defaultPrec: number, f: Readonly<Fmt>): string {
  let num = formatFloat(v, verb, f.prec >= 0 ? f.prec : defaultPrec);
  if (num[0] !== '-' && num[0] !== '+') num = `+${num}`;
  if (f.space && num[0] === '+' && !f.plus) num = ` ${num.slice(1)}`;
  if (num[1] === 'I' || num[1] === 'N') {
    if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
    return pad(num, f, false);
  }
  if (f.plus || num[0] !== '+') {
    // Zero padding goes between the sign and the digits.
    if (f.zero && !f.minus && f.wid > num.length)
      return num[0] + '0'.repeat(f.wid - num.length) + num.slice(1);
    return pad(num, f, true);
  }
  return pad(num.slice(1), f, true);
}

type FloatFormat = 'e' | 'E' | 'f' | 'g' | 'G';

/** A decimal 0.<digits> × 10^dp, as Go's strconv keeps it. */
interface Decimal {
  digits: string;
  dp: number;
}

/** The shortest digits that read back as `a` (a ≥ 0). */
function shortestDecimal(a: number): Decimal {
  if (a === 0) return { digits: '', dp: 0 };
  const [mantissa, exp] = a.toExponential().split('e');
  return { digits: mantissa.replace('.', '').replace(/0+$/, ''), dp: Number(exp) + 1 };
}

/** Every digit of the binary value `a` (a ≥ 0, finite): doubles have finite decimal expansions. */
function exactDecimal(a: number): Decimal {
  if (a === 0) return { digits: '', dp: 0 };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, a);
  const hi = view.getUint32(0);
  const expBits = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  let e = -1074;
  if (expBits !== 0) {
    mantissa |= 1n << 52n;
    e = expBits - 1075;
  }
  let digits: string;
  let dp: number;
  if (e >= 0) {
    digits = (mantissa << BigInt(e)).toString();
    dp = digits.length;
  } else {
    digits = (mantissa * 5n ** BigInt(-e)).toString();
    dp = digits.length + e;
  }
  return { digits: digits.replace(/0+$/, ''), dp };
}

/** Rounds to `nd` digits, halves to even, as strconv does on the exact value. */
function roundDecimal(d: Decimal, nd: number): Decimal {
  const { digits, dp } = d;
  if (nd < 0 || nd >= digits.length) return d;
  const next = digits[nd];
  const up =
    next === '5' && nd + 1 === digits.length ? nd > 0 && Number(digits[nd - 1]) % 2 === 1 : next >= '5';
  if (!up) return { digits: digits.slice(0, nd).replace(/0+$/, ''), dp };
  let i = nd - 1;
  while (i >= 0 && digits[i] === '9') i--;
  if (i < 0) return { digits: '1', dp: dp + 1 };
  return { digits: digits.slice(0, i) + String(Number(digits[i]) + 1), dp };
}

function formatE(d: Decimal, prec: number, e: 'e' | 'E'): string {
  let s = d.digits[0] ?? '0';
  if (prec > 0) s += `.${d.digits.slice(1, prec + 1).padEnd(prec, '0')}`;
  let exp = d.digits.length === 0 ? 0 : d.dp - 1;
  const sign = exp < 0 ? '-' : '+';
  exp = Math.abs(exp);
  return `${s}${e}${sign}${exp < 10 ? `0${exp}` : exp}`;
}

function formatF(d: Decimal, prec: number): string {
  let s = d.dp > 0 ? d.digits.slice(0, d.dp).padEnd(d.dp, '0') : '0';
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) {
      const j = d.dp + i - 1;
      s += j >= 0 && j < d.digits.length ? d.digits[j] : '0';
    }
  }
  return s;
}

/** Go's strconv.FormatFloat for the 'e', 'E', 'f', 'g' and 'G' formats; prec -1 is shortest. */
function formatFloat(v: number, format: FloatFormat, precision: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  const negative = v < 0 || Object.is(v, -0);
  const a = Math.abs(v);
  const shortest = precision < 0;
  let prec = precision;
  let d: Decimal;
  if (shortest) {
    d = shortestDecimal(a);
    if (format === 'e' || format === 'E') prec = Math.max(d.digits.length - 1, 0);
    else if (format === 'f') prec = Math.max(d.digits.length - d.dp, 0);
    else prec = d.digits.length;
  } else {
    d = exactDecimal(a);
    if (format === 'e' || format === 'E') d = roundDecimal(d, prec + 1);
    else if (format === 'f') d = roundDecimal(d, d.dp + prec);
    else {
      if (prec === 0) prec = 1;
      d = roundDecimal(d, prec);
    }
  }
  let body: string;
  if (format === 'e' || format === 'E') body = formatE(d, prec, format);
  else if (format === 'f') body = formatF(d, prec);
  else {
    let eprec = prec;
    if (eprec > d.digits.length && d.digits.length >= d.dp) eprec = d.digits.length;
    if (shortest) eprec = 6;
    const exp = d.dp - 1;
    if (exp < -4 || exp >= eprec) {
      body = formatE(d, Math.min(prec, d.digits.length) - 1, format === 'g' ? 'e' : 'E');
    } else {
      body = formatF(d, Math.max((prec > d.dp ? d.digits.length : prec) - d.dp, 0));
    }
  }
  return negative ? `-${body}` : body;
}

function truncateRunes(s: string, prec: number): string {
  if (prec < 0) return s;
  const runes = [...s];
  return runes.length > prec ? runes.slice(0, prec).join('') : s;
}

function fmtString(s: string, verb: string, f: Readonly<Fmt>, raw?: Uint8Array): string {
  switch (verb) {
    case 'v':
      return f.sharpV ? pad(goQuote(s), f, false) : pad(truncateRunes(s, f.prec), f, false);
    case 's':
      return pad(truncateRunes(s, f.prec), f, false);
    case 'q': {
      const t = truncateRunes(s, f.prec);
      return pad(f.sharp && canBackquote(t) ? `\`${t}\`` : goQuote(t, f.plus), f, false);
    }
    case 'x':
    case 'X': {
      const bytes = raw ?? Buffer.from(s, 'utf8');
      const length = f.prec >= 0 && f.prec < bytes.length ? f.prec : bytes.length;
      if (length === 0) return f.wid > 0 ? ' '.repeat(f.wid) : '';
      const prefix = verb === 'x' ? '0x' : '0X';
      let out = f.sharp ? prefix : '';
      for (let i = 0; i < length; i++) {
        if (f.space && i > 0) out += f.sharp ? ` ${prefix}` : ' ';
        out += hexDigits(bytes[i], 2, verb === 'X');
      }
      return pad(out, f, false);
    }
    default:
      return badVerb(verb, s, f);
  }
}

/** Go's fmt.Sprintf. */
function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argNum = 0;
  let reordered = false;
  const end = format.length;
  let i = 0;
  const parseNum = (): number => {
    const start = i;
    while (i < end && isDigit(format[i])) i++;
    return i > start ? Number(format.slice(start, i)) : -1;
  };
  const intFromArg = (): number | undefined => {
    if (argNum >= args.length) return undefined;
    const a = args[argNum++];
    if (typeof a === 'number' && Number.isInteger(a) && Math.abs(a) <= 1e6) return a;
    if (typeof a === 'bigint' && a >= -1000000n && a <= 1000000n) return Number(a);
    return undefined;
  };
  while (i < end) {
    const lasti = i;
    while (i < end && format[i] !== '%') i++;
    if (i > lasti) out += format.slice(lasti, i);
    if (i >= end) break;
    i++;
    const f = newFmt();
    for (; i < end; i++) {
      const c = format[i];
      if (c === '#') f.sharp = true;
      else if (c === '0') f.zero = !f.minus;
      else if (c === '+') f.plus = true;
      else if (c === '-') {
        f.minus = true;
        f.zero = false;
      } else if (c === ' ') f.space = true;
      else break;
    }
    let goodArgNum = true;
    let afterIndex = false;
    const argIndex = (): void => {
      afterIndex = false;
      if (i >= end || format[i] !== '[') return;
      reordered = true;
      const close = format.indexOf(']', i + 1);
      if (close < 0) {
        i++;
        goodArgNum = false;
        return;
      }
      const text = format.slice(i + 1, close);
      i = close + 1;
      const index = /^\d+$/.test(text) ? Number(text) - 1 : -1;
      if (index >= 0 && index < args.length) {
        argNum = index;
        afterIndex = true;
      } else {
        goodArgNum = false;
        afterIndex = /^\d+$/.test(text);
      }
    };
    argIndex();
    if (i < end && format[i] === '*') {
      i++;
      const w = intFromArg();
      if (w === undefined) out += '%!(BADWIDTH)';
      else if (w < 0) {
        f.wid = -w;
        f.minus = true;
        f.zero = false;
      } else f.wid = w;
      afterIndex = false;
    } else {
      f.wid = parseNum();
      if (afterIndex && f.wid >= 0) goodArgNum = false;
    }
    if (i < end && format[i] === '.') {
      i++;
      if (afterIndex) goodArgNum = false;
      argIndex();
      if (i < end && format[i] === '*') {
        i++;
        const p = intFromArg();
        if (p === undefined || p < 0) {
          f.prec = -1;
          out += '%!(BADPREC)';
        } else f.prec = p;
        afterIndex = false;
      } else {
        f.prec = Math.max(parseNum(), 0);
      }
    }
    if (!afterIndex) argIndex();
    if (i >= end) {
      out += '%!(NOVERB)';
      break;
    }
    const cp = format.codePointAt(i) ?? 0;
    const verb = String.fromCodePoint(cp);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (!goodArgNum) {
      out += `%!${verb}(BADINDEX)`;
      continue;
    }
    if (argNum >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    if (verb === 'v') {
      f.sharpV = f.sharp;
      f.sharp = false;
      // %+v is Go's struct-field syntax, which takes over the plus flag.
      f.plus = false;
    }
    out += fmtArg(args[argNum++], verb, f, 0);
  }
  if (!reordered && argNum < args.length) {
    const extra = args
      .slice(argNum)
      .map((a) => (a == null ? '<nil>' : `${goType(a)}=${fmtArg(a, 'v', PLAIN, 0)}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}

/** Go's fmt.Sprint: spaces between operands when neither side is a string. */
function sprint(args: readonly unknown[]): string {
  let out = '';
  let prevString = false;
  args.forEach((a, i) => {
    const isString = typeof a === 'string';
    if (i > 0 && !isString && !prevString) out += ' ';
    out += fmtArg(a, 'v', PLAIN, 0);
    prevString = isString;
  });
  return out;
}

function sprintln(args: readonly unknown[]): string {
  return `${args.map((a) => fmtArg(a, 'v', PLAIN, 0)).join(' ')}\n`;
}

/** The text the html, js and urlquery functions escape: a lone string, else Sprint of the arguments. */
function argsText(args: readonly unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((a) => (a === undefined || a === null ? '<no value>' : a)));
}

// ---------------------------------------------------------------------------------------------
// Functions

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '"': '&#34;',
  "'": '&#39;',
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '\0': '\uFFFD',
};

function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case "'":
        out += "\\'";
        break;
      case '"':
        out += '\\"';
        break;
      case '<':
        out += '\\u003C';
        break;
      case '>':
        out += '\\u003E';
        break;
      case '&':
        out += '\\u0026';
        break;
      case '=':
        out += '\\u003D';
        break;
      default:
        if (cp < 0x20) out += `\\u00${hexDigits(cp, 2, true)}`;
        else if (cp < 0x80 || isPrint(cp)) out += ch;
        else out += `\\u${hexDigits(cp, 4, true)}`;
    }
  }
  return out;
}

function urlQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${hexDigits(b, 2, true)}`;
  }
  return out;
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** Go's case mapping works rune by rune: a rune with no single-rune mapping stays as it is. */
function mapCase(s: string, upper: boolean): string {
  if (isAscii(s)) return upper ? s.toUpperCase() : s.toLowerCase();
  return Array.from(s, (ch) => {
    const m = upper ? ch.toUpperCase() : ch.toLowerCase();
    return runeCount(m) === 1 ? m : ch;
  }).join('');
}

/** Go's strings.Title: upper-cases the first letter of every word. */
function title(s: string): string {
  const separator = (ch: string): boolean => {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) return !/[0-9A-Za-z_]/.test(ch);
    if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
    return /\s/u.test(ch);
  };
  let prev = ' ';
  return Array.from(s, (ch) => {
    const out = separator(prev) ? mapCase(ch, true) : ch;
    prev = ch;
    return out;
  }).join('');
}

/** Byte-wise slicing as Go does on strings (a cut rune becomes U+FFFD). */
function sliceBytes(s: string, from: number, to?: number): string {
  if (isAscii(s)) return s.slice(from, to);
  return Buffer.from(s, 'utf8').subarray(from, to).toString('utf8');
}

function byteLength(s: string): number {
  return isAscii(s) ? s.length : Buffer.byteLength(s, 'utf8');
}

function indexArg(index: unknown, cap: number, inclusive: boolean): number {
  if (index === undefined || index === null) throw new Error('cannot index slice/array with nil');
  if (!(typeof index === 'number' && Number.isInteger(index)) && typeof index !== 'bigint') {
    throw new Error(`cannot index slice/array with type ${goType(index)}`);
  }
  const x = Number(index);
  if (x < 0 || (inclusive ? x > cap : x >= cap)) throw new Error(`index out of range: ${x}`);
  return x;
}

function indexFn(item: unknown, indexes: readonly unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('index of untyped nil');
  let cur: unknown = item;
  for (const ix of indexes) {
    if (cur === undefined || cur === null) throw new Error('index of nil pointer');
    if (typeof cur === 'string') {
      const bytes = Buffer.from(cur, 'utf8');
      cur = bytes[indexArg(ix, bytes.length, false)];
    } else if (Array.isArray(cur) || cur instanceof Uint8Array) {
      cur = cur[indexArg(ix, cur.length, false)];
    } else if (cur instanceof Map) {
      cur = cur.get(ix);
    } else if (isMapLike(cur)) {
      if (ix === undefined || ix === null) throw new Error('value is nil; should be of type string');
      if (typeof ix !== 'string') throw new Error(`value has type ${goType(ix)}; should be string`);
      cur = Object.hasOwn(cur, ix) ? (cur as Record<string, unknown>)[ix] : undefined;
    } else {
      throw new Error(`can't index item of type ${goType(cur)}`);
    }
  }
  return cur;
}

function sliceFn(item: unknown, indexes: readonly unknown[]): unknown {
  if (item === undefined || item === null) throw new Error('slice of untyped nil');
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  let length: number;
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new Error('cannot 3-index slice a string');
    length = byteLength(item);
  } else if (Array.isArray(item)) {
    length = item.length;
  } else {
    throw new Error(`can't slice item of type ${goType(item)}`);
  }
  const idx = [0, length, length];
  indexes.forEach((ix, i) => {
    idx[i] = indexArg(ix, length, true);
  });
  if (idx[0] > idx[1]) throw new Error(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1] > idx[2]) throw new Error(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  return typeof item === 'string'
    ? sliceBytes(item, idx[0], idx[1])
    : (item as unknown[]).slice(idx[0], idx[1]);
}

function lengthFn(v: unknown): number {
  if (v === undefined || v === null) throw new Error('len of nil pointer');
  if (typeof v === 'string') return byteLength(v);
  if (Array.isArray(v) || v instanceof Uint8Array) return v.length;
  if (v instanceof Map || v instanceof Set) return v.size;
  if (isMapLike(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goType(v)}`);
}

type BasicKind = 'nil' | 'bool' | 'number' | 'string' | 'other';

function basicKind(v: unknown): BasicKind {
  if (v === undefined || v === null) return 'nil';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
    case 'bigint':
      return 'number';
    case 'string':
      return 'string';
    default:
      return 'other';
  }
}

function eqFn(a: unknown, others: readonly unknown[]): boolean {
  if (others.length === 0) throw new Error('missing argument for comparison');
  const ka = basicKind(a);
  for (const b of others) {
    const kb = basicKind(b);
    let truth: boolean;
    if (ka !== kb) {
      if (ka !== 'nil' && kb !== 'nil') throw new Error('incompatible types for comparison');
      truth = false;
    } else if (ka === 'other') {
      if (typeof a !== 'function' && !isComparable(a)) {
        throw new Error(`non-comparable type ${fmtArg(a, 'v', PLAIN, 0)}: ${goType(a)}`);
      }
      truth = a === b;
    } else {
      truth = ka === 'nil' || (ka === 'number' ? Number(a) === Number(b) : a === b);
    }
    if (truth) return true;
  }
  return false;
}

/** Slices and maps are not comparable in Go; structs (class instances, dates) are. */
function isComparable(v: unknown): boolean {
  return !(
    Array.isArray(v) ||
    v instanceof Uint8Array ||
    v instanceof Map ||
    (isMapLike(v) && isPlainObject(v))
  );
}

function ltFn(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === 'nil' || ka === 'other' || kb === 'nil' || kb === 'other') {
    throw new Error('invalid type for comparison');
  }
  if (ka !== kb) throw new Error('incompatible types for comparison');
  if (ka === 'bool') throw new Error('invalid type for comparison');
  return ka === 'number' ? Number(a) < Number(b) : (a as string) < (b as string);
}

/** What a parameter accepts, as Go's reflection checks a function's argument types. */
type ParamKind = 'any' | 'string' | 'int' | 'strings';

interface Builtin {
  readonly params: readonly ParamKind[];
  /** Type of the variadic tail, if the function has one. */
  readonly rest?: ParamKind;
  /** and/or evaluate their arguments only as far as needed. */
  readonly lazy?: boolean;
  readonly fn: (args: unknown[]) => unknown;
}

const S = (v: unknown): string => v as string;
const N = (v: unknown): number => Number(v);

const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  ['and', { params: ['any'], rest: 'any', lazy: true, fn: () => undefined }],
  ['or', { params: ['any'], rest: 'any', lazy: true, fn: () => undefined }],
  ['not', { params: ['any'], fn: ([a]) => !isTrue(a) }],
  ['len', { params: ['any'], fn: ([a]) => lengthFn(a) }],
  ['index', { params: ['any'], rest: 'any', fn: ([item, ...ix]) => indexFn(item, ix) }],
  ['slice', { params: ['any'], rest: 'any', fn: ([item, ...ix]) => sliceFn(item, ix) }],
  ['eq', { params: ['any'], rest: 'any', fn: ([a, ...b]) => eqFn(a, b) }],
  ['ne', { params: ['any', 'any'], fn: ([a, b]) => !eqFn(a, [b]) }],
  ['lt', { params: ['any', 'any'], fn: ([a, b]) => ltFn(a, b) }],
  ['le', { params: ['any', 'any'], fn: ([a, b]) => ltFn(a, b) || eqFn(a, [b]) }],
  ['gt', { params: ['any', 'any'], fn: ([a, b]) => !(ltFn(a, b) || eqFn(a, [b])) }],
  ['ge', { params: ['any', 'any'], fn: ([a, b]) => !ltFn(a, b) }],
  ['print', { params: [], rest: 'any', fn: (a) => sprint(a) }],
  ['printf', { params: ['string'], rest: 'any', fn: ([format, ...a]) => sprintf(S(format), a) }],
  ['println', { params: [], rest: 'any', fn: (a) => sprintln(a) }],
  ['html', { params: [], rest: 'any', fn: (a) => argsText(a).replace(/["'&<>\0]/g, (c) => HTML_ESCAPES[c]) }],
  ['js', { params: [], rest: 'any', fn: (a) => jsEscape(argsText(a)) }],
  ['urlquery', { params: [], rest: 'any', fn: (a) => urlQueryEscape(argsText(a)) }],
  [
    'call',
    {
      params: ['any'],
      rest: 'any',
      fn: ([f, ...a]) => {
        if (f === undefined || f === null) throw new Error('call of nil');
        if (typeof f !== 'function') throw new Error(`non-function of type ${goType(f)}`);
        return f(...a);
      },
    },
  ],
  // docker's template functions (cli/templates).
  ['json', { params: ['any'], fn: ([v]) => goJSON(v) }],
  [
    'split',
    { params: ['string', 'string'], fn: ([s, sep]) => (S(sep) === '' ? [...S(s)] : S(s).split(S(sep))) },
  ],
  ['join', { params: ['strings', 'string'], fn: ([a, sep]) => (a as string[]).join(S(sep)) }],
  ['title', { params: ['string'], fn: ([s]) => title(S(s)) }],
  ['lower', { params: ['string'], fn: ([s]) => mapCase(S(s), false) }],
  ['upper', { params: ['string'], fn: ([s]) => mapCase(S(s), true) }],
  [
    'pad',
    {
      params: ['string', 'int', 'int'],
      fn: ([s, left, right]) => {
        if (S(s) === '') return '';
        if (N(left) < 0 || N(right) < 0) throw new Error('strings: negative Repeat count');
        return ' '.repeat(N(left)) + S(s) + ' '.repeat(N(right));
      },
    },
  ],
  [
    'truncate',
    {
      params: ['string', 'int'],
      fn: ([s, n]) => {
        if (byteLength(S(s)) < N(n)) return s;
        if (N(n) < 0) throw new Error(`runtime error: slice bounds out of range [:${N(n)}]`);
        return sliceBytes(S(s), 0, N(n));
      },
    },
  ],
]);

const FUNC_NAMES: ReadonlySet<string> = new Set(BUILTINS.keys());

/** Go's reflection check of an argument against a parameter type: the message, or undefined if fine. */
function argProblem(v: unknown, kind: ParamKind): string | undefined {
  if (kind === 'any') return undefined;
  const want = kind === 'strings' ? '[]string' : kind;
  if (v === undefined || v === null) return `invalid value; expected ${want}`;
  const ok =
    kind === 'string'
      ? typeof v === 'string'
      : kind === 'int'
        ? (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint'
        : Array.isArray(v) && v.every((e) => typeof e === 'string');
  return ok ? undefined : `wrong type for value; expected ${want}; got ${goType(v)}`;
}

// ---------------------------------------------------------------------------------------------
// Executor

const MISSING: unique symbol = Symbol('missing');
/** Go allows 100000 nested template calls; a JavaScript stack holds far fewer (Go's wasm limit). */
const MAX_EXEC_DEPTH = 1000;

type Signal = 'break' | 'continue' | undefined;

interface Variable {
  readonly name: string;
  value: unknown;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

class Execution {
  private readonly out: string[] = [];
  private vars: Variable[] = [];
  private node: AnyNode | null = null;
  private depth = 0;
  private name = '';

  constructor(
    private readonly tmpl: ParsedTemplate,
    private readonly overrides: Readonly<Record<string, TemplateFunc>> | undefined,
  ) {}

  run(data: unknown, partial: boolean): string {
    this.vars = [{ name: '$', value: data }];
    try {
      this.walk(data, this.tmpl.trees.get('') as ListNode);
    } catch (e) {
      if (!partial || !(e instanceof BerthError)) throw e;
    }
    return this.out.join('');
  }

  private errorf(message: string): never {
    const at = this.node;
    if (!at) throw templateError(`template: ${this.name}: ${message}`);
    const src = this.tmpl.src;
    const before = src.slice(0, at.pos);
    const line = before.split('\n').length;
    const col = at.pos - (before.lastIndexOf('\n') + 1);
    const runes = [...nodeString(at)];
    const context = runes.length > 20 ? `${runes.slice(0, 20).join('')}...` : runes.join('');
    throw templateError(
      `template: :${line}:${col}: executing ${goQuote(this.name)} at <${context}>: ${message}`,
    );
  }

  private walk(dot: unknown, node: Node): Signal {
    this.node = node;
    switch (node.k) {
      case 'action': {
        const value = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, value);
        return undefined;
      }
      case 'if':
      case 'with':
        return this.walkIfOrWith(dot, node);
      case 'list':
        for (const child of node.nodes) {
          const signal = this.walk(dot, child);
          if (signal) return signal;
        }
        return undefined;
      case 'range':
        return this.walkRange(dot, node);
      case 'template':
        this.walkTemplate(dot, node);
        return undefined;
      case 'text':
        this.out.push(node.text);
        return undefined;
      case 'break':
      case 'continue':
        return node.k;
    }
  }

  private walkIfOrWith(dot: unknown, node: BranchNode): Signal {
    const mark = this.vars.length;
    const value = this.evalPipeline(dot, node.pipe);
    let signal: Signal;
    if (isTrue(value)) signal = this.walk(node.k === 'with' ? value : dot, node.list);
    else if (node.elseList) signal = this.walk(dot, node.elseList);
    this.vars.length = mark;
    return signal;
  }

  private walkRange(dot: unknown, node: BranchNode): Signal {
    this.node = node;
    const outer = this.vars.length;
    const value = this.evalPipeline(dot, node.pipe);
    const mark = this.vars.length;
    const decl = node.pipe.decl;
    const one = (index: unknown, elem: unknown): Signal => {
      if (decl.length > 0) {
        if (node.pipe.isAssign) this.setVar(decl[0].idents[0], decl.length > 1 ? index : elem);
        else this.vars[this.vars.length - 1].value = elem;
      }
      if (decl.length > 1) {
        if (node.pipe.isAssign) this.setVar(decl[1].idents[0], elem);
        else this.vars[this.vars.length - 2].value = index;
      }
      const signal = this.walk(elem, node.list);
      this.vars.length = mark;
      return signal;
    };
    const loop = (pairs: Iterable<[unknown, unknown]>): boolean => {
      let ran = false;
      for (const [index, elem] of pairs) {
        ran = true;
        if (one(index, elem) === 'break') break;
      }
      return ran;
    };
    let ran = false;
    if (value === undefined || value === null) {
      ran = false;
    } else if (Array.isArray(value) || value instanceof Uint8Array) {
      ran = loop(Array.from(value as ArrayLike<unknown>, (e, i): [unknown, unknown] => [i, e]));
    } else if (typeof value === 'number' && Number.isInteger(value)) {
      if (decl.length > 1)
        this.errorf(`can't use ${fmtArg(value, 'v', PLAIN, 0)} to iterate over more than one variable`);
      ran = loop(Array.from({ length: Math.max(value, 0) }, (_, i): [unknown, unknown] => [undefined, i]));
    } else if (isMapLike(value)) {
      ran = loop(mapEntries(value));
    } else {
      this.errorf(`range can't iterate over ${fmtArg(value, 'v', PLAIN, 0)}`);
    }
    let signal: Signal;
    if (!ran && node.elseList) {
      // Go recovers a {{break}} from the else branch in this range, but a {{continue}} goes on out.
      signal = this.walk(dot, node.elseList);
      if (signal === 'break') signal = undefined;
    }
    this.vars.length = outer;
    return signal;
  }

  private walkTemplate(dot: unknown, node: TemplateNode): void {
    this.node = node;
    const tree = this.tmpl.trees.get(node.name);
    if (!tree) this.errorf(`template ${goQuote(node.name)} not defined`);
    if (this.depth >= MAX_EXEC_DEPTH) this.errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`);
    const newDot = this.evalPipeline(dot, node.pipe);
    const saved = { vars: this.vars, name: this.name };
    // No dynamic scoping: the called template sees only `$`.
    this.vars = [{ name: '$', value: newDot }];
    this.name = node.name;
    this.depth++;
    this.walk(newDot, tree);
    this.depth--;
    this.vars = saved.vars;
    this.name = saved.name;
  }

  private printValue(node: AnyNode, value: unknown): void {
    this.node = node;
    if (value === undefined || value === null) {
      this.out.push('<no value>');
      return;
    }
    if (typeof value === 'function') this.errorf(`can't print ${nodeString(node)} of type ${goType(value)}`);
    this.out.push(fmtArg(value, 'v', PLAIN, 0));
  }

  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) {
        this.vars[i].value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i].name === name) return this.vars[i].value;
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private evalPipeline(dot: unknown, pipe: PipeNode | null): unknown {
    if (!pipe) return undefined;
    this.node = pipe;
    let value: unknown = MISSING;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const d of pipe.decl) {
      if (pipe.isAssign) this.setVar(d.idents[0], value);
      else this.vars.push({ name: d.idents[0], value });
    }
    return value;
  }

  private notAFunction(args: readonly Operand[], final: unknown): void {
    if (args.length > 1 || final !== MISSING) {
      this.errorf(`can't give argument to non-function ${nodeString(args[0])}`);
    }
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: unknown): unknown {
    const first = cmd.args[0];
    switch (first.k) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.node = first;
    this.notAFunction(cmd.args, final);
    if (first.k === 'nil') this.errorf('nil is not a command');
    return first.k === 'dot' ? dot : first.value;
  }

  private evalFieldNode(
    dot: unknown,
    field: FieldNode,
    args: readonly Operand[] | null,
    final: unknown,
  ): unknown {
    this.node = field;
    return this.evalFieldChain(dot, dot, field, field.idents, args, final);
  }

  private evalChainNode(
    dot: unknown,
    chain: ChainNode,
    args: readonly Operand[] | null,
    final: unknown,
  ): unknown {
    this.node = chain;
    if (chain.node.k === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const receiver = this.evalArg(dot, chain.node);
    return this.evalFieldChain(dot, receiver, chain, chain.fields, args, final);
  }

  private evalVariableNode(dot: unknown, v: VariableNode, args: readonly Operand[], final: unknown): unknown {
    this.node = v;
    const value = this.varValue(v.idents[0]);
    if (v.idents.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.idents.slice(1), args, final);
  }

  private evalFieldChain(
    dot: unknown,
    receiver: unknown,
    node: AnyNode,
    idents: readonly string[],
    args: readonly Operand[] | null,
    final: unknown,
  ): unknown {
    let r = receiver;
    for (let i = 0; i < idents.length - 1; i++) r = this.evalField(dot, idents[i], node, null, MISSING, r);
    return this.evalField(dot, idents[idents.length - 1], node, args, final, r);
  }

  private evalField(
    dot: unknown,
    name: string,
    node: AnyNode,
    args: readonly Operand[] | null,
    final: unknown,
    receiver: unknown,
  ): unknown {
    // A field of nothing is nothing, as for a missing map key: optional data is often absent here.
    if (receiver === undefined || receiver === null) return undefined;
    const hasArgs = (args !== null && args.length > 1) || final !== MISSING;
    if (receiver instanceof Map) {
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      return receiver.get(name);
    }
    if (isMapLike(receiver) || receiver instanceof Date) {
      const found = lookupField(receiver, name);
      if (found && typeof found.value === 'function') {
        return this.callMethod(dot, found.value as TemplateFunc, receiver, node, name, args, final);
      }
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      return found?.value;
    }
    this.errorf(`can't evaluate field ${name} in type ${goType(receiver)}`);
  }

  private evalArgs(dot: unknown, args: readonly Operand[] | null, final: unknown): unknown[] {
    const argv = args ? args.slice(1).map((a) => this.evalArg(dot, a)) : [];
    if (final !== MISSING) argv.push(final);
    return argv;
  }

  private callMethod(
    dot: unknown,
    fn: TemplateFunc,
    receiver: unknown,
    node: AnyNode,
    name: string,
    args: readonly Operand[] | null,
    final: unknown,
  ): unknown {
    const argv = this.evalArgs(dot, args, final);
    try {
      return fn.apply(receiver, argv);
    } catch (e) {
      this.node = node;
      this.errorf(`error calling ${name}: ${errorMessage(e)}`);
    }
  }

  private evalFunction(
    dot: unknown,
    ident: IdentifierNode,
    cmd: AnyNode,
    args: readonly Operand[] | null,
    final: unknown,
  ): unknown {
    this.node = ident;
    const name = ident.name;
    if (this.overrides && Object.hasOwn(this.overrides, name)) {
      return this.callMethod(dot, this.overrides[name], undefined, cmd, name, args, final);
    }
    const spec = BUILTINS.get(name);
    if (!spec) this.errorf(`${goQuote(name)} is not a defined function`);
    const argNodes = args ? args.slice(1) : [];
    const hasFinal = final !== MISSING;
    const numIn = argNodes.length + (hasFinal ? 1 : 0);
    const fixed = spec.params.length;
    if (spec.rest !== undefined) {
      if (numIn < fixed) {
        this.errorf(`wrong number of args for ${name}: want at least ${fixed} got ${argNodes.length}`);
      }
    } else if (numIn !== fixed) {
      this.errorf(`wrong number of args for ${name}: want ${fixed} got ${numIn}`);
    }
    if (spec.lazy) {
      let v: unknown;
      for (const a of argNodes) {
        v = this.evalArg(dot, a);
        if (isTrue(v) === (name === 'or')) return v;
      }
      return hasFinal ? final : v;
    }
    const kindAt = (i: number): ParamKind => (i < fixed ? spec.params[i] : (spec.rest ?? 'any'));
    const argv = argNodes.map((a, i) => this.checked(this.evalArg(dot, a), kindAt(i)));
    if (hasFinal) argv.push(this.checked(final, kindAt(argv.length)));
    try {
      return spec.fn(argv);
    } catch (e) {
      this.node = cmd;
      this.errorf(`error calling ${name}: ${errorMessage(e)}`);
    }
  }

  private checked(value: unknown, kind: ParamKind): unknown {
    const problem = argProblem(value, kind);
    if (problem) this.errorf(problem);
    return value === undefined ? null : value;
  }

  private evalArg(dot: unknown, n: Operand): unknown {
    this.node = n;
    switch (n.k) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'field':
        return this.evalFieldNode(dot, n, [n], MISSING);
      case 'variable':
        return this.evalVariableNode(dot, n, [n], MISSING);
      case 'pipe':
        return this.evalPipeline(dot, n);
      case 'identifier':
        return this.evalFunction(dot, n, n, null, MISSING);
      case 'chain':
        return this.evalChainNode(dot, n, null, MISSING);
      default:
        return n.value;
    }
  }
}

class ParsedTemplate implements Template {
  constructor(
    readonly src: string,
    readonly trees: ReadonlyMap<string, ListNode>,
    readonly fields: readonly string[],
  ) {}

  execute(data: unknown, options: ExecuteOptions = {}): string {
    return new Execution(this, options.funcs).run(data, options.partial ?? false);
  }
}

/** Parses a Go template with Go's builtins and docker's functions; bad syntax throws a BerthError. */
export function parseTemplate(src: string): Template {
  const parser = new Parser(src, lex(src), FUNC_NAMES);
  const trees = parser.parse();
  return new ParsedTemplate(src, trees, [...parser.fields]);
}

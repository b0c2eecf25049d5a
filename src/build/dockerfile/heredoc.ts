/**
 * Heredoc words (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`) as BuildKit recognises them: which words of
 * an instruction open a heredoc, what the terminator is, and whether the body is expanded.
 */
import type { Heredoc } from './ast.ts';
import { type Lookup, processWord } from './shell-words.ts';

const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

const unset: Lookup = () => undefined;

export interface HeredocWord {
  name: string;
  expand: boolean;
  chomp: boolean;
  /** The file descriptor before `<<` (`3<<EOF`), 0 when absent. */
  fd: number;
}

/**
 * The heredoc a single word opens, or undefined when it is not one. A quoted (even partly quoted)
 * terminator turns expansion off. Throws ShellExpansionError for a broken quote (`<<'EOF`).
 */
export function parseHeredocWord(word: string): HeredocWord | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3];
  if (rest === '') return undefined;
  // Lex the terminator with and without quotes: if the counts of quote characters differ, some part
  // of it was quoted, and the body is taken literally.
  const words = processWord(rest, unset, { skipUnsetEnv: true }).words;
  if (words.length !== 1) return undefined;
  const raw = processWord(rest, unset, { skipUnsetEnv: true, rawQuotes: true }).words;
  if (raw.length !== 1) return undefined;
  const quotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return {
    name: words[0],
    expand: quotes(words[0]) === quotes(raw[0]),
    chomp: m[2] === '-',
    fd: m[1] === '' ? 0 : Number.parseInt(m[1], 10),
  };
}

/** The heredocs an instruction line opens, in order (the line is lexed with `\` as escape, like BuildKit). */
export function heredocWordsOfLine(line: string): HeredocWord[] {
  let words: string[];
  try {
    words = processWord(line, unset, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).words;
  } catch {
    // BuildKit ignores a line it cannot lex here: it simply has no heredocs.
    return [];
  }
  const docs: HeredocWord[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) docs.push(h);
  }
  return docs;
}

/** `<<-` strips leading tabs from every line of the body. */
export function chompHeredocContent(content: string): string {
  return content
    .split('\n')
    .map((l) => l.replace(/^\t+/, ''))
    .join('\n');
}

/** Whether the terminator line ends a heredoc (line endings ignored; leading tabs too for `<<-`). */
export function isHeredocTerminator(line: string, doc: Pick<Heredoc, 'name' | 'chomp'>): boolean {
  let candidate = line.replace(/[\r\n]+$/, '');
  if (doc.chomp) candidate = candidate.replace(/^\t+/, '');
  return candidate === doc.name;
}

import { BerthError } from '../../util/errors.ts';

/**
 * Splits a `command:` / `entrypoint:` string into words like a POSIX shell would, without
 * expanding anything: whitespace separates words, single quotes are literal, double quotes
 * allow `\"`, `\\`, `\$` and `` \` `` escapes, a backslash outside quotes escapes the next char.
 */
export function shellSplit(s: string, where = 'value'): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0)
        throw new BerthError(`${where}: unterminated single quote in ${JSON.stringify(s)}`, 1, 'invalid');
      cur += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const d = s[i] as string;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1] as string)) {
          if (s[i + 1] !== '\n') cur += s[i + 1];
          i += 2;
          continue;
        }
        cur += d;
        i++;
      }
      if (!closed)
        throw new BerthError(`${where}: unterminated double quote in ${JSON.stringify(s)}`, 1, 'invalid');
    } else if (c === '\\') {
      if (i + 1 < s.length && s[i + 1] !== '\n') cur += s[i + 1];
      i += 2;
    } else {
      cur += c;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

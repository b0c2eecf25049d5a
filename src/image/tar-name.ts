/**
 * Splits a tar entry name into clean components; null when `..` climbs above the root the archive
 * is read or extracted into. A leading '/' is dropped, as tar does.
 */
export function cleanEntryName(name: string): string[] | null {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

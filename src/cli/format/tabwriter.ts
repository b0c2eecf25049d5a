/**
 * Go's text/tabwriter (elastic tabstops), as docker's fork of it aligns `--format table` output:
 * left-aligned, padded with spaces, cell width measured in terminal columns.
 *
 * Cells are terminated by '\t' (or '\v'); '\n' and '\f' end lines, and '\f' also ends every column.
 * Tab-terminated cells in consecutive lines form a column block, whose width is that of its widest
 * cell plus the padding (never below the minimum width). The text after a line's last tab belongs
 * to no column and is written unpadded.
 */

export interface TabulateOptions {
  /** Minimal column width, padding included (docker: 10). */
  readonly minWidth?: number;
  /** Spaces added to a column's widest cell (docker: 3). */
  readonly padding?: number;
}

interface Cell {
  readonly text: string;
  readonly width: number;
}

/** East Asian wide and fullwidth ranges, and emoji: two terminal columns each. */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18aff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f202],
  [0x1f210, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f250, 0x1f251],
  [0x1f260, 0x1f265],
  [0x1f300, 0x1f320],
  [0x1f32d, 0x1f335],
  [0x1f337, 0x1f37c],
  [0x1f37e, 0x1f393],
  [0x1f3a0, 0x1f3ca],
  [0x1f3cf, 0x1f3d3],
  [0x1f3e0, 0x1f3f0],
  [0x1f3f4, 0x1f3f4],
  [0x1f3f8, 0x1f43e],
  [0x1f440, 0x1f440],
  [0x1f442, 0x1f4fc],
  [0x1f4ff, 0x1f53d],
  [0x1f54b, 0x1f54e],
  [0x1f550, 0x1f567],
  [0x1f57a, 0x1f57a],
  [0x1f595, 0x1f596],
  [0x1f5a4, 0x1f5a4],
  [0x1f5fb, 0x1f64f],
  [0x1f680, 0x1f6c5],
  [0x1f6cc, 0x1f6cc],
  [0x1f6d0, 0x1f6d2],
  [0x1f6d5, 0x1f6d7],
  [0x1f6eb, 0x1f6ec],
  [0x1f6f4, 0x1f6fc],
  [0x1f7e0, 0x1f7eb],
  [0x1f90c, 0x1f93a],
  [0x1f93c, 0x1f945],
  [0x1f947, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\p{Cc}]$/u;

function runeWidth(cp: number): number {
  if (ZERO_WIDTH.test(String.fromCodePoint(cp))) return 0;
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [from, to] = WIDE[mid];
    if (cp < from) hi = mid - 1;
    else if (cp > to) lo = mid + 1;
    else return 2;
  }
  return 1;
}

/** Terminal columns taken by `s`, as go-runewidth counts them in docker's tabwriter. */
function displayWidth(s: string): number {
  let width = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      width++;
      continue;
    }
    const cp = s.codePointAt(i) ?? c;
    if (cp > 0xffff) i++;
    width += runeWidth(cp);
  }
  return width;
}

class TabWriter {
  private lines: Cell[][] = [[]];
  private cell = '';
  private widths: number[] = [];
  private readonly out: string[] = [];

  constructor(
    private readonly minWidth: number,
    private readonly padding: number,
  ) {}

  write(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch !== '\t' && ch !== '\v' && ch !== '\n' && ch !== '\f') continue;
      this.cell += text.slice(start, i);
      start = i + 1;
      const cells = this.terminateCell();
      if (ch === '\n' || ch === '\f') {
        this.lines.push([]);
        // A one-cell line takes part in no column, so what is buffered can be laid out now.
        if (ch === '\f' || cells === 1) this.flush();
      }
    }
    this.cell += text.slice(start);
  }

  flush(): string {
    if (this.cell !== '') this.terminateCell();
    this.format(0, this.lines.length);
    this.lines = [[]];
    this.widths = [];
    return this.out.join('');
  }

  private terminateCell(): number {
    const line = this.lines[this.lines.length - 1];
    line.push({ text: this.cell, width: displayWidth(this.cell) });
    this.cell = '';
    return line.length;
  }

  /** Lays out lines [line0, line1) for the columns right of those whose widths are known. */
  private format(line0: number, line1: number): void {
    const column = this.widths.length;
    let first = line0;
    for (let row = line0; row < line1; row++) {
      if (column >= this.lines[row].length - 1) continue;
      // The cell in this column starts a block that runs while the lines below have one too.
      this.writeLines(first, row);
      first = row;
      let width = this.minWidth;
      for (; row < line1; row++) {
        const line = this.lines[row];
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column].width + this.padding);
      }
      this.widths.push(width);
      this.format(first, row);
      this.widths.pop();
      first = row;
    }
    this.writeLines(first, line1);
  }

  private writeLines(line0: number, line1: number): void {
    for (let i = line0; i < line1; i++) {
      this.lines[i].forEach((cell, j) => {
        this.out.push(cell.text);
        if (j < this.widths.length) this.out.push(' '.repeat(this.widths[j] - cell.width));
      });
      // The last line is the one still being filled: it has no newline yet.
      if (i + 1 < this.lines.length) this.out.push('\n');
    }
  }
}

/** Aligns tab-separated cells into columns as docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. */
export function tabulate(text: string, opts: TabulateOptions = {}): string {
  const writer = new TabWriter(opts.minWidth ?? 10, opts.padding ?? 3);
  writer.write(text);
  return writer.flush();
}

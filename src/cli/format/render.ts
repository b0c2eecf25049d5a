/**
 * docker's `--format` front end: `table …` (aligned, with a header row), `json` (one object per
 * line), or any Go template executed once per item.
 */
import { BerthError } from '../../util/errors.ts';
import { tabulate } from './tabwriter.ts';
import { parseTemplate, type Template, type TemplateFunc } from './template.ts';

const TABLE = 'table';
const passThrough: TemplateFunc = (v) => v;

/**
 * docker's HeaderFunctions: in the header row the string functions hand the column title back
 * untouched (`pad` is kept so that headers stay aligned with padded cells).
 */
const HEADER_FUNCS: Readonly<Record<string, TemplateFunc>> = {
  json: passThrough,
  split: passThrough,
  join: passThrough,
  title: passThrough,
  lower: passThrough,
  upper: passThrough,
  truncate: passThrough,
};

/** docker prefixes every template error, parse or execution, with this. */
function wrap(e: unknown): unknown {
  if (!(e instanceof BerthError)) return e;
  return new BerthError(`template parsing error: ${e.message}`, e.exitCode, e.status);
}

function parse(format: string): Template {
  try {
    return parseTemplate(format);
  } catch (e) {
    throw wrap(e);
  }
}

function execute(tmpl: Template, data: unknown): string {
  try {
    return tmpl.execute(data);
  } catch (e) {
    throw wrap(e);
  }
}

/** `CreatedAt` → `CREATED AT`, `HTTPPort` → `HTTP PORT`. */
export function defaultHeader(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toUpperCase();
}

/**
 * What the header row is executed against: every field the template reads answers its column title.
 * Fields are methods so that `{{.Label "x"}}` gets a title too.
 */
function headerContext(fields: readonly string[], headers: Readonly<Record<string, string>>): object {
  const context: Record<string, () => string> = Object.create(null);
  for (const field of fields) {
    const title = Object.hasOwn(headers, field) ? headers[field] : defaultHeader(field);
    context[field] = () => title;
  }
  return context;
}

/**
 * Renders `items` the way docker's list commands do for `--format`.
 *
 * - undefined, '' or `table`: `defaultTable`, e.g. `table {{.ID}}\t{{.Names}}`.
 * - `table <template>`: a header row, then a row per item, aligned in columns. A header is the
 *   field's entry in `headers`, else the field name in capitals with its words split.
 * - `json`: each item as one line of JSON.
 * - anything else: the template once per item.
 *
 * As in docker, a literal `\t` or `\n` in the format stands for a tab or newline. Every row ends
 * with '\n'; no items give '' (a table still prints its header).
 */
export function renderList(
  items: readonly object[],
  format: string | undefined,
  defaultTable: string,
  headers: Readonly<Record<string, string>> = {},
): string {
  const source = format === undefined || format === '' || format === TABLE ? defaultTable : format;
  const isTable = source.startsWith(TABLE);
  let body = isTable ? source.slice(TABLE.length) : source === 'json' ? '{{json .}}' : source;
  body = body.replace(/^ +| +$/g, '').replace(/\\t|\\n/g, (seq) => (seq === '\\t' ? '\t' : '\n'));
  const tmpl = parse(body);
  let rows = '';
  for (const item of items) rows += `${execute(tmpl, item)}\n`;
  if (!isTable) return rows;
  // docker ignores errors in the header row and keeps what was written before them.
  const header = tmpl.execute(headerContext(tmpl.fields, headers), { funcs: HEADER_FUNCS, partial: true });
  return tabulate(`${header}\n${rows}`);
}

/** Renders one item for `inspect --format`: `json` is the item as JSON, else the template, then '\n'. */
export function renderOne(item: unknown, format: string): string {
  return `${execute(parse(format === 'json' ? '{{json .}}' : format), item)}\n`;
}

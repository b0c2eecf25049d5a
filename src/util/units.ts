/**
 * Docker's unit conventions (github.com/docker/go-units v0.5.0, Go's time.ParseDuration, and the
 * docker CLI's --since/--until timestamps), reproduced so that values and messages match docker's.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Go formatting and number parsing helpers (only the behaviour docker's messages depend on)
// ---------------------------------------------------------------------------------------------

/** Go's strconv.Quote, for messages built with `%q`. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0x80 && cp < 0xa0) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** The time package's own quote(): non-ASCII and control bytes become `\xNN`. */
function timeQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x80 || cp < 0x20) {
      for (const b of Buffer.from(ch, 'utf8')) out += '\\x' + b.toString(16).padStart(2, '0');
    } else {
      if (ch === '"' || ch === '\\') out += '\\';
      out += ch;
    }
  }
  return out + '"';
}

/** Go's underscoreOK: `_` only between digits (or after a base prefix). */
function underscoreOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  let t = s;
  if (t.length >= 1 && (t[0] === '-' || t[0] === '+')) t = t.slice(1);
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

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** Go's strconv.ParseInt(s, 10, 64); throws with Go's message. */
function parseInt64(s: string): bigint {
  const m = /^[+-]?[0-9]+$/.exec(s);
  if (!m) throw new InvalidArgumentError(`strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > INT64_MAX || n < INT64_MIN) {
    throw new InvalidArgumentError(`strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
  }
  return n;
}

/**
 * Go's strconv.ParseFloat(s, 64) for decimal literals (underscores per Go syntax). Hexadecimal
 * floats and Inf/NaN spellings are rejected: they make no sense as a size.
 */
function parseFloat64(s: string): number {
  const syntax = () => new InvalidArgumentError(`strconv.ParseFloat: parsing ${goQuote(s)}: invalid syntax`);
  if (!/^[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?$/.test(s)) throw syntax();
  if (s.includes('_') && !underscoreOK(s)) throw syntax();
  const n = Number(s.replaceAll('_', ''));
  if (Number.isNaN(n)) throw syntax();
  if (!Number.isFinite(n)) {
    throw new InvalidArgumentError(`strconv.ParseFloat: parsing ${goQuote(s)}: value out of range`);
  }
  return n;
}

/** Significant digits of |x| rounded to `prec` digits, half to even on exact ties (as Go does). */
function roundDigits(x: number, prec: number): { digits: string; exp: number } {
  // 25 extra digits are far below a double's resolution, so an exact tie shows as 5000…0 here.
  const [mant, e] = x.toExponential(prec + 24).split('e');
  const all = mant.replace('.', '');
  let head = all.slice(0, prec);
  const tail = all.slice(prec);
  let exp = Number(e);
  const rest = tail.slice(1);
  const up =
    tail[0] > '5' || (tail[0] === '5' && (/[1-9]/.test(rest) || Number(head[head.length - 1]) % 2 === 1));
  if (up) {
    const n = (BigInt(head) + 1n).toString();
    if (n.length > head.length) {
      exp += 1;
      head = n.slice(0, prec);
    } else {
      head = n;
    }
  }
  return { digits: head.replace(/0+$/, '') || '0', exp };
}

/** Go's `%.{prec}g` for a float64. */
function formatG(x: number, prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  if (x === 0) return '0';
  const p = prec === 0 ? 1 : prec;
  const { digits, exp } = roundDigits(Math.abs(x), p);
  let out: string;
  if (exp < -4 || exp >= p) {
    const frac = digits.slice(1);
    const ae = Math.abs(exp);
    out = `${digits[0]}${frac ? '.' + frac : ''}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  } else if (exp >= 0) {
    const frac = digits.slice(exp + 1);
    out = digits.slice(0, exp + 1).padEnd(exp + 1, '0') + (frac ? '.' + frac : '');
  } else {
    out = '0.' + '0'.repeat(-exp - 1) + digits;
  }
  return x < 0 ? '-' + out : out;
}

// ---------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------

const BINARY_MULTIPLIERS: Record<string, number> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * go-units RAMInBytes, used by `--memory`, `--shm-size`, …: a decimal number with an optional
 * case-insensitive suffix b, k, m, g, t, p (binary multiples), optionally followed by `b` or `ib`.
 * One space may separate number and suffix.
 */
export function parseBytes(s: string): number {
  let sep = -1;
  for (let i = s.length - 1; i >= 0; i--) {
    if ('01234567890. '.includes(s[i])) {
      sep = i;
      break;
    }
  }
  if (sep === -1) throw new InvalidArgumentError(`invalid size: '${s}'`);
  const num = s[sep] === ' ' ? s.slice(0, sep) : s.slice(0, sep + 1);
  let sfx = s.slice(sep + 1);
  let size = parseFloat64(num);
  if (size < 0) throw new InvalidArgumentError(`invalid size: '${s}'`);
  if (sfx.length === 0) return Math.trunc(size);
  const badSuffix = () => new InvalidArgumentError(`invalid suffix: '${sfx}'`);
  if (Buffer.byteLength(sfx) > 3) throw badSuffix();
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') {
    if (sfx.length > 1) throw badSuffix();
    return Math.trunc(size);
  }
  const mul = BINARY_MULTIPLIERS[sfx[0]];
  if (mul === undefined) throw badSuffix();
  size *= mul;
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw badSuffix();
  return Math.trunc(size);
}

function scaleSize(size: number, base: number, units: readonly string[]): [number, string] {
  let i = 0;
  let v = size;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return [v, units[i]];
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'] as const;

/**
 * go-units HumanSizeWithPrecision: decimal units, `precision` significant digits. The docker CLI
 * prints image and container sizes with precision 3 (`1.23MB`); go-units' own HumanSize uses 4.
 */
export function humanSize(n: number, precision = 3): string {
  const [v, unit] = scaleSize(n, 1000, DECIMAL_UNITS);
  return formatG(v, precision) + unit;
}

/** go-units BytesSize: binary units, `%.4g` (`1.5KiB`, `12.3MiB`). */
export function bytesSize(n: number): string {
  const [v, unit] = scaleSize(n, 1024, BINARY_UNITS);
  return formatG(v, 4) + unit;
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

const NS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  µs: 1000n, // U+00B5 micro sign
  μs: 1000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const TWO63 = 1n << 63n;

/** Go's time.ParseDuration, exact to the nanosecond, returned in nanoseconds. */
function parseDurationNs(orig: string): bigint {
  const invalid = () => new InvalidArgumentError(`time: invalid duration ${timeQuote(orig)}`);
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || (s[0] >= '0' && s[0] <= '9'))) throw invalid();
    // [0-9]*
    let i = 0;
    let v = 0n;
    for (; i < s.length && s[i] >= '0' && s[i] <= '9'; i++) {
      if (v > TWO63 / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > TWO63) throw invalid();
    }
    const pre = i > 0;
    s = s.slice(i);
    // (\.[0-9]*)?
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s !== '' && s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; j < s.length && s[j] >= '0' && s[j] <= '9'; j++) {
        if (overflow) continue;
        if (f > INT64_MAX / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > TWO63) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    // unit: everything up to the next number
    let k = 0;
    while (k < s.length && s[k] !== '.' && !(s[k] >= '0' && s[k] <= '9')) k++;
    if (k === 0) throw new InvalidArgumentError(`time: missing unit in duration ${timeQuote(orig)}`);
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = NS_PER_UNIT[u];
    if (unit === undefined) {
      throw new InvalidArgumentError(`time: unknown unit ${timeQuote(u)} in duration ${timeQuote(orig)}`);
    }
    if (v > TWO63 / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // Go computes the fraction in float64, then truncates.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > TWO63) throw invalid();
    }
    d += v;
    if (d > TWO63) throw invalid();
  }
  if (neg) return -d;
  if (d > INT64_MAX) throw invalid();
  return d;
}

/**
 * Go's time.ParseDuration (`300ms`, `-1.5h`, `2h45m`; units ns us µs ms s m h), in milliseconds.
 * Sub-millisecond parts are kept as a fraction.
 */
export function parseDuration(s: string): number {
  return Number(parseDurationNs(s)) / 1e6;
}

/** go-units HumanDuration, the text after docker's `Up ` / before ` ago`. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

// ---------------------------------------------------------------------------------------------
// Timestamps (docker CLI's timetypes.GetTimestamp)
// ---------------------------------------------------------------------------------------------

type LayoutElem = '2006' | '01' | '02' | '15' | '04' | '05' | '.999999999' | 'Z07:00';
const LAYOUT_ELEMS: readonly LayoutElem[] = ['Z07:00', '.999999999', '2006', '01', '02', '15', '04', '05'];

/** Splits a Go layout (only the elements docker's timestamp layouts use) into literals and elements. */
function tokenizeLayout(layout: string): { prefix: string; elem: LayoutElem | null }[] {
  const out: { prefix: string; elem: LayoutElem | null }[] = [];
  let prefix = '';
  let i = 0;
  while (i < layout.length) {
    const elem = LAYOUT_ELEMS.find((e) => layout.startsWith(e, i));
    if (elem) {
      out.push({ prefix, elem });
      prefix = '';
      i += elem.length;
    } else {
      prefix += layout[i++];
    }
  }
  out.push({ prefix, elem: null });
  return out;
}

const isDigit = (s: string, i: number) => i < s.length && s[i] >= '0' && s[i] <= '9';

/** Go's getnum: one or two digits; `fixed` demands two. */
function getnum(s: string, fixed: boolean): [number, string] | null {
  if (!isDigit(s, 0)) return null;
  if (!isDigit(s, 1)) return fixed ? null : [s.charCodeAt(0) - 48, s.slice(1)];
  return [(s.charCodeAt(0) - 48) * 10 + (s.charCodeAt(1) - 48), s.slice(2)];
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

/** Days from 1970-01-01 to a proleptic Gregorian date (any year, unlike Date.UTC). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Go's time.Parse / ParseInLocation for docker's layouts. `localOffsetSec` is the zone used when
 * the layout has no zone or the value has none. Returns Unix seconds and nanoseconds.
 */
function goParseTime(layout: string, value: string, localOffsetSec: number): { sec: number; nsec: number } {
  const fail = (rest: string, layoutElem: string) =>
    new InvalidArgumentError(
      `parsing time ${timeQuote(value)} as ${timeQuote(layout)}: cannot parse ${timeQuote(rest)} as ${timeQuote(layoutElem)}`,
    );
  const failMsg = (msg: string) => new InvalidArgumentError(`parsing time ${timeQuote(value)}${msg}`);
  let v = value;
  let year = 0;
  let month = -1;
  let day = -1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let zoneOffset: number | null = null;
  const chunks = tokenizeLayout(layout);
  for (let ci = 0; ci < chunks.length; ci++) {
    const { prefix, elem } = chunks[ci];
    for (const c of prefix) {
      if (v.length === 0 || v[0] !== c) throw fail(v, prefix);
      v = v.slice(1);
    }
    if (elem === null) {
      if (v.length !== 0) throw failMsg(`: extra text: ${timeQuote(v)}`);
      break;
    }
    const hold = v;
    let range = '';
    let ok = true;
    switch (elem) {
      case '2006':
        if (v.length < 4 || !/^[0-9]{4}/.test(v)) ok = false;
        else {
          year = Number(v.slice(0, 4));
          v = v.slice(4);
        }
        break;
      case '01': {
        const r = getnum(v, true);
        if (!r) ok = false;
        else {
          [month, v] = r;
          if (month <= 0 || month > 12) range = 'month';
        }
        break;
      }
      case '02': {
        const r = getnum(v, true);
        if (!r) ok = false;
        else [day, v] = r;
        break;
      }
      case '15': {
        const r = getnum(v, false);
        if (!r) ok = false;
        else {
          [hour, v] = r;
          if (hour >= 24) range = 'hour';
        }
        break;
      }
      case '04': {
        const r = getnum(v, true);
        if (!r) ok = false;
        else {
          [min, v] = r;
          if (min >= 60) range = 'minute';
        }
        break;
      }
      case '05': {
        const r = getnum(v, true);
        if (!r) {
          ok = false;
          break;
        }
        [sec, v] = r;
        if (sec >= 60) {
          range = 'second';
          break;
        }
        // Go accepts a fraction after the seconds even when the layout has none.
        const next = chunks[ci + 1];
        if (v.length >= 2 && (v[0] === '.' || v[0] === ',') && isDigit(v, 1)) {
          if (next?.elem === '.999999999') break;
          let n = 2;
          while (isDigit(v, n)) n++;
          nsec = fractionNs(v.slice(1, n));
          v = v.slice(n);
        }
        break;
      }
      case '.999999999': {
        if (v.length < 2 || !(v[0] === '.' || v[0] === ',') || !isDigit(v, 1)) break;
        let n = 1;
        while (isDigit(v, n)) n++;
        nsec = fractionNs(v.slice(1, n));
        v = v.slice(n);
        break;
      }
      case 'Z07:00': {
        if (v.length >= 1 && v[0] === 'Z') {
          v = v.slice(1);
          zoneOffset = 0;
          break;
        }
        if (v.length < 6 || v[3] !== ':') {
          ok = false;
          break;
        }
        const sign = v[0];
        const hr = getnum(v.slice(1, 3), true);
        const mm = hr ? getnum(v.slice(4, 6), true) : null;
        v = v.slice(6);
        if (hr && hr[0] > 24) range = 'time zone offset hour';
        if (mm && mm[0] > 60) range = 'time zone offset minute';
        if (!hr || !mm) {
          ok = false;
          break;
        }
        const off = (hr[0] * 60 + mm[0]) * 60;
        if (sign === '+') zoneOffset = off;
        else if (sign === '-') zoneOffset = -off;
        else ok = false;
        break;
      }
    }
    if (range) throw failMsg(`: ${range} out of range`);
    if (!ok) throw fail(hold, elem);
  }
  if (month < 0) month = 1;
  if (day < 0) day = 1;
  if (day < 1 || day > daysIn(month, year)) throw failMsg(': day out of range');
  const offset = zoneOffset ?? localOffsetSec;
  const unix = daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
  return { sec: unix, nsec };
}

/** Nanoseconds from fraction digits; digits past the ninth are dropped, as Go does. */
function fractionNs(digits: string): number {
  return Number(digits.slice(0, 9).padEnd(9, '0'));
}

const RFC3339 = '2006-01-02T15:04:05Z07:00';
const RFC3339_NANO = '2006-01-02T15:04:05.999999999Z07:00';
const RFC3339_LOCAL = '2006-01-02T15:04:05';
const RFC3339_NANO_LOCAL = '2006-01-02T15:04:05.999999999';
const DATE_WITH_ZONE = '2006-01-02Z07:00';
const DATE_LOCAL = '2006-01-02';

/**
 * Docker's `--since` / `--until` value (timetypes.GetTimestamp) as epoch milliseconds:
 * a Go duration (`10m`, `1h30m`) meaning `now - duration`, truncated to whole seconds as docker
 * does; RFC 3339 timestamps with optional fraction and zone, `2006-01-02`, `2006-01-02T15`,
 * `2006-01-02T15:04`; or Unix seconds with an optional fraction (`1700000000.123`).
 * Values without a zone are read in the local zone's offset at `nowMs`, like docker's
 * `time.FixedZone(reference.Zone())`; `utcOffsetMinutes` overrides that offset.
 */
export function parseTimestamp(
  s: string,
  nowMs: number,
  utcOffsetMinutes: number = -new Date(nowMs).getTimezoneOffset(),
): number {
  if (s !== '0') {
    let d: number | undefined;
    try {
      d = parseDuration(s);
    } catch {
      d = undefined;
    }
    if (d !== undefined) return Math.floor((nowMs - d) / 1000) * 1000;
  }
  const inLocation = !/[zZ+]/.test(s) && s.split('-').length - 1 !== 3;
  let layout: string;
  if (s.includes('.')) {
    layout = inLocation ? RFC3339_NANO_LOCAL : RFC3339_NANO;
  } else if (s.includes('T')) {
    let colons = s.split(':').length - 1;
    // A numeric zone offset (+07:00) brings a colon of its own.
    if (!inLocation && !/[zZ]/.test(s) && colons > 0) colons--;
    if (inLocation) {
      layout = colons === 0 ? '2006-01-02T15' : colons === 1 ? '2006-01-02T15:04' : RFC3339_LOCAL;
    } else {
      layout = colons === 0 ? '2006-01-02T15Z07:00' : colons === 1 ? '2006-01-02T15:04Z07:00' : RFC3339;
    }
  } else {
    layout = inLocation ? DATE_LOCAL : DATE_WITH_ZONE;
  }
  try {
    const t = goParseTime(layout, s, inLocation ? utcOffsetMinutes * 60 : 0);
    return t.sec * 1000 + Math.floor(t.nsec / 1e6);
  } catch (err) {
    // With a dash it was meant as a date; docker reports the date parser's error.
    if (s.includes('-')) throw err;
  }
  const dot = s.indexOf('.');
  try {
    const sec = Number(parseInt64(dot < 0 ? s : s.slice(0, dot)));
    if (dot < 0) return sec * 1000;
    const frac = s.slice(dot + 1);
    const nsec = Math.trunc(Number(parseInt64(frac)) * 10 ** (9 - frac.length));
    return sec * 1000 + Math.trunc(nsec / 1e6);
  } catch {
    throw new InvalidArgumentError(`failed to parse value as time or duration: ${goQuote(s)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Ulimits
// ---------------------------------------------------------------------------------------------

/** Resource names docker accepts for `--ulimit` (go-units; `as` is deliberately absent). */
export const ULIMIT_NAMES: readonly string[] = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
];

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

/** go-units ParseUlimit: `name=soft[:hard]`; hard defaults to soft; -1 means unlimited. */
export function parseUlimit(s: string): Ulimit {
  const eq = s.indexOf('=');
  if (eq < 0) throw new InvalidArgumentError(`invalid ulimit argument: ${s}`);
  const name = s.slice(0, eq);
  const values = s.slice(eq + 1);
  if (!ULIMIT_NAMES.includes(name)) throw new InvalidArgumentError(`invalid ulimit type: ${name}`);
  const parts = values.split(':');
  if (parts.length > 2) {
    throw new InvalidArgumentError(
      `too many limit value arguments - ${values}, can only have up to two, \`soft[:hard]\``,
    );
  }
  const hard = parts.length === 2 ? parseInt64(parts[1]) : undefined;
  const soft = parseInt64(parts[0]);
  const effectiveHard = hard ?? soft;
  if (effectiveHard !== -1n) {
    if (soft === -1n) {
      throw new InvalidArgumentError(
        `ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${effectiveHard}`,
      );
    }
    if (soft > effectiveHard) {
      throw new InvalidArgumentError(
        `ulimit soft limit must be less than or equal to hard limit: ${soft} > ${effectiveHard}`,
      );
    }
  }
  return { name, soft: Number(soft), hard: Number(effectiveHard) };
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/util/errors.ts';
import {
  bytesSize,
  humanDuration,
  humanSize,
  parseBytes,
  parseDuration,
  parseTimestamp,
  parseUlimit,
  ULIMIT_NAMES,
} from '../../src/util/units.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Asserts that `fn` throws an InvalidArgumentError with exactly `message`. */
function throwsInvalid(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

describe('parseBytes (RAMInBytes)', () => {
  const ok: [string, number][] = [
    ['512', 512],
    ['512b', 512],
    ['512B', 512],
    ['100k', 100 * KiB],
    ['2kb', 2 * KiB],
    ['2KB', 2 * KiB],
    ['32m', 32 * MiB],
    ['32M', 32 * MiB],
    ['1mib', MiB],
    ['1MiB', MiB],
    ['1g', GiB],
    ['1.5g', 1.5 * GiB],
    ['1 GiB', GiB],
    ['3t', 3 * 1024 * GiB],
    ['2p', 2 * 1024 * 1024 * GiB],
    ['0.5k', 512],
    ['1.5', 1], // truncated to whole bytes
    ['0', 0],
    ['1e3', 1000],
    ['1_024', 1024], // Go float syntax allows digit separators
  ];
  for (const [input, want] of ok) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(parseBytes(input), want));
  }

  const bad: [string, string][] = [
    ['abc', "invalid size: 'abc'"],
    ['', "invalid size: ''"],
    ['-1', "invalid size: '-1'"],
    ['-1k', "invalid size: '-1k'"],
    ['1x', "invalid suffix: 'x'"],
    ['1KX', "invalid suffix: 'kx'"],
    ['1kbb', "invalid suffix: 'kbb'"],
    ['1bb', "invalid suffix: 'bb'"],
    ['1KBBB', "invalid suffix: 'KBBB'"],
    ['1..5g', 'strconv.ParseFloat: parsing "1..5": invalid syntax'],
    ['32m ', 'strconv.ParseFloat: parsing "32m": invalid syntax'],
    ['1e400', 'strconv.ParseFloat: parsing "1e400": value out of range'],
    ['1__0', 'strconv.ParseFloat: parsing "1__0": invalid syntax'],
  ];
  for (const [input, message] of bad) {
    it(`${JSON.stringify(input)} fails: ${message}`, () => throwsInvalid(() => parseBytes(input), message));
  }
});

describe('humanSize (HumanSizeWithPrecision, as docker prints sizes)', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [1, '1B'],
    [999, '999B'],
    [1000, '1kB'],
    [1234567, '1.23MB'],
    [7_800_000, '7.8MB'],
    [142_000_000, '142MB'],
    [1125, '1.12kB'], // an exact tie rounds to even, as Go's fmt does
    [1135, '1.14kB'],
    [999_900, '1e+03kB'], // Go's %.3g switches to exponent form; docker shows this too
    [5e15, '5PB'],
    [1e27, '1e+03YB'],
  ];
  for (const [n, want] of cases) {
    it(`${n} → ${want}`, () => assert.equal(humanSize(n), want));
  }
  it('takes go-units HumanSize precision 4 on request', () => {
    assert.equal(humanSize(2_746_000, 4), '2.746MB');
    assert.equal(humanSize(796_000, 4), '796kB');
  });
});

describe('bytesSize (BytesSize)', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [1023, '1023B'],
    [1024, '1KiB'],
    [1536, '1.5KiB'],
    [Math.trunc(12.3 * MiB), '12.3MiB'],
    [123_456_789, '117.7MiB'],
    [5 * GiB, '5GiB'],
    [1023.99 * KiB, '1024KiB'],
  ];
  for (const [n, want] of cases) {
    it(`${n} → ${want}`, () => assert.equal(bytesSize(n), want));
  }
});

describe('parseDuration (time.ParseDuration)', () => {
  const ok: [string, number][] = [
    ['0', 0],
    ['-0', 0],
    ['1s', 1000],
    ['1.5s', 1500],
    ['-1s', -1000],
    ['+5m', 300_000],
    ['300ms', 300],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['2h45m30.5s', 9_930_500],
    ['1h1h', 7_200_000],
    ['.5s', 500],
    ['1.s', 1000],
    ['1.5h', 5_400_000],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['1ns', 0.000001],
    ['1000000ns', 1],
  ];
  for (const [input, want] of ok) {
    it(`${JSON.stringify(input)} → ${want}ms`, () => assert.equal(parseDuration(input), want));
  }

  const bad: [string, string][] = [
    ['x', 'time: invalid duration "x"'],
    ['', 'time: invalid duration ""'],
    ['-', 'time: invalid duration "-"'],
    ['.s', 'time: invalid duration ".s"'],
    ['10', 'time: missing unit in duration "10"'],
    ['1.5.5s', 'time: missing unit in duration "1.5.5s"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['1 s', 'time: unknown unit " s" in duration "1 s"'],
    ['1é', 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'],
    ['9999999999h', 'time: invalid duration "9999999999h"'],
  ];
  for (const [input, message] of bad) {
    it(`${JSON.stringify(input)} fails: ${message}`, () =>
      throwsInvalid(() => parseDuration(input), message));
  }
});

describe('humanDuration (HumanDuration)', () => {
  const s = 1000;
  const min = 60 * s;
  const h = 60 * min;
  const d = 24 * h;
  const cases: [number, string][] = [
    [-5 * s, 'Less than a second'],
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [s, '1 second'],
    [5 * s, '5 seconds'],
    [59 * s + 999, '59 seconds'],
    [min, 'About a minute'],
    [2 * min - 1, 'About a minute'],
    [2 * min, '2 minutes'],
    [59 * min + 59 * s, '59 minutes'],
    [h, 'About an hour'],
    [89 * min, 'About an hour'], // hours are rounded: 1.48 → 1
    [90 * min, '2 hours'],
    [47 * h, '47 hours'],
    [47.5 * h, '2 days'], // rounds to 48 hours
    [3 * d, '3 days'],
    [13 * d, '13 days'],
    [14 * d, '2 weeks'],
    [59 * d, '8 weeks'],
    [60 * d, '2 months'],
    [729 * d, '24 months'],
    [730 * d, '2 years'],
    [5 * 365 * d, '5 years'],
  ];
  for (const [ms, want] of cases) {
    it(`${ms}ms → ${want}`, () => assert.equal(humanDuration(ms), want));
  }
});

describe('parseTimestamp (docker --since/--until)', () => {
  const now = Date.UTC(2024, 0, 15, 12, 0, 0, 500);
  const ok: [string, number, number][] = [
    // relative: now minus the duration, whole seconds like docker sends
    ['10m', 0, Date.UTC(2024, 0, 15, 11, 50, 0)],
    ['1h30m', 0, Date.UTC(2024, 0, 15, 10, 30, 0)],
    ['1.5s', 0, Date.UTC(2024, 0, 15, 11, 59, 59)],
    ['-10m', 0, Date.UTC(2024, 0, 15, 12, 10, 0)],
    // RFC 3339 with a zone: the local offset does not apply
    ['2024-01-02T03:04:05Z', 120, Date.UTC(2024, 0, 2, 3, 4, 5)],
    ['2024-01-02T03:04:05.123456789Z', 120, Date.UTC(2024, 0, 2, 3, 4, 5, 123)],
    ['2024-01-02T03:04:05,25Z', 0, Date.UTC(2024, 0, 2, 3, 4, 5, 250)],
    ['2024-01-02T03:04:05+02:00', 0, Date.UTC(2024, 0, 2, 1, 4, 5)],
    ['2024-01-02T03:04:05-02:00', 0, Date.UTC(2024, 0, 2, 5, 4, 5)],
    ['2024-01-02T03:04:05.5-02:30', 0, Date.UTC(2024, 0, 2, 5, 34, 5, 500)],
    ['2024-01-02T03Z', 0, Date.UTC(2024, 0, 2, 3)],
    ['2024-01-02T03:04+01:00', 0, Date.UTC(2024, 0, 2, 2, 4)],
    ['2024-01-02Z', 0, Date.UTC(2024, 0, 2)],
    ['2024-01-02+01:00', 0, Date.UTC(2024, 0, 1, 23)],
    // without a zone: the local offset (here UTC+2) applies
    ['2024-01-02', 120, Date.UTC(2024, 0, 1, 22)],
    ['2024-01-02', 0, Date.UTC(2024, 0, 2)],
    ['2024-01-02T03', 120, Date.UTC(2024, 0, 2, 1)],
    ['2024-01-02T3:04', 0, Date.UTC(2024, 0, 2, 3, 4)],
    ['2024-01-02T03:04:05', 120, Date.UTC(2024, 0, 2, 1, 4, 5)],
    ['2024-01-02T03:04:05.999', -60, Date.UTC(2024, 0, 2, 4, 4, 5, 999)],
    ['2024-02-29', 0, Date.UTC(2024, 1, 29)],
    // Unix seconds with an optional fraction
    ['1700000000', 0, 1_700_000_000_000],
    ['1700000000.123', 0, 1_700_000_000_123],
    ['1700000000.5', 0, 1_700_000_000_500],
    ['1700000000.000000001', 0, 1_700_000_000_000],
    ['0', 0, 0],
  ];
  for (const [input, offset, want] of ok) {
    it(`${JSON.stringify(input)} (UTC${offset >= 0 ? '+' : ''}${offset / 60}) → ${new Date(want).toISOString()}`, () =>
      assert.equal(parseTimestamp(input, now, offset), want));
  }

  it('reads zoneless values in the local offset at `now` by default', () => {
    const local = -new Date(now).getTimezoneOffset();
    assert.equal(parseTimestamp('2024-01-15T08:00:00', now), Date.UTC(2024, 0, 15, 8) - local * 60_000);
  });

  const bad: [string, string][] = [
    ['abc', 'failed to parse value as time or duration: "abc"'],
    ['1d', 'failed to parse value as time or duration: "1d"'],
    ['', 'failed to parse value as time or duration: ""'],
    ['2023-02-29', 'parsing time "2023-02-29": day out of range'],
    ['2024-13-01', 'parsing time "2024-13-01": month out of range'],
    ['2024-01-02T24:00', 'parsing time "2024-01-02T24:00": hour out of range'],
    ['2024-01-02T03:60', 'parsing time "2024-01-02T03:60": minute out of range'],
    ['2024-1-02', 'parsing time "2024-1-02" as "2006-01-02": cannot parse "1-02" as "01"'],
    ['2024-01-02x', 'parsing time "2024-01-02x": extra text: "x"'],
    ['2024-01/02', 'parsing time "2024-01/02" as "2006-01-02": cannot parse "/02" as "-"'],
    ['2024/01/02', 'failed to parse value as time or duration: "2024/01/02"'], // no dash: not taken for a date
    [
      '2024-01-02T03:04:05z',
      'parsing time "2024-01-02T03:04:05z" as "2006-01-02T15:04:05Z07:00": cannot parse "z" as "Z07:00"',
    ],
    [
      '2024-01-02T03:04:05+25:00',
      'parsing time "2024-01-02T03:04:05+25:00": time zone offset hour out of range',
    ],
  ];
  for (const [input, message] of bad) {
    it(`${JSON.stringify(input)} fails: ${message}`, () =>
      throwsInvalid(() => parseTimestamp(input, now, 0), message));
  }
});

describe('parseUlimit (ParseUlimit)', () => {
  const ok: [string, { name: string; soft: number; hard: number }][] = [
    ['nofile=1024:2048', { name: 'nofile', soft: 1024, hard: 2048 }],
    ['nproc=512', { name: 'nproc', soft: 512, hard: 512 }],
    ['nofile=-1', { name: 'nofile', soft: -1, hard: -1 }],
    ['nofile=1024:-1', { name: 'nofile', soft: 1024, hard: -1 }],
    ['core=0', { name: 'core', soft: 0, hard: 0 }],
    ['memlock=+5:10', { name: 'memlock', soft: 5, hard: 10 }],
  ];
  for (const [input, want] of ok) {
    it(`${input}`, () => assert.deepEqual(parseUlimit(input), want));
  }

  it('accepts exactly docker’s resource names', () => {
    assert.deepEqual([...ULIMIT_NAMES].sort(), [
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
    ]);
    for (const name of ULIMIT_NAMES) assert.equal(parseUlimit(`${name}=1`).name, name);
  });

  const bad: [string, string][] = [
    ['nofile', 'invalid ulimit argument: nofile'],
    ['as=1', 'invalid ulimit type: as'],
    ['NOFILE=1', 'invalid ulimit type: NOFILE'],
    ['nofile=2048:1024', 'ulimit soft limit must be less than or equal to hard limit: 2048 > 1024'],
    [
      'nofile=-1:1024',
      'ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1024',
    ],
    ['nofile=a', 'strconv.ParseInt: parsing "a": invalid syntax'],
    ['nofile=unlimited', 'strconv.ParseInt: parsing "unlimited": invalid syntax'],
    ['nofile=', 'strconv.ParseInt: parsing "": invalid syntax'],
    ['nofile=a:b', 'strconv.ParseInt: parsing "b": invalid syntax'], // the hard limit is read first
    ['nofile=99999999999999999999', 'strconv.ParseInt: parsing "99999999999999999999": value out of range'],
    ['nofile=1:2:3', 'too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`'],
  ];
  for (const [input, message] of bad) {
    it(`${input} fails: ${message}`, () => throwsInvalid(() => parseUlimit(input), message));
  }
});

import { describe, expect, it } from 'vitest';
import { guessUnit, toTimeNs } from '../../transforms/time.js';

const S = 1_700_000_000n; // 2023-11-14T22:13:20Z
const NS = S * 1_000_000_000n;

describe('guessUnit', () => {
  it('switches unit at 1e11, 1e14 and 1e17', () => {
    expect(guessUnit(1_700_000_000)).toBe('s');
    expect(guessUnit(99_999_999_999)).toBe('s');
    expect(guessUnit(1e11)).toBe('ms');
    expect(guessUnit(1e14 - 1)).toBe('ms');
    expect(guessUnit(1e14)).toBe('us');
    expect(guessUnit(9.9e16)).toBe('us');
    expect(guessUnit(1e17)).toBe('ns');
  });
  it('accepts bigint and negative values by magnitude', () => {
    expect(guessUnit(1_700_000_000_123_456_789n)).toBe('ns');
    expect(guessUnit(1_700_000_000_123n)).toBe('ms');
    expect(guessUnit(-1_700_000_000)).toBe('s');
    expect(guessUnit(-1_700_000_000_000_000n)).toBe('us');
    expect(guessUnit(0)).toBe('s');
  });
});

describe('toTimeNs with numbers', () => {
  it('converts epoch s, ms, µs (guessed) to ns', () => {
    expect(toTimeNs(1_700_000_000)).toBe(NS);
    expect(toTimeNs(1_700_000_000_123)).toBe(NS + 123_000_000n);
    expect(toTimeNs(1_700_000_000_123_456)).toBe(NS + 123_456_000n);
  });
  it('honours an explicit unit', () => {
    expect(toTimeNs(1_700_000_000_123, 'ms')).toBe(NS + 123_000_000n);
    expect(toTimeNs(5, 'ns')).toBe(5n);
    expect(toTimeNs(5, 'us')).toBe(5_000n);
    expect(toTimeNs(5, 's')).toBe(5_000_000_000n);
  });
  it('keeps fractional seconds', () => {
    expect(toTimeNs(1_700_000_000.5)).toBe(NS + 500_000_000n);
    expect(toTimeNs(1_700_000_000.25)).toBe(NS + 250_000_000n);
    const t = toTimeNs(1_700_000_000.123)!;
    expect(t - (NS + 123_000_000n)).toBeGreaterThanOrEqual(-1000n);
    expect(t - (NS + 123_000_000n)).toBeLessThanOrEqual(1000n);
    expect(toTimeNs(1_700_000_000_123.5, 'ms')).toBe(NS + 123_500_000n);
    expect(toTimeNs(-1.5, 's')).toBe(-1_500_000_000n);
  });
  it('keeps a bigint ns timestamp exact', () => {
    expect(toTimeNs(1_700_000_000_123_456_789n)).toBe(1_700_000_000_123_456_789n);
    expect(toTimeNs(1_700_000_000n)).toBe(NS);
    expect(toTimeNs(7n, 'ms')).toBe(7_000_000n);
  });
  it('rejects non-finite numbers', () => {
    expect(toTimeNs(Number.NaN)).toBeUndefined();
    expect(toTimeNs(Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});

describe('toTimeNs with strings', () => {
  it('parses numeric strings, a 19-digit ns string exactly', () => {
    expect(toTimeNs('1700000000')).toBe(NS);
    expect(toTimeNs('1700000000123')).toBe(NS + 123_000_000n);
    expect(toTimeNs('1700000000.5')).toBe(NS + 500_000_000n);
    expect(toTimeNs('1700000000123456789')).toBe(1_700_000_000_123_456_789n);
  });
  it('parses ISO 8601 in UTC, with offsets, and without an offset (taken as UTC)', () => {
    expect(toTimeNs('2023-11-14T22:13:20Z')).toBe(NS);
    expect(toTimeNs('2023-11-14t22:13:20z')).toBe(NS);
    expect(toTimeNs('2023-11-15T00:13:20+02:00')).toBe(NS);
    expect(toTimeNs('2023-11-15T03:43:20+0530')).toBe(NS);
    expect(toTimeNs('2023-11-14T17:13:20-05:00')).toBe(NS);
    expect(toTimeNs('2023-11-15T00:13:20+02')).toBe(NS);
    expect(toTimeNs('2023-11-14T22:13:20')).toBe(NS);
    expect(toTimeNs('2023-11-14 22:13:20')).toBe(NS);
    expect(toTimeNs('2023-11-14T22:13Z')).toBe(NS - 20_000_000_000n);
  });
  it('keeps a 9-digit fraction exact, and ms / µs fractions', () => {
    expect(toTimeNs('2023-11-14T22:13:20.123456789Z')).toBe(NS + 123_456_789n);
    expect(toTimeNs('2023-11-15T00:13:20.000000001+02:00')).toBe(NS + 1n);
    expect(toTimeNs('2023-11-14T22:13:20.5Z')).toBe(NS + 500_000_000n);
    expect(toTimeNs('2023-11-14T22:13:20,123Z')).toBe(NS + 123_000_000n);
    expect(toTimeNs('2023-11-14T22:13:20.1234567891Z')).toBe(NS + 123_456_789n);
  });
  it('returns undefined for garbage', () => {
    for (const v of [
      '',
      'hello',
      'now',
      '2023-11-14',
      '2023-13-45T00:00:00Z',
      '2023-11-14T22:13:20+2',
      '12:00:00',
      '1e9',
      '0x10',
    ]) {
      expect(toTimeNs(v), v).toBeUndefined();
    }
    for (const v of [null, undefined, true, {}, [], new Uint8Array(1)]) expect(toTimeNs(v)).toBeUndefined();
  });
});

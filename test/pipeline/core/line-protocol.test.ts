import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { toLineProtocol } from '../../../pipeline/core/line-protocol.js';
import type { FieldValue, Reading } from '../../../pipeline/core/types.js';

const CASES = fileURLToPath(new URL('../../cases/line-protocol/', import.meta.url));

/** Reads a golden `input.json`: `{"$bigint":"…"}` → bigint, `{"$float":"NaN"|"Infinity"|"-Infinity"}` → number. */
function readInput(dir: string): Reading {
  const raw = JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8')) as {
    measurement: string;
    tags: Record<string, string>;
    fields: Record<string, FieldValue | { $bigint: string } | { $float: string }>;
    timeNs: string;
  };
  const fields: Record<string, FieldValue> = {};
  for (const [key, value] of Object.entries(raw.fields)) {
    if (typeof value === 'object' && '$bigint' in value) fields[key] = BigInt(value.$bigint);
    else if (typeof value === 'object' && '$float' in value) fields[key] = Number(value.$float);
    else fields[key] = value;
  }
  return { measurement: raw.measurement, tags: raw.tags, fields, timeNs: BigInt(raw.timeNs) };
}

/** Expected files end with one newline for editors' sake; lines themselves never do. */
function readExpected(path: string): string {
  return readFileSync(path, 'utf8').replace(/\n$/, '');
}

describe('toLineProtocol golden cases (test/cases/line-protocol)', () => {
  const dirs = readdirSync(CASES, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();

  it('finds the cases', () => {
    expect(dirs.length).toBeGreaterThan(100);
  });

  for (const name of dirs) {
    it(name, () => {
      const dir = join(CASES, name);
      const reading = readInput(dir);
      if (existsSync(join(dir, 'expected.lp'))) {
        expect(toLineProtocol(reading)).toBe(readExpected(join(dir, 'expected.lp')));
      } else {
        expect(() => toLineProtocol(reading)).toThrow(readExpected(join(dir, 'expected.err')));
      }
    });
  }
});

describe('toLineProtocol', () => {
  const reading = (over: Partial<Reading>): Reading => ({
    measurement: 'm',
    tags: {},
    fields: { v: 1 },
    timeNs: 0n,
    ...over,
  });

  it('writes a typical point', () => {
    expect(
      toLineProtocol({
        measurement: 'telemetry',
        tags: { site: 'site-3', device: 'dev-340' },
        fields: { temperature: 19.96, humidity: 47.6, battery: 49n, status: 'ok' },
        timeNs: 1795315235165000000n,
      }),
    ).toBe(
      'telemetry,device=dev-340,site=site-3 temperature=19.96,humidity=47.6,battery=49i,status="ok" 1795315235165000000',
    );
  });

  it('sorts tags by key', () => {
    expect(toLineProtocol(reading({ tags: { zone: 'z', b: '2', a: '1', B: 'u' } }))).toBe('m,B=u,a=1,b=2,zone=z v=1 0');
    const many = Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const tags = Object.fromEntries([...many].reverse().map((k) => [k, 'v']));
    expect(toLineProtocol(reading({ tags }))).toBe(`m,${many.map((k) => `${k}=v`).join(',')} v=1 0`);
  });

  it('omits tags with an empty value or key', () => {
    expect(toLineProtocol(reading({ tags: { host: '', site: 's', '': 'x' } }))).toBe('m,site=s v=1 0');
  });

  it('skips NaN and infinite fields, and null or undefined values', () => {
    const fields = { a: NaN, b: 2, c: Infinity, d: -Infinity, e: null, f: undefined } as unknown as Record<
      string,
      FieldValue
    >;
    expect(toLineProtocol(reading({ fields }))).toBe('m b=2 0');
  });

  it('throws when no field remains', () => {
    expect(() => toLineProtocol(reading({ fields: {} }))).toThrow(/no writable field/);
    expect(() => toLineProtocol(reading({ fields: { a: NaN } }))).toThrow(/no writable field.*"m"/);
  });

  it('throws on an empty measurement, or one InfluxDB would read as a comment', () => {
    expect(() => toLineProtocol(reading({ measurement: '' }))).toThrow(/measurement is empty/);
    expect(() => toLineProtocol(reading({ measurement: '#cpu' }))).toThrow(/comment/);
  });

  it('writes bigints beyond 2^53 exactly, and skips those beyond int64', () => {
    expect(toLineProtocol(reading({ fields: { n: 9007199254740993n } }))).toBe('m n=9007199254740993i 0');
    expect(toLineProtocol(reading({ fields: { n: -(2n ** 63n), big: 2n ** 63n, v: 1 } }))).toBe(
      'm n=-9223372036854775808i,v=1 0',
    );
  });

  it('escapes quote and backslash in string fields and keeps newlines raw', () => {
    expect(toLineProtocol(reading({ fields: { s: 'a "q" \\ b\nc' } }))).toBe('m s="a \\"q\\" \\\\ b\nc" 0');
  });

  it('writes floats in shortest round-trip form', () => {
    const line = (v: number): string => toLineProtocol(reading({ fields: { v } }));
    expect(line(20)).toBe('m v=20 0');
    expect(line(0.1 + 0.2)).toBe('m v=0.30000000000000004 0');
    expect(line(1e6)).toBe('m v=1e+06 0');
    expect(line(0.00001)).toBe('m v=1e-05 0');
    expect(line(-0)).toBe('m v=-0 0');
    for (const v of [123456.789, 1e21, 1.5e-7, -2.5e300, Number.MIN_VALUE, 0.0001, 999999.9999999999]) {
      expect(Number(line(v).split(/[= ]/)[2])).toBe(v);
    }
  });

  it('escapes names and never lets them break the line', () => {
    expect(
      toLineProtocol(reading({ measurement: 'a b,c=d', tags: { 'k,=\n': 'v \t\r\f' }, fields: { 'f =,': 1 } })),
    ).toBe('a\\ b\\,c=d,k\\,\\=\\n=v\\ \\t\\r\\f f\\ \\=\\,=1 0');
    expect(() => toLineProtocol(reading({ tags: { t: 'a\0' } }))).toThrow(/NUL/);
    expect(() => toLineProtocol(reading({ fields: { s: 'a\0' } }))).toThrow(/NUL/);
  });

  it('gives the same result for names seen before, beyond the cache size', () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        expect(toLineProtocol(reading({ measurement: `m ${i}`, fields: { [`f ${i}`]: 1 } }))).toBe(
          `m\\ ${i} f\\ ${i}=1 0`,
        );
      }
    }
  });

  it('trims trailing backslashes from names', () => {
    expect(
      toLineProtocol(reading({ measurement: 'x\\\\', tags: { 'p\\': 'C:\\', q: '\\' }, fields: { 'f\\': 1 } })),
    ).toBe('x,p=C: f=1 0');
  });

  it("rejects timestamps outside InfluxDB's range and field values of other types", () => {
    expect(toLineProtocol(reading({ timeNs: -9223372036854775806n }))).toBe('m v=1 -9223372036854775806');
    expect(() => toLineProtocol(reading({ timeNs: 9223372036854775807n }))).toThrow(/out of range/);
    expect(() => toLineProtocol(reading({ fields: { d: new Date(0) as unknown as FieldValue } }))).toThrow(
      /unsupported type/,
    );
  });
});

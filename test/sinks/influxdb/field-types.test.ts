import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../pipeline/core/types.js';
import {
  coerceFieldValue,
  fieldTypeOf,
  holdFieldTypes,
  parseServerConflict,
  type InfluxFieldType,
} from '../../../sinks/influxdb/field-types.js';
import { toLineProtocol } from '../../../pipeline/core/line-protocol.js';

describe('field types', () => {
  it('names the type the line protocol writes, and nothing for what it skips', () => {
    expect([1.5, 20, 20n, true, 'x'].map(fieldTypeOf)).toEqual(['float', 'float', 'integer', 'boolean', 'string']);
    expect([NaN, Infinity, 2n ** 63n, null, undefined].map(fieldTypeOf)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it.each<[unknown, InfluxFieldType, unknown]>([
    [20n, 'float', 20],
    [-(2n ** 53n) + 1n, 'float', -(2 ** 53) + 1],
    [2n ** 53n + 1n, 'float', undefined],
    [20, 'integer', 20n],
    [-3, 'integer', -3n],
    [2 ** 62, 'integer', 2n ** 62n],
    [2 ** 63, 'integer', undefined],
    [20.5, 'integer', undefined],
    [1, 'string', undefined],
    ['1', 'float', undefined],
    [true, 'integer', undefined],
    [0, 'boolean', undefined],
    ['x', 'string', 'x'],
  ])('%s as a %s field → %s', (value, known, expected) => {
    expect(coerceFieldValue(value as never, known)).toEqual(expected);
  });

  it('coerces into a new reading, leaves an unchanged one as it is, and names both types on a conflict', () => {
    const r: Reading = { measurement: 'm', tags: {}, fields: { t: 20n, n: 'a', u: 1.5 }, timeNs: 1n };
    const types: Record<string, InfluxFieldType> = { t: 'float', n: 'string' };
    const checked = holdFieldTypes(r, (_m, f) => types[f]);
    expect('reading' in checked && toLineProtocol(checked.reading)).toBe('m t=20,n="a",u=1.5 1');
    expect(r.fields.t).toBe(20n);
    const same = { ...r, fields: { t: 1.5 } };
    expect(holdFieldTypes(same, (_m, f) => types[f])).toEqual({ reading: same });
    expect(holdFieldTypes({ ...r, fields: { n: false } }, (_m, f) => types[f])).toEqual({
      conflict: {
        code: 'field_type_conflict',
        reason: 'field "n" of measurement "m" is string, this value is boolean (false)',
      },
    });
  });

  it("reads the stored type from InfluxDB's conflict message, raw or inside a JSON body", () => {
    const body =
      '{"error":"partial write: field type conflict: input field \\"a b\\" on measurement \\"m,x\\" is type string, already exists as type float dropped=2"}';
    expect(parseServerConflict(`InfluxDB rejected the write (400): ${body}`)).toEqual({
      field: 'a b',
      measurement: 'm,x',
      type: 'float',
    });
    expect(parseServerConflict(JSON.parse(body).error)).toEqual({ field: 'a b', measurement: 'm,x', type: 'float' });
    const v2 =
      '{"code":"unprocessable entity","message":"failure writing points to database: partial write: field type conflict: input field \\"value\\" on measurement \\"nav\\" is type string, already exists as type float dropped=10"}';
    expect(parseServerConflict(`InfluxDB rejected the write (422): ${v2}`)).toEqual({
      field: 'value',
      measurement: 'nav',
      type: 'float',
    });
    expect(parseServerConflict("unable to parse 'm x=': missing field value")).toBeUndefined();
  });
});

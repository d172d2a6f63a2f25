import { describe, expect, it } from 'vitest';
import { castFields } from '../../transforms/cast-fields.js';
import { ctxAt, outs, reading } from '../support/transforms.js';

describe('castFields', () => {
  const ctx = ctxAt();

  it('converts strings to numbers, numbers to integers, words to booleans, anything to strings', () => {
    const stage = castFields({
      t: 'number',
      b: 'integer',
      big: 'integer',
      on: 'boolean',
      off: 'boolean',
      fw: 'string',
      n: 'integer',
    });
    const [out] = outs(
      stage.apply(
        reading({ t: ' 21.5 ', b: 49.6, big: '9007199254740993', on: 'ON', off: 0, fw: 3, n: true, keep: 'x' }),
        ctx,
      ),
    );
    expect(out!.fields).toEqual({
      t: 21.5,
      b: 50n,
      big: 9007199254740993n,
      on: true,
      off: false,
      fw: '3',
      n: 1n,
      keep: 'x',
    });
  });

  it('returns the same reading when nothing changes, and skips absent fields', () => {
    const r = reading({ t: 1.5 });
    expect(outs(castFields({ t: 'number', missing: 'integer' }).apply(r, ctx))[0]).toBe(r);
  });

  it('rounds integers as configured', () => {
    const r = reading({ v: -2.7 });
    expect(outs(castFields({ v: 'integer' }, { rounding: 'trunc' }).apply(r, ctx))[0]!.fields.v).toBe(-2n);
    expect(outs(castFields({ v: 'integer' }, { rounding: 'floor' }).apply(r, ctx))[0]!.fields.v).toBe(-3n);
  });

  it('rejects an unconvertible value by default, with the field and value in the reason', () => {
    expect(castFields({ t: 'number' }).apply(reading({ t: 'n/a' }), ctx)).toEqual({
      rejected: { code: 'cast_error', reason: 'field "t": cannot convert "n/a" to number' },
    });
    expect(castFields({ on: 'boolean' }).apply(reading({ on: 'maybe' }), ctx)).toHaveProperty(
      'rejected.code',
      'cast_error',
    );
  });

  it('drops only the field with onError drop-field, and counts it', () => {
    const stage = castFields({ t: 'number', h: 'number' }, { onError: 'drop-field' });
    expect(outs(stage.apply(reading({ t: '', h: '40' }), ctx))[0]!.fields).toEqual({ h: 40 });
    expect(outs(stage.apply(reading({ t: 'x', h: 1 }), ctx))[0]!.fields).toEqual({ h: 1 });
    expect(stage.droppedFields.get('t')).toBe(2);
    expect(stage.apply(reading({ t: 'x' }), ctx)).toHaveProperty('rejected.code', 'cast_error');
  });

  it('refuses unknown types at construction', () => {
    // @ts-expect-error -- not a FieldType
    expect(() => castFields({ t: 'float' })).toThrow(/number, integer, boolean or string/);
  });
});

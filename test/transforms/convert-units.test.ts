import { describe, expect, it } from 'vitest';
import { convertUnits } from '../../transforms/convert-units.js';
import { ctxAt, outs, reading } from '../support/transforms.js';

describe('convertUnits', () => {
  const ctx = ctxAt();

  it('converts between known units, renaming and rounding on request', () => {
    const stage = convertUnits({
      temp_f: { from: 'F', to: 'C', as: 'temperature' },
      wind: { from: 'mph', to: 'km/h', decimals: 1 },
      p: { from: 'hPa', to: 'bar' },
      k: { from: 'K', to: 'F', decimals: 2 },
      batt: { from: '%', to: 'ratio' },
    });
    const [out] = outs(stage.apply(reading({ temp_f: 212, wind: 10, p: 1013.25, k: 0, batt: 50n, other: 'x' }), ctx));
    expect(out!.fields).toEqual({ wind: 16.1, p: 1.01325, k: -459.67, batt: 0.5, other: 'x', temperature: 100 });
  });

  it('converts °F to °C exactly at the reference points', () => {
    const stage = convertUnits({ t: { from: 'F', to: 'C' } });
    expect(outs(stage.apply(reading({ t: 32 }), ctx))[0]!.fields.t).toBe(0);
    expect(outs(stage.apply(reading({ t: -40 }), ctx))[0]!.fields.t).toBe(-40);
  });

  it('takes a function, and leaves readings without the field untouched', () => {
    const stage = convertUnits({ raw: { convert: (v) => (v / 4096) * 3.3, as: 'volts', decimals: 3 } });
    expect(outs(stage.apply(reading({ raw: 2048 }), ctx))[0]!.fields).toEqual({ volts: 1.65 });
    const r = reading({ other: 1 });
    expect(outs(stage.apply(r, ctx))[0]).toBe(r);
  });

  it('rejects a non-numeric value by default, keeps it with onError keep', () => {
    expect(convertUnits({ t: { from: 'F', to: 'C' } }).apply(reading({ t: 'hot' }), ctx)).toHaveProperty(
      'rejected.code',
      'conversion_error',
    );
    expect(
      outs(convertUnits({ t: { from: 'F', to: 'C' } }, { onError: 'keep' }).apply(reading({ t: 'hot' }), ctx))[0]!
        .fields.t,
    ).toBe('hot');
  });

  it('refuses unknown units and units of different dimensions at construction', () => {
    // @ts-expect-error -- not a Unit
    expect(() => convertUnits({ t: { from: 'F', to: 'Celsius' } })).toThrow(/convertUnits t to: expected one of/);
    expect(() => convertUnits({ t: { from: 'F', to: 'm' } })).toThrow(/temperature.*length/);
    // @ts-expect-error -- a prototype property is not a unit
    expect(() => convertUnits({ t: { from: 'toString', to: 'C' } })).toThrow(/from/);
  });
});

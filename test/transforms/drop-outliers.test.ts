import { describe, expect, it } from 'vitest';
import { dropOutliers } from '../../transforms/drop-outliers.js';
import { dropStale } from '../../transforms/drop-stale.js';
import { ctxAt, outs, reading } from '../support/transforms.js';

describe('dropOutliers', () => {
  const ctx = ctxAt();
  const ranges = { temperature: { min: -40, max: 85 }, humidity: { min: 0, max: 100 } };

  it('passes readings within range (bounds inclusive), drops the others and counts each reason', () => {
    const stage = dropOutliers(ranges);
    const ok = reading({ temperature: 85, humidity: 0n, status: 'x' });
    expect(outs(stage.apply(ok, ctx))[0]).toBe(ok);
    expect(outs(stage.apply(reading({ temperature: 120 }), ctx))).toEqual([]);
    expect(outs(stage.apply(reading({ temperature: 130 }), ctx))).toEqual([]);
    expect(outs(stage.apply(reading({ temperature: 20, humidity: -1 }), ctx))).toEqual([]);
    expect(outs(stage.apply(reading({ temperature: 'n/a' }), ctx))).toHaveLength(1);
    expect(Object.fromEntries(stage.dropped)).toEqual({ 'temperature:above_max': 2, 'humidity:below_min': 1 });
  });

  it('drops only the field with drop-field, and the reading once no field is left', () => {
    const stage = dropOutliers(ranges, { action: 'drop-field' });
    expect(outs(stage.apply(reading({ temperature: 999, humidity: 50 }), ctx))[0]!.fields).toEqual({ humidity: 50 });
    expect(outs(stage.apply(reading({ temperature: 999 }), ctx))).toEqual([]);
    expect(Object.fromEntries(stage.dropped)).toEqual({ 'temperature:above_max': 2, no_fields: 1 });
  });

  it('dead-letters with reject, and refuses a range with min > max', () => {
    expect(dropOutliers(ranges, { action: 'reject' }).apply(reading({ temperature: -41 }), ctx)).toEqual({
      rejected: { code: 'out_of_range', reason: 'field "temperature" = -41 is outside [-40, 85]' },
    });
    expect(() => dropOutliers({ t: { min: 2, max: 1 } })).toThrow(/min ≤ max/);
  });
});

describe('dropStale', () => {
  const now = 1_700_000_000_000;
  const ctx = ctxAt(now);

  it('drops readings older than maxAgeMs or further ahead than maxFutureMs, by the pipeline clock', () => {
    const stage = dropStale({ maxAgeMs: 60_000, maxFutureMs: 5_000 });
    expect(outs(stage.apply(reading({ v: 1 }, {}, now - 60_000), ctx))).toHaveLength(1);
    expect(outs(stage.apply(reading({ v: 1 }, {}, now - 60_001), ctx))).toEqual([]);
    expect(outs(stage.apply(reading({ v: 1 }, {}, now + 5_000), ctx))).toHaveLength(1);
    expect(outs(stage.apply(reading({ v: 1 }, {}, now + 5_001), ctx))).toEqual([]);
    expect(Object.fromEntries(stage.dropped)).toEqual({ stale: 1, future: 1 });
  });

  it('never drops future readings by default; rejects with action reject', () => {
    expect(outs(dropStale({ maxAgeMs: 1 }).apply(reading({ v: 1 }, {}, now + 86_400_000), ctx))).toHaveLength(1);
    expect(dropStale({ maxAgeMs: 1000, action: 'reject' }).apply(reading({ v: 1 }, {}, now - 2000), ctx)).toEqual({
      rejected: { code: 'stale_reading', reason: 'reading is 2000 ms old (maxAgeMs 1000)' },
    });
    expect(() => dropStale({ maxAgeMs: 0 })).toThrow(/maxAgeMs/);
  });
});

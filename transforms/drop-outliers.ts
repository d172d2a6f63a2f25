import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { FieldValue, Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/** The plausible range of one field; either bound may be omitted. Bounds are inclusive. */
export interface FieldRange {
  readonly min?: number;
  readonly max?: number;
}

/** Options of {@link dropOutliers}. */
export interface DropOutliersOptions {
  /**
   * What happens to a reading with a value out of range: `drop` drops the reading (its message
   * settles) and counts it; `drop-field` removes only that field (the reading is dropped when no
   * field is left); `reject` dead-letters the message with code `out_of_range`. @defaultValue 'drop'
   */
  readonly action?: 'drop' | 'drop-field' | 'reject';
}

/** A stage that drops readings, with its counters. */
export interface DroppingTransform extends Transform<Reading, Reading> {
  /**
   * Readings (or, with `drop-field`, fields) dropped, by reason: `<field>:below_min`,
   * `<field>:above_max` (dropOutliers), `stale`, `future` (dropStale), `no_fields`.
   */
  readonly dropped: ReadonlyMap<string, number>;
}

/**
 * Drops physically implausible values: each listed numeric field must lie within its range.
 * Non-numeric values and missing fields are not checked (cast them first with {@link castFields}).
 * @example
 * dropOutliers({ temperature: { min: -40, max: 85 }, humidity: { min: 0, max: 100 } })
 */
export function dropOutliers(
  ranges: Readonly<Record<string, FieldRange>>,
  options: DropOutliersOptions = {},
): DroppingTransform {
  const action = options.action ?? 'drop';
  if (!['drop', 'drop-field', 'reject'].includes(action))
    throw new ConfigError('dropOutliers action', "'drop', 'drop-field' or 'reject'", action);
  const checks = Object.entries(ranges).map(([field, r]) => {
    const min = r.min ?? -Infinity;
    const max = r.max ?? Infinity;
    if (Number.isNaN(min) || Number.isNaN(max) || min > max)
      throw new ConfigError(`dropOutliers ${field}`, 'a range with min ≤ max', r);
    return { field, min, max, below: `${field}:below_min`, above: `${field}:above_max` };
  });
  const dropped = new Map<string, number>();
  const count = (reason: string) => dropped.set(reason, (dropped.get(reason) ?? 0) + 1);

  return {
    name: 'dropOutliers',
    dropped,
    apply(reading): StageOutput<Reading> {
      let fields: Record<string, FieldValue> | undefined;
      for (const c of checks) {
        const v = reading.fields[c.field];
        if (typeof v !== 'number' && typeof v !== 'bigint') continue;
        const reason = v < c.min ? c.below : v > c.max ? c.above : undefined;
        if (reason === undefined) continue;
        count(reason);
        if (action === 'reject')
          return reject(`field "${c.field}" = ${v} is outside [${c.min}, ${c.max}]`, 'out_of_range');
        if (action === 'drop') return [];
        fields ??= { ...reading.fields };
        delete fields[c.field];
      }
      if (!fields) return [reading];
      for (const _ in fields) return [{ ...reading, fields }];
      count('no_fields');
      return [];
    },
  };
}

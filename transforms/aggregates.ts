/**
 * The aggregate functions of {@link aggregateWindow} (one accumulator per field and window) and its series helpers.
 * @packageDocumentation
 */
import type { FieldValue, Reading } from '../pipeline/core/types.js';

/** An aggregate function of {@link aggregateWindow}. */
export type AggregateFn = 'mean' | 'min' | 'max' | 'sum' | 'count' | 'first' | 'last';

/** Every {@link AggregateFn}. */
export const AGGREGATE_FNS: readonly AggregateFn[] = ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'];

/**
 * Accumulates one field's values over one window (fed in event-time order when the window closes).
 * - `count`: values present, of any type (an integer field, `bigint`).
 * - `mean`, `sum`, `min`, `max`: numeric values only (`number`, `bigint`); absent when there were none.
 *   `sum`, `min` and `max` of integer (`bigint`) values stay exact integers; `mean` is a float.
 * - `first`, `last`: the value with the earliest / latest event time, of any type, so the result
 *   does not depend on arrival order (a window's readings have distinct times, see aggregateWindow).
 */
export class FieldAccumulator {
  private count = 0;
  private numeric = 0;
  private sum = 0;
  private sumBig = 0n;
  private allBig = true;
  private min: number | bigint | undefined;
  private max: number | bigint | undefined;
  private first: FieldValue | undefined;
  private firstT = 0n;
  private last: FieldValue | undefined;
  private lastT = 0n;

  /** Adds one value observed at `timeNs`. */
  add(value: FieldValue, timeNs: bigint): void {
    if (this.count === 0 || timeNs < this.firstT) [this.first, this.firstT] = [value, timeNs];
    if (this.count === 0 || timeNs > this.lastT) [this.last, this.lastT] = [value, timeNs];
    this.count++;
    if (typeof value === 'number') {
      if (Number.isNaN(value)) return;
      this.allBig = false;
    } else if (typeof value !== 'bigint') {
      return;
    } else {
      this.sumBig += value;
    }
    this.numeric++;
    this.sum += Number(value);
    if (this.min === undefined || value < this.min) this.min = value;
    if (this.max === undefined || value > this.max) this.max = value;
  }

  /** The aggregate `fn`, or `undefined` when it has no value (no numeric value for `mean`...). */
  result(fn: AggregateFn): FieldValue | undefined {
    switch (fn) {
      case 'count':
        return BigInt(this.count);
      case 'first':
        return this.first;
      case 'last':
        return this.last;
      case 'min':
        return this.min;
      case 'max':
        return this.max;
      case 'sum':
        return this.numeric === 0 ? undefined : this.allBig ? this.sumBig : this.sum;
      case 'mean':
        return this.numeric === 0
          ? undefined
          : this.allBig
            ? Number(this.sumBig) / this.numeric
            : this.sum / this.numeric;
    }
  }
}

/** Measurement and sorted tag set: what makes an InfluxDB series. */
export function seriesKey(r: Reading): string {
  let key = r.measurement;
  for (const k of Object.keys(r.tags).sort()) key += `\u0000${k}=${r.tags[k]}`;
  return key;
}

/** Milliseconds of a ns timestamp, rounded down (also before 1970). */
export function msOf(timeNs: bigint): number {
  const ms = timeNs / 1_000_000n;
  return Number(timeNs < 0n && ms * 1_000_000n !== timeNs ? ms - 1n : ms);
}

/** Which aggregates of which fields a window computes, in order. */
export type AggregatePlan = ReadonlyArray<{ readonly field: string; readonly fns: readonly AggregateFn[] }>;

/**
 * The output fields of a window (`<field>_<fn>`) from one accumulator per plan entry; `undefined`
 * when the window has nothing to write (no value, or only zero counts).
 */
export function windowFields(
  plan: AggregatePlan,
  accs: readonly FieldAccumulator[],
): Record<string, FieldValue> | undefined {
  const fields: Record<string, FieldValue> = {};
  let any = false;
  plan.forEach(({ field, fns }, i) => {
    for (const fn of fns) {
      const v = accs[i]!.result(fn);
      if (v !== undefined && (fn !== 'count' || v !== 0n)) {
        fields[`${field}_${fn}`] = v;
        any = true;
      }
    }
  });
  return any ? fields : undefined;
}

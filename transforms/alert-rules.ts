/**
 * Alert rules in code: condition builders for {@link AlertRule.when}. The `alertQueue` sink
 * evaluates the rules, keeps their state in Redis and enqueues one job per transition.
 * @packageDocumentation
 */
import { ConfigError } from '../pipeline/core/errors.js';
import type { AlertCondition, FieldValue, Reading } from '../pipeline/core/types.js';

export type { AlertCondition, AlertEvent, AlertRule } from '../pipeline/core/types.js';

/** Thresholds with hysteresis: fire at `fire`, clear at `clear`. */
export interface Hysteresis {
  readonly fire: number;
  /** Where the alert clears; between the two the state holds. @defaultValue fire (no hysteresis) */
  readonly clear?: number;
}

/** Options of {@link rateOfChange}. */
export interface RateOptions extends Hysteresis {
  /** `rise` compares the change per second, `fall` its negation, `any` its absolute value. @defaultValue 'any' */
  readonly direction?: 'rise' | 'fall' | 'any';
}

/**
 * Fires when `field ≥ fire`, clears when `field ≤ clear` (`clear ≤ fire`).
 * @example
 * above('temperature', { fire: 30, clear: 28 })
 */
export function above(field: string, t: Hysteresis): AlertCondition {
  const clear = t.clear ?? t.fire;
  check(field, t.fire, clear, clear <= t.fire, 'above: clear must be ≤ fire');
  return { kind: 'above', field, fire: t.fire, clear };
}

/**
 * Fires when `field ≤ fire`, clears when `field ≥ clear` (`clear ≥ fire`).
 * @example
 * below('battery', { fire: 20, clear: 25 })
 */
export function below(field: string, t: Hysteresis): AlertCondition {
  const clear = t.clear ?? t.fire;
  check(field, t.fire, clear, clear >= t.fire, 'below: clear must be ≥ fire');
  return { kind: 'below', field, fire: t.fire, clear };
}

/**
 * A condition in code over the field's value and the whole reading: `true` fires, `false` clears,
 * `undefined` keeps the state.
 * @example
 * predicate('status', (status) => status === 'alarm')
 */
export function predicate(
  field: string,
  test: (value: FieldValue, reading: Reading) => boolean | undefined,
): AlertCondition {
  if (!field) throw new ConfigError('predicate field', 'a non-empty field name', field);
  if (typeof test !== 'function') throw new ConfigError('predicate test', 'a function');
  return { kind: 'predicate', field, test };
}

/**
 * Fires when the field changes faster than `fire` per second between consecutive readings of a
 * series (event time), clears at `clear` or slower.
 * @example
 * rateOfChange('temperature', { fire: 2, clear: 0.5, direction: 'rise' })
 */
export function rateOfChange(field: string, t: RateOptions): AlertCondition {
  const clear = t.clear ?? t.fire;
  check(field, t.fire, clear, clear <= t.fire, 'rateOfChange: clear must be ≤ fire');
  return { kind: 'rateOfChange', field, fire: t.fire, clear, direction: t.direction ?? 'any' };
}

/**
 * A deadman: fires when a series that was seen sent nothing for `afterMs` (by the workers' clock,
 * checked by a periodic sweep), clears when it sends again. With `field`, only readings that carry
 * it count.
 * @example
 * absent({ afterMs: 30_000 })
 */
export function absent(options: { readonly afterMs: number; readonly field?: string }): AlertCondition {
  if (!Number.isFinite(options.afterMs) || options.afterMs <= 0)
    throw new ConfigError('absent afterMs', 'a positive number of ms', options.afterMs);
  return options.field === undefined
    ? { kind: 'absent', afterMs: options.afterMs }
    : { kind: 'absent', afterMs: options.afterMs, field: options.field };
}

function check(field: string, fire: number, clear: number, ordered: boolean, message: string): void {
  if (!field) throw new ConfigError('alert condition field', 'a non-empty field name', field);
  if (!Number.isFinite(fire) || !Number.isFinite(clear))
    throw new ConfigError(`alert condition on ${field} fire and clear`, 'finite numbers', { fire, clear });
  if (!ordered) throw new ConfigError(`alert condition on ${field}`, message, { fire, clear });
}

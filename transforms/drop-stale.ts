import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { Reading, StageOutput } from '../pipeline/core/types.js';
import type { DroppingTransform } from './drop-outliers.js';

/** Options of {@link dropStale}. */
export interface DropStaleOptions {
  /**
   * Readings whose time is more than this before the pipeline clock are stale. Keep it above the
   * longest outage you want to ride out: messages the broker redelivers after an outage are as old
   * as the outage. */
  readonly maxAgeMs: number;
  /** Readings more than this after the pipeline clock (a device clock running ahead) are dropped too. @defaultValue Infinity */
  readonly maxFutureMs?: number;
  /** `drop` drops and counts the reading (its message settles); `reject` dead-letters it (`stale_reading`). @defaultValue 'drop' */
  readonly action?: 'drop' | 'reject';
}

/**
 * Drops readings too old (or too far in the future) by their own timestamp, compared with the
 * pipeline clock (`ctx.now()`, a fake clock under `tributary/testing`). Counted in `dropped` as
 * `stale` and `future`.
 * @example
 * dropStale({ maxAgeMs: 24 * 3600_000, maxFutureMs: 60_000 })
 */
export function dropStale(options: DropStaleOptions): DroppingTransform {
  const { maxAgeMs } = options;
  const maxFutureMs = options.maxFutureMs ?? Infinity;
  const action = options.action ?? 'drop';
  if (!(maxAgeMs > 0)) throw new ConfigError('dropStale maxAgeMs', 'a number of ms > 0', maxAgeMs);
  if (!(maxFutureMs >= 0)) throw new ConfigError('dropStale maxFutureMs', 'a number of ms ≥ 0', maxFutureMs);
  if (action !== 'drop' && action !== 'reject') throw new ConfigError('dropStale action', "'drop' or 'reject'", action);
  const dropped = new Map<string, number>();

  return {
    name: 'dropStale',
    dropped,
    apply(reading, ctx): StageOutput<Reading> {
      const ageMs = ctx.now() - Number(reading.timeNs / 1_000_000n);
      const reason = ageMs > maxAgeMs ? 'stale' : -ageMs > maxFutureMs ? 'future' : undefined;
      if (reason === undefined) return [reading];
      dropped.set(reason, (dropped.get(reason) ?? 0) + 1);
      if (action === 'drop') return [];
      const what =
        reason === 'stale'
          ? `${ageMs} ms old (maxAgeMs ${maxAgeMs})`
          : `${-ageMs} ms in the future (maxFutureMs ${maxFutureMs})`;
      return reject(`reading is ${what}`, 'stale_reading');
    },
  };
}

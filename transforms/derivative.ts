import { ConfigError } from '../pipeline/core/errors.js';
import type { FieldValue, Reading } from '../pipeline/core/types.js';
import { sequenceStage, type SequenceStageOptions, type SequenceTransform } from './sequence-stage.js';

/** Options of {@link derivative} and {@link rate}. */
export interface DerivativeOptions extends SequenceStageOptions {
  /** The change is given per this much time. @defaultValue 1000 (per second) */
  readonly unitMs?: number;
}

/**
 * The change per `unitMs` of each watched number since the series' previous reading (by event
 * time), as fields `<field>_derivative` at the reading's time; the first reading of a series gives
 * nothing. A redelivered reading gives the same values again.
 * @example
 * derivative({ fields: ['temperature'], unitMs: 60_000 }) // °C per minute
 */
export function derivative(options: DerivativeOptions): SequenceTransform {
  return build('derivative', options, false);
}

/**
 * {@link derivative} of counters: a value below the previous one is a reset (the device restarted
 * from zero), so the increase is the new value itself, never negative. Fields `<field>_rate`.
 * @example
 * rate({ fields: ['bytes_sent'] }) // bytes per second
 */
export function rate(options: DerivativeOptions): SequenceTransform {
  return build('rate', options, true);
}

function build(name: 'derivative' | 'rate', options: DerivativeOptions, counter: boolean): SequenceTransform {
  const unitMs = options.unitMs ?? 1000;
  if (!(Number.isFinite(unitMs) && unitMs > 0))
    throw new ConfigError(`${name} unitMs`, 'a number of ms > 0', options.unitMs);
  const names = (options.fields ?? []).map((f) => `${f}_${name}`);
  return sequenceStage(
    name,
    options,
    { mode: 'rate', perNs: unitMs * 1e6, counter },
    (r: Reading, result) => {
      if (!result.startsWith('r')) return undefined;
      const fields: Record<string, FieldValue> = {};
      result
        .slice(1)
        .split(',')
        .forEach((v, j) => {
          if (v !== '') fields[names[j]!] = Number(v);
        });
      return { measurement: r.measurement, tags: r.tags, fields, timeNs: r.timeNs };
    },
    () => 'first',
  );
}

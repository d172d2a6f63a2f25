import { ConfigError } from '../pipeline/core/errors.js';
import { sequenceStage, type SequenceStageOptions, type SequenceTransform } from './sequence-stage.js';

/** Options of {@link dedupe}. */
export interface DedupeOptions extends SequenceStageOptions {
  /** A repeat is passed on anyway once this long (event time) passed since the last reading passed on. @defaultValue never */
  readonly withinMs?: number;
  /** Per numeric field, a change up to this much counts as no change. @defaultValue exact for every field */
  readonly deadband?: Readonly<Record<string, number>>;
}

/**
 * Drops a reading whose watched fields equal those of the series' last reading passed on (numbers
 * within their `deadband`), unless `withinMs` passed since it. Per series (measurement + tag set),
 * by event time; a redelivered reading gets the same decision again. State in this worker, or
 * shared by a share group with `state: redisStageState(...)`.
 * @example
 * dedupe({ fields: ['temperature', 'status'], deadband: { temperature: 0.2 }, withinMs: 300_000 })
 */
export function dedupe(options: DedupeOptions): SequenceTransform {
  const withinMs = options.withinMs ?? -1;
  if (options.withinMs !== undefined && !(Number.isFinite(withinMs) && withinMs >= 0))
    throw new ConfigError('dedupe withinMs', 'a number of ms ≥ 0', options.withinMs);
  for (const [field, band] of Object.entries(options.deadband ?? {})) {
    if (!options.fields?.includes(field))
      throw new ConfigError(`dedupe deadband.${field}`, 'a field listed in fields', field);
    if (!(Number.isFinite(band) && band >= 0)) throw new ConfigError(`dedupe deadband.${field}`, 'a number ≥ 0', band);
  }
  const deadband = (options.fields ?? []).map((f) => options.deadband?.[f] ?? -1);
  return sequenceStage(
    'dedupe',
    options,
    { mode: 'dedupe', withinMs, deadband },
    (r, result) => (result === 'e' ? r : undefined),
    () => 'duplicate',
  );
}

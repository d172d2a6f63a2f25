import { sequenceStage, type SequenceStageOptions, type SequenceTransform } from './sequence-stage.js';

/** Options of {@link changed}. */
export type ChangedOptions = SequenceStageOptions;

/**
 * Passes a reading on only when one of its watched fields differs from the series' previous
 * reading (by event time; the first reading of a series passes). A redelivered reading gets the
 * same decision again. State in this worker, or shared by a share group with `state: redisStageState(...)`.
 * @example
 * changed({ fields: ['status'] })
 */
export function changed(options: ChangedOptions): SequenceTransform {
  return sequenceStage(
    'changed',
    options,
    { mode: 'changed' },
    (r, result) => (result === 'e' ? r : undefined),
    () => 'unchanged',
  );
}

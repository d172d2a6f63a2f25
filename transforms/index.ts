/** The stage library: each factory returns a typed {@link Transform}. */
export { toReadings, type ToReadingsOptions, type Selection, type FieldSelection, type Path } from './to-readings.js';
export { parseTopic, type ParseTopicOptions } from './parse-topic.js';
export { toTimeNs, guessUnit, type TimeUnit } from './time.js';
// Field and tag shaping, unit and type conversion, filtering, enrichment, windows (issue 4).
export { renameFields, type NameMap, type RenameFieldsOptions } from './rename-fields.js';
export { castFields, type CastFieldsOptions, type CastFieldsTransform, type FieldType } from './cast-fields.js';
export { convertUnits, UNITS, type ConvertUnitsOptions, type Unit, type UnitConversion } from './convert-units.js';
export { dropOutliers, type DropOutliersOptions, type DroppingTransform, type FieldRange } from './drop-outliers.js';
export { dropStale, type DropStaleOptions } from './drop-stale.js';
export { addTags, type AddTagsOptions } from './add-tags.js';
export {
  enrichFrom,
  type EnrichFromOptions,
  type EnrichFromTransform,
  type EnrichStats,
  type Enrichment,
  type Lookup,
} from './enrich-from.js';
export { mapLookup, type MapLookupOptions } from './lookups/map-lookup.js';
export { redisHash, type RedisHashOptions } from './lookups/redis-hash.js';
export {
  aggregateWindow,
  systemClock,
  type AggregateFn,
  type AggregateWindowOptions,
  type AggregateWindowTransform,
  type TimerClock,
} from './aggregate-window.js';
// Shared stage state and the stateful stages on it (issue 15).
export {
  memoryStageState,
  redisStageState,
  type MemoryStageStateOptions,
  type RedisStageStateOptions,
  type StageState,
} from './shared-state/index.js';
export { dedupe, type DedupeOptions } from './dedupe.js';
export { changed, type ChangedOptions } from './changed.js';
export { derivative, rate, type DerivativeOptions } from './derivative.js';
export type { SequenceStageOptions, SequenceTransform } from './sequence-stage.js';
export {
  trackSparkplugNodes,
  type SparkplugNodesTransform,
  type TrackSparkplugNodesOptions,
} from './track-sparkplug-nodes.js';
// Alert rules, evaluated by the alert-queue sink (issue 5).
export { above, below, predicate, rateOfChange, absent, type Hysteresis, type RateOptions } from './alert-rules.js';
export { measurementFromTopic, type MeasurementFromTopicOptions } from './topic-measurement.js';

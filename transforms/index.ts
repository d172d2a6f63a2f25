/** The stage library: each factory returns a typed {@link Transform}. */
export { toReadings, type ToReadingsOptions } from './to-readings.js';
export { parseTopic, type ParseTopicOptions } from './parse-topic.js';
export { toTimeNs, guessUnit, type TimeUnit } from './time.js';
// Alert rules, evaluated by the alert-queue sink (issue 5).
export { above, below, predicate, rateOfChange, absent, type Hysteresis, type RateOptions } from './alert-rules.js';

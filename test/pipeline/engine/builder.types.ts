/**
 * Compile-time checks of the typed builder: type-checked by `tsc --noEmit -p .`, never run.
 * Each `@ts-expect-error` line must NOT compile; if it ever does, tsc reports the unused directive.
 */
import { definePipeline } from '../../../pipeline/engine/builder.js';
import { flatMap, map } from '../../../pipeline/core/stage.js';
import type { DeadLetterSink, DecodedValue, Reading, Sink, Source, Transform } from '../../../pipeline/core/types.js';
import { influxdb } from '../../../sinks/influxdb/index.js';
import { parseTopic, toReadings } from '../../../transforms/index.js';

declare const source: Source<DecodedValue>;
declare const readingToReading: Transform<Reading, Reading>;
declare const stringToString: Transform<string, string>;
declare const deadLetters: DeadLetterSink;
declare const numberSink: Sink<number>;

const influx = influxdb({ url: 'http://127.0.0.1:8086', api: 'v1', database: 'telemetry' });
const fromSource = definePipeline({ name: 'types' }).from(source);

// Positive: the documented chain compiles, with or without a dead-letter sink.
export const fleet = fromSource
  .pipe(toReadings({ measurement: 'telemetry' }))
  .pipe(parseTopic('fleet/{site}/{device}/telemetry'))
  .to(influx);
export const fleetWithDeadLetters = fromSource
  .pipe(toReadings({ measurement: 'telemetry' }))
  .pipe(readingToReading)
  .pipe(map('celsius', (r: Reading): Reading => ({ ...r, fields: { ...r.fields, c: 1 } })))
  .to(influx)
  .deadLettersTo(deadLetters);
export const counted = fromSource
  .pipe(toReadings({ measurement: 'telemetry' }))
  .pipe(flatMap('count', (r: Reading) => [Object.keys(r.fields).length]))
  .to(numberSink);

// A Reading stage cannot read the source's DecodedValue.
// @ts-expect-error Transform<Reading, Reading> after a source of DecodedValue
fromSource.pipe(readingToReading);
// @ts-expect-error parseTopic wants Readings, not decoded payloads
fromSource.pipe(parseTopic('fleet/{site}/#'));

// A string stage cannot read DecodedValue (which is wider than string).
// @ts-expect-error Transform<string, string> after a source of DecodedValue
fromSource.pipe(stringToString);

// Nor can a Reading stage be followed by a string stage.
// @ts-expect-error Transform<string, string> after toReadings
fromSource.pipe(toReadings({ measurement: 'm' })).pipe(stringToString);

// Sinks must take what the last stage produces.
// @ts-expect-error an InfluxDB sink straight after the source, without toReadings
fromSource.to(influx);
// @ts-expect-error a Sink<number> after a stage producing Readings
fromSource.pipe(toReadings({ measurement: 'm' })).to(numberSink);

// Branches: each branch's chain type-checks like the main chain; the join is the union of the branches.
export const branched = fromSource
  .branch('tele/+/SENSOR', (b) => b.pipe(toReadings({ measurement: 'tasmota' })).pipe(parseTopic('tele/{device}/SENSOR')))
  .branch('sensor/#', (b) => b.pipe(toReadings({ measurement: 'sensor' })).pipe(readingToReading))
  .join()
  .pipe(readingToReading)
  .to(influx);
// @ts-expect-error a Reading stage first in a branch, which starts with the decoded body
fromSource.branch('a/#', (b) => b.pipe(readingToReading));
// @ts-expect-error a string stage after toReadings inside a branch
fromSource.branch('a/#', (b) => b.pipe(toReadings({ measurement: 'm' })).pipe(stringToString));
// @ts-expect-error a branch left as decoded bodies joins as DecodedValue | Reading: no Reading stage after it
fromSource.branch('a/#', (b) => b.pipe(toReadings({ measurement: 'm' }))).branch('b/#', (b) => b).join().pipe(readingToReading);
// @ts-expect-error a Sink<number> after branches producing Readings
fromSource.branch('a/#', (b) => b.pipe(toReadings({ measurement: 'm' }))).join().to(numberSink);
// @ts-expect-error no sinks on the branches themselves: join first
fromSource.branch('a/#', (b) => b.pipe(toReadings({ measurement: 'm' }))).to(influx);

// A fleet pipeline that writes per-device window aggregates instead of raw readings. The window
// integration test (test/pipeline/window.redelivery.int.test.ts) runs it with `tributary run` and
// SIGKILLs it; WINDOW_EVERY_MS / WINDOW_LATENESS_MS / DEAD_LETTER_STREAM come from that test.
import { createLogger, definePipeline, json, map, mqttSource, workerEnv, type Reading } from '../../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../../sinks/index.js';
import { aggregateWindow, parseTopic, toReadings } from '../../transforms/index.js';

const env = workerEnv();
const root = process.env.FLEET_TOPIC_ROOT ?? 'fleet';
const log = createLogger(undefined, { clientId: env.mqtt.clientId });
let seen = 0;

export default definePipeline({ name: 'fleet-windowed' })
  .from(mqttSource({ ...env.mqtt, log, subscribe: [{ topic: `${root}/+/+/telemetry`, decode: json() }] }))
  .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
  .pipe(parseTopic(`${root}/{site}/{device}/telemetry`))
  // Tells the test how many readings this worker has taken in (so it knows they are held).
  .pipe(
    map('tap', (r: Reading) => {
      if (process.env.WINDOW_TAP) console.log(`tap: ${++seen} readings in`);
      return r;
    }),
  )
  .pipe(
    aggregateWindow({
      everyMs: Number(process.env.WINDOW_EVERY_MS ?? 60_000),
      allowedLatenessMs: Number(process.env.WINDOW_LATENESS_MS ?? 5_000),
      fields: { temperature: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'], battery: ['min', 'last'] },
    }),
  )
  .to(influxdb({ ...env.influx, log }))
  .deadLettersTo(redisDeadLetters({ url: env.redis.url, stream: process.env.DEAD_LETTER_STREAM }));

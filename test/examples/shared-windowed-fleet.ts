// The fleet pipeline writing 10 s window aggregates per device on shared stage state in Redis, so
// any number of workers of one share group can run it. test/pipeline/window.shared.int.test.ts runs
// it with `tributary run`; WINDOW_* / DEAD_LETTER_STREAM come from that test.
import { createLogger, definePipeline, json, mqttSource, workerEnv } from '../../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../../sinks/index.js';
import { aggregateWindow, parseTopic, redisStageState, toReadings } from '../../transforms/index.js';

const env = workerEnv();
const root = process.env.FLEET_TOPIC_ROOT ?? 'fleet';
const log = createLogger(undefined, { clientId: env.mqtt.clientId });

export default definePipeline({ name: 'fleet-shared-windows' })
  .from(mqttSource({ ...env.mqtt, log, subscribe: [{ topic: `${root}/+/+/telemetry`, decode: json() }] }))
  .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
  .pipe(parseTopic(`${root}/{site}/{device}/telemetry`))
  .pipe(
    aggregateWindow({
      everyMs: Number(process.env.WINDOW_EVERY_MS ?? 10_000),
      allowedLatenessMs: Number(process.env.WINDOW_LATENESS_MS ?? 5_000),
      fields: { temperature: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'], battery: ['min', 'last'] },
      state: redisStageState({ url: env.redis.url, keyPrefix: process.env.WINDOW_STATE_PREFIX ?? 'tributary:state' }),
      onLate: 'reject',
    }),
  )
  .to(influxdb({ ...env.influx, log }))
  .deadLettersTo(redisDeadLetters({ url: env.redis.url, stream: process.env.DEAD_LETTER_STREAM }));

// The fleet pipeline of bench/window-cost.ts: raw readings into InfluxDB (BENCH_WINDOW=none), or a
// 10 s window per device on shared state in Redis (BENCH_WINDOW=shared) or in the worker (local).
import { definePipeline, json, mqttSource, workerEnv } from '../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../sinks/index.js';
import { aggregateWindow, parseTopic, redisStageState, toReadings } from '../transforms/index.js';

const env = workerEnv();
const root = process.env.FLEET_TOPIC_ROOT ?? 'fleet';
const mode = process.env.BENCH_WINDOW ?? 'none';

const base = definePipeline({ name: 'bench-window' })
  .from(mqttSource({ ...env.mqtt, subscribe: [{ topic: `${root}/+/+/telemetry`, decode: json() }] }))
  .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
  .pipe(parseTopic(`${root}/{site}/{device}/telemetry`));

const pipeline =
  mode === 'none'
    ? base
    : base.pipe(
        aggregateWindow({
          everyMs: 10_000,
          allowedLatenessMs: 5_000,
          fields: { temperature: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'], battery: ['min', 'last'] },
          state:
            mode === 'shared'
              ? redisStageState({ url: env.redis.url, keyPrefix: process.env.BENCH_STATE_PREFIX })
              : 'local',
        }),
      );

export default pipeline
  .to(influxdb(env.influx))
  .deadLettersTo(redisDeadLetters({ url: env.redis.url, stream: process.env.DEAD_LETTER_STREAM }));

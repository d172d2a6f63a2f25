// The device fleet into InfluxDB and PostgreSQL at once: a message is acknowledged once both
// committed its reading. Endpoints come from TRIBUTARY_* variables (TRIBUTARY_POSTGRES_URL,
// _SCHEMA, _LAYOUT for PostgreSQL). Written only with the public API.
import { createLogger, definePipeline, json, mqttSource, workerEnv } from '../pipeline/index.js';
import { influxdb, postgres, postgresEnv, redisDeadLetters } from '../sinks/index.js';
import { parseTopic, toReadings } from '../transforms/index.js';

const env = workerEnv();
const root = process.env.FLEET_TOPIC_ROOT ?? 'fleet'; // first topic level of the fleet's topics
const log = createLogger(undefined, { clientId: env.mqtt.clientId });

export default definePipeline({ name: 'fleet-postgres' })
  .from(mqttSource({ ...env.mqtt, log, subscribe: [{ topic: `${root}/+/+/telemetry`, decode: json() }] }))
  // {"ts":1795315235165,"temperature":19.96,"humidity":47.6,"battery":49,"status":"ok"}
  .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
  .pipe(parseTopic(`${root}/{site}/{device}/telemetry`))
  // wide layout: table "telemetry" (time, series, site, device, temperature, humidity, battery, status)
  .to(influxdb({ ...env.influx, log }), postgres({ ...postgresEnv(), log }))
  .deadLettersTo(redisDeadLetters({ url: env.redis.url }));

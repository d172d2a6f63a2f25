// The device-fleet pipeline: telemetry from fleet/<site>/<device>/{telemetry|packed|proto} — the same
// body as JSON, MessagePack or protobuf — into InfluxDB and through the alert rules.
// Written only with the public API; endpoints come from TRIBUTARY_* environment variables.
import { fileURLToPath } from 'node:url';
import { createLogger, definePipeline, json, mqttSource, msgpack, protobuf, workerEnv } from '../pipeline/index.js';
import { influxdb, redisDeadLetters, spooled } from '../sinks/index.js';
import { parseTopic, toReadings } from '../transforms/index.js';
import { fleetAlerts } from './fleet-alerts.js';

const env = workerEnv();
const root = process.env.FLEET_TOPIC_ROOT ?? 'fleet'; // first topic level of the fleet's topics
const log = createLogger(undefined, { clientId: env.mqtt.clientId });
const schema = fileURLToPath(new URL('../schemas/fleet.proto', import.meta.url));
const influx = influxdb({ ...env.influx, log });

export default definePipeline({ name: 'fleet' })
  .from(
    mqttSource({
      ...env.mqtt,
      log,
      presence: { details: { pipeline: 'fleet' } },
      subscribe: [
        { topic: `${root}/+/+/telemetry`, decode: json() },
        { topic: `${root}/+/+/packed`, decode: msgpack() },
        { topic: `${root}/+/+/proto`, decode: protobuf({ schema, type: 'fleet.Telemetry' }) },
      ],
    }),
  )
  // {"ts":1795315235165,"temperature":19.96,"humidity":47.6,"battery":49,"status":"ok"}
  .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
  .pipe(parseTopic(`${root}/{site}/{device}/+`))
  // Every reading goes to InfluxDB and through the alert rules; a message is acknowledged once both
  // have it. With TRIBUTARY_SPOOL_DIR set, batches InfluxDB cannot take go to a local durable spool.
  .to(
    env.spool ? spooled(influx, { ...env.spool, log }) : influx,
    fleetAlerts({ url: env.redis.url, queue: process.env.FLEET_ALERT_QUEUE ?? 'alerts' }),
  )
  .deadLettersTo(redisDeadLetters({ url: env.redis.url }));

// Two payload shapes in one pipeline, each with its own decoder and stages: Tasmota plugs and
// sensors publish JSON on tele/<device>/SENSOR (their time under "Time", not one of toReadings'
// default keys), plain sensors a bare value on sensor/<id>/<measurement>. The branches join into
// readings that share the last stage and the sinks.
// Written only with the public API; endpoints come from TRIBUTARY_* environment variables.
import { definePipeline, json, mqttSource, raw, workerEnv } from '../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../sinks/index.js';
import { addTags, measurementFromTopic, parseTopic, toReadings } from '../transforms/index.js';

const env = workerEnv();

export default definePipeline({ name: 'home' })
  .from(
    mqttSource({
      ...env.mqtt,
      subscribe: [
        { topic: 'tele/+/SENSOR', decode: json() }, // Tasmota: {"Time":"2024-05-01T12:00:00","DS18B20":{"Id":"01144A0CB2AA","Temperature":21.5}}
        { topic: 'sensor/+/+', decode: raw() }, // 23.5 on sensor/001/temperature
      ],
    }),
  )
  .branch('tele/+/SENSOR', (tasmota) =>
    tasmota
      .pipe(toReadings({ measurement: 'tasmota', time: ['Time'], tags: ['DS18B20_Id'] }))
      .pipe(parseTopic('tele/{device}/SENSOR')),
  )
  .branch('sensor/+/+', (sensors) =>
    sensors
      .pipe(toReadings({ measurement: 'sensor' })) // a bare value becomes the field `value`
      .pipe(measurementFromTopic('sensor/{sensor}/{measurement}')),
  )
  .join() // both branches produce readings
  .pipe(addTags({ site: 'home' }))
  .to(influxdb(env.influx))
  .deadLettersTo(redisDeadLetters({ url: env.redis.url }));

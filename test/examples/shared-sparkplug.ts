// Sparkplug B through a share group: sparkplugMessages() + trackSparkplugNodes on Redis state, so any
// worker decodes any edge node's DATA. test/pipeline/sparkplug.shared.int.test.ts runs it with
// `tributary run`; SPARKPLUG_GROUP / SPARKPLUG_STATE_PREFIX / DEAD_LETTER_STREAM come from that test.
import mqtt from 'mqtt';
import { createLogger, definePipeline, mqttSource, sparkplugMessages, workerEnv } from '../../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../../sinks/index.js';
import { redisStageState, toReadings, trackSparkplugNodes } from '../../transforms/index.js';

const env = workerEnv();
const log = createLogger(undefined, { clientId: env.mqtt.clientId });
let commands: mqtt.MqttClient | undefined; // connected at the first rebirth request

export default definePipeline({ name: 'sparkplug-shared' })
  .from(
    mqttSource({
      ...env.mqtt,
      log,
      subscribe: [{ topic: `spBv1.0/${process.env.SPARKPLUG_GROUP ?? '+'}/#`, decode: sparkplugMessages() }],
    }),
  )
  .pipe(
    trackSparkplugNodes({
      state: redisStageState({
        url: env.redis.url,
        keyPrefix: process.env.SPARKPLUG_STATE_PREFIX ?? 'tributary:state',
      }),
      rebirth: (topic, payload) => {
        commands ??= mqtt.connect(env.mqtt.url, { clientId: `${env.mqtt.clientId}-cmd` });
        commands.publish(topic, Buffer.from(payload), { qos: 1 });
      },
    }),
  )
  .pipe(toReadings({ measurement: 'sparkplug', tags: ['group', 'node', 'device', 'host'], time: ['ts'] }))
  .to(influxdb({ ...env.influx, log }))
  .deadLettersTo(redisDeadLetters({ url: env.redis.url, stream: process.env.DEAD_LETTER_STREAM }));

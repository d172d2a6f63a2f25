import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { workerEnv } from '../config/env.js';
import { ConfigError } from '../errors.js';
import { listDeadLetters, replayDeadLetters } from '../../sinks/dead-letter/store.js';

const HELP = `Usage: tributary dead-letters list|replay [--count N] [--stream KEY]

list     prints the oldest N dead letters: time, code, reason, topic and the payload (text or base64)
replay   republishes the oldest N to their original topics (QoS 1, same content type and user
         properties) on TRIBUTARY_MQTT_URL and deletes each once the broker acknowledged it`;

/** `tributary dead-letters`. */
export async function deadLettersCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: { count: { type: 'string', default: '100' }, stream: { type: 'string', default: 'tributary:dead-letters' }, help: { type: 'boolean', default: false } },
  });
  const action = positionals[0];
  if (values.help || !action) { console.log(HELP); return values.help ? 0 : 2; }
  if (action !== 'list' && action !== 'replay') throw new ConfigError('dead-letters <action>', 'list or replay', action);
  const env = workerEnv();
  const redis = new Redis(env.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const count = Number(values.count);
    if (action === 'list') {
      const entries = await listDeadLetters(redis, values.stream, count);
      for (const { id, letter } of entries) {
        const bytes = Buffer.from(letter.payloadBase64, 'base64');
        const text = bytes.toString('utf8');
        const payload = Buffer.from(text, 'utf8').equals(bytes) ? JSON.stringify(text) : `base64:${letter.payloadBase64}`;
        console.log(`${id} ${new Date(letter.receivedAtMs).toISOString()} ${letter.code} [${letter.stage}] ${letter.topic}: ${letter.reason}\n    payload ${payload}`);
      }
      console.log(`${entries.length} dead letter(s) shown (stream ${values.stream}, ${await redis.xlen(values.stream)} in all)`);
      return 0;
    }
    const client = await mqtt.connectAsync(env.mqtt.url, { clientId: `tributary-replay-${process.pid}`, username: env.mqtt.username, password: env.mqtt.password, protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const n = await replayDeadLetters(redis, values.stream, async (topic, payload, letter) => {
        await client.publishAsync(topic, payload, { qos: 1, properties: { contentType: letter.contentType, userProperties: letter.userProperties as Record<string, string | string[]> | undefined } });
      }, count);
      console.log(`replayed ${n} dead letter(s)`);
    } finally {
      await client.endAsync();
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

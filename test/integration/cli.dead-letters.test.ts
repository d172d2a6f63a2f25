// `tributary dead-letters list|replay` as users run it, against real Redis and the real broker.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeDeadLetter } from '../../sinks/index.js';
import { MQTT_URL, REDIS_URL, uniqueName, waitFor } from '../support/services.js';

const run = promisify(execFile);
const redis = new Redis(REDIS_URL);
afterAll(() => redis.disconnect());

describe('tributary dead-letters', () => {
  it('lists dead letters with reason and payload, and replays them to their topics', async () => {
    const stream = `tributary-test:${uniqueName('cli')}`;
    const topic = `tributary-test/${uniqueName('replay')}/telemetry`;
    const payload = Buffer.from('{"ts":1700000000000,"temperature":');
    await redis.xadd(stream, '*', 'letter', encodeDeadLetter({
      code: 'decode_error', reason: 'invalid JSON: Unexpected end of JSON input', stage: 'decode:json',
      topic, qos: 1, receivedAtMs: 1700000000000, payload,
    }));
    await redis.xadd(stream, '*', 'letter', 'not a dead letter'); // written by something else
    const env = { ...process.env, TRIBUTARY_MQTT_URL: MQTT_URL, TRIBUTARY_REDIS_URL: REDIS_URL };
    const listed = await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', 'list', '--stream', stream], { env });
    expect(listed.stdout).toContain(`decode_error [decode:json] ${topic}: invalid JSON`);
    expect(listed.stdout).toContain(JSON.stringify(payload.toString()));
    expect(listed.stdout).toMatch(/unreadable \[store\] : stream entry is not a Tributary dead letter/);
    expect(listed.stdout).toMatch(/2 dead letter\(s\) shown/);

    const sub = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('sub'), reconnectPeriod: 0 });
    const received: Buffer[] = [];
    sub.on('message', (_t, p) => received.push(p));
    await sub.subscribeAsync(topic, { qos: 1 });
    const replayed = await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', 'replay', '--stream', stream], { env });
    expect(replayed.stdout).toContain('replayed 1 dead letter(s)');
    expect(await waitFor(() => received.length === 1, 5000, 20)).toBe(true);
    expect(received[0]!.equals(payload)).toBe(true);
    expect(await redis.xlen(stream)).toBe(1); // the foreign entry is left for a person to look at
    await redis.del(stream);
    await sub.endAsync();
  });

  it('--help explains each action; a wrong action fails naming what is expected', async () => {
    const help = await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', '--help']);
    expect(help.stdout).toMatch(/list\s+prints the oldest N dead letters/);
    await expect(run(process.execPath, ['bin/tributary.mjs', 'dead-letters', 'purge'])).rejects.toMatchObject({ stderr: expect.stringContaining('list or replay') });
  });
});

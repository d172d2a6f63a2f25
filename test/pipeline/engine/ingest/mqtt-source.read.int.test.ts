// mqttSource reads PUBLISH packets off the socket itself (PublishReader): against the real broker,
// what arrives must be exactly what was published, in order, with its MQTT 5 properties, and a
// settled message must be acknowledged on the connection it came in on.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { mqttSource } from '../../../../pipeline/engine/ingest/mqtt-source.js';
import { raw } from '../../../../pipeline/engine/decode/raw.js';
import type { SourceMessage } from '../../../../pipeline/core/types.js';
import { MQTT_URL, uniqueName, waitFor } from '../../../support/services.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined);
});

async function openSource(clientId: string, topic: string, protocolVersion: 4 | 5, qos: 0 | 1 = 1) {
  const source = mqttSource({
    url: MQTT_URL,
    clientId,
    protocolVersion,
    subscribe: [{ topic, decode: raw(), qos }],
    sessionExpiryS: 300,
  });
  const received: SourceMessage[] = [];
  await source.open((m) => {
    received.push(m);
  });
  closers.push(() => source.close());
  return { source, received };
}

async function publisher(protocolVersion: 4 | 5) {
  const pub = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('pub'), protocolVersion, reconnectPeriod: 0 });
  closers.push(() => pub.endAsync());
  return pub;
}

describe.each([4, 5] as const)('mqttSource reading PUBLISHes on MQTT %s against the real broker', (v) => {
  it('delivers every message byte for byte and in order: 3,000 small ones, a 300 kB one, retained and QoS 0 ones', async () => {
    const topic = `tributary-test/${uniqueName('read')}`;
    const { received } = await openSource(uniqueName('reader'), `${topic}/#`, v);
    const pub = await publisher(v);
    const sent: Array<{ topic: string; payload: Buffer; qos: 0 | 1 }> = [];
    for (let i = 0; i < 3000; i++)
      sent.push({
        topic: `${topic}/d${i % 7}`,
        payload: Buffer.from(`{"i":${i},"pad":"${'x'.repeat(i % 97)}"}`),
        qos: 1,
      });
    sent.splice(
      1500,
      0,
      { topic: `${topic}/big`, payload: Buffer.alloc(300_000, 0xab), qos: 1 },
      { topic: `${topic}/zero`, payload: Buffer.from('q0'), qos: 0 },
    );
    await Promise.all(sent.map((m) => pub.publishAsync(m.topic, m.payload, { qos: m.qos })));
    expect(await waitFor(() => received.length === sent.length, 15_000, 20)).toBe(true);
    expect(received.map((m) => m.topic)).toEqual(sent.map((m) => m.topic));
    expect(received.every((m, i) => Buffer.from(m.payload).equals(sent[i]!.payload))).toBe(true);
    expect(received.map((m) => m.qos)).toEqual(sent.map((m) => m.qos));
    for (const m of received) m.settle();
  });

  it('a settled message is acknowledged and not redelivered; an unsettled one is, after a reconnect', async () => {
    const clientId = uniqueName('ackread');
    const topic = `tributary-test/${clientId}`;
    const first = await openSource(clientId, topic, v);
    const pub = await publisher(v);
    for (const p of ['a', 'b', 'c']) await pub.publishAsync(topic, p, { qos: 1 });
    expect(await waitFor(() => first.received.length === 3, 5000, 20)).toBe(true);
    first.received[0]!.settle();
    await new Promise((r) => setTimeout(r, 300)); // the PUBACK leaves
    first.source.client!.stream.destroy(); // connection lost with b and c unacknowledged
    await first.source.close();
    const second = await openSource(clientId, topic, v);
    expect(await waitFor(() => second.received.length === 2, 5000, 20)).toBe(true);
    expect(second.received.map((m) => m.payload.toString())).toEqual(['b', 'c']);
  });
});

describe('mqttSource reading MQTT 5 properties', () => {
  it('keeps the content type and user properties (repeated keys as a list) and the retain flag', async () => {
    const topic = `tributary-test/${uniqueName('props')}`;
    const pub = await publisher(5);
    await pub.publishAsync(topic, '{"v":1}', {
      qos: 1,
      retain: true,
      properties: {
        contentType: 'application/json',
        userProperties: { site: 'north', tag: ['a', 'b'] },
        messageExpiryInterval: 600,
      },
    });
    const { received } = await openSource(uniqueName('props'), topic, 5);
    expect(await waitFor(() => received.length === 1, 5000, 20)).toBe(true);
    const m = received[0]!;
    expect([m.payload.toString(), m.retain, m.contentType, m.userProperties]).toEqual([
      '{"v":1}',
      true,
      'application/json',
      { site: 'north', tag: ['a', 'b'] },
    ]);
    m.settle();
    await pub.publishAsync(topic, '', { qos: 1, retain: true }); // clears the retained message
  });
});

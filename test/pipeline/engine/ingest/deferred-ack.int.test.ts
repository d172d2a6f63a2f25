// Guards the one place that relies on mqtt.js internals: if an mqtt upgrade changes
// handleMessage or _sendPacket, these fail against the real broker.
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DeferredAcks } from '../../../../pipeline/engine/ingest/deferred-ack.js';
import { MQTT_URL, uniqueName, waitFor } from '../../../support/services.js';

const clients: MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
});

async function session(clientId: string, topic: string, protocolVersion: 4 | 5) {
  // Handlers go on before CONNACK: a resumed session's queued messages arrive right after it.
  const client = mqtt.connect(MQTT_URL, {
    clientId,
    clean: false,
    protocolVersion,
    reconnectPeriod: 0,
    properties: protocolVersion === 5 ? { sessionExpiryInterval: 300 } : undefined,
  });
  clients.push(client);
  const acks = new DeferredAcks(client);
  const received: Array<{ payload: string; dup: boolean; settle: () => void }> = [];
  client.on('message', (_t, payload, packet) => {
    received.push({ payload: payload.toString(), dup: packet.dup, settle: acks.settler(packet.messageId!) });
  });
  await new Promise((resolve) => client.once('connect', resolve));
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, acks, received };
}

async function publish(topic: string, payloads: string[]): Promise<void> {
  const pub = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('pub'), reconnectPeriod: 0 });
  for (const p of payloads) await pub.publishAsync(topic, p, { qos: 1 });
  await pub.endAsync();
}

describe.each([4, 5] as const)('deferred PUBACK on MQTT %s against the real broker', (protocolVersion) => {
  it('withholds PUBACK until settled: an unsettled message is redelivered, a settled one is not', async () => {
    const clientId = uniqueName('ack');
    const topic = `tributary-test/${clientId}`;
    const first = await session(clientId, topic, protocolVersion);
    await publish(topic, ['a', 'b', 'c']);
    expect(await waitFor(() => first.received.length === 3, 5000, 20)).toBe(true);
    first.received[0]!.settle(); // only 'a' is acknowledged
    expect(await waitFor(() => first.acks.sent === 1, 2000, 20)).toBe(true);
    expect(await waitFor(() => first.client.stream.writableLength === 0, 2000, 5)).toBe(true); // the PUBACK left the socket
    first.client.stream.destroy(); // connection lost with b and c unacknowledged
    await new Promise((r) => setTimeout(r, 200));

    const second = await session(clientId, topic, protocolVersion);
    expect(await waitFor(() => second.received.length === 2, 5000, 20)).toBe(true);
    expect(second.received.map((m) => m.payload)).toEqual(['b', 'c']);
    expect(second.received.every((m) => m.dup)).toBe(true);
    for (const m of second.received) m.settle();
    expect(await waitFor(() => second.acks.sent === 2, 2000, 20)).toBe(true);
    await second.client.endAsync();

    const third = await session(clientId, topic, protocolVersion);
    await new Promise((r) => setTimeout(r, 500));
    expect(third.received).toEqual([]);
    await third.client.unsubscribeAsync(topic);
  });

  it('releases PUBACKs in arrival order even when later messages settle first', async () => {
    const clientId = uniqueName('order');
    const topic = `tributary-test/${clientId}`;
    const s = await session(clientId, topic, protocolVersion);
    await publish(topic, ['1', '2', '3']);
    expect(await waitFor(() => s.received.length === 3, 5000, 20)).toBe(true);
    s.received[2]!.settle();
    s.received[1]!.settle();
    await new Promise((r) => setTimeout(r, 100));
    expect(s.acks.sent).toBe(0); // '1' still holds the line
    s.received[0]!.settle();
    s.received[0]!.settle(); // idempotent
    expect(s.acks.sent).toBe(0); // the run goes out in one write once this tick is done
    await new Promise((r) => process.nextTick(r));
    expect(s.acks.sent).toBe(3);
    await s.client.unsubscribeAsync(topic);
  });

  it('keeps reading packets (keep-alive) while acknowledgements are held', async () => {
    const clientId = uniqueName('keepalive');
    const topic = `tributary-test/${clientId}`;
    const client = await mqtt.connectAsync(MQTT_URL, {
      clientId,
      clean: true,
      protocolVersion,
      keepalive: 1,
      reconnectPeriod: 0,
    });
    clients.push(client);
    const acks = new DeferredAcks(client);
    let received = 0;
    client.on('message', (_t, _p, packet) => {
      acks.hold(packet.messageId!);
      received++;
    });
    await client.subscribeAsync(topic, { qos: 1 });
    await publish(topic, ['x', 'y']);
    await new Promise((r) => setTimeout(r, 3500)); // > 1.5 × keepalive with both unacknowledged
    expect(received).toBe(2);
    expect(client.connected).toBe(true);
    expect(acks.held).toBe(2);
  });

  it('pause() stops reading packets and resume() reads on (backpressure)', async () => {
    const clientId = uniqueName('pause');
    const topic = `tributary-test/${clientId}`;
    const s = await session(clientId, topic, protocolVersion);
    s.acks.pause();
    await publish(topic, ['p1', 'p2', 'p3']);
    expect(await waitFor(() => s.received.length >= 1, 5000, 10)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // an absence: nothing more may arrive while paused
    expect(s.received.length).toBe(1); // the packet being handled when the pause began
    s.acks.resume();
    expect(await waitFor(() => s.received.length === 3, 2000, 20)).toBe(true);
    for (const m of s.received) m.settle();
    await s.client.unsubscribeAsync(topic);
  });
});

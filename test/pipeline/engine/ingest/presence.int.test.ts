// Worker presence against the real broker: retained online status, Last Will on a lost connection,
// graceful offline on a normal shutdown.
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { presence, statusTopic, type PresenceStatus } from '../../../../pipeline/engine/ingest/presence.js';
import { MQTT_URL, uniqueName, waitFor } from '../../../support/services.js';

const clients: MqttClient[] = [];
const retainedTopics: string[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
  // clear the retained status messages the test left on the broker
  const cleaner = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('presence-clean'), reconnectPeriod: 0 });
  for (const t of retainedTopics.splice(0)) await cleaner.publishAsync(t, '', { qos: 1, retain: true });
  await cleaner.endAsync();
});

async function connect(clientId: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId, reconnectPeriod: 0, protocolVersion: 5, ...extra });
  clients.push(c);
  return c;
}

/** A fresh subscriber: collects every status published on `topic`, the retained one first. */
async function watch(topic: string): Promise<{ seen: Array<PresenceStatus & { retained: boolean }> }> {
  const c = await connect(uniqueName('presence-watch'));
  const seen: Array<PresenceStatus & { retained: boolean }> = [];
  c.on('message', (_t, payload, packet) => {
    if (payload.length > 0)
      seen.push({ ...(JSON.parse(payload.toString()) as PresenceStatus), retained: packet.retain });
  });
  await c.subscribeAsync(topic, { qos: 1 });
  return { seen };
}

describe('worker presence on the real broker', () => {
  it('publishes a retained online status, and the broker publishes the will when the connection is lost', async () => {
    const clientId = uniqueName('presence');
    const p = presence({ clientId, details: { pipeline: 'fleet' } });
    retainedTopics.push(p.topic);
    expect(p.topic).toBe(`tributary/workers/${clientId}/status`);
    expect(p.will).toMatchObject({ topic: p.topic, qos: 1, retain: true });

    const worker = await connect(clientId, { will: p.will });
    await p.online(worker);

    // a subscriber that comes later still learns the state: it is retained
    const late = await watch(p.topic);
    expect(await waitFor(() => late.seen.length === 1, 5000, 20)).toBe(true);
    expect(late.seen[0]).toMatchObject({ state: 'online', clientId, pipeline: 'fleet', retained: true });
    expect(late.seen[0]!.at).toBeGreaterThan(Date.now() - 60_000);

    // ungraceful: the socket dies without DISCONNECT → the broker publishes the Last Will
    worker.stream.destroy();
    expect(await waitFor(() => late.seen.length === 2, 10_000, 20)).toBe(true);
    expect(late.seen[1]).toMatchObject({ state: 'offline', clientId, graceful: false, pipeline: 'fleet' });

    // and it stays retained for whoever looks next
    const next = await watch(p.topic);
    expect(await waitFor(() => next.seen.length === 1, 5000, 20)).toBe(true);
    expect(next.seen[0]).toMatchObject({ state: 'offline', graceful: false, retained: true });
  });

  it('says online again after a reconnect, and offline (graceful) on a normal shutdown, without the will', async () => {
    const clientId = uniqueName('presence');
    const p = presence({ clientId });
    retainedTopics.push(p.topic);
    const watcher = await watch(p.topic);

    const first = await connect(clientId, { will: p.will });
    await p.online(first);
    first.stream.destroy();
    expect(await waitFor(() => watcher.seen.some((s) => s.state === 'offline'), 10_000, 20)).toBe(true);

    const second = await connect(clientId, { will: p.will });
    await p.online(second);
    await p.offline(second);
    await second.endAsync(); // DISCONNECT: the broker discards the will
    // a second will would arrive right away if the broker had kept it; give it a moment
    await new Promise((r) => setTimeout(r, 300));
    expect(watcher.seen.map((s) => [s.state, s.graceful])).toEqual([
      ['online', undefined],
      ['offline', false],
      ['online', undefined],
      ['offline', true],
    ]);
    // offline() on a closed client is a no-op, not a hang
    await p.offline(second, 100);
  });

  it('keeps topic levels intact for client ids with / + #', () => {
    expect(statusTopic('ingest/a+b#c')).toBe('tributary/workers/ingest_a_b_c/status');
    expect(presence({ clientId: 'x', topic: 'custom/status' }).topic).toBe('custom/status');
  });
});

// A pipeline whose topics change: messages of a filter the session still holds must not stall the
// worker (dead-lettered as `unrouted`, acknowledged), and a resumed session drops the filters the
// pipeline no longer has. On the real broker, InfluxDB and Redis.
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../../../pipeline/cli/fleet-simulator.js';
import { subscriptionRecordTopic } from '../../../../pipeline/engine/ingest/subscription-record.js';
import { fleetPipeline, fleetSetup, wipeSession } from '../../../support/fleet-pipeline.js';
import { countPoints, MQTT_URL, REDIS_URL, waitFor } from '../../../support/services.js';
import { startFleetWorker } from '../../../support/worker-process.js';

const redis = new Redis(REDIS_URL);
afterAll(() => redis.disconnect());

/** Dead letters in `stream` whose topic starts with `root`, by code. */
async function deadLettersUnder(stream: string, root: string): Promise<Record<string, number>> {
  const rows = await redis.xrevrange(stream, '+', '-', 'COUNT', 5000);
  const codes: Record<string, number> = {};
  for (const [, fields] of rows) {
    const letter = JSON.parse(fields[fields.indexOf('letter') + 1] ?? '{}') as {
      code?: string;
      topic?: string;
      payloadBase64?: string;
    };
    if (letter.topic?.startsWith(`${root}/`) && letter.code) codes[letter.code] = (codes[letter.code] ?? 0) + 1;
  }
  return codes;
}

async function publish(topic: string, payloads: string[]): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId: `${topic.replace(/\W/g, '-')}-pub`, reconnectPeriod: 0 });
  for (const p of payloads) await c.publishAsync(topic, p, { qos: 1 });
  await c.endAsync();
}

/** Leaves a persistent session `clientId` subscribed to `filters` (as an earlier pipeline would). */
async function leaveSessionWith(clientId: string, filters: string[], protocolVersion: 4 | 5 = 5): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, {
    clientId,
    clean: false,
    protocolVersion,
    reconnectPeriod: 0,
    properties: protocolVersion === 5 ? { sessionExpiryInterval: 600 } : undefined,
  });
  await c.subscribeAsync(filters, { qos: 1 });
  await c.endAsync();
}

describe('subscriptions that drift from the pipeline', () => {
  it('dead-letters a message that matches no subscription as unrouted and acknowledges it, in order', async () => {
    const setup = fleetSetup('drift-unrouted');
    const stale = `${setup.root}-old/+/reading`;
    await leaveSessionWith(setup.clientId, [`$share/${setup.name}/${stale}`]);
    // queued in the session while no worker runs: 3 stale messages first, then fleet messages
    await publish(`${setup.root}-old/a/reading`, ['{"v":1}', '{"v":2}', '{"v":3}']);
    const { runtime, source } = fleetPipeline(setup, { inflightWindow: 50 });
    expect(source.subscriptions.map((s) => s.topic)).toEqual([`${setup.root}/+/+/telemetry`]);
    await runtime.start();
    try {
      // 10x the in-flight window behind the stale messages: a held stale message would stall them
      await simulateFleet({ url: MQTT_URL, root: setup.root, messages: 500, devices: 50, sites: 5 });
      expect(await waitFor(async () => (await countPoints(setup.db)) === 500, 30_000)).toBe(true);
      const letters = await deadLettersUnder(setup.stream, `${setup.root}-old`);
      expect(letters).toEqual({ unrouted: 3 });
    } finally {
      await runtime.stop(10_000);
    }
    await wipeSession(setup.clientId);
  });

  it.each([5, 4] as const)(
    'MQTT %i: unsubscribes the filters a resumed session holds that the pipeline no longer has',
    async (protocolVersion) => {
      const setup = fleetSetup(`drift-reconcile-v${protocolVersion}`);
      const old = `$share/${setup.name}/${setup.root}-old/+/reading`;
      // an earlier run of this client id subscribed `old` and recorded it
      await leaveSessionWith(setup.clientId, [old], protocolVersion);
      const c = await mqtt.connectAsync(MQTT_URL, { clientId: `${setup.name}-rec`, reconnectPeriod: 0 });
      await c.publishAsync(
        subscriptionRecordTopic(setup.clientId),
        JSON.stringify({ clientId: setup.clientId, filters: [old], at: 1 }),
        { qos: 1, retain: true },
      );
      await c.endAsync();

      const warnings: Array<Record<string, unknown>> = [];
      const log = {
        debug() {},
        info() {},
        error() {},
        warn: (f: Record<string, unknown>, m: string) => warnings.push({ ...f, m }),
      };
      const { runtime } = fleetPipeline(setup, { log, protocolVersion });
      await runtime.start();
      try {
        expect(warnings).toContainEqual(
          expect.objectContaining({ m: 'unsubscribed filters the pipeline no longer has', filters: [old] }),
        );
        // nothing reaches the session on the old filter any more: publish there, then fleet messages behind
        await publish(`${setup.root}-old/a/reading`, ['{"v":1}']);
        await simulateFleet({ url: MQTT_URL, root: setup.root, messages: 200, devices: 20, sites: 2 });
        expect(await waitFor(async () => (await countPoints(setup.db)) === 200, 30_000)).toBe(true);
        expect(await deadLettersUnder(setup.stream, `${setup.root}-old`)).toEqual({});
        // the record now holds the pipeline's filters
        const record = await readRetained(subscriptionRecordTopic(setup.clientId));
        expect(JSON.parse(record)).toMatchObject({
          clientId: setup.clientId,
          filters: [`$share/${setup.name}/${setup.root}/+/+/telemetry`],
        });
      } finally {
        await runtime.stop(10_000);
      }
      await wipeSession(setup.clientId);
      await clearRetained(subscriptionRecordTopic(setup.clientId));
    },
  );

  it('the issue scenario: a worker restarted on new topics stores every message (real worker processes)', async () => {
    const setup = fleetSetup('drift-worker');
    const rootA = `${setup.root}A`;
    const rootB = `${setup.root}B`;
    const a = await startFleetWorker({ ...setup, root: rootA });
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    // published while no worker runs: they wait in the session, under the old filter
    await simulateFleet({ url: MQTT_URL, root: rootA, messages: 5, devices: 5, sites: 1 });
    const b = await startFleetWorker({ ...setup, root: rootB }, 0, { TRIBUTARY_LOG_LEVEL: 'info' });
    try {
      await simulateFleet({ url: MQTT_URL, root: rootB, messages: 30_000 });
      expect(await waitFor(async () => (await countPoints(setup.db)) === 30_000, 60_000, 500)).toBe(true);
      expect(
        await waitFor(async () => (await deadLettersUnder('tributary:dead-letters', rootA)).unrouted === 5, 10_000),
      ).toBe(true);
      expect(b.output()).toMatch(/unsubscribed filters the pipeline no longer has/);
      expect(b.output()).toContain(`${rootA}/+/+/telemetry`);
    } finally {
      b.child.kill('SIGTERM');
      await b.exited;
    }
    await wipeSession(setup.clientId);
    await clearRetained(subscriptionRecordTopic(setup.clientId));
    await clearRetained(`tributary/workers/${setup.clientId}/status`);
  }, 120_000);
});

async function readRetained(topic: string): Promise<string> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId: `read-${Date.now()}`, reconnectPeriod: 0 });
  try {
    const got = new Promise<string>((resolve) => c.on('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync(topic, { qos: 0 });
    return await got;
  } finally {
    await c.endAsync();
  }
}

async function clearRetained(topic: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId: `clear-${Date.now()}`, reconnectPeriod: 0 });
  await c.publishAsync(topic, '', { qos: 1, retain: true });
  await c.endAsync();
}

import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../pipeline/cli/fleet-simulator.js';
import { listDeadLetters } from '../../sinks/index.js';
import { fleetRuntime, fleetSetup, wipeSession } from '../support/fleet-pipeline.js';
import { countPoints, influxQuery, MQTT_URL, REDIS_URL, waitFor } from '../support/services.js';

const redis = new Redis(REDIS_URL);
afterAll(() => redis.disconnect());

describe('fleet pipeline on the real broker, InfluxDB and Redis', () => {
  it('turns N QoS 1 messages into exactly N points, tagged from the topic', async () => {
    const setup = fleetSetup('exact');
    const runtime = fleetRuntime(setup);
    await runtime.start();
    const n = 20_000;
    const sent = await simulateFleet({ url: MQTT_URL, root: setup.root, messages: n, devices: 100, sites: 5 });
    expect(sent.published).toBe(n);
    expect(await waitFor(async () => (await countPoints(setup.db)) >= n, 30_000)).toBe(true);
    expect(await waitFor(() => runtime.stats.unsettled === 0, 5000)).toBe(true);
    expect(await runtime.stop()).toBe(true);
    expect(await countPoints(setup.db)).toBe(n);
    const perSite = await influxQuery(setup.db, 'SELECT count(temperature) FROM telemetry GROUP BY site');
    expect(perSite.results[0]?.series?.map((s) => s.tags?.site).sort()).toEqual([
      'site-0',
      'site-1',
      'site-2',
      'site-3',
      'site-4',
    ]);
    const battery = await influxQuery(setup.db, 'SHOW FIELD KEYS FROM telemetry');
    expect(battery.results[0]?.series?.[0]?.values).toContainEqual(['battery', 'integer']);
    expect(runtime.stats.deadLettered).toBe(0);
    await wipeSession(setup.clientId);
  });

  it('dead-letters malformed payloads with topic, reason and original bytes, and writes the rest', async () => {
    const setup = fleetSetup('malformed');
    const runtime = fleetRuntime(setup);
    await runtime.start();
    const sent = await simulateFleet({
      url: MQTT_URL,
      root: setup.root,
      messages: 2000,
      devices: 50,
      sites: 5,
      malformedShare: 0.05,
      seed: 7,
    });
    expect(sent.malformed).toBeGreaterThan(20);
    const good = sent.published - sent.malformed;
    expect(
      await waitFor(async () => (await countPoints(setup.db)) >= good && runtime.stats.unsettled === 0, 20_000),
    ).toBe(true);
    await runtime.stop();
    expect(await countPoints(setup.db)).toBe(good);
    const letters = await listDeadLetters(redis, setup.stream, 10_000);
    expect(letters).toHaveLength(sent.malformed);
    const first = letters[0]!.letter;
    expect(first.code).toBe('decode_error');
    expect(first.reason).toMatch(/invalid JSON/);
    expect(first.topic).toMatch(new RegExp(`^${setup.root}/site-\\d/dev-\\d+/telemetry$`));
    expect(Buffer.from(first.payloadBase64, 'base64').toString()).toMatch(/^\{"ts":\d+,"temperature"/);
    await redis.del(setup.stream);
    await wipeSession(setup.clientId);
  });

  it('drains on stop: everything written and acknowledged, nothing redelivered to the session', async () => {
    const setup = fleetSetup('drain');
    const runtime = fleetRuntime(setup);
    await runtime.start();
    const sent = await simulateFleet({ url: MQTT_URL, root: setup.root, messages: 5000, devices: 100 });
    expect(await waitFor(() => runtime.stats.received === sent.published, 10_000, 5)).toBe(true);
    expect(await runtime.stop(10_000)).toBe(true);
    expect(await countPoints(setup.db)).toBe(sent.published);
    // Same session again: the broker has nothing left to deliver.
    const again = fleetRuntime(setup);
    await again.start();
    await new Promise((r) => setTimeout(r, 1000));
    expect(again.stats.received).toBe(0);
    await again.stop();
    await wipeSession(setup.clientId);
  });
});

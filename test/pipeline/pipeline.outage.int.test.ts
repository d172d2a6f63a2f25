import { afterAll, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../pipeline/cli/fleet-simulator.js';
import { fleetRuntime, fleetSetup, wipeSession } from '../support/fleet-pipeline.js';
import { countPoints, MQTT_URL, services, waitFor } from '../support/services.js';

afterAll(() => {
  services('start-influx'); // whatever happened, leave InfluxDB running for the next test
});

describe('InfluxDB outage', () => {
  it('InfluxDB stopped for 10 s mid-stream: nothing lost, unacknowledged messages bounded by the window, recovers by itself', async () => {
    const setup = fleetSetup('outage');
    const window = 2000;
    const runtime = fleetRuntime(setup, { inflightWindow: window });
    await runtime.start();
    let maxUnsettled = 0;
    let maxUnsettledInOutage = 0;
    let inOutage = false;
    const sampler = setInterval(() => {
      maxUnsettled = Math.max(maxUnsettled, runtime.stats.unsettled);
      if (inOutage) maxUnsettledInOutage = Math.max(maxUnsettledInOutage, runtime.stats.unsettled);
    }, 20);
    const heapBefore = process.memoryUsage().heapUsed;
    const n = 30_000;
    const publishing = simulateFleet({ url: MQTT_URL, root: setup.root, messages: n, devices: 200, ratePerS: 2000 });
    await new Promise((r) => setTimeout(r, 2000));
    services('stop-influx');
    inOutage = true;
    await new Promise((r) => setTimeout(r, 1000));
    const settledEarlyInOutage = runtime.stats.settled;
    await new Promise((r) => setTimeout(r, 9000));
    const heapDuringOutage = process.memoryUsage().heapUsed;
    const settledLateInOutage = runtime.stats.settled;
    inOutage = false;
    services('start-influx');
    const sent = await publishing;
    expect(await waitFor(async () => (await countPoints(setup.db)) >= n, 60_000, 500)).toBe(true);
    clearInterval(sampler);
    expect(await runtime.stop()).toBe(true);
    expect(await countPoints(setup.db)).toBe(sent.published);
    expect(runtime.stats.retries.get('influxdb') ?? 0).toBeGreaterThan(0);
    // The broker stops sending once `window` messages are held: that is the memory bound...
    expect(maxUnsettledInOutage).toBeLessThanOrEqual(window);
    expect(maxUnsettledInOutage).toBeGreaterThan(window / 2);
    // ...and when it sends past it (Mosquitto does while draining a backlog), the runtime pauses intake.
    expect(maxUnsettled).toBeLessThanOrEqual(window * 1.5 + 100);
    expect(settledLateInOutage).toBe(settledEarlyInOutage); // no acknowledgement without a durable write
    expect(heapDuringOutage - heapBefore).toBeLessThan(100 * 1024 * 1024);
    await wipeSession(setup.clientId);
  });
});

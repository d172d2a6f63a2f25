import { describe, expect, it } from 'vitest';
import { simulateFleet } from '../../pipeline/cli/fleet-simulator.js';
import { fleetPipeline, fleetSetup, wipeSession } from '../support/fleet-pipeline.js';
import { countPoints, MQTT_URL, waitFor } from '../support/services.js';
import { startFleetWorker } from '../support/worker-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('redelivery: nothing lost, nothing duplicated', () => {
  it('a worker SIGKILLed three times mid-stream and restarted: every point present exactly once', async () => {
    const setup = fleetSetup('sigkill');
    const n = 40_000;
    let worker = await startFleetWorker(setup);
    const publishing = simulateFleet({ url: MQTT_URL, root: setup.root, messages: n, devices: 500, ratePerS: 8000 });
    for (let kill = 0; kill < 3; kill++) {
      await sleep(1200);
      worker.child.kill('SIGKILL');
      expect(await worker.exited).toBe('SIGKILL');
      worker = await startFleetWorker(setup);
    }
    const sent = await publishing;
    expect(sent.published).toBe(n);
    const complete = await waitFor(async () => (await countPoints(setup.db)) >= n, 60_000, 500);
    const stored = await countPoints(setup.db);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0); // graceful drain
    expect(complete).toBe(true);
    expect(stored).toBe(n); // each message is one distinct point: more would be duplicates
    await wipeSession(setup.clientId);
  });

  it('the worker connection dropped mid-batch repeatedly: it reconnects by itself and loses nothing', async () => {
    const setup = fleetSetup('conndrop');
    const { runtime, source } = fleetPipeline(setup);
    await runtime.start();
    const n = 30_000;
    let stop = false;
    const dropper = (async () => {
      while (!stop) {
        await sleep(700);
        source.client?.stream.destroy(); // the TCP connection dies with acknowledgements outstanding
      }
    })();
    const sent = await simulateFleet({ url: MQTT_URL, root: setup.root, messages: n, devices: 300, ratePerS: 10_000 });
    await sleep(1500);
    stop = true;
    await dropper;
    expect(await waitFor(async () => (await countPoints(setup.db)) >= n, 60_000, 500)).toBe(true);
    expect(await runtime.stop()).toBe(true);
    expect(await countPoints(setup.db)).toBe(sent.published);
    await wipeSession(setup.clientId);
  });
});

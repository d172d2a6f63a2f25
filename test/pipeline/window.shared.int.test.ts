// aggregateWindow on shared state in Redis, on the real broker, Redis and InfluxDB: the fleet
// workload (1,000 devices, 10 s windows) through one worker and, at the same time, through three
// workers of another share group, one of them SIGKILLed midway and restarted. Both write the same
// aggregates, point for point, equal to the aggregates computed offline from what was published.
// Then a window holding 20× the in-flight window.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli, type CliProcess } from '../support/cli-process.js';
import {
  fleetMessage,
  offlineAggregates,
  publishFleet,
  storedAggregates,
  type FleetMessage,
} from '../support/fleet-windows.js';
import { wipeSession } from '../support/fleet-pipeline.js';
import { INFLUX_URL, influxQuery, MQTT_URL, REDIS_URL, uniqueName, waitFor } from '../support/services.js';

const DEVICES = 1000;
const EVERY_MS = 10_000;
// Lateness covers the kill: the messages Mosquitto queued for the killed member's session wait for
// it to come back (restart, then its backlog), and must still reach their windows before they close.
const LATENESS_MS = 15_000;
// The run is 5,000 msg/s for 60 s; CI runs 25 s (SHARED_WINDOW_SECONDS / _RATE change it).
const RATE = Number(process.env.SHARED_WINDOW_RATE ?? 5000);
const SECONDS = Number(process.env.SHARED_WINDOW_SECONDS ?? 25);

interface Run {
  readonly name: string;
  readonly workers: CliProcess[];
  readonly stream: string;
  readonly prefix: string;
}
const runs: Run[] = [];
const all: CliProcess[] = [];

function worker(
  run: Omit<Run, 'workers'>,
  index: number,
  root: string,
  extra: Record<string, string> = {},
): CliProcess {
  const p = startCli(['run', 'test/examples/shared-windowed-fleet.ts'], {
    TRIBUTARY_MQTT_URL: MQTT_URL,
    TRIBUTARY_INFLUX_URL: INFLUX_URL,
    TRIBUTARY_REDIS_URL: REDIS_URL,
    TRIBUTARY_INFLUX_DATABASE: run.name,
    TRIBUTARY_GROUP: run.name,
    TRIBUTARY_WORKER_INDEX: String(index),
    TRIBUTARY_LOG_LEVEL: 'warn',
    FLEET_TOPIC_ROOT: root,
    WINDOW_EVERY_MS: String(EVERY_MS),
    WINDOW_LATENESS_MS: String(LATENESS_MS),
    WINDOW_STATE_PREFIX: run.prefix,
    DEAD_LETTER_STREAM: run.stream,
    ...extra,
  });
  all.push(p);
  return p;
}

async function startRun(
  prefix: string,
  workers: number,
  root: string,
  extra: Record<string, string> = {},
): Promise<Run> {
  const name = uniqueName(prefix);
  const base = { name, stream: `tributary-test:${name}:dead-letters`, prefix: `tributary-test:${name}` };
  const run: Run = { ...base, workers: Array.from({ length: workers }, (_, i) => worker(base, i, root, extra)) };
  runs.push(run);
  await Promise.all(run.workers.map((w) => w.waitForOutput(/ready/, 30_000)));
  return run;
}

afterAll(async () => {
  for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  const redis = new Redis(REDIS_URL);
  for (const r of runs) {
    for (let i = 0; i < r.workers.length; i++) await wipeSession(`${r.name}-${i}`);
    await influxQuery(r.name, `DROP DATABASE "${r.name}"`).catch(() => undefined);
    const keys = await redis.keys(`${r.prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.del(r.stream);
  }
  redis.disconnect();
});

const debug = (msg: string) => {
  if (process.env.SHARED_WINDOW_DEBUG) console.error(`${new Date().toISOString()} ${msg}`);
};

const deadLetters = async (run: Run) => {
  const redis = new Redis(REDIS_URL);
  try {
    return await redis.xlen(run.stream);
  } finally {
    redis.disconnect();
  }
};

describe('aggregateWindow on shared state across a share group', () => {
  it('1 worker and 3 workers (one SIGKILLed midway) write the same aggregates, equal to the offline ones', async () => {
    const root = uniqueName('swin');
    const [single, group] = await Promise.all([startRun('swin1', 1, root), startRun('swin3', 3, root)]);
    const t0 = Date.now();
    const messages: FleetMessage[] = Array.from({ length: RATE * SECONDS }, (_, i) =>
      fleetMessage(root, i, t0, RATE, DEVICES),
    );
    let killedAt = -1;
    const killAt = Math.floor(messages.length * 0.4);
    await publishFleet(messages, RATE, `${root}-pub`, (i) => {
      if (i !== killAt) return;
      killedAt = Date.now();
      group.workers[1]!.child.kill('SIGKILL');
      // As `tributary run --workers 3` would: the same worker index again, its session resumed.
      setTimeout(() => {
        group.workers[1] = worker(group, 1, root);
      }, 1000);
    });
    expect(killedAt).toBeGreaterThan(0);
    debug(`published ${messages.length} in ${Date.now() - t0} ms`);
    const expected = offlineAggregates(messages, EVERY_MS);
    const complete = async (r: Run) => {
      const n = (await storedAggregates(r.name)).size;
      debug(`${r.name}: ${n}/${expected.size} windows`);
      return n === expected.size;
    };
    expect(await waitFor(async () => (await complete(single)) && (await complete(group)), 90_000, 1000)).toBe(true);
    debug(
      `dead letters: ${await deadLetters(single)} ${await deadLetters(group)}; restarted worker:\n${group.workers[1]!.output().slice(-3000)}`,
    );
    const [one, three] = [await storedAggregates(single.name), await storedAggregates(group.name)];
    expect(three).toEqual(one);
    expect(one).toEqual(expected);
    expect([await deadLetters(single), await deadLetters(group)]).toEqual([0, 0]); // nothing late, nothing lost
    for (const w of [...single.workers, ...group.workers]) w.child.kill('SIGTERM');
    debug('stopping');
    expect(await Promise.all([...single.workers, ...group.workers].map((w) => w.exited))).toEqual([0, 0, 0, 0]); // drained: nothing held
  }, 240_000);

  it('a window holding 20× the in-flight window: every message acknowledged while the window is open, then one aggregate of all of them', async () => {
    const INFLIGHT = 200;
    const N = 20 * INFLIGHT;
    const root = uniqueName('swin20');
    const run = await startRun('swin20', 1, root, {
      TRIBUTARY_MQTT_INFLIGHT: String(INFLIGHT),
      WINDOW_EVERY_MS: '60000',
      WINDOW_LATENESS_MS: '20000',
    });
    // One device, one minute an hour back: its window closes 20 s after its first reading arrives.
    const t0 = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
    const messages = Array.from({ length: N }, (_, i) => fleetMessage(root, i * DEVICES, t0, 100 * DEVICES, DEVICES)); // 10 ms apart
    const redis = new Redis(REDIS_URL);
    const held = async () => {
      const keys = await redis.keys(`${run.prefix}:*:w:*`);
      return keys.length === 1 ? redis.hlen(keys[0]!) : 0;
    };
    const started = Date.now();
    await publishFleet(messages, 5000, `${root}-pub`);
    // All N points are in the state, so all N messages were acknowledged: the worker can hold only INFLIGHT.
    expect(await waitFor(async () => (await held()) === N, 15_000, 100)).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000); // before the window could close
    expect((await storedAggregates(run.name)).size).toBe(0);
    expect(await waitFor(async () => (await storedAggregates(run.name)).size === 1, 40_000, 500)).toBe(true);
    expect(await storedAggregates(run.name)).toEqual(offlineAggregates(messages, 60_000));
    redis.disconnect();
    expect(await deadLetters(run)).toBe(0);
    run.workers[0]!.child.kill('SIGTERM');
    expect(await run.workers[0]!.exited).toBe(0);
  }, 120_000);
});

// Part of `npm run test:faults`: faults of a real network between hosts — half-open connections,
// latency and loss, partitions that heal, a host that freezes — built from the machine's own network
// namespaces (see topology.sh and switch.py). Three workers in one share group, each on its own host,
// during a 200k-message QoS 1 stream (FAULTS_NET_PROFILE=quick: 50k messages and shorter faults).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOT_DEVICES } from '../scenario.js';
import { startNetServices, type NetServices } from './net-services.js';
import { PROFILE, runNetScenario, type NetScenarioResult } from './net-scenario.js';
import { KEEPALIVE_S } from './net-workers.js';
import { healed, networkDown, networkUp, processesOf, setNetwork } from './topology.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A silent broker connection must be dropped within 1.5 × keep-alive (plus a poll interval of slack). */
const DROP_BOUND_MS = 1.5 * KEEPALIVE_S * 1000 + 2000;
/**
 * The broker's side, read from its log (whole seconds): Mosquitto 2.0 checks keep-alives in a pass
 * every 6 s and drops a client silent for more than 1.5 × keep-alive in whole seconds, so up to 7 s
 * later, plus 1 s for the log's resolution.
 */
const BROKER_DROP_BOUND_MS = 1.5 * KEEPALIVE_S * 1000 + 8000;
/**
 * After a partition heals, a worker is back within the reconnect backoff's ceiling (30 s) plus
 * one connect or write timeout (10 s), plus 5 s of slack.
 */
const PARTITION_RECOVERY_MS = 45_000;
/** InfluxDB and Redis requests time out after 10 s: a worker cut off from one notices within this. */
const REQUEST_TIMEOUT_BOUND_MS = 12_000;
/** A resumed worker finds its connection closed by the broker and reconnects at once. */
const PAUSE_RECOVERY_MS = 20_000;
/** Under 50 ± 20 ms and 2 % loss, everything published is stored within this of the last publish. */
const IMPAIRED_CATCH_UP_MS = 60_000;

let services: NetServices | undefined;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the network fault suite builds network namespaces: run it as root');
  networkUp();
  services = await startNetServices();
});

afterAll(async () => {
  try {
    await services?.stop();
  } finally {
    networkDown();
  }
});

function expectNothingLost(r: NetScenarioResult): void {
  expect(r.lost).toBe(0);
  expect(r.stored).toBe(r.published);
  expect(r.redeliveredWrites).toBeGreaterThanOrEqual(0);
  expect(r.overheatingFired).toBe(HOT_DEVICES);
  expect(r.overheatingResolved).toBe(HOT_DEVICES);
  expect(r.duplicateAlertJobs).toBe(0);
  // Nothing else fires: no device stops reporting, so a deadman alert would be a worker's stall showing.
  expect(r.alertJobs).toBe(2 * HOT_DEVICES);
  expect(r.stalledWorkers).toEqual([]);
}

describe(`network faults between hosts during a ${PROFILE.messages / 1000}k-message QoS 1 stream (${PROFILE.name} profile)`, () => {
  it(`worker ↔ broker partitioned for ${PROFILE.brokerPartitionS} s without a FIN`, async () => {
    const r = await runNetScenario('net-broker-partition', async (ctx) => {
      await ctx.published(0.1);
      await setNetwork({ blocked: [['w0', 'broker']] });
      ctx.faultStarted();
      await sleep(PROFILE.brokerPartitionS * 1000);
      await healed();
      await ctx.faultEnded([0]);
    });
    expectNothingLost(r);
    expect(r.droppedAfterMs[0]).toBeLessThanOrEqual(DROP_BOUND_MS);
    expect(r.brokerDroppedAfterMs[0]).toBeLessThanOrEqual(BROKER_DROP_BOUND_MS);
    expect(r.recoverMs).toBeGreaterThanOrEqual(0);
    expect(r.recoverMs).toBeLessThanOrEqual(PARTITION_RECOVERY_MS);
  });

  it(`worker ↔ InfluxDB partitioned for ${PROFILE.influxPartitionS} s`, async () => {
    const r = await runNetScenario('net-influx-partition', async (ctx) => {
      await ctx.published(0.1);
      await setNetwork({ blocked: [['w1', 'influx']] });
      ctx.faultStarted();
      await sleep(PROFILE.influxPartitionS * 1000);
      await healed();
      await ctx.faultEnded([1]);
    });
    expectNothingLost(r);
    expect(r.writeFailedAfterMs.influxdb[1]).toBeLessThanOrEqual(REQUEST_TIMEOUT_BOUND_MS);
    expect(r.recoverMs).toBeGreaterThanOrEqual(0);
    expect(r.recoverMs).toBeLessThanOrEqual(PARTITION_RECOVERY_MS);
  });

  it(`worker ↔ Redis (alert state and queue) partitioned for ${PROFILE.redisPartitionS} s`, async () => {
    const r = await runNetScenario('net-redis-partition', async (ctx) => {
      await ctx.published(0.1);
      await setNetwork({ blocked: [['w2', 'redis']] });
      ctx.faultStarted();
      await sleep(PROFILE.redisPartitionS * 1000);
      await healed();
      await ctx.faultEnded([2]);
    });
    expectNothingLost(r);
    // The half-open Redis connection is given up (ioredis socketTimeout), not waited on for TCP's backoff.
    expect(r.writeFailedAfterMs['alert-queue'][2]).toBeLessThanOrEqual(REQUEST_TIMEOUT_BOUND_MS);
    expect(r.recoverMs).toBeGreaterThanOrEqual(0);
    expect(r.recoverMs).toBeLessThanOrEqual(PARTITION_RECOVERY_MS);
  });

  it('50 ms ± 20 ms delay and 2 % loss on every link for the whole run', async () => {
    const link = { delayMs: 50, jitterMs: 20, loss: 0.02 };
    const r = await runNetScenario('net-delay-loss', async (ctx) => {
      await setNetwork({ links: { ctl: link, broker: link, influx: link, redis: link, w0: link, w1: link, w2: link } });
      await ctx.published(1); // the runner heals the network once everything is stored
    });
    expectNothingLost(r);
    expect(r.recoverMs).toBeLessThanOrEqual(IMPAIRED_CATCH_UP_MS);
  });

  it(`broker host isolated for ${PROFILE.isolationS} s, then rejoined`, async () => {
    const r = await runNetScenario('net-broker-isolated', async (ctx) => {
      await ctx.published(0.1);
      await setNetwork({ isolated: ['broker'] });
      ctx.faultStarted();
      await sleep(PROFILE.isolationS * 1000);
      await healed();
      await ctx.faultEnded([0, 1, 2]);
    });
    expectNothingLost(r);
    for (const dropped of r.droppedAfterMs) expect(dropped).toBeLessThanOrEqual(DROP_BOUND_MS);
    for (const dropped of r.brokerDroppedAfterMs) expect(dropped).toBeLessThanOrEqual(BROKER_DROP_BOUND_MS);
    expect(r.recoverMs).toBeGreaterThanOrEqual(0);
    expect(r.recoverMs).toBeLessThanOrEqual(PARTITION_RECOVERY_MS);
  });

  it(`worker host paused (SIGSTOP) for ${PROFILE.pauseS} s`, async () => {
    const r = await runNetScenario('net-worker-paused', async (ctx) => {
      await ctx.published(0.1);
      const pids = processesOf('w2');
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      ctx.faultStarted();
      try {
        await sleep(PROFILE.pauseS * 1000);
      } finally {
        for (const pid of pids) process.kill(pid, 'SIGCONT');
      }
      await ctx.faultEnded([2]);
    });
    expectNothingLost(r);
    expect(r.recoverMs).toBeGreaterThanOrEqual(0);
    expect(r.brokerDroppedAfterMs[2]).toBeLessThanOrEqual(BROKER_DROP_BOUND_MS);
    expect(r.recoverMs).toBeLessThanOrEqual(PAUSE_RECOVERY_MS);
  });
});

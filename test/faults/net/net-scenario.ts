// One network fault scenario: three workers on their own hosts in one share group, the standard
// workload published from the root namespace, a nemesis meanwhile; then the figures and a probe
// that every worker still takes its share.
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { simulateFleet } from '../../../pipeline/cli/fleet-simulator.js';
import type { AlertEvent } from '../../../pipeline/index.js';
import { fleetSetup, type FleetTestSetup } from '../../support/fleet-pipeline.js';
import { peakRssMb, waitFor } from '../../support/services.js';
import { alertJobs } from '../scenario.js';
import { distinctPoints, pointsWrittenOk } from './net-influx.js';
import { NET_MQTT_URL, NET_REDIS_URL } from './net-services.js';
import { startNetWorker, type NetWorker } from './net-workers.js';
import { healed, NET_STATE } from './topology.js';

/**
 * The figures: 200k messages, partitions of 30 s (broker) and 60 s (InfluxDB, Redis), the
 * broker's host cut off for 30 s, a worker host frozen for 60 s (9–11 min on this machine).
 * `FAULTS_NET_PROFILE=quick`: 50k messages and shorter faults, still longer than 1.5 × keep-alive (about 5 min).
 */
export const PROFILE =
  process.env.FAULTS_NET_PROFILE === 'quick'
    ? {
        name: 'quick',
        messages: 50_000,
        ratePerS: 2500,
        brokerPartitionS: 20,
        influxPartitionS: 30,
        redisPartitionS: 30,
        isolationS: 20,
        pauseS: 30,
      }
    : {
        name: 'full',
        messages: 200_000,
        ratePerS: 2500,
        brokerPartitionS: 30,
        influxPartitionS: 60,
        redisPartitionS: 60,
        isolationS: 30,
        pauseS: 60,
      };
const HOT = [17, 342, 808];
const PROBE_MESSAGES = 3000;

export interface NetScenarioContext {
  readonly workers: readonly NetWorker[];
  /** Resolves once `share` of the messages were published. */
  published(share: number): Promise<void>;
  /** Marks the start of the fault (for the keep-alive figures). */
  faultStarted(): void;
  /** Marks the end of the fault: recovery is timed from here, on the workers it names. */
  faultEnded(affected: readonly number[]): Promise<void>;
}

export interface NetScenarioResult {
  readonly published: number;
  readonly stored: number;
  readonly lost: number;
  readonly redeliveredWrites: number;
  readonly alertJobs: number;
  readonly duplicateAlertJobs: number;
  readonly overheatingFired: number;
  readonly overheatingResolved: number;
  /** From the fault's end until every affected worker acknowledged again; for a whole-run fault, from the last publish until all were stored. */
  readonly recoverMs: number;
  readonly peakRssMb: number;
  /** Each worker's first 'broker connection closed' after the fault started, ms after it (undefined: none). */
  readonly droppedAfterMs: ReadonlyArray<number | undefined>;
  /** When the broker dropped each worker's connection for silence ('has exceeded timeout'), ms after the fault started (second resolution). */
  readonly brokerDroppedAfterMs: ReadonlyArray<number | undefined>;
  /** Each worker's first 'connected to broker' after the fault ended, ms after it (undefined: none). */
  readonly reconnectedAfterMs: ReadonlyArray<number | undefined>;
  /** Each worker's first failed write to the sink after the fault started, ms after it, by sink name (undefined: none). */
  readonly writeFailedAfterMs: Readonly<Record<'influxdb' | 'alert-queue', ReadonlyArray<number | undefined>>>;
  /** Workers that took no message of the probe published after everything was stored. */
  readonly stalledWorkers: readonly number[];
  readonly workers: readonly NetWorker[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s1 = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`);

/** Runs one scenario and prints `published / stored / lost / redelivered writes / alert jobs / duplicate alert jobs / time to recover / peak RSS`. */
export async function runNetScenario(
  name: string,
  fault: (ctx: NetScenarioContext) => Promise<void>,
): Promise<NetScenarioResult> {
  const setup = fleetSetup(name);
  const workers: NetWorker[] = [];
  try {
    for (const i of [0, 1, 2]) workers.push(await startNetWorker(setup, i));
    let sent = 0;
    let faultStart = 0,
      faultEnd = 0,
      publishEnd = 0;
    let affected: readonly number[] = [];
    let settledAtEnd: number[] = [];
    const ctx: NetScenarioContext = {
      workers,
      published: async (share) => {
        await waitFor(() => sent >= share * PROFILE.messages, 900_000, 50);
      },
      faultStarted: () => {
        faultStart = Date.now();
      },
      async faultEnded(which) {
        faultEnd = Date.now();
        affected = which;
        settledAtEnd = await Promise.all(which.map(async (i) => (await workers[i]!.metrics()).settled));
      },
    };
    const publishing = simulateFleet({
      url: NET_MQTT_URL,
      root: setup.root,
      messages: PROFILE.messages,
      ratePerS: PROFILE.ratePerS,
      reconnect: true,
      hotDevices: HOT,
      hotDuring: [0.2, 0.6],
      onProgress: (n) => {
        sent = n;
      },
    }).then((r) => {
      publishEnd = Date.now();
      return r;
    });
    await fault(ctx);
    let recoverMs = -1;
    if (affected.length > 0) {
      const recovered = await waitFor(
        async () => {
          const now = await Promise.all(
            affected.map((i) =>
              workers[i]!.metrics().then(
                (m) => m.settled,
                () => -1,
              ),
            ),
          );
          return now.every((n, k) => n > settledAtEnd[k]!);
        },
        300_000,
        250,
      );
      if (recovered) recoverMs = Date.now() - faultEnd;
    }
    const { published } = await publishing;
    await waitFor(async () => (await distinctPoints(setup.db)) >= published, 600_000, 1000);
    if (affected.length === 0) recoverMs = Date.now() - publishEnd;
    await healed(); // the probe and the read-back on a healthy network
    const stalledWorkers = await probe(setup, workers, published);
    await sleep(1000); // a last batch of alerts may still be on its way
    const stored = await distinctPoints(setup.db);
    const written = await pointsWrittenOk(setup.db);
    const peak = Math.max(...workers.map((w) => peakRssMb(w.child.pid!)));
    await stopWorkers(workers);
    const alerts = await alertJobs(NET_REDIS_URL, `${setup.name}-alerts`);
    const otherAlerts = await otherAlertJobs(`${setup.name}-alerts`);
    await wipeSessions(setup);
    const firstAfter = (times: number[], t0: number) => {
      const t = times.find((x) => x >= t0);
      return t === undefined ? undefined : t - t0;
    };
    const result: NetScenarioResult = {
      published: published + PROBE_MESSAGES,
      stored,
      lost: Math.max(0, published + PROBE_MESSAGES - stored),
      redeliveredWrites: written - stored,
      alertJobs: alerts.total,
      duplicateAlertJobs: alerts.duplicates,
      overheatingFired: alerts.fired,
      overheatingResolved: alerts.resolved,
      recoverMs,
      peakRssMb: peak,
      stalledWorkers,
      workers,
      droppedAfterMs: faultStart
        ? workers.map((w) => firstAfter(w.logTimes('broker connection closed, reconnecting'), faultStart))
        : [],
      brokerDroppedAfterMs: faultStart
        ? workers.map((w) =>
            firstAfter(brokerTimeouts(`${setup.name}-${w.index}`), Math.floor(faultStart / 1000) * 1000),
          )
        : [],
      writeFailedAfterMs: {
        influxdb: workers.map((w) =>
          faultStart ? firstAfter(w.logTimes('write failed, retrying', { sink: 'influxdb' }), faultStart) : undefined,
        ),
        'alert-queue': workers.map((w) =>
          faultStart
            ? firstAfter(w.logTimes('write failed, retrying', { sink: 'alert-queue' }), faultStart)
            : undefined,
        ),
      },
      reconnectedAfterMs: faultEnd ? workers.map((w) => firstAfter(w.logTimes('connected to broker'), faultEnd)) : [],
    };
    printResult(name, result, otherAlerts);
    return result;
  } finally {
    await stopWorkers(workers);
  }
}

/** Prints the scenario's figures on one line; '–' for an event that did not happen. */
function printResult(name: string, r: NetScenarioResult, otherAlerts: string): void {
  const list = (ms: ReadonlyArray<number | undefined>) => `[${ms.map(s1).join(', ')}]`;
  const faulted = r.droppedAfterMs.length > 0;
  console.log(
    `${name} [${PROFILE.name}]: published ${r.published} / stored ${r.stored} / lost ${r.lost}` +
      ` / redelivered writes ${r.redeliveredWrites} / alert jobs ${r.alertJobs}` +
      ` (overheating fired ${r.overheatingFired}, resolved ${r.overheatingResolved}) / duplicate alert jobs ${r.duplicateAlertJobs}` +
      ` / time to recover ${s1(r.recoverMs)} / peak RSS ${r.peakRssMb} MB` +
      (faulted
        ? ` / broker connection dropped after ${list(r.droppedAfterMs)} / broker dropped it after ${list(r.brokerDroppedAfterMs)}` +
          ` / first failed write after: InfluxDB ${list(r.writeFailedAfterMs.influxdb)}, Redis ${list(r.writeFailedAfterMs['alert-queue'])}`
        : '') +
      (r.reconnectedAfterMs.length > 0 ? ` / reconnected after ${list(r.reconnectedAfterMs)}` : '') +
      ` / stalled workers [${r.stalledWorkers.join(', ')}]` +
      (otherAlerts ? ` / other alert jobs: ${otherAlerts}` : ''),
  );
}

/** Alert jobs other than the overheating transitions, by rule and state (e.g. `deadman firing 1000`), or '' when none. */
async function otherAlertJobs(queue: string): Promise<string> {
  const redis = new Redis(NET_REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection: redis });
  try {
    const counts = new Map<string, number>();
    for (const job of await q.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'])) {
      const e = job.data as AlertEvent;
      if (e.ruleId === 'overheating' && !e.repeat) continue;
      const key = `${e.ruleId} ${e.state}${e.repeat ? ' (repeat)' : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
  } finally {
    await q.close();
    redis.disconnect();
  }
}

/** Publishes a few more messages once all were stored; returns the workers that acknowledged none of them. */
async function probe(setup: FleetTestSetup, workers: readonly NetWorker[], published: number): Promise<number[]> {
  const before = await Promise.all(workers.map(async (w) => (await w.metrics()).settled));
  await simulateFleet({ url: NET_MQTT_URL, root: setup.root, messages: PROBE_MESSAGES, ratePerS: 1000, seed: 7 });
  await waitFor(async () => (await distinctPoints(setup.db)) >= published + PROBE_MESSAGES, 120_000, 500);
  const after = await Promise.all(workers.map(async (w) => (await w.metrics()).settled));
  return workers.filter((w, i) => !(after[i]! > before[i]!)).map((w) => w.index);
}

/** Times (ms since epoch, whole seconds) at which the suite's broker dropped `clientId` for keep-alive silence. */
function brokerTimeouts(clientId: string): number[] {
  const log = readFileSync(`${NET_STATE}/mosquitto.log`, 'utf8');
  return log
    .split('\n')
    .filter((l) => l.includes(`Client ${clientId} has exceeded timeout`))
    .map((l) => Date.parse(`${l.slice(0, l.indexOf(': '))}Z`))
    .filter((t) => !Number.isNaN(t));
}

async function stopWorkers(workers: readonly NetWorker[]): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      w.child.kill('SIGCONT');
      w.child.kill('SIGTERM');
      const timer = setTimeout(() => w.child.kill('SIGKILL'), 20_000);
      await w.exited;
      clearTimeout(timer);
    }),
  );
}

/** Removes the workers' persistent sessions from the suite's broker. */
async function wipeSessions(setup: FleetTestSetup): Promise<void> {
  for (const i of [0, 1, 2]) {
    const c = await mqtt.connectAsync(NET_MQTT_URL, {
      clientId: `${setup.name}-${i}`,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 0 },
    });
    await c.endAsync();
  }
}

// One fault-injection scenario: a worker process on the fleet pipeline, the standard workload
// published at a steady rate, a fault injected meanwhile; then the figures and the verdict.
import { execFileSync } from 'node:child_process';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { simulateFleet } from '../../pipeline/cli/fleet-simulator.js';
import type { AlertEvent } from '../../pipeline/index.js';
import { fleetSetup, wipeSession, type FleetTestSetup } from '../support/fleet-pipeline.js';
import { countPoints, MQTT_URL, peakRssMb, REDIS_URL, waitFor } from '../support/services.js';
import { startFleetWorker, type WorkerProcess } from '../support/worker-process.js';

/** Messages per scenario. */
export const FAULT_N = Number(process.env.FAULTS_N ?? 200_000);
/** Publish rate, messages per second. */
export const FAULT_RATE = Number(process.env.FAULTS_RATE ?? 10_000);
const HOT = [17, 342, 808];

export interface ScenarioContext {
  readonly setup: FleetTestSetup;
  /** The current worker (replaced by restartWorker). */
  worker(): WorkerProcess;
  /** SIGKILLs the worker and starts a new one with the same client id. */
  killAndRestartWorker(): Promise<void>;
  /** Resolves once `share` of the messages were published. */
  published(share: number): Promise<void>;
}

export interface ScenarioResult {
  readonly published: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly alertJobs: number;
  readonly duplicateAlertJobs: number;
  readonly overheatingFired: number;
  readonly overheatingResolved: number;
  readonly peakRssMb: number;
}

const sh = (...args: string[]) => execFileSync('bash', ['scripts/services.sh', ...args], { encoding: 'utf8' }).trim();
/** Runs a scripts/services.sh subcommand. */
export const services = sh;
/** Sends `signal` to our InfluxDB / broker process. */
export function signalService(name: 'influxdb' | 'mosquitto', signal: NodeJS.Signals): void {
  process.kill(Number(sh('pid', name)), signal);
}

/** Runs one scenario and prints `published / stored / duplicates / alert jobs / duplicate alert jobs / peak RSS`. */
export async function runScenario(
  name: string,
  fault: (ctx: ScenarioContext) => Promise<void>,
  extraEnv: Record<string, string> = {},
  sim: { reconnect?: boolean } = {},
): Promise<ScenarioResult> {
  const setup = fleetSetup(name);
  let worker = await startFleetWorker(setup, 0, extraEnv);
  let peak = 0;
  let sent = 0;
  const ctx: ScenarioContext = {
    setup,
    worker: () => worker,
    async killAndRestartWorker() {
      peak = Math.max(peak, peakRssMb(worker.child.pid!));
      worker.child.kill('SIGKILL');
      await worker.exited;
      worker = await startFleetWorker(setup, 0, extraEnv);
    },
    published: async (share) => {
      await waitFor(() => sent >= share * FAULT_N, 600_000, 50);
    },
  };
  const publishing = simulateFleet({
    url: MQTT_URL,
    root: setup.root,
    messages: FAULT_N,
    ratePerS: FAULT_RATE,
    onProgress: (n) => {
      sent = n;
    },
    hotDevices: HOT,
    hotDuring: [0.2, 0.6],
    reconnect: sim.reconnect,
  });
  await fault(ctx);
  const result = await publishing;
  await waitFor(async () => (await countPoints(setup.db)) >= FAULT_N, 180_000, 1000);
  await new Promise((r) => setTimeout(r, 1000)); // a last batch of alerts may still be on its way
  const stored = await countPoints(setup.db);
  peak = Math.max(peak, peakRssMb(worker.child.pid!));
  worker.child.kill('SIGTERM');
  await worker.exited;
  const alerts = await alertJobs(extraEnv.TRIBUTARY_REDIS_URL ?? REDIS_URL, `${setup.name}-alerts`);
  await wipeSession(setup.clientId);
  const figures: ScenarioResult = {
    published: result.published,
    stored,
    duplicates: Math.max(0, stored - result.published),
    alertJobs: alerts.total,
    duplicateAlertJobs: alerts.duplicates,
    overheatingFired: alerts.fired,
    overheatingResolved: alerts.resolved,
    peakRssMb: peak,
  };
  console.log(
    `${name}: published ${figures.published} / stored ${figures.stored} / duplicates ${figures.duplicates}` +
      ` / alert jobs ${figures.alertJobs} (overheating fired ${figures.overheatingFired}, resolved ${figures.overheatingResolved})` +
      ` / duplicate alert jobs ${figures.duplicateAlertJobs} / peak RSS ${figures.peakRssMb} MB`,
  );
  return figures;
}

/** Alert jobs of a queue: total, overheating transitions, and jobs that repeat a transition already enqueued. */
export async function alertJobs(
  redisUrl: string,
  queue: string,
): Promise<{ total: number; fired: number; resolved: number; duplicates: number }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection: redis });
  try {
    const jobs = await q.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
    const events = jobs.map((j) => j.data as AlertEvent);
    const seen = new Set<string>();
    let duplicates = 0;
    for (const e of events) {
      const key = `${e.ruleId}|${JSON.stringify(e.tags)}|${e.state}|${e.startsAt}|${e.repeat}`;
      if (seen.has(key)) duplicates++;
      seen.add(key);
    }
    const overheating = events.filter((e) => e.ruleId === 'overheating' && !e.repeat);
    return {
      total: events.length,
      duplicates,
      fired: overheating.filter((e) => e.state === 'firing').length,
      resolved: overheating.filter((e) => e.state === 'resolved').length,
    };
  } finally {
    await q.close();
    redis.disconnect();
  }
}

/** The devices the scenarios overheat: each must fire once and resolve once. */
export const HOT_DEVICES = HOT.length;

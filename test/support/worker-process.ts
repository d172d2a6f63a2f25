// Runs `tributary run examples/fleet.ts` as a real child process, the way users run workers.
import { spawn, type ChildProcess } from 'node:child_process';
import type { FleetTestSetup } from './fleet-pipeline.js';
import { INFLUX_URL, MQTT_URL, REDIS_URL } from './services.js';

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Everything the worker printed. */
  readonly output: () => string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/** Starts a fleet worker for `setup` and resolves once it printed that it is ready. */
export async function startFleetWorker(
  setup: FleetTestSetup,
  index = 0,
  extraEnv: Record<string, string> = {},
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['bin/tributary.mjs', 'run', 'examples/fleet.ts'], {
    env: { ...fleetWorkerEnv(setup), TRIBUTARY_WORKER_INDEX: String(index), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready in 20 s:\n${out}`)), 20_000);
    const check = () => {
      if (/ready/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before ready:\n${out}`));
    });
  });
  return { child, output: () => out, exited };
}

/** The environment of a fleet worker (examples/fleet.ts) for `setup`, on the test services; log level warn. */
export function fleetWorkerEnv(setup: FleetTestSetup): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TRIBUTARY_MQTT_URL: MQTT_URL,
    TRIBUTARY_INFLUX_URL: INFLUX_URL,
    TRIBUTARY_REDIS_URL: REDIS_URL,
    TRIBUTARY_INFLUX_DATABASE: setup.db,
    TRIBUTARY_GROUP: setup.name,
    FLEET_TOPIC_ROOT: setup.root,
    FLEET_ALERT_QUEUE: `${setup.name}-alerts`,
    TRIBUTARY_LOG_LEVEL: 'warn',
  };
}

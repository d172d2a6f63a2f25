// A fleet worker on a worker host: `ip netns exec trib-wN node bin/tributary.mjs run examples/fleet.ts`
// with the namespaces' endpoints, its metrics endpoint on the host's address, and its log kept.
import { spawn, type ChildProcess } from 'node:child_process';
import type { FleetTestSetup } from '../../support/fleet-pipeline.js';
import { NET_INFLUX_URL, NET_MQTT_URL, NET_REDIS_URL } from './net-services.js';
import { ADDRESS, namespaceOf, WORKER_HOSTS } from './topology.js';

/** Keep-alive of the suite's workers, seconds: a half-open broker connection is dropped within 1.5 × this. */
export const KEEPALIVE_S = 10;
const METRICS_BASE_PORT = 9400;

/** A worker process in its namespace. */
export interface NetWorker {
  readonly index: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | string>;
  /** Its log lines (pino JSON on stderr, and what it prints on stdout). */
  readonly output: () => string;
  /** Messages it acknowledged so far and messages it holds unacknowledged (from its /metrics). */
  metrics(): Promise<{ settled: number; unsettled: number }>;
  /**
   * Times (ms since epoch) of its log lines with this message (e.g. 'broker connection closed,
   * reconnecting') whose fields include `fields` (e.g. `{ sink: 'alert-queue' }`).
   */
  logTimes(message: string, fields?: Readonly<Record<string, string>>): number[];
}

/** Starts worker `index` (0..2) on host w<index> and resolves once it printed that it is ready. */
export async function startNetWorker(setup: FleetTestSetup, index: number): Promise<NetWorker> {
  const host = WORKER_HOSTS[index]!;
  const child = spawn(
    'ip',
    ['netns', 'exec', namespaceOf(host), process.execPath, 'bin/tributary.mjs', 'run', 'examples/fleet.ts'],
    {
      env: {
        ...process.env,
        TRIBUTARY_MQTT_URL: NET_MQTT_URL,
        TRIBUTARY_INFLUX_URL: NET_INFLUX_URL,
        TRIBUTARY_REDIS_URL: NET_REDIS_URL,
        TRIBUTARY_INFLUX_DATABASE: setup.db,
        TRIBUTARY_GROUP: setup.name,
        TRIBUTARY_WORKER_INDEX: String(index),
        TRIBUTARY_MQTT_KEEPALIVE: String(KEEPALIVE_S),
        TRIBUTARY_METRICS_PORT: String(METRICS_BASE_PORT),
        TRIBUTARY_METRICS_HOST: ADDRESS[host],
        FLEET_TOPIC_ROOT: setup.root,
        FLEET_ALERT_QUEUE: `${setup.name}-alerts`,
        TRIBUTARY_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${index} not ready in 30 s:\n${out}`)), 30_000);
    const check = () => {
      if (/ready/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${index} exited (${code}) before ready:\n${out}`));
    });
  });
  const metricsUrl = `http://${ADDRESS[host]}:${METRICS_BASE_PORT + index}/metrics`;
  return {
    index,
    child,
    exited,
    output: () => out,
    async metrics() {
      const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })).text();
      return {
        settled: sumOf(text, 'tributary_messages_settled_total'),
        unsettled: sumOf(text, 'tributary_messages_unsettled'),
      };
    },
    logTimes(message, fields = {}) {
      return out.split('\n').flatMap((line) => {
        if (!line.startsWith('{') || !line.includes(message)) return [];
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          const fits = entry.msg === message && Object.entries(fields).every(([k, v]) => entry[k] === v);
          return fits && typeof entry.time === 'number' ? [entry.time] : [];
        } catch {
          return [];
        }
      });
    },
  };
}

/** The sum of a metric's series in a Prometheus text exposition. */
function sumOf(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

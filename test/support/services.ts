// Endpoints of the real services the integration tests use (started by scripts/services.sh).
import { execFileSync } from 'node:child_process';

export const MQTT_URL = process.env.TRIBUTARY_MQTT_URL ?? 'mqtt://127.0.0.1:1884';
export const INFLUX_URL = process.env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086';
export const REDIS_URL = process.env.TRIBUTARY_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.TRIBUTARY_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A name unique to this run, for databases, groups, client ids and topics:
 * `<prefix>_<pid>_<ms, base 36>_<random>_<run id>`. The test run's id (set by
 * `test/support/global-setup.ts`) lets the run drop the databases it made, and only those.
 */
export function uniqueName(prefix: string): string {
  const run = process.env.TRIBUTARY_TEST_RUN ?? 'none';
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}_${run}`;
}

/** Runs an InfluxQL statement and returns the parsed JSON. */
export async function influxQuery(db: string, q: string): Promise<InfluxResult> {
  const res = await fetch(`${INFLUX_URL}/query?${new URLSearchParams({ db, q, epoch: 'ns' }).toString()}`, {
    method: 'POST',
  });
  if (!res.ok) throw new Error(`InfluxDB query failed (${res.status}): ${await res.text()}`);
  return (await res.json()) as InfluxResult;
}

export interface InfluxResult {
  results: Array<{
    error?: string;
    series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
  }>;
}

/** `SELECT count(field) FROM measurement` in `db`, 0 when empty. */
export async function countPoints(db: string, measurement = 'telemetry', field = 'temperature'): Promise<number> {
  const r = await influxQuery(db, `SELECT count("${field}") FROM "${measurement}"`);
  return Number(r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

/** Polls until `check` returns true or `timeoutMs` passes; returns the last value of `check`. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 200,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs a scripts/services.sh subcommand (e.g. stop-influx) synchronously. */
export function services(command: string): string {
  return execFileSync('bash', ['scripts/services.sh', command], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Peak resident set size of a process in MB (VmHWM), from /proc. */
export function peakRssMb(pid: number): number {
  try {
    const status = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

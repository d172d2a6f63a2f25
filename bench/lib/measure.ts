// Measurement helpers for the benchmarks: processes, /proc figures, InfluxDB counts.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
  } catch {
    return 0;
  }
}

/** The broker, InfluxDB and Redis processes on this machine (by name), for their CPU figures. */
export function servicePids(): Array<{ name: string; pid: number }> {
  const found: Array<{ name: string; pid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (name === 'mosquitto' || name === 'influxd' || name === 'redis-server')
        found.push({ name, pid: Number(entry) });
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Peak resident set size (VmHWM) of a process in MB. */
export function peakRssMb(pid: number): number {
  try {
    return Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

/**
 * Runs a command to completion; resolves with its stdout (`discardStdout`: sent to /dev/null, so
 * reading it costs nothing, as for the drain-limit client).
 */
export function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  discardStdout = false,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', discardStdout ? 'ignore' : 'pipe', 'pipe'] });
    let out = '',
      err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`)),
    );
  });
}

/** A started process; `connected` is when its output first said it had its CONNACK, if it did. */
export interface StartedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly output: () => string;
  /** Wall time (ms) and the process's CPU seconds when "connected to broker" first appeared. */
  readonly connected: () => { readonly at: number; readonly cpuSeconds: number } | undefined;
}

/**
 * Starts a long-running process and resolves once its output matches `ready`. The process's CPU is
 * sampled the moment its output first says "connected to broker": a resumed session's queue flows
 * from the CONNACK on, before the process says it is ready.
 */
export async function startProcess(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<StartedProcess> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let connected: { at: number; cpuSeconds: number } | undefined;
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 30 s: ${out.slice(-500)}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (connected === undefined && out.includes('"connected to broker"')) {
        const at = Number(
          /"connected to broker"[^\n]*?"time":(\d+)|"time":(\d+)[^\n]*?"connected to broker"/
            .exec(out)
            ?.slice(1)
            .find(Boolean),
        );
        connected = { at: Number.isFinite(at) && at > 0 ? at : Date.now(), cpuSeconds: cpuSeconds(child.pid!) };
      }
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`exited before ready: ${out.slice(-500)}`));
    });
  });
  return { child, exited, output: () => out, connected: () => connected };
}

/** Points of `measurement` in `db` (count of one field). */
export async function countPoints(
  influx: string,
  db: string,
  field = 'temperature',
  measurement = 'telemetry',
): Promise<number> {
  const q = new URLSearchParams({ db, q: `SELECT count("${field}") FROM "${measurement}"` });
  const r = (await (await fetch(`${influx}/query?${q}`, { method: 'POST' })).json()) as {
    results: Array<{ series?: Array<{ values: number[][] }> }>;
  };
  return Number(r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

/** Points written into `db`'s shards so far, from SHOW STATS: cheap, unlike a count over the data. */
export async function shardPointsWritten(influx: string, db: string): Promise<number> {
  const q = new URLSearchParams({ q: "SHOW STATS FOR 'shard'" });
  const r = (await (await fetch(`${influx}/query?${q}`)).json()) as {
    results: Array<{ series?: Array<{ tags?: Record<string, string>; columns: string[]; values: number[][] }> }>;
  };
  let sum = 0;
  for (const s of r.results[0]?.series ?? [])
    if (s.tags?.database === db) sum += Number(s.values[0]?.[s.columns.indexOf('writePointsOk')] ?? 0);
  return sum;
}

/** Runs an InfluxQL statement (DROP/CREATE DATABASE). */
export async function influxStatement(influx: string, q: string): Promise<void> {
  const res = await fetch(`${influx}/query?${new URLSearchParams({ q })}`, { method: 'POST' });
  if (!res.ok) throw new Error(`${q}: ${res.status}`);
}

/**
 * Polls until `db` holds `n` points; returns the time it got there (or of the last growth) and the
 * count. Progress comes from the shards' write counters every 100 ms (a count query over the data
 * would load InfluxDB while it is being measured); the real count confirms the end.
 * Shows a live status line on a terminal (`label: count/n`), a plain line every 5 s otherwise.
 */
export async function waitForPoints(
  influx: string,
  db: string,
  n: number,
  idleMs = 10_000,
  label = db,
): Promise<{ at: number; count: number }> {
  const tty = process.stdout.isTTY === true;
  let last = -1,
    lastGrowth = Date.now(),
    at = Date.now(),
    shownAt = 0;
  for (;;) {
    let count = await shardPointsWritten(influx, db);
    if (count >= n) count = await countPoints(influx, db);
    if (count !== last) {
      last = count;
      lastGrowth = at = Date.now();
    }
    const now = Date.now();
    if (now - shownAt >= (tty ? 250 : 5000)) {
      shownAt = now;
      process.stdout.write(tty ? `\r\x1b[2K  ${label}: ${count}/${n} points` : `  ${label}: ${count}/${n} points\n`);
    }
    if (count >= n || now - lastGrowth > idleMs) {
      if (tty) process.stdout.write('\r\x1b[2K');
      return { at, count: count >= n ? count : await countPoints(influx, db) };
    }
    await sleep(100);
  }
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// Tributary end to end: a real worker process (`tributary run examples/fleet.ts`) into InfluxDB;
// or, on the same path, the minimal reference consumer.
import { appendFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { simulateFleet, type FleetFormat } from '../../pipeline/cli/fleet-simulator.js';
import {
  cpuSeconds,
  influxStatement,
  peakRssMb,
  servicePids,
  startProcess,
  waitForPoints,
  type StartedProcess,
} from './measure.js';

export interface E2eResult {
  readonly mode: 'drain' | 'live';
  readonly format: FleetFormat;
  readonly stored: number;
  readonly n: number;
  readonly seconds: number;
  readonly rate: number;
  readonly peakRssMb: number;
  readonly cpuUsPerMsg: number;
  /** Live mode: the publisher's own rate (msg/s), which keeping pace means matching. */
  readonly publishRate?: number;
  /** CPU µs per message the services spent meanwhile (drain mode), by process name. */
  readonly serviceCpuUsPerMsg: Record<string, number>;
}

export interface E2eOptions {
  readonly mqttPort: number;
  readonly influx: string;
  readonly n: number;
  readonly mode: 'drain' | 'live';
  readonly format: FleetFormat;
  /** Worker processes in the share group. */
  readonly workers: number;
  /**
   * What consumes: Tributary's fleet pipeline (default), or `reference`, the minimal consumer with
   * the same delivery guarantee (`bench/reference-consumer.mjs`) whose rate the full pipeline is
   * compared with.
   */
  readonly consumer?: 'tributary' | 'reference';
}

const group = `bench${process.pid}`;
const clientIds = (workers: number) => Array.from({ length: workers }, (_, i) => `${group}-${i}`);

// BENCH_INFLIGHT: the workers' in-flight window (TRIBUTARY_MQTT_INFLIGHT), 10,000 as deploy/mosquitto.conf allows.
function workerEnv(o: E2eOptions, db: string, root: string, index: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TRIBUTARY_MQTT_URL: `mqtt://127.0.0.1:${o.mqttPort}`,
    TRIBUTARY_INFLUX_URL: o.influx,
    TRIBUTARY_INFLUX_DATABASE: db,
    TRIBUTARY_GROUP: group,
    TRIBUTARY_WORKER_INDEX: String(index),
    // Tributary derives its client id from group and index; the reference consumer is given the same one.
    TRIBUTARY_CLIENT_ID: o.consumer === 'reference' ? clientIds(o.workers)[index] : '',
    FLEET_TOPIC_ROOT: root,
    FLEET_FORMAT: o.format,
    FLEET_ALERT_QUEUE: `${group}-alerts`,
    // info: the worker logs its CONNACK, where drain timing starts
    TRIBUTARY_LOG_LEVEL: process.env.BENCH_WORKER_LOG_LEVEL ?? 'info',
    TRIBUTARY_MQTT_INFLIGHT: process.env.BENCH_INFLIGHT ?? '10000',
  };
}

async function wipeSessions(mqttPort: number, workers: number): Promise<void> {
  for (const clientId of clientIds(workers)) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      clientId,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 0 },
    });
    await c.endAsync();
  }
}

/** `workers` worker processes in one share group, as `tributary run --workers N` starts them. */
async function startWorkers(o: E2eOptions, db: string, root: string): Promise<StartedProcess[]> {
  // BENCH_WORKER_NODE_ARGS: extra node flags for the workers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  // Without them, the worker runs as users start it: the program itself, with the node flags of its first line.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const [cmd, args] =
    o.consumer === 'reference'
      ? [process.execPath, ['bench/reference-consumer.mjs']]
      : nodeArgs.length > 0
        ? [process.execPath, [...nodeArgs, 'bin/tributary.mjs', 'run', 'examples/fleet.ts']]
        : ['bin/tributary.mjs', ['run', 'examples/fleet.ts']];
  return Promise.all(
    Array.from({ length: o.workers }, (_, i) => startProcess(cmd, args, workerEnv(o, db, root, i), /ready/)),
  );
}

async function stopWorkers(workers: StartedProcess[]): Promise<void> {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  // BENCH_WORKER_LOG_LEVEL=info shows each worker's final counters (batches and items per sink).
  // BENCH_WORKER_OUTPUT=<file>: every worker's whole output appended there (e.g. with --trace-gc).
  if (process.env.BENCH_WORKER_LOG_LEVEL)
    for (const w of workers)
      console.log(
        w
          .output()
          .split('\n')
          .filter((l) => l.includes('pipeline stopped'))
          .join('\n'),
      );
  if (process.env.BENCH_WORKER_OUTPUT)
    for (const w of workers) appendFileSync(process.env.BENCH_WORKER_OUTPUT, w.output());
}

/**
 * Drain mode: the workers' persistent sessions are created, the workers stopped, N messages queued
 * by the broker, then the workers started again and timed until InfluxDB holds N points.
 * Live mode: the workers run while the simulator publishes N as fast as the broker takes them.
 */
export async function measureTributary(o: E2eOptions, run: number): Promise<E2eResult> {
  const who = o.consumer ?? 'tributary';
  const db = `bench_${who}_${process.pid}_${run}`;
  const root = `bench${process.pid}r${run}${who === 'tributary' ? '' : who}`;
  await influxStatement(o.influx, `DROP DATABASE "${db}"`);
  await wipeSessions(o.mqttPort, o.workers);
  let workers = await startWorkers(o, db, root);
  // The services' CPU from just before the drain's workers start (idle until then), or the publish.
  const services = servicePids();
  let serviceCpu0: number[] = [];
  let t0 = 0,
    cpu0 = 0;
  let publishRate: number | undefined;
  if (o.mode === 'drain') {
    await stopWorkers(workers);
    await simulateFleet({ url: `mqtt://127.0.0.1:${o.mqttPort}`, root, messages: o.n, format: o.format });
    serviceCpu0 = services.map((s) => cpuSeconds(s.pid));
    workers = await startWorkers(o, db, root);
  } else {
    serviceCpu0 = services.map((s) => cpuSeconds(s.pid));
    t0 = Date.now();
    cpu0 = workers.reduce((a, w) => a + cpuSeconds(w.child.pid!), 0);
    const sent = await simulateFleet({ url: `mqtt://127.0.0.1:${o.mqttPort}`, root, messages: o.n, format: o.format });
    publishRate = Math.round((sent.published * 1000) / Math.max(1, sent.elapsedMs));
  }
  const pids = workers.map((w) => w.child.pid!);
  if (o.mode === 'drain') {
    // From the first CONNACK, not the "ready" line: a resumed session's queue flows right after it.
    const connected = workers.map((w) => w.connected());
    if (connected.some((c) => c === undefined)) throw new Error(`a ${who} process never logged its CONNACK`);
    t0 = Math.min(...connected.map((c) => c!.at));
    cpu0 = connected.reduce((a, c) => a + c!.cpuSeconds, 0);
  }
  const done = await waitForPoints(o.influx, db, o.n, 10_000, `${who} ${o.mode} ${o.format}`);
  const cpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0;
  const serviceCpuUsPerMsg: Record<string, number> = {}; // summed by name (the stock broker is a mosquitto too)
  services.forEach((s, i) => {
    serviceCpuUsPerMsg[s.name] =
      (serviceCpuUsPerMsg[s.name] ?? 0) +
      Math.round(((cpuSeconds(s.pid) - serviceCpu0[i]!) * 1e6) / Math.max(1, done.count));
  });
  const rss = pids.reduce((a, p) => a + peakRssMb(p), 0);
  await stopWorkers(workers);
  await wipeSessions(o.mqttPort, o.workers);
  await influxStatement(o.influx, `DROP DATABASE "${db}"`);
  const seconds = (done.at - t0) / 1000;
  return {
    mode: o.mode,
    format: o.format,
    stored: done.count,
    n: o.n,
    seconds,
    rate: Math.round(done.count / seconds),
    peakRssMb: rss,
    cpuUsPerMsg: Math.round((cpu * 1e7) / Math.max(1, done.count)) / 10,
    serviceCpuUsPerMsg,
    publishRate,
  };
}

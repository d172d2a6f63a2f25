// Tributary end to end: a real worker process (`tributary run examples/fleet.ts`) into InfluxDB.
import mqtt from 'mqtt';
import { simulateFleet, type FleetFormat } from '../../examples/fleet-simulator.js';
import { cpuSeconds, influxStatement, peakRssMb, startProcess, waitForPoints } from './measure.js';

export interface E2eResult {
  readonly mode: 'drain' | 'live';
  readonly format: FleetFormat;
  readonly stored: number;
  readonly n: number;
  readonly seconds: number;
  readonly rate: number;
  readonly peakRssMb: number;
  readonly cpuUsPerMsg: number;
}

export interface E2eOptions {
  readonly mqttPort: number;
  readonly influx: string;
  readonly n: number;
  readonly mode: 'drain' | 'live';
  readonly format: FleetFormat;
}

const group = `bench${process.pid}`;
const clientId = `${group}-0`;

function workerEnv(o: E2eOptions, db: string, root: string): NodeJS.ProcessEnv {
  return {
    ...process.env, TRIBUTARY_MQTT_URL: `mqtt://127.0.0.1:${o.mqttPort}`, TRIBUTARY_INFLUX_URL: o.influx,
    TRIBUTARY_INFLUX_DATABASE: db, TRIBUTARY_GROUP: group, TRIBUTARY_CLIENT_ID: clientId,
    FLEET_TOPIC_ROOT: root, FLEET_ALERT_QUEUE: `${group}-alerts`, TRIBUTARY_LOG_LEVEL: 'error', TRIBUTARY_MQTT_INFLIGHT: '10000',
  };
}

async function wipeSession(mqttPort: number): Promise<void> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId, clean: true, protocolVersion: 5, reconnectPeriod: 0, properties: { sessionExpiryInterval: 0 } });
  await c.endAsync();
}

/**
 * Drain mode: the worker's persistent session is created, the worker stopped, N messages queued
 * by the broker, then the worker started again and timed until InfluxDB holds N points.
 * Live mode: the worker runs while the simulator publishes N as fast as the broker takes them.
 */
export async function measureTributary(o: E2eOptions, run: number): Promise<E2eResult> {
  const db = `bench_tributary_${process.pid}_${run}`;
  const root = `bench${process.pid}r${run}`;
  await influxStatement(o.influx, `DROP DATABASE "${db}"`);
  await wipeSession(o.mqttPort);
  const env = workerEnv(o, db, root);
  const args = ['bin/tributary.mjs', 'run', 'examples/fleet.ts'];
  let worker = await startProcess(process.execPath, args, env, /ready/);
  let t0: number;
  if (o.mode === 'drain') {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await simulateFleet({ url: `mqtt://127.0.0.1:${o.mqttPort}`, root, messages: o.n, format: o.format });
    worker = await startProcess(process.execPath, args, env, /ready/);
    t0 = Date.now();
  } else {
    t0 = Date.now();
    await simulateFleet({ url: `mqtt://127.0.0.1:${o.mqttPort}`, root, messages: o.n, format: o.format });
  }
  const pid = worker.child.pid!;
  const cpu0 = o.mode === 'drain' ? cpuSeconds(pid) : 0;
  const done = await waitForPoints(o.influx, db, o.n, 10_000, `tributary ${o.mode} ${o.format}`);
  const cpu = cpuSeconds(pid) - cpu0;
  const rss = peakRssMb(pid);
  worker.child.kill('SIGTERM');
  await worker.exited;
  await wipeSession(o.mqttPort);
  await influxStatement(o.influx, `DROP DATABASE "${db}"`);
  const seconds = (done.at - t0) / 1000;
  return { mode: o.mode, format: o.format, stored: done.count, n: o.n, seconds, rate: Math.round(done.count / seconds), peakRssMb: rss, cpuUsPerMsg: Math.round((cpu * 1e6) / Math.max(1, done.count)) };
}

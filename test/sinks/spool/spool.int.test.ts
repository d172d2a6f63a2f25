// The local durable spool on the real pipeline: Mosquitto, Redis and InfluxDB 1.6.7, with a
// controllable proxy in front of InfluxDB to fail its writes (the shared InfluxDB keeps running).
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../../pipeline/cli/fleet-simulator.js';
import { definePipeline, json, mqttSource, Runtime, silentLogger } from '../../../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../../../sinks/index.js';
import { spooled, type SpooledSink } from '../../../sinks/spool/index.js';
import { parseTopic, toReadings } from '../../../transforms/index.js';
import { fleetSetup, wipeSession, type FleetTestSetup } from '../../support/fleet-pipeline.js';
import { startHttpProxy, type HttpProxy } from '../../support/http-proxy.js';
import { countPoints, MQTT_URL, REDIS_URL, waitFor } from '../../support/services.js';

const WINDOW = 500;
const N = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** The fleet pipeline of `setup`, its InfluxDB sink (at `influxUrl`) wrapped in a spool on `dir`. */
function spoolPipeline(
  setup: FleetTestSetup,
  influxUrl: string,
  dir: string,
): { runtime: Runtime; spool: SpooledSink<unknown> } {
  const spool = spooled(
    influxdb({ url: influxUrl, api: 'v1', database: setup.db, createDatabase: true, timeoutMs: 3000 }),
    {
      dir,
      segmentBytes: 1024 * 1024,
      fsync: 'batch',
      replayRetry: { initialDelayMs: 50, maxDelayMs: 500 },
    },
  );
  const def = definePipeline({ name: 'fleet-spool-test' })
    .from(
      mqttSource({
        url: MQTT_URL,
        clientId: setup.clientId,
        group: setup.name,
        inflightWindow: WINDOW,
        subscribe: [{ topic: `${setup.root}/+/+/telemetry`, decode: json() }],
      }),
    )
    .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
    .pipe(parseTopic(`${setup.root}/{site}/{device}/telemetry`))
    .to(spool);
  const runtime = new Runtime({
    source: def.source,
    stages: def.stages,
    sinks: def.sinks,
    log: silentLogger,
    deadLetters: redisDeadLetters({ url: REDIS_URL, stream: setup.stream }),
    retry: { initialDelayMs: 100, maxDelayMs: 1000, giveUpAfterMs: Infinity },
  });
  return { runtime, spool: spool as SpooledSink<unknown> };
}

async function fixture(prefix: string): Promise<{ setup: FleetTestSetup; proxy: HttpProxy; dir: string }> {
  const setup = fleetSetup(prefix);
  const proxy = await startHttpProxy(process.env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086');
  proxy.affects = (_method, path) => path.startsWith('/write'); // queries (CREATE DATABASE) still pass
  const dir = await mkdtemp(join(tmpdir(), 'tributary-spool-it-'));
  cleanups.push(
    () => rm(dir, { recursive: true, force: true }),
    () => proxy.close(),
    () => wipeSession(setup.clientId),
  );
  return { setup, proxy, dir };
}

const segmentFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.seg'));

describe('local durable spool (real broker and InfluxDB, proxy-simulated outage)', () => {
  it('during an outage longer than the broker could queue, messages keep being acknowledged into the spool, then all of them reach InfluxDB', async () => {
    const { setup, proxy, dir } = await fixture('spool');
    const { runtime, spool } = spoolPipeline(setup, proxy.url, dir);
    await runtime.start();
    cleanups.push(() => runtime.stop(0));
    proxy.mode = 'fail'; // every write answers 503 from now on
    let maxUnsettled = 0;
    const sampler = setInterval(() => {
      maxUnsettled = Math.max(maxUnsettled, runtime.stats.unsettled);
    }, 10);
    cleanups.push(async () => clearInterval(sampler));

    const publishing = simulateFleet({ url: MQTT_URL, root: setup.root, messages: N, devices: 200, ratePerS: 10_000 });
    // More than the window acknowledged while InfluxDB accepts nothing, and more still after that.
    expect(await waitFor(() => runtime.stats.settled > WINDOW, 30_000, 10)).toBe(true);
    const settledEarly = runtime.stats.settled;
    expect(await waitFor(() => runtime.stats.settled > settledEarly, 30_000, 10)).toBe(true);
    expect((await publishing).published).toBe(N);
    // Every message is acknowledged while InfluxDB accepts nothing: the broker holds none of them.
    expect(await waitFor(() => runtime.stats.settled === N, 20_000, 20)).toBe(true);
    clearInterval(sampler);
    expect(maxUnsettled).toBeLessThanOrEqual(WINDOW * 1.5);
    expect(proxy.forwardedOk('/write')).toBe(0);
    expect(proxy.requests.filter((r) => r.outcome === 'fail').length).toBeGreaterThan(0);
    expect(await countPoints(setup.db)).toBe(0);
    expect(spool.stats).toMatchObject({ recordsPending: N, spooled: N, replayed: 0 });
    expect(spool.stats.segments).toBeGreaterThan(1);
    expect(runtime.stats.deadLetters.size).toBe(0);

    proxy.mode = 'forward'; // the outage ends
    expect(await waitFor(async () => (await countPoints(setup.db)) >= N, 20_000, 200)).toBe(true);
    await waitFor(() => spool.stats.segments === 0, 5000, 20);
    expect(spool.stats).toMatchObject({ recordsPending: 0, replayed: N, rejected: 0, bytesOnDisk: 0, segments: 0 });
    expect(await segmentFiles(dir)).toEqual([]);
    expect(await runtime.stop()).toBe(true);
    expect(await countPoints(setup.db)).toBe(N); // each message is one distinct point: exactly N
  });

  it('a worker SIGKILLed during the outage: a new worker on the same spool directory replays everything, zero lost', async () => {
    const { setup, proxy, dir } = await fixture('spoolkill');
    proxy.mode = 'fail';
    const child = startChild(setup, proxy.url, dir);
    cleanups.push(async () => {
      child.process.kill('SIGKILL');
    });
    await child.ready;
    const publishing = simulateFleet({ url: MQTT_URL, root: setup.root, messages: N, devices: 200, ratePerS: 10_000 });
    expect(await waitFor(() => child.last().settled >= N / 3, 20_000, 10)).toBe(true);
    const acknowledged = child.last(); // at most this old: every message acknowledged by then is on disk
    child.process.kill('SIGKILL');
    expect(await child.exited).toBe('SIGKILL');
    expect(acknowledged.spool.recordsPending).toBeGreaterThanOrEqual(acknowledged.settled);
    expect((await publishing).published).toBe(N);
    expect(proxy.forwardedOk('/write')).toBe(0);

    // Same session, same spool directory: the spool's records plus what the broker still holds.
    const { runtime, spool } = spoolPipeline(setup, proxy.url, dir);
    await runtime.start();
    cleanups.push(() => runtime.stop(0));
    expect(spool.stats.recordsPending).toBeGreaterThanOrEqual(acknowledged.settled);
    await sleep(500);
    proxy.mode = 'forward';
    expect(await waitFor(async () => (await countPoints(setup.db)) >= N, 30_000, 200)).toBe(true);
    expect(await runtime.stop()).toBe(true);
    expect(await countPoints(setup.db)).toBe(N);
    expect(spool.stats.replayed).toBeGreaterThanOrEqual(acknowledged.settled);
  });
});

interface ChildReport {
  readonly settled: number;
  readonly spool: { readonly recordsPending: number };
}

/** The same pipeline in a child process (so that it can be SIGKILLed), printing its counters. */
function startChild(setup: FleetTestSetup, influxUrl: string, dir: string) {
  const root = resolve('.');
  const code = `
    const { definePipeline, json, mqttSource, Runtime, silentLogger } = await import(${JSON.stringify(`${root}/pipeline/index.ts`)});
    const { influxdb, redisDeadLetters } = await import(${JSON.stringify(`${root}/sinks/index.ts`)});
    const { spooled } = await import(${JSON.stringify(`${root}/sinks/spool/index.ts`)});
    const { parseTopic, toReadings } = await import(${JSON.stringify(`${root}/transforms/index.ts`)});
    const c = JSON.parse(process.env.SPOOL_CHILD);
    const spool = spooled(influxdb({ url: c.influxUrl, api: 'v1', database: c.db, createDatabase: true, timeoutMs: 3000 }), { dir: c.dir, segmentBytes: 1048576, fsync: 'batch' });
    const def = definePipeline({ name: 'fleet-spool-child' })
      .from(mqttSource({ url: c.mqttUrl, clientId: c.clientId, group: c.group, inflightWindow: c.window, subscribe: [{ topic: c.root + '/+/+/telemetry', decode: json() }] }))
      .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
      .pipe(parseTopic(c.root + '/{site}/{device}/telemetry'))
      .to(spool);
    const runtime = new Runtime({ source: def.source, stages: def.stages, sinks: def.sinks, log: silentLogger,
      deadLetters: redisDeadLetters({ url: c.redisUrl, stream: c.stream }), retry: { initialDelayMs: 100, maxDelayMs: 1000, giveUpAfterMs: Infinity } });
    await runtime.start();
    console.log('ready');
    setInterval(() => console.log(JSON.stringify({ settled: runtime.stats.settled, spool: spool.stats })), 5);
  `;
  const config = {
    influxUrl,
    dir,
    db: setup.db,
    clientId: setup.clientId,
    group: setup.name,
    root: setup.root,
    stream: setup.stream,
    mqttUrl: MQTT_URL,
    redisUrl: REDIS_URL,
    window: WINDOW,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, SPOOL_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '',
    err = '';
  let last: ChildReport = { settled: 0, spool: { recordsPending: 0 } };
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((r) => child.on('exit', (code2, signal) => r(signal ?? code2 ?? -1)));
  const ready = new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`child not ready in 20 s:\n${out}\n${err}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') {
          clearTimeout(timer);
          ok();
        } else if (line.startsWith('{')) last = JSON.parse(line) as ChildReport;
      }
    });
    void exited.then((code2) => {
      clearTimeout(timer);
      fail(new Error(`child exited (${code2}):\n${err}`));
    });
  });
  return { process: child, ready, exited, last: () => last };
}

// The metrics endpoint and the internal-metrics writer, on real sockets and the real InfluxDB 1.6.7.
import { Redis } from 'ioredis';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  httpPing,
  influxLineWriter,
  internalReadings,
  METRIC_NAMES,
  metricsEnv,
  mqttConnected,
  readiness,
  redisPing,
  startInternalMetrics,
  startMetricsServer,
  startWorkerTelemetry,
  type MetricsServer,
  type Readiness,
} from '../../../../pipeline/cli/metrics/index.js';
import { workerEnv } from '../../../../pipeline/cli/config/env.js';
import { RuntimeStats } from '../../../../pipeline/engine/runtime/stats.js';
import { simulateFleet } from '../../../../pipeline/cli/fleet-simulator.js';
import { fleetPipeline, fleetSetup, wipeSession } from '../../../support/fleet-pipeline.js';
import {
  countPoints,
  INFLUX_URL,
  influxQuery,
  MQTT_URL,
  REDIS_URL,
  uniqueName,
  waitFor,
} from '../../../support/services.js';

const servers: MetricsServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(
  stats: RuntimeStats | (() => RuntimeStats | undefined),
  extra: Partial<Parameters<typeof startMetricsServer>[0]> = {},
) {
  const server = await startMetricsServer({
    port: 0,
    stats,
    window: 100,
    labels: { worker: 'ingest-7', pipeline: 'fleet' },
    ...extra,
  });
  servers.push(server);
  return server;
}

/** Parses Prometheus text format into `name{labels sorted by name}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text format: ${line}`);
    const labels = m[2]
      ? [...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)]
          .map((l) => `${l[1]}="${l[2]}"`)
          .sort()
          .join(',')
      : '';
    out.set(labels ? `${m[1]}{${labels}}` : m[1]!, Number(m[3]));
  }
  return out;
}

/** The value of `name` with the server's labels plus `extra`. */
function at(m: Map<string, number>, name: string, extra: Record<string, string> = {}): number | undefined {
  const labels = Object.entries({ worker: 'ingest-7', pipeline: 'fleet', ...extra })
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  return m.get(`${name}{${labels}}`);
}

describe('metrics server', () => {
  it('exports RuntimeStats on scrape, in Prometheus text format', async () => {
    const stats = new RuntimeStats();
    const server = await start(stats);
    const first = await fetch(`${server.url}/metrics`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    let m = parse(await first.text());
    expect(at(m, METRIC_NAMES.received)).toBe(0);
    expect(at(m, METRIC_NAMES.backpressure)).toBe(0);

    // the runtime moves on; the next scrape sees it
    stats.received = 1234;
    stats.decoded = 1200;
    stats.settled = 1100;
    stats.droppedQos0 = 3;
    stats.unsettled = 100;
    RuntimeStats.bump(stats.deadLetters, 'decode_error', 34);
    RuntimeStats.bump(stats.deadLetters, 'write_rejected', 2);
    stats.recordWrite('influxdb', 20, 600);
    stats.recordWrite('influxdb', 60, 500);
    stats.recordWrite('dead-letters', 5, 36);
    RuntimeStats.bump(stats.retries, 'influxdb', 4);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    m = parse(text);
    expect(at(m, METRIC_NAMES.received)).toBe(1234);
    expect(at(m, METRIC_NAMES.decoded)).toBe(1200);
    expect(at(m, METRIC_NAMES.settled)).toBe(1100);
    expect(at(m, METRIC_NAMES.droppedQos0)).toBe(3);
    expect(at(m, METRIC_NAMES.deadLetters, { code: 'decode_error' })).toBe(34);
    expect(at(m, METRIC_NAMES.deadLetters, { code: 'write_rejected' })).toBe(2);
    expect(at(m, METRIC_NAMES.written, { sink: 'influxdb' })).toBe(1100);
    expect(at(m, METRIC_NAMES.written, { sink: 'dead-letters' })).toBe(36);
    expect(at(m, METRIC_NAMES.batches, { sink: 'influxdb' })).toBe(2);
    expect(at(m, METRIC_NAMES.retries, { sink: 'influxdb' })).toBe(4);
    expect(at(m, `${METRIC_NAMES.writeDuration}_sum`, { sink: 'influxdb' })).toBeCloseTo(0.08, 9);
    expect(at(m, `${METRIC_NAMES.writeDuration}_count`, { sink: 'influxdb' })).toBe(2);
    expect(at(m, METRIC_NAMES.writeDurationMax, { sink: 'influxdb' })).toBeCloseTo(0.06, 9);
    expect(at(m, METRIC_NAMES.unsettled)).toBe(100);
    expect(at(m, METRIC_NAMES.window)).toBe(100);
    expect(at(m, METRIC_NAMES.backpressure)).toBe(1); // unsettled >= window
    expect(text).toContain(`# TYPE ${METRIC_NAMES.received} counter`);
    expect(text).toContain(`# TYPE ${METRIC_NAMES.writeDuration} summary`);
    expect(text).toContain(`# TYPE ${METRIC_NAMES.backpressure} gauge`);
    // process metrics from prom-client, in this registry only
    expect(at(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);

    stats.unsettled = 99;
    m = parse(await (await fetch(`${server.url}/metrics`)).text());
    expect(at(m, METRIC_NAMES.backpressure)).toBe(0);
  });

  it('follows a stats getter (a restarted runtime) and exports nothing by sink before the runtime exists', async () => {
    let stats: RuntimeStats | undefined;
    const server = await start(() => stats, { processMetrics: false });
    let text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).not.toMatch(/tributary_sink_items_written_total\{/);
    expect(at(parse(text), METRIC_NAMES.received)).toBe(0);
    expect(text).not.toContain('process_cpu');
    stats = new RuntimeStats();
    stats.received = 5;
    stats.recordWrite('influxdb', 1, 5);
    text = await (await fetch(`${server.url}/metrics`)).text();
    expect(at(parse(text), METRIC_NAMES.received)).toBe(5);
    expect(at(parse(text), METRIC_NAMES.written, { sink: 'influxdb' })).toBe(5);
  });

  it('answers /healthz 200, and /readyz 503 with reasons until ready() says ok', async () => {
    let state: Readiness = {
      ok: false,
      checks: { broker: 'disconnected from the MQTT broker (reconnecting)', influxdb: 'ok' },
    };
    const server = await start(new RuntimeStats(), { ready: async () => state });
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');

    let ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toEqual(state);

    state = { ok: true, checks: { broker: 'ok', influxdb: 'ok' } };
    ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual(state);

    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('answers /readyz 503 when ready() throws or hangs', async () => {
    const throwing = await start(new RuntimeStats(), { ready: () => Promise.reject(new Error('boom')) });
    const r1 = await fetch(`${throwing.url}/readyz`);
    expect(r1.status).toBe(503);
    expect(await r1.json()).toEqual({ ok: false, checks: { ready: 'boom' } });
    const hanging = await start(new RuntimeStats(), { ready: () => new Promise(() => {}), readyTimeoutMs: 100 });
    const r2 = await fetch(`${hanging.url}/readyz`);
    expect(r2.status).toBe(503);
    expect(((await r2.json()) as Readiness).checks.ready).toMatch(/no answer within 100 ms/);
  });

  it('binds 127.0.0.1 by default: other interfaces are refused', async () => {
    const server = await start(new RuntimeStats());
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const reach = (host: string) =>
      new Promise<string>((resolve) => {
        const s = connect({ host, port: server.port });
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      });
    expect(await reach('127.0.0.1')).toBe('connected');
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal && a.family === 'IPv4')
      .map((a) => a!.address);
    others.push('::1'); // IPv6 loopback is another address too
    for (const host of others) expect(await reach(host), host).toMatch(/ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH/);
  });
});

describe('readiness checks', () => {
  it('report ok for the real InfluxDB and Redis, and say why for what is down', async () => {
    const client = { connected: false };
    const ready = readiness({
      broker: mqttConnected({ client }),
      influxdb: () => httpPing(INFLUX_URL),
      redis: () => redisPing(REDIS_URL),
      closedPort: () => redisPing('redis://127.0.0.1:1'),
      notInflux: () => httpPing('http://127.0.0.1:1'),
    });
    let r = await ready();
    expect(r.ok).toBe(false);
    expect(r.checks.influxdb).toBe('ok');
    expect(r.checks.redis).toBe('ok');
    expect(r.checks.broker).toMatch(/disconnected/);
    expect(r.checks.closedPort).toMatch(/ECONNREFUSED/);
    expect(r.checks.notInflux).toMatch(/unreachable/);
    client.connected = true;
    r = await readiness({
      broker: mqttConnected({ client }),
      influxdb: () => httpPing(INFLUX_URL),
      redis: () => redisPing(REDIS_URL),
    })();
    expect(r).toEqual({ ok: true, checks: { broker: 'ok', influxdb: 'ok', redis: 'ok' } });
  });

  it('bound a hanging check by the timeout', async () => {
    const r = await readiness({ slow: () => new Promise(() => {}) }, 50)();
    expect(r).toEqual({ ok: false, checks: { slow: 'no answer within 50 ms' } });
  });
});

describe('metrics settings from the environment', () => {
  it('offsets the port by the worker index and validates values', () => {
    expect(metricsEnv({})).toEqual({ port: undefined, host: '127.0.0.1', internalEveryMs: undefined });
    expect(
      metricsEnv({ TRIBUTARY_METRICS_PORT: '9464', TRIBUTARY_WORKER_INDEX: '3', TRIBUTARY_INTERNAL_METRICS_S: '10' }),
    ).toEqual({ port: 9467, host: '127.0.0.1', internalEveryMs: 10_000 });
    expect(
      metricsEnv({ TRIBUTARY_METRICS_PORT: '0', TRIBUTARY_WORKER_INDEX: '3', TRIBUTARY_INTERNAL_METRICS_S: '0' }).port,
    ).toBe(0);
    expect(() => metricsEnv({ TRIBUTARY_METRICS_PORT: 'http' })).toThrow(/TRIBUTARY_METRICS_PORT/);
    expect(() => metricsEnv({ TRIBUTARY_INTERNAL_METRICS_S: '-1' })).toThrow(/TRIBUTARY_INTERNAL_METRICS_S/);
  });
});

describe('internal metrics into InfluxDB 1.6.7', () => {
  const db = uniqueName('internal');
  afterAll(async () => {
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });

  it('writes tributary_internal points that InfluxQL reads back', async () => {
    await influxQuery(db, `CREATE DATABASE "${db}"`);
    const stats = new RuntimeStats();
    let now = Date.now() - 60_000;
    const internal = startInternalMetrics({
      stats,
      everyMs: 60_000,
      window: 10,
      clock: () => now,
      tags: { worker: 'ingest-3', pipeline: 'fleet' },
      write: influxLineWriter({ url: INFLUX_URL, database: db }),
    });
    stats.received = 10;
    stats.unsettled = 10;
    stats.recordWrite('influxdb', 40, 8);
    RuntimeStats.bump(stats.deadLetters, 'decode_error', 2);
    await internal.tick();
    now += 10_000;
    stats.received = 30;
    stats.unsettled = 0;
    stats.recordWrite('influxdb', 10, 20);
    await internal.stop(); // final snapshot

    const q = async (query: string) => (await influxQuery(db, query)).results[0]?.series ?? [];
    const worker = await q(
      'SELECT "received", "unsettled", "backpressure", "window" FROM "tributary_internal" WHERE "worker" = \'ingest-3\' AND "received" > 0',
    );
    expect(worker[0]?.values.map((v) => v.slice(1))).toEqual([
      [10, 10, 1, 10],
      [30, 0, 0, 10],
    ]);
    const sink = await q(
      'SELECT "sink_delivered", "write_ms_avg", "write_ms_count" FROM "tributary_internal" WHERE "sink" = \'influxdb\'',
    );
    expect(sink[0]?.values.map((v) => v.slice(1))).toEqual([
      [8, 40, 1],
      [28, 10, 2],
    ]);
    const codes = await q('SELECT last("dead_letters") FROM "tributary_internal" GROUP BY "code"');
    expect(codes.map((s) => [s.tags?.code, s.values[0]?.[1]])).toEqual([['decode_error', 2]]);
  });

  it('keeps going when InfluxDB refuses, reporting through the logger', async () => {
    const warnings: string[] = [];
    const log = {
      debug() {},
      info() {},
      error() {},
      warn: (_f: Record<string, unknown>, msg: string) => {
        warnings.push(`${msg}: ${String(_f.error)}`);
      },
    };
    const internal = startInternalMetrics({
      stats: new RuntimeStats(),
      tags: { worker: 'w', pipeline: 'p' },
      log,
      write: influxLineWriter({ url: INFLUX_URL, database: uniqueName('missing') }),
    });
    await internal.tick();
    await internal.stop();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(
      /could not write internal metrics: InfluxDB write to .* answered 404: .*database not found/,
    );
  });

  it('speaks the InfluxDB 2 write API for compose (org, bucket, token, ns precision)', async () => {
    const seen: Array<{ url: string; auth?: string; body: string }> = [];
    const fake = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        seen.push({ url: req.url!, auth: req.headers.authorization, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const port = (fake.address() as AddressInfo).port;
      const write = influxLineWriter({
        url: `http://127.0.0.1:${port}`,
        api: 'v2',
        org: 'tributary',
        bucket: 'telemetry',
        token: 's3cret',
      });
      await write(['tributary_internal,pipeline=p,worker=w received=1i 1000000']);
      expect(seen).toEqual([
        {
          url: '/api/v2/write?org=tributary&bucket=telemetry&precision=ns',
          auth: 'Token s3cret',
          body: 'tributary_internal,pipeline=p,worker=w received=1i 1000000',
        },
      ]);
      expect(() => influxLineWriter({ url: 'http://x', api: 'v2' })).toThrow(/org and bucket/);
    } finally {
      fake.close();
    }
  });

  it('shapes points with field names that never collide between kinds', () => {
    const stats = new RuntimeStats();
    stats.recordWrite('influxdb', 5, 1);
    RuntimeStats.bump(stats.deadLetters, 'unrouted');
    const readings = internalReadings(stats, { worker: 'w', pipeline: 'p' }, 0);
    const fieldSets = readings.map((r) => Object.keys(r.fields));
    const all = fieldSets.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(readings.map((r) => r.tags)).toEqual([
      { worker: 'w', pipeline: 'p' },
      { worker: 'w', pipeline: 'p', sink: 'influxdb' },
      { worker: 'w', pipeline: 'p', code: 'unrouted' },
    ]);
  });
});

describe('worker telemetry on a real fleet runtime', () => {
  it("exports the runtime's counters on /metrics, is ready while connected, and writes tributary_internal", async () => {
    const setup = fleetSetup('telemetry');
    const { runtime, source } = fleetPipeline(setup);
    const env = workerEnv({
      TRIBUTARY_MQTT_URL: MQTT_URL,
      TRIBUTARY_CLIENT_ID: setup.clientId,
      TRIBUTARY_INFLUX_URL: INFLUX_URL,
      TRIBUTARY_INFLUX_DATABASE: setup.db,
      TRIBUTARY_REDIS_URL: REDIS_URL,
    });
    let started = false;
    // started before the runtime, as a worker would: alive at once, ready once connected
    const telemetry = await startWorkerTelemetry({
      stats: () => (started ? runtime.stats : undefined),
      source,
      pipeline: 'fleet',
      env,
      metrics: { port: 0, host: '127.0.0.1', internalEveryMs: 60_000 },
    });
    const url = telemetry.server!.url;
    try {
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const before = await fetch(`${url}/readyz`);
      expect(before.status).toBe(503);
      expect(((await before.json()) as Readiness).checks.broker).toMatch(/not connected/);

      await runtime.start();
      started = true;
      const ready = await fetch(`${url}/readyz`);
      expect(await ready.json()).toEqual({ ok: true, checks: { broker: 'ok', influxdb: 'ok', redis: 'ok' } });
      expect(ready.status).toBe(200);

      const sent = await simulateFleet({
        url: MQTT_URL,
        root: setup.root,
        messages: 500,
        devices: 20,
        sites: 2,
        malformedShare: 0.05,
        seed: 3,
      });
      const good = sent.published - sent.malformed;
      expect(
        await waitFor(
          async () => runtime.stats.settled === sent.published && (await countPoints(setup.db)) === good,
          15_000,
        ),
      ).toBe(true);

      const m = parse(await (await fetch(`${url}/metrics`)).text());
      const w = { worker: setup.clientId, pipeline: 'fleet' };
      const get = (name: string, extra: Record<string, string> = {}) =>
        m.get(
          `${name}{${Object.entries({ ...w, ...extra })
            .map(([k, v]) => `${k}="${v}"`)
            .sort()
            .join(',')}}`,
        );
      expect(get(METRIC_NAMES.received)).toBe(sent.published);
      expect(get(METRIC_NAMES.settled)).toBe(sent.published);
      expect(get(METRIC_NAMES.written, { sink: 'influxdb' })).toBe(good);
      expect(get(METRIC_NAMES.deadLetters, { code: 'decode_error' })).toBe(sent.malformed);
      expect(get(METRIC_NAMES.written, { sink: 'dead-letters' })).toBe(sent.malformed);
      expect(get(`${METRIC_NAMES.writeDuration}_count`, { sink: 'influxdb' })).toBeGreaterThan(0);
      expect(get(METRIC_NAMES.unsettled)).toBe(0);
      expect(get(METRIC_NAMES.window)).toBe(source.window);

      await telemetry.stop(); // final tributary_internal snapshot, endpoint closed
      const r = await influxQuery(
        setup.db,
        `SELECT last("received"), last("dead_lettered") FROM "tributary_internal" WHERE "worker" = '${setup.clientId}'`,
      );
      expect(r.results[0]?.series?.[0]?.values[0]?.slice(1)).toEqual([sent.published, sent.malformed]);
      const sinks = await influxQuery(
        setup.db,
        'SELECT last("sink_delivered") FROM "tributary_internal" GROUP BY "sink"',
      );
      expect(Object.fromEntries(sinks.results[0]?.series?.map((x) => [x.tags?.sink, x.values[0]?.[1]]) ?? [])).toEqual({
        influxdb: good,
        'dead-letters': sent.malformed,
      });
    } finally {
      await telemetry.stop();
      await runtime.stop();
      const redis = new Redis(REDIS_URL);
      await redis.del(setup.stream);
      redis.disconnect();
      await influxQuery(setup.db, `DROP DATABASE "${setup.db}"`);
      await wipeSession(setup.clientId);
    }
  });
});

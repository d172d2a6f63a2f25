// The InfluxDB sink's /api/v2/write path against a real server that speaks it: VictoriaMetrics
// (Debian's 1.79.5), started on demand by scripts/services.sh up-vm. Points are read back through
// VictoriaMetrics' export API (series `<measurement>_<field>`, tags as labels, ms timestamps) and
// compared with what was published. Statuses VictoriaMetrics cannot produce (413, 429) come from a
// front server that answers them and forwards everything else to the real instance.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePipeline, json, mqttSource, Runtime, silentLogger, type Reading } from '../../../pipeline/index.js';
import { influxdb } from '../../../sinks/index.js';
import { parseTopic, toReadings } from '../../../transforms/index.js';
import { FakeSource, fakeDeadLetters } from '../../support/fakes.js';
import { wipeSession } from '../../support/fleet-pipeline.js';
import { MQTT_URL, uniqueName, waitFor } from '../../support/services.js';
import { freePort, startVictoria, stopVictoria, vmCount, vmDelete, vmExport, VM_URL } from '../../support/victoria.js';

const T0_MS = 1_700_000_000_000; // fixed past times: the instance keeps 100 years
const retry = { initialDelayMs: 50, maxDelayMs: 300, giveUpAfterMs: Infinity };
const v2 = (url: string, extra: Partial<Parameters<typeof influxdb>[0]> = {}) =>
  influxdb({
    url,
    api: 'v2',
    org: 'tributary',
    bucket: 'telemetry',
    token: 'any-token',
    batch: { maxWaitMs: 20 },
    timeoutMs: 5000,
    ...extra,
  });
const reading = (measurement: string, i: number, fields: Reading['fields'] = { value: i }): Reading => ({
  measurement,
  tags: { device: `d${i % 3}` },
  fields,
  timeNs: BigInt(T0_MS + i) * 1_000_000n,
});
const series = (measurement: string) => `{__name__=~"${measurement}_.*"}`;
const made: string[] = [];
const run = process.env.TRIBUTARY_TEST_RUN ?? 'none';

beforeAll(() => {
  startVictoria();
}, 600_000); // the first run installs it
afterAll(async () => {
  for (const m of made) await vmDelete(VM_URL, series(m));
});

/** A unique measurement, deleted from the shared instance after the file. */
function measurement(prefix: string): string {
  const m = uniqueName(prefix);
  made.push(m);
  return m;
}

describe('influxdb sink, /api/v2/write, on the real VictoriaMetrics', () => {
  it('MQTT → runtime → v2 (token, org, bucket, precision ns): every value read back as published', async () => {
    const m = measurement('vmroundtrip');
    const group = uniqueName('vmgroup');
    const source = mqttSource({
      url: MQTT_URL,
      clientId: `${group}-0`,
      group,
      subscribe: [{ topic: `${group}/+/+/telemetry`, decode: json() }],
    });
    const def = definePipeline({ name: 'vm' })
      .from(source)
      .pipe(toReadings({ measurement: m, time: ['ts'], timeUnit: 'us', integers: ['battery'] }))
      .pipe(parseTopic(`${group}/{site}/{device}/telemetry`))
      .to(v2(VM_URL));
    const dead = fakeDeadLetters();
    const runtime = new Runtime({
      source: def.source,
      stages: def.stages,
      sinks: def.sinks,
      deadLetters: dead,
      log: silentLogger,
      retry,
    });
    await runtime.start();
    const pub = await mqtt.connectAsync(MQTT_URL, { reconnectPeriod: 0 });
    const sent = Array.from({ length: 300 }, (_, i) => ({
      topic: `${group}/site-${i % 2}/dev-${i % 5}/telemetry`,
      // µs with a sub-ms part: sent as ns, stored by VictoriaMetrics in whole ms
      body: {
        ts: (T0_MS + i) * 1000 + 789,
        temperature: 20 + i / 8,
        battery: i % 100,
        charging: i % 2 === 0,
        status: 'ok',
      },
    }));
    for (const s of sent) await pub.publishAsync(s.topic, JSON.stringify(s.body), { qos: 1 });
    await pub.endAsync();
    expect(
      await waitFor(
        async () => (await vmCount(VM_URL, `${m}_temperature`)) === 300 && runtime.stats.unsettled === 0,
        20_000,
      ),
    ).toBe(true);
    expect(await runtime.stop()).toBe(true);
    await wipeSession(`${group}-0`);
    expect(dead.delivered).toEqual([]);

    const stored = new Map<string, number>(); // `field site device ms` → value
    for (const s of await vmExport(VM_URL, series(m))) {
      expect(s.metric.db).toBeUndefined(); // /api/v2/write adds no label for the bucket (1.79)
      s.timestamps.forEach((t, i) =>
        stored.set(`${s.metric.__name__} ${s.metric.site} ${s.metric.device} ${t}`, s.values[i]!),
      );
    }
    expect(stored.size).toBe(300 * 4); // temperature, battery, charging, and status (below)
    for (const { topic, body } of sent) {
      const [, site, device] = topic.split('/');
      const at = (field: string) => stored.get(`${m}_${field} ${site} ${device} ${Math.floor(body.ts / 1000)}`);
      expect([at('temperature'), at('battery'), at('charging')]).toEqual([
        body.temperature,
        body.battery,
        body.charging ? 1 : 0,
      ]);
      expect(at('status')).toBe(0); // VictoriaMetrics keeps numbers only: a string field becomes 0
    }
  });

  it('gzip: the body goes compressed (seen on the wire) and is stored', async () => {
    const m = measurement('vmgzip');
    const front = await frontServer(VM_URL, () => undefined);
    try {
      const sink = v2(front.url, { gzip: true });
      await sink.open();
      const items = Array.from({ length: 500 }, (_, i) => reading(m, i, { value: i / 4, count: BigInt(i) }));
      expect(await sink.write({ items, encoded: items.map((r) => sink.encode(r)) })).toEqual({ status: 'delivered' });
      expect(front.seen).toHaveLength(1);
      expect(front.seen[0]).toMatchObject({
        path: '/api/v2/write?org=tributary&bucket=telemetry&precision=ns',
        encoding: 'gzip',
        magic: '1f8b',
        auth: 'Token any-token',
      });
      const values = (await vmExport(VM_URL, `${m}_value`)).flatMap((s) => s.values).sort((a, b) => a - b);
      expect(values).toEqual(items.map((_, i) => i / 4));
      expect(await vmCount(VM_URL, `${m}_count`)).toBe(500);
    } finally {
      await front.close();
    }
  });

  it('v1 /write on the same server: the database becomes a `db` label', async () => {
    const m = measurement('vmv1');
    const db = uniqueName('vmdb');
    const sink = influxdb({ url: VM_URL, api: 'v1', database: db, createDatabase: true });
    await sink.open(); // VictoriaMetrics answers every /query with a list of databases: CREATE DATABASE passes
    const items = [reading(m, 1), reading(m, 2)];
    expect(await sink.write({ items, encoded: items.map((r) => sink.encode(r)) })).toEqual({ status: 'delivered' });
    const stored = await vmExport(VM_URL, series(m));
    expect(stored.map((s) => s.metric.db)).toEqual([db, db]);
  });

  it('a line VictoriaMetrics cannot parse is skipped with 204: the neighbours are stored, nothing is reported', async () => {
    // A raw newline inside a string field is valid for InfluxDB (stored as is, see influxdb-sink.test.ts);
    // VictoriaMetrics reads it as two broken lines and drops both, answering 204.
    const m = measurement('vmskip');
    const sink = v2(VM_URL);
    const items = [reading(m, 1), reading(m, 2, { value: 2, note: 'two\nlines' }), reading(m, 3)];
    expect(await sink.write({ items, encoded: items.map((r) => sink.encode(r)) })).toEqual({ status: 'delivered' });
    const stored = await vmExport(VM_URL, `${m}_value`);
    expect(stored.flatMap((s) => s.values).sort()).toEqual([1, 3]);
  });
});

describe('VictoriaMetrics instances of their own: auth and read-only storage', () => {
  it('401 with -httpAuth: a token is refused (retried, says what to fix), Basic credentials are accepted', async () => {
    const name = `victoria-metrics-auth-${run}`;
    const url = startVictoria(name, await freePort(), ['-httpAuth.username=writer', '-httpAuth.password=vm-pass-3']); // installed by beforeAll
    try {
      const m = measurement('vmauth');
      const items = [reading(m, 1)];
      const token = v2(url);
      expect(await token.write({ items, encoded: items.map((r) => token.encode(r)) })).toMatchObject({
        status: 'retry',
        failure: { code: 'write_unauthorized', reason: expect.stringMatching(/\(401\): check the token/) },
      });
      const wrong = v2(url, { token: undefined, username: 'writer', password: 'nope' });
      expect(await wrong.write({ items, encoded: items.map((r) => wrong.encode(r)) })).toMatchObject({
        status: 'retry',
        failure: { code: 'write_unauthorized', reason: expect.stringMatching(/check the username and password$/) },
      });
      const basic = v2(url, { token: undefined, username: 'writer', password: 'vm-pass-3' });
      expect(await basic.write({ items, encoded: items.map((r) => basic.encode(r)) })).toEqual({ status: 'delivered' });
      expect(await vmCount(url, `${m}_value`, `Basic ${Buffer.from('writer:vm-pass-3').toString('base64')}`)).toBe(1);
    } finally {
      stopVictoria(name, true);
    }
  });

  it('503 from read-only storage: retried with acknowledgements held, then written once it accepts', async () => {
    const name = `victoria-metrics-ro-${run}`;
    const port = await freePort();
    const url = startVictoria(name, port, ['-storage.minFreeDiskSpaceBytes=1000000GiB']);
    try {
      const probe = v2(url);
      const probeItem = [reading(measurement('vmprobe'), 0)];
      // The storage turns read-only within a second of start.
      expect(
        await waitFor(
          async () =>
            (await probe.write({ items: probeItem, encoded: probeItem.map((r) => probe.encode(r)) })).status ===
            'retry',
          10_000,
        ),
      ).toBe(true);
      const m = measurement('vmreadonly');
      const source = new FakeSource(1000);
      const runtime = new Runtime({
        source,
        stages: [toReadings({ measurement: m, time: ['ts'], timeUnit: 'ms' }) as never],
        sinks: [v2(url) as never],
        deadLetters: fakeDeadLetters(),
        log: silentLogger,
        retry,
      });
      await runtime.start();
      const ids = Array.from({ length: 50 }, (_, i) => source.send(`{"ts":${T0_MS + i},"value":${i}}`));
      expect(await waitFor(() => (runtime.stats.retries.get('influxdb') ?? 0) >= 3, 10_000, 20)).toBe(true);
      expect(ids.filter((id) => source.settled(id) > 0)).toEqual([]);
      stopVictoria(name);
      startVictoria(name, port); // same data dir, default free-space limit: writable
      expect(await waitFor(() => ids.every((id) => source.settled(id) === 1), 20_000, 20)).toBe(true);
      await runtime.stop();
      expect(await vmCount(url, `${m}_value`)).toBe(50);
    } finally {
      stopVictoria(name, true);
    }
  });
});

describe('statuses VictoriaMetrics does not produce, from a front server before the real instance', () => {
  it('413: the batch is split until each part fits, and every point is stored once', async () => {
    const m = measurement('vm413');
    const front = await frontServer(VM_URL, (bytes) => (bytes > 4096 ? { status: 413 } : undefined));
    try {
      const source = new FakeSource(1000);
      const dead = fakeDeadLetters();
      const runtime = new Runtime({
        source,
        stages: [toReadings({ measurement: m, time: ['ts'], timeUnit: 'ms' }) as never],
        sinks: [v2(front.url, { batch: { maxItems: 400, maxWaitMs: 50 } }) as never],
        deadLetters: dead,
        log: silentLogger,
        retry,
      });
      await runtime.start();
      const ids = Array.from({ length: 400 }, (_, i) => source.send(`{"ts":${T0_MS + i},"value":${i}}`));
      expect(await waitFor(() => ids.every((id) => source.settled(id) === 1), 20_000, 20)).toBe(true);
      await runtime.stop();
      expect(front.seen.some((r) => r.status === 413)).toBe(true);
      expect(dead.delivered).toEqual([]);
      const stored = await vmExport(VM_URL, `${m}_value`);
      expect(stored.flatMap((s) => s.values).sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
    } finally {
      await front.close();
    }
  });

  it('429 with Retry-After: the write waits that long, then is stored', async () => {
    const m = measurement('vm429');
    let refused = 0;
    const front = await frontServer(VM_URL, () => (refused++ === 0 ? { status: 429, retryAfter: '1' } : undefined));
    try {
      const source = new FakeSource(100);
      const runtime = new Runtime({
        source,
        stages: [toReadings({ measurement: m, time: ['ts'], timeUnit: 'ms' }) as never],
        sinks: [v2(front.url) as never],
        deadLetters: fakeDeadLetters(),
        log: silentLogger,
        retry,
      });
      await runtime.start();
      const id = source.send(`{"ts":${T0_MS},"value":1}`);
      expect(await waitFor(() => source.settled(id) === 1, 10_000, 10)).toBe(true);
      await runtime.stop();
      const [first, second] = front.seen;
      expect([first?.status, second?.status]).toEqual([429, 204]);
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
      expect(await vmCount(VM_URL, `${m}_value`)).toBe(1);
    } finally {
      await front.close();
    }
  });
});

interface SeenRequest {
  path: string;
  encoding?: string;
  auth?: string;
  magic: string;
  bytes: number;
  status: number;
  at: number;
}

/** Records each request; answers what `answer` returns for its body size, else forwards it to `target`. */
async function frontServer(
  target: string,
  answer: (bytes: number) => { status: number; retryAfter?: string } | undefined,
) {
  const to = new URL(target);
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const entry: SeenRequest = {
        path: req.url ?? '',
        encoding: req.headers['content-encoding'],
        auth: req.headers.authorization,
        magic: body.subarray(0, 2).toString('hex'),
        bytes: body.length,
        status: 0,
        at: Date.now(),
      };
      seen.push(entry);
      const canned = answer(body.length);
      if (canned) {
        entry.status = canned.status;
        res.writeHead(canned.status, {
          'content-type': 'application/json',
          ...(canned.retryAfter ? { 'retry-after': canned.retryAfter } : {}),
        });
        res.end(JSON.stringify({ code: 'front', message: `front server: ${canned.status}` }));
        return;
      }
      const up = request(
        {
          host: to.hostname,
          port: to.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: to.host },
        },
        (r) => {
          entry.status = r.statusCode ?? 0;
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', (e) => res.writeHead(502).end(e.message));
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

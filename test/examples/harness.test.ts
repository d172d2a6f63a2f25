// tributary/testing itself: the real runtime behind an in-memory source and capturing sinks.
import { describe, expect, it } from 'vitest';
import {
  definePipeline,
  json,
  map,
  mapAsync,
  mqttSource,
  reject,
  type Reading,
  type Sink,
  type Source,
} from '../../pipeline/index.js';
import { testPipeline, type TestableSink } from '../../pipeline/testing.js';
import type { AlertEvent } from '../../pipeline/core/types.js';
import { influxdb } from '../../sinks/index.js';
import { toReadings } from '../../transforms/index.js';

const source = () =>
  mqttSource({ url: 'mqtt://127.0.0.1:1', clientId: 'harness', subscribe: [{ topic: 'a/#', decode: json() }] });
const influx = () => influxdb({ url: 'http://127.0.0.1:1', api: 'v1', database: 'none' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('testPipeline', () => {
  it('awaits async stages, keeps per-push outputs apart, and accumulates them', async () => {
    const slow = mapAsync('slow', 2, async (r: Reading) => {
      await sleep(Number(r.fields.wait));
      return r;
    });
    const t = await testPipeline(
      definePipeline({ name: 'async' })
        .from(source())
        .pipe(toReadings({ measurement: 'm' }))
        .pipe(slow)
        .to(influx()),
    );
    const [a, b] = await Promise.all([t.push('a/1', '{"wait":30,"ts":1}'), t.push('a/2', '{"wait":1,"ts":2}')]);
    expect(a!.lines).toEqual(['m wait=30 1000000000']);
    expect(b!.lines).toEqual(['m wait=1 2000000000']);
    expect(t.lines).toEqual(['m wait=30 1000000000', 'm wait=1 2000000000']);
    expect(t.readings).toHaveLength(2);
    await t.close();
  });

  it('reports rejections, thrown stages, unroutable and unencodable items as dead letters', async () => {
    const check = map('check', (r: Reading) => {
      if (r.fields.v === 1) return reject('one is not allowed', 'no_ones');
      if (r.fields.v === 2) throw new Error('bug');
      if (r.fields.v === 3) return { unknown: true } as unknown as Reading;
      if (r.fields.v === 4) return { ...r, measurement: '#comment' };
      return r;
    });
    const t = await testPipeline(
      definePipeline({ name: 'dl' })
        .from(source())
        .pipe(toReadings({ measurement: 'm' }))
        .pipe(check)
        .to(influx()),
    );
    const codes = [];
    for (const v of [1, 2, 3, 4])
      codes.push((await t.push('a/b', JSON.stringify({ v, ts: 1 }))).deadLetters.map((d) => `${d.stage}:${d.code}`));
    expect(codes).toEqual([
      ['check:no_ones'],
      ['check:transform_error'],
      ['router:unrouted'],
      ['influxdb:encode_error'],
    ]);
    expect((await t.push('a/b', '{"v":5,"ts":1}')).lines).toEqual(['m v=5 1000000000']);
    expect(t.stats.settled).toBe(5);
    await t.close();
  });

  it('passes MQTT properties to stages, uses the fake clock for receive times, and ignores empty retained messages', async () => {
    const seen: unknown[] = [];
    const spy = map('spy', (r: Reading, ctx) => {
      seen.push([ctx.meta.qos, ctx.meta.retain, ctx.meta.contentType, ctx.meta.userProperties, ctx.now()]);
      return r;
    });
    const t = await testPipeline(
      definePipeline({ name: 'props' })
        .from(source())
        .pipe(toReadings({ measurement: 'm' }))
        .pipe(spy)
        .to(influx()),
      { clock: 5_000 },
    );
    const out = await t.push('a/b', '{"v":1}', {
      qos: 0,
      retain: true,
      contentType: 'application/json',
      userProperties: { k: 'v' },
    });
    expect(out.lines).toEqual(['m v=1 5000000000']); // no time in the payload: the receive time, on the fake clock
    expect(seen).toEqual([[0, true, 'application/json', { k: 'v' }, 5_000]]);
    expect(await t.push('a/b', '', { retain: true })).toMatchObject({ settled: true, readings: [], deadLetters: [] });
    await t.advance(1_000);
    expect(t.now()).toBe(6_000);
    await t.close();
  });

  it("uses a sink's in-memory stand-in when it has one, and returns what it produced as alerts", async () => {
    const alert = (r: Reading): AlertEvent => ({
      ruleId: 'hot',
      severity: 'critical',
      labels: {},
      measurement: r.measurement,
      field: 'v',
      tags: r.tags,
      state: 'firing',
      repeat: false,
      value: Number(r.fields.v),
      startsAt: 'x',
      endsAt: null,
      eventTime: 'x',
      eventTimeNs: String(r.timeNs),
      workerId: 'test',
    });
    const produced: AlertEvent[] = [];
    const double: Sink<Reading> & { takeProduced(): unknown[] } = {
      name: 'alert-queue',
      batch: { maxItems: 10, maxBytes: 1e6, maxWaitMs: 1, maxConcurrency: 1 },
      accepts: (x): x is Reading => typeof (x as Reading).measurement === 'string',
      encode: (r) => r.measurement,
      open: async () => {},
      close: async () => {},
      write: async ({ items }) => {
        for (const r of items) if (Number(r.fields.v) > 30) produced.push(alert(r));
        return { status: 'delivered' };
      },
      takeProduced: () => produced.splice(0),
    };
    const alerts = { ...double, testDouble: () => double } as Sink<Reading> & TestableSink;
    const t = await testPipeline(
      definePipeline({ name: 'alerts' })
        .from(source())
        .pipe(toReadings({ measurement: 'm' }))
        .to(influx(), alerts),
    );
    expect((await t.push('a/b', '{"v":20}')).alerts).toEqual([]);
    const hot = await t.push('a/b', '{"v":35}');
    expect(hot.alerts.map((a) => [a.ruleId, a.state, a.value])).toEqual([['hot', 'firing', 35]]);
    expect(hot.readings).toHaveLength(1); // written to both sinks, reported once
    expect(hot.writes.map((w) => w.sink)).toEqual(['influxdb', 'alert-queue']);
    await t.close();
  });

  it('needs a decoder for a source without subscriptions, and fails a push whose stage never finishes', async () => {
    const bare: Source<unknown> = {
      name: 'custom',
      window: 10,
      open: async () => {},
      stopIntake: async () => {},
      close: async () => {},
    };
    const never = mapAsync('never', 1, () => new Promise<Reading>(() => {}));
    const def = definePipeline({ name: 'bare' })
      .from(bare)
      .pipe(map('r', () => ({ measurement: 'm', tags: {}, fields: { v: 1 }, timeNs: 1n })))
      .pipe(never)
      .to(influx());
    await expect(testPipeline(def)).rejects.toThrow(/exposes no subscriptions; pass \{ decode \}/);
    const t = await testPipeline(def, { decode: json(), timeoutMs: 100 });
    await expect(t.push('any', '{}')).rejects.toThrow(
      /did not finish within 100 ms \(1 async stage call\(s\) pending\)/,
    );
    await t.close();
  });
});

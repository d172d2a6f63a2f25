// Field types held steady (`fieldTypes` of the InfluxDB sink) on the real InfluxDB 1.6.7 and Redis:
// types learned from SHOW FIELD KEYS or the first value, shared by the workers through Redis; values
// coerced when lossless, else dead-lettered as `field_type_conflict` while the rest of the batch is
// written in the same request. Over /api/v2/write on the real VictoriaMetrics, which has no field
// types of its own, the first value seen sets them.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, silentLogger, type Reading } from '../../../pipeline/index.js';
import { influxdb } from '../../../sinks/index.js';
import { toReadings } from '../../../transforms/index.js';
import { FakeSource, fakeDeadLetters } from '../../support/fakes.js';
import { startHttpProxy } from '../../support/http-proxy.js';
import { countPoints, INFLUX_URL, influxQuery, REDIS_URL, uniqueName, waitFor } from '../../support/services.js';
import { freePort, startVictoria, vmDelete, vmExport, VM_URL } from '../../support/victoria.js';

const T0_MS = 1_700_000_000_000;
const redis = new Redis(REDIS_URL);
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) {
    const keys = await redis.keys(`${p}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

/** Field-type options with a key prefix of this test's own, shared by the sinks given it. */
function shared(): { mode: 'learn'; redisUrl: string; keyPrefix: string } {
  const keyPrefix = `tributary-test:${uniqueName('ft')}`;
  prefixes.push(keyPrefix);
  return { mode: 'learn', redisUrl: REDIS_URL, keyPrefix };
}

async function fieldKeys(db: string, measurement: string): Promise<unknown[][]> {
  return (await influxQuery(db, `SHOW FIELD KEYS FROM "${measurement}"`)).results[0]?.series?.[0]?.values ?? [];
}

async function createWith(db: string, lines: string): Promise<void> {
  await influxQuery(db, `CREATE DATABASE "${db}"`);
  const res = await fetch(`${INFLUX_URL}/write?db=${db}`, { method: 'POST', body: lines });
  expect(res.status).toBe(204);
}

const reading = (i: number, fields: Reading['fields']): Reading => ({
  measurement: 'm',
  tags: { device: `d${i}` },
  fields,
  timeNs: BigInt(T0_MS + i) * 1_000_000n,
});

describe('fieldTypes: learn, on the real InfluxDB 1.6.7 and Redis', () => {
  it('types from SHOW FIELD KEYS: lossless values coerced, the rest dead-lettered with both types, no request refused', async () => {
    const db = uniqueName('ftshow');
    await createWith(db, `telemetry,device=d0 temperature=20.5,battery=50i,status="ok" ${T0_MS}000000`);
    const proxy = await startHttpProxy(INFLUX_URL);
    const sink = influxdb({
      url: proxy.url,
      api: 'v1',
      database: db,
      fieldTypes: shared(),
      batch: { maxItems: 1000, maxWaitMs: 50 },
    });
    const source = new FakeSource(1000);
    const dead = fakeDeadLetters();
    // `integers: ['temperature']` makes whole temperatures integers (21i) and battery stays a float
    // (49): both the other way round from what InfluxDB holds.
    const runtime = new Runtime({
      source,
      stages: [
        toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['temperature'] }) as never,
      ],
      sinks: [sink as never],
      deadLetters: dead,
      log: silentLogger,
      retry: { initialDelayMs: 10, maxDelayMs: 50, giveUpAfterMs: Infinity },
    });
    await runtime.start();
    const odd: Record<number, string> = {
      10: '"temperature":"hot","battery":10',
      20: '"temperature":20,"battery":12.5',
      30: '"temperature":30,"status":7',
    };
    const ids = Array.from({ length: 100 }, (_, k) => {
      const i = k + 1;
      return source.send(`{"ts":${T0_MS + i},${odd[i] ?? `"temperature":${20 + i},"battery":${i},"status":"ok"`}}`);
    });
    expect(await waitFor(() => ids.every((id) => source.settled(id) === 1), 20_000, 20)).toBe(true);
    await runtime.stop();
    await proxy.close();

    expect(await countPoints(db)).toBe(1 + 97);
    expect(await fieldKeys(db, 'telemetry')).toEqual([
      ['battery', 'integer'],
      ['status', 'string'],
      ['temperature', 'float'],
    ]);
    const writes = proxy.requests.filter((r) => r.path.startsWith('/write'));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((r) => r.status !== 204)).toEqual([]); // nothing refused, so no batch was split
    expect(dead.delivered.map((l) => [l.code, l.stage, l.reason]).sort()).toEqual([
      [
        'field_type_conflict',
        'influxdb',
        'field "battery" of measurement "telemetry" is integer, this value is float (12.5), not convertible without loss',
      ],
      [
        'field_type_conflict',
        'influxdb',
        'field "status" of measurement "telemetry" is string, this value is float (7)',
      ],
      [
        'field_type_conflict',
        'influxdb',
        'field "temperature" of measurement "telemetry" is float, this value is string ("hot")',
      ],
    ]);
    const stored = await influxQuery(db, `SELECT temperature, battery FROM telemetry WHERE time = ${T0_MS + 42}000000`);
    expect(stored.results[0]?.series?.[0]?.values[0]).toEqual([(T0_MS + 42) * 1e6, 62, 42]);
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });

  it('workers share the first type seen through Redis; a value of another type is coerced or refused by every worker', async () => {
    const db = uniqueName('ftshare');
    const types = shared();
    const [a, b] = [0, 1].map(() =>
      influxdb({ url: INFLUX_URL, api: 'v1', database: db, createDatabase: true, fieldTypes: types }),
    );
    await a!.open();
    await b!.open();
    // Both see the new field `level` at once, A as an integer, B as a float: one type wins for both.
    const fromA = [reading(1, { level: 5n })];
    const fromB = [reading(2, { level: 2.5 })];
    const [ra, rb] = await Promise.all([
      a!.write({ items: fromA, encoded: fromA.map((r) => a!.encode(r)) }),
      b!.write({ items: fromB, encoded: fromB.map((r) => b!.encode(r)) }),
    ]);
    const won = await redis.hget(`${types.keyPrefix}:${db}/:m`, 'level');
    expect(await fieldKeys(db, 'm')).toEqual([['level', won]]);
    if (won === 'integer') {
      expect(ra).toEqual({ status: 'delivered' });
      expect(rb).toMatchObject({
        status: 'partial',
        rejected: [
          {
            index: 0,
            failure: {
              code: 'field_type_conflict',
              reason: expect.stringContaining('is integer, this value is float (2.5)'),
            },
          },
        ],
      });
    } else {
      expect(won).toBe('float');
      expect([ra, rb]).toEqual([{ status: 'delivered' }, { status: 'delivered' }]); // A's 5i went as 5
    }
    // A third worker starting now learns the same type from Redis and InfluxDB.
    const c = influxdb({ url: INFLUX_URL, api: 'v1', database: db, fieldTypes: types });
    await c.open();
    const later = [reading(3, { level: 7n }), reading(4, { level: 'high' }), reading(5, { level: 8 })];
    const rc = await c.write({ items: later, encoded: later.map((r) => c.encode(r)) });
    expect(rc).toMatchObject({
      status: 'partial',
      rejected: [
        {
          index: 1,
          failure: {
            code: 'field_type_conflict',
            reason: expect.stringContaining(`is ${won}, this value is string ("high")`),
          },
        },
      ],
    });
    expect(await countPoints(db, 'm', 'level')).toBe((won === 'integer' ? 1 : 2) + 2);
    for (const s of [a!, b!, c]) await s.close();
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });

  it("a field another writer created after start: the server's 400 sets its type, and the batch is checked again instead of split", async () => {
    const db = uniqueName('ftlate');
    await createWith(db, `m,device=x other=1 ${T0_MS}000000`);
    const proxy = await startHttpProxy(INFLUX_URL);
    const types = shared();
    const sink = influxdb({ url: proxy.url, api: 'v1', database: db, fieldTypes: types });
    await sink.open();
    const other = await fetch(`${INFLUX_URL}/write?db=${db}`, {
      method: 'POST',
      body: `m,device=x pressure=1i ${T0_MS}000000`,
    });
    expect(other.status).toBe(204);
    const items = Array.from({ length: 10 }, (_, i) => reading(i + 1, { pressure: i === 3 ? 1.5 : 1000 + i }));
    const result = await sink.write({ items, encoded: items.map((r) => sink.encode(r)) });
    expect(result).toEqual({
      status: 'partial',
      rejected: [
        {
          index: 3,
          failure: {
            code: 'field_type_conflict',
            reason:
              'field "pressure" of measurement "m" is integer, this value is float (1.5), not convertible without loss',
          },
        },
      ],
    });
    expect(proxy.requests.filter((r) => r.path.startsWith('/write')).map((r) => r.status)).toEqual([400, 204]);
    expect(await redis.hget(`${types.keyPrefix}:${db}/:m`, 'pressure')).toBe('integer');
    expect(await countPoints(db, 'm', 'pressure')).toBe(1 + 9);
    await sink.close();
    await proxy.close();
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });
});

describe('fieldTypes: learn, with Redis unreachable', () => {
  it("an unknown field's type cannot be agreed on: the write is retried, nothing is sent", async () => {
    const closed = await freePort();
    const proxy = await startHttpProxy(INFLUX_URL);
    const db = uniqueName('ftnoredis');
    const sink = influxdb({
      url: proxy.url,
      api: 'v1',
      database: db,
      createDatabase: true,
      fieldTypes: { mode: 'learn', redisUrl: `redis://127.0.0.1:${closed}` },
    });
    await sink.open();
    const items = [reading(1, { level: 1 })];
    expect(await sink.write({ items, encoded: items.map((r) => sink.encode(r)) })).toMatchObject({
      status: 'retry',
      failure: {
        code: 'field_types_unavailable',
        reason: expect.stringMatching(/^cannot read or record field types in Redis/),
      },
    });
    expect(proxy.requests.filter((r) => r.path.startsWith('/write'))).toEqual([]);
    await sink.close();
    await proxy.close();
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });
});

describe('fieldTypes: learn, over /api/v2/write on the real VictoriaMetrics', () => {
  const measurement = uniqueName('ftvm');
  beforeAll(() => {
    startVictoria();
  }, 600_000); // the first run installs it
  afterAll(() => vmDelete(VM_URL, `{__name__=~"${measurement}_.*"}`));

  it('the first value seen sets the type: integers for a float field stored as floats, a string refused instead of stored as 0', async () => {
    const sink = influxdb({ url: VM_URL, api: 'v2', org: 'o', bucket: 'b', token: 't', fieldTypes: shared() });
    await sink.open();
    const items: Reading[] = [
      { ...reading(1, { level: 0.5 }), measurement },
      { ...reading(2, { level: 3n }), measurement },
      { ...reading(3, { level: 'full' }), measurement },
    ];
    expect(await sink.write({ items, encoded: items.map((r) => sink.encode(r)) })).toMatchObject({
      status: 'partial',
      rejected: [
        {
          index: 2,
          failure: {
            code: 'field_type_conflict',
            reason: expect.stringContaining('is float, this value is string ("full")'),
          },
        },
      ],
    });
    const stored = await vmExport(VM_URL, `${measurement}_level`);
    expect(stored.flatMap((s) => s.values).sort()).toEqual([0.5, 3]);
    await sink.close();
  });
});

// The PostgreSQL sink against the real PostgreSQL (127.0.0.1:5432, database `test`): tables and
// columns created as readings need them, idempotent upserts, classification of what goes wrong.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading, WriteResult } from '../../../pipeline/core/types.js';
import { postgres, type PostgresOptions, type PostgresSink } from '../../../sinks/postgres/index.js';
import { POSTGRES_URL, uniqueName } from '../../support/services.js';

const schema = uniqueName('pgsink');
const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const sinks: PostgresSink[] = [];

function sink(options: Partial<PostgresOptions> = {}): PostgresSink {
  const s = postgres({ url: POSTGRES_URL, schema, ...options });
  sinks.push(s);
  return s;
}

const reading = (
  device: string,
  timeMs: number,
  fields: Reading['fields'],
  tags: Record<string, string> = {},
): Reading => ({
  measurement: 'telemetry',
  tags: { site: 'a', device, ...tags },
  fields,
  timeNs: BigInt(timeMs) * 1_000_000n,
});

const write = (s: PostgresSink, items: Reading[]): Promise<WriteResult> =>
  s.write({ items, encoded: items.map((r) => s.encode(r)) });

async function rows(sql: string): Promise<Array<Record<string, unknown>>> {
  return (await admin.query(sql)).rows as Array<Record<string, unknown>>;
}

beforeAll(async () => {
  await admin.query('SELECT 1');
});
afterAll(async () => {
  for (const s of sinks) await s.close();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describe('postgres sink, wide layout', () => {
  it('creates the schema and a table per measurement with typed columns, and writes one row per reading', async () => {
    const s = sink();
    await s.open();
    expect(
      await write(s, [
        reading('dev-1', 1_700_000_000_000, { temperature: 21.5, battery: 80n, ok: true, status: 'fine' }),
        reading('dev-2', 1_700_000_000_000, {
          temperature: 19,
          battery: 9_007_199_254_740_993n,
          ok: false,
          status: 'low',
        }),
      ]),
    ).toEqual({ status: 'delivered' });
    const columns = await rows(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '${schema}' AND table_name = 'telemetry' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => `${String(c.column_name)}:${String(c.data_type)}`)).toEqual([
      'time:timestamp with time zone',
      'series:text',
      'site:text',
      'device:text',
      'temperature:double precision',
      'battery:bigint',
      'ok:boolean',
      'status:text',
    ]);
    const written = await rows(
      `SELECT extract(epoch FROM time)::text AS t, series, device, temperature, battery::text, ok, status FROM "${schema}".telemetry ORDER BY device`,
    );
    expect(written).toEqual([
      {
        t: '1700000000.000000',
        series: 'telemetry,device=dev-1,site=a',
        device: 'dev-1',
        temperature: 21.5,
        battery: '80',
        ok: true,
        status: 'fine',
      },
      {
        t: '1700000000.000000',
        series: 'telemetry,device=dev-2,site=a',
        device: 'dev-2',
        temperature: 19,
        battery: '9007199254740993',
        ok: false,
        status: 'low',
      },
    ]);
  });

  it('rewrites a redelivered reading instead of adding a row, merging fields as InfluxDB does', async () => {
    const s = sink();
    await s.open();
    const first = reading('dev-3', 1_700_000_001_000, { temperature: 20, status: 'ok' });
    expect(await write(s, [first])).toEqual({ status: 'delivered' });
    expect(await write(s, [first, reading('dev-3', 1_700_000_001_000, { temperature: 22.25 })])).toEqual({
      status: 'delivered',
    });
    expect(await rows(`SELECT temperature, status FROM "${schema}".telemetry WHERE device = 'dev-3'`)).toEqual([
      { temperature: 22.25, status: 'ok' },
    ]);
  });

  it('adds columns for new tag and field keys, from two workers at once', async () => {
    const [a, b] = [sink(), sink()];
    await Promise.all([a.open(), b.open()]);
    const results = await Promise.all([
      write(a, [reading('dev-4', 1_700_000_002_000, { pressure: 1013.2 }, { floor: '2' })]),
      write(b, [reading('dev-5', 1_700_000_002_000, { pressure: 990.5, lux: 300n }, { floor: '3' })]),
    ]);
    expect(results).toEqual([{ status: 'delivered' }, { status: 'delivered' }]);
    expect(
      await rows(
        `SELECT device, floor, pressure, lux::text FROM "${schema}".telemetry WHERE floor IS NOT NULL ORDER BY device`,
      ),
    ).toEqual([
      { device: 'dev-4', floor: '2', pressure: 1013.2, lux: null },
      { device: 'dev-5', floor: '3', pressure: 990.5, lux: '300' },
    ]);
    // The first reading without a floor tag is another series than one with it.
    expect((await rows(`SELECT count(*)::int AS n FROM "${schema}".telemetry`))[0]!.n).toBe(5);
  });

  it('rejects, item by item, readings that do not fit the table: a field-type conflict, a tag/field clash, a name too long', async () => {
    const s = sink();
    await s.open();
    const result = await write(s, [
      reading('dev-6', 1_700_000_003_000, { temperature: 'hot' }),
      reading('dev-6', 1_700_000_004_000, { temperature: 23 }),
      reading('dev-6', 1_700_000_005_000, { device: 1 }),
      reading('dev-6', 1_700_000_006_000, { ['x'.repeat(64)]: 1 }),
      reading('dev-6', 1_700_000_007_000, { series: 1 }),
    ]);
    expect(result.status).toBe('partial');
    const rejected = result.status === 'partial' ? result.rejected : [];
    expect(rejected.map((r) => r.index)).toEqual([2, 3, 4, 0]);
    expect(rejected.find((r) => r.index === 0)!.failure).toEqual({
      code: 'postgres_rejected',
      reason: 'field "temperature" is text, but column "temperature" of "telemetry" is double precision',
    });
    expect(rejected.find((r) => r.index === 2)!.failure.reason).toBe('"device" is both a tag and a field');
    expect(await rows(`SELECT temperature FROM "${schema}".telemetry WHERE device = 'dev-6'`)).toEqual([
      { temperature: 23 },
    ]);
  });

  it('classifies a batch PostgreSQL refuses as rejected (the runtime then bisects it) and keeps nothing of it', async () => {
    const s = sink();
    await s.open();
    const result = await write(s, [
      reading('dev-7', 1_700_000_008_000, { status: 'fine' }),
      reading('dev-7', 1_700_000_009_000, { status: 'nul\u0000byte' }),
    ]);
    expect(result).toMatchObject({ status: 'rejected', failure: { code: 'postgres_rejected' } });
    expect(result.status === 'rejected' && result.failure.reason).toMatch(/^PostgreSQL rejected the rows \(22021\)/);
    expect(await rows(`SELECT count(*)::int AS n FROM "${schema}".telemetry WHERE device = 'dev-7'`)).toEqual([
      { n: 0 },
    ]);
    expect(await write(s, [reading('dev-7', 1_700_000_008_000, { status: 'fine' })])).toEqual({ status: 'delivered' });
  });
});

describe('postgres sink, narrow layout', () => {
  it('creates the table at start and upserts rows with tags and fields as jsonb, integers exact', async () => {
    const s = sink({ layout: 'narrow', table: 'readings' });
    await s.open();
    expect(await rows(`SELECT count(*)::int AS n FROM "${schema}".readings`)).toEqual([{ n: 0 }]);
    const r = reading('dev-8', 1_700_000_010_000, { temperature: 20.5, counter: 9_223_372_036_854_775_807n, ok: true });
    expect(await write(s, [r])).toEqual({ status: 'delivered' });
    expect(await write(s, [r, { ...r, fields: { humidity: 40 } }])).toEqual({ status: 'delivered' });
    expect(await rows(`SELECT measurement, series, tags::text, fields::text FROM "${schema}".readings`)).toEqual([
      {
        measurement: 'telemetry',
        series: 'telemetry,device=dev-8,site=a',
        tags: '{"site": "a", "device": "dev-8"}',
        fields: '{"ok": true, "counter": 9223372036854775807, "humidity": 40, "temperature": 20.5}',
      },
    ]);
  });
});

describe('postgres sink, what it finds and what it cannot reach', () => {
  it('makes no hypertables here: TimescaleDB is not in pg_extension on this server', async () => {
    const installed = await rows("SELECT extname FROM pg_extension WHERE extname = 'timescaledb'");
    expect(installed).toEqual([]);
    const s = sink();
    expect(s.hypertables).toBeUndefined();
    await s.open();
    expect(s.hypertables).toBe(false);
  });

  it('stops at start when the database does not exist', async () => {
    const s = sink({ url: POSTGRES_URL.replace(/\/[^/]*$/, `/${uniqueName('missing')}`) });
    await expect(s.open()).rejects.toThrow(/has no such database/);
  });

  it('retries when PostgreSQL cannot be reached (start goes on, writes hold their acknowledgements)', async () => {
    const s = sink({ url: 'postgres://127.0.0.1:1/test', timeoutMs: 2000 });
    await s.open();
    const result = await write(s, [reading('dev-9', 1_700_000_011_000, { temperature: 1 })]);
    expect(result).toMatchObject({ status: 'retry', failure: { code: 'ECONNREFUSED' } });
  });
});

// The PostgreSQL sink's pure parts, and the TimescaleDB path with a fake pool (the server these
// tests run against has no TimescaleDB: test/sinks/postgres/postgres-sink.int.test.ts checks that side).
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../pipeline/core/types.js';
import { classifyPostgresError } from '../../../sinks/postgres/classify.js';
import { postgresEnv } from '../../../sinks/postgres/env.js';
import { postgres, seriesKey } from '../../../sinks/postgres/index.js';
import { encodeReading, timestampUs } from '../../../sinks/postgres/rows.js';
import type { PgClient, PgPool } from '../../../sinks/postgres/schema.js';

/** A pool whose one client records every statement and answers from `answer`. */
function fakePool(answer: (sql: string) => unknown[] = () => []): { pool: PgPool; sql: string[] } {
  const sql: string[] = [];
  const client: PgClient = {
    async query(text) {
      sql.push(text.replace(/\s+/g, ' ').trim());
      return { rows: answer(text) };
    },
    release() {},
  };
  return { pool: { connect: async () => client, end: async () => {} }, sql };
}

const reading: Reading = {
  measurement: 'telemetry',
  tags: { site: 'a' },
  fields: { t: 1 },
  timeNs: 1_700_000_000_123_456_789n,
};

describe('postgres sink with TimescaleDB installed', () => {
  const withTimescale = (sql: string): unknown[] => (/FROM pg_extension/.test(sql) ? [{ extversion: '2.14.2' }] : []);

  it('makes the narrow table a hypertable at start', async () => {
    const { pool, sql } = fakePool(withTimescale);
    const sink = postgres({ pool, schema: 'ts', layout: 'narrow' });
    await sink.open();
    expect(sink.hypertables).toBe(true);
    expect(sql.filter((s) => s.includes('create_hypertable'))).toEqual([
      "SELECT create_hypertable($1::regclass, 'time', if_not_exists => TRUE, migrate_data => TRUE)",
    ]);
    expect(sql.findIndex((s) => s.startsWith('CREATE TABLE'))).toBeLessThan(
      sql.findIndex((s) => s.includes('create_hypertable')),
    );
  });

  it('makes a wide table a hypertable when it creates it', async () => {
    const { pool, sql } = fakePool(withTimescale);
    const sink = postgres({ pool, schema: 'ts' });
    await sink.open();
    expect(sql.some((s) => s.includes('create_hypertable'))).toBe(false);
    await sink.write({ items: [reading], encoded: [sink.encode(reading)] });
    expect(sql.filter((s) => s.includes('create_hypertable'))).toHaveLength(1);
  });

  it('calls no create_hypertable with timescale: off, nor when the extension is absent', async () => {
    for (const [answer, timescale] of [
      [withTimescale, 'off'],
      [() => [], 'auto'],
    ] as const) {
      const { pool, sql } = fakePool(answer);
      const sink = postgres({ pool, layout: 'narrow', timescale });
      await sink.open();
      expect(sink.hypertables).toBe(false);
      expect(sql.some((s) => s.includes('create_hypertable'))).toBe(false);
    }
  });
});

describe('postgres sink helpers', () => {
  it('names a series by measurement and sorted tags, escaped so that different tag sets never collide', () => {
    expect(seriesKey({ ...reading, tags: { site: 'a', device: 'd1' } })).toBe('telemetry,device=d1,site=a');
    expect(seriesKey({ ...reading, tags: { a: 'x,b=y' } })).not.toBe(
      seriesKey({ ...reading, tags: { a: 'x', b: 'y' } }),
    );
    expect(seriesKey({ ...reading, measurement: 'm x', tags: {} })).toBe('m\\ x');
  });

  it('writes time to the microsecond, before and after the epoch', () => {
    expect(timestampUs(1_700_000_000_123_456_789n)).toBe('2023-11-14T22:13:20.123456Z');
    expect(timestampUs(0n)).toBe('1970-01-01T00:00:00.000000Z');
    expect(timestampUs(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(() => timestampUs(10n ** 28n)).toThrow(RangeError);
  });

  it('encodes a reading as JSON with exact integers', () => {
    expect(encodeReading({ ...reading, fields: { n: 2n ** 63n - 1n, s: 'a"b', ok: true } })).toBe(
      '{"measurement":"telemetry","tags":{"site":"a"},"fields":{"n":9223372036854775807,"s":"a\\"b","ok":true},"timeNs":"1700000000123456789"}',
    );
  });

  it('classifies errors: rows → rejected; connection, shutdown, deadlock, credentials → retry', () => {
    const status = (code: string | undefined) =>
      classifyPostgresError(Object.assign(new Error('x'), code === undefined ? {} : { code })).status;
    expect(['22P02', '22021', '23505', '42804'].map(status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(
      ['08006', '57P01', '40P01', '40001', '53300', '28P01', '3D000', 'ECONNREFUSED', undefined].map(status),
    ).toEqual(Array(9).fill('retry'));
    expect(classifyPostgresError(Object.assign(new Error('denied'), { code: '42501' }))).toMatchObject({
      failure: { reason: expect.stringMatching(/may not create or write/) },
    });
  });

  it('refuses bad options when the factory runs', () => {
    expect(() => postgres({ url: 'http://x' })).toThrow(/postgres url/);
    expect(() => postgres({ url: 'postgres://h/db', layout: 'tall' as 'wide' })).toThrow(/postgres layout/);
    expect(() => postgres({ url: 'postgres://h/db', schema: 's'.repeat(64) })).toThrow(/postgres schema/);
  });

  it('reads TRIBUTARY_POSTGRES_* with defaults, and names a bad variable', () => {
    expect(postgresEnv({})).toEqual({
      url: 'postgres://postgres@127.0.0.1:5432/postgres',
      schema: 'public',
      layout: 'wide',
    });
    expect(
      postgresEnv({
        TRIBUTARY_POSTGRES_URL: 'postgresql://u@db/t',
        TRIBUTARY_POSTGRES_SCHEMA: 'iot',
        TRIBUTARY_POSTGRES_LAYOUT: 'narrow',
      }),
    ).toEqual({ url: 'postgresql://u@db/t', schema: 'iot', layout: 'narrow' });
    expect(() => postgresEnv({ TRIBUTARY_POSTGRES_LAYOUT: 'tall' })).toThrow(
      /TRIBUTARY_POSTGRES_LAYOUT: expected wide or narrow/,
    );
    expect(() => postgresEnv({ TRIBUTARY_POSTGRES_URL: 'mysql://u:secret@db/t' })).toThrow(
      /TRIBUTARY_POSTGRES_URL: .*\*\*\*@db/,
    );
  });
});

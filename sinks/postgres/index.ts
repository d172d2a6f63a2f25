import pg from 'pg';
import { ConfigError, ConnectError, redact } from '../../pipeline/core/errors.js';
import type { Batch, BatchPolicy, Failure, Logger, Reading, Sink, WriteResult } from '../../pipeline/core/types.js';
import { classifyPostgresError, rowFailure } from './classify.js';
import { encodeReading, fieldColumnType, seriesKey, timestampUs, toRows, validIdentifier } from './rows.js';
import { TableCatalog, type Column, type NeededColumn, type PgClient, type PgPool } from './schema.js';
import { narrowUpsert, wideUpsert, type Statement } from './statements.js';
import { isReading } from '../../pipeline/core/stage.js';

export { seriesKey } from './rows.js';
export type { PgClient, PgPool } from './schema.js';

/** Options of {@link postgres}. */
export interface PostgresOptions {
  /** Connection string, e.g. `postgres://user@127.0.0.1:5432/telemetry`. Ignored when `pool` is given. */
  readonly url?: string;
  /** A pool to use instead of opening one (`new pg.Pool(...)` fits); the sink does not end it. */
  readonly pool?: PgPool;
  /** Schema of the tables, created at start when missing. @defaultValue 'public' */
  readonly schema?: string;
  /**
   * `wide`: a table per measurement (named after it), a `text` column per tag and a typed column
   * per field (`double precision`, `bigint`, `boolean`, `text`), added as new keys appear.
   * `narrow`: one table (`table`) with `measurement text`, `tags jsonb`, `fields jsonb`.
   * Both have `time timestamptz` and `series text`, the primary key. @defaultValue 'wide'
   */
  readonly layout?: 'wide' | 'narrow';
  /** The narrow layout's table. @defaultValue 'readings' */
  readonly table?: string;
  /** `auto`: make each table a TimescaleDB hypertable when the extension is installed in the database. @defaultValue 'auto' */
  readonly timescale?: 'auto' | 'off';
  /** @defaultValue `{ maxItems: 5000, maxBytes: 4 MiB, maxWaitMs: 50, maxConcurrency: 2 }` */
  readonly batch?: Partial<BatchPolicy>;
  /** Per-query and connect timeout. @defaultValue 10000 */
  readonly timeoutMs?: number;
  readonly log?: Logger;
}

/** The PostgreSQL sink, with what it found at start. */
export interface PostgresSink extends Sink<Reading> {
  /** Whether the tables are TimescaleDB hypertables; undefined until the database answered once. */
  readonly hypertables: boolean | undefined;
}

const noop = () => {};
const CONNECT_REFUSALS: Record<string, string> = {
  '28P01': 'refused the password',
  '28000': 'refused this user or host (pg_hba.conf)',
  '3D000': 'has no such database',
};

/**
 * PostgreSQL sink: each batch is one transaction of multi-row `INSERT … ON CONFLICT (time, series)
 * DO UPDATE` statements (one per table), delivered only once `COMMIT` returned, so a redelivered
 * message rewrites its row instead of adding one.
 *
 * `series` is the measurement plus the sorted tag set as text (see {@link seriesKey}), rather than
 * the tag columns themselves as the key: the key then stays the same when a new tag key adds a
 * column (no unique index to rebuild), a reading without some tag needs no NULL in the key (NULLs
 * are distinct in a unique index), and both layouts share one definition of a series. Time is
 * kept to the microsecond (`timestamptz`): readings of a series less than 1 µs apart are one row.
 * Rows that PostgreSQL refuses (a value that does not fit its column, a name too long for an
 * identifier) are dead-lettered one by one; a lost connection or a server restart is retried.
 * @example
 * postgres({ url: 'postgres://127.0.0.1:5432/telemetry', layout: 'wide' })
 */
export function postgres(options: PostgresOptions): PostgresSink {
  const schema = options.schema ?? 'public';
  const layout = options.layout ?? 'wide';
  const narrowTable = options.table ?? 'readings';
  const timeoutMs = options.timeoutMs ?? 10_000;
  validate(options, schema, layout, narrowTable);
  const batch: BatchPolicy = {
    maxItems: 5000,
    maxBytes: 4 * 1024 * 1024,
    maxWaitMs: 50,
    maxConcurrency: 2,
    ...options.batch,
  };
  const url = options.url ?? 'the given pool';
  const owned = options.pool === undefined;
  const pool: PgPool = options.pool ?? ownPool(url, batch.maxConcurrency + 1, timeoutMs);
  const catalog = new TableCatalog(schema, (options.timescale ?? 'auto') === 'auto', options.log);

  const prepare = async (client: PgClient) => {
    await catalog.prepare(client);
    if (layout === 'narrow') await catalog.ensureNarrow(client, narrowTable);
  };

  /** The statements of a batch and the readings refused before sending; DDL for new columns runs here. */
  const plan = async (
    client: PgClient,
    items: readonly Reading[],
  ): Promise<{ statements: Statement[]; rejected: Array<{ index: number; failure: Failure }> }> => {
    const rejected: Array<{ index: number; failure: Failure }> = [];
    const byTable = new Map<string, Array<{ index: number; reading: Reading; series: string; time: string }>>();
    items.forEach((reading, index) => {
      const problem =
        layout === 'wide'
          ? wideProblem(reading)
          : Object.keys(reading.fields).length === 0
            ? 'the reading has no fields'
            : undefined;
      let time: string | undefined;
      try {
        time = timestampUs(reading.timeNs);
      } catch {
        rejected.push({
          index,
          failure: rowFailure(`time ${reading.timeNs} ns is outside PostgreSQL's timestamptz range`),
        });
        return;
      }
      if (problem) return rejected.push({ index, failure: rowFailure(problem) });
      const table = layout === 'wide' ? reading.measurement : narrowTable;
      let group = byTable.get(table);
      if (!group) byTable.set(table, (group = []));
      group.push({ index, reading, series: seriesKey(reading), time });
    });
    const statements: Statement[] = [];
    for (const [table, group] of byTable) {
      if (layout === 'narrow') {
        statements.push(narrowUpsert(catalog.qualified(table), toRows(group)));
        continue;
      }
      const columns = await catalog.ensureWide(client, table, neededColumns(group.map((g) => g.reading)));
      const fitting = group.filter(({ index, reading }) => {
        const misfit = columnMisfit(reading, columns, table);
        if (misfit) rejected.push({ index, failure: rowFailure(misfit) });
        return !misfit;
      });
      if (fitting.length > 0) statements.push(wideUpsert(catalog.qualified(table), toRows(fitting), columns));
    }
    return { statements, rejected };
  };

  return {
    name: 'postgres',
    batch,
    accepts: isReading,
    encode: encodeReading,
    get hypertables() {
      return catalog.hypertables;
    },
    async open() {
      let client: PgClient;
      try {
        client = await pool.connect();
      } catch (error) {
        const refusal = CONNECT_REFUSALS[(error as { code?: string }).code ?? ''];
        if (refusal)
          throw new ConnectError(`PostgreSQL at ${redact(url)} ${refusal}: ${(error as Error).message}`, {
            cause: error,
          });
        // Unreachable at start: writes will retry and hold acknowledgements until it answers.
        options.log?.warn(
          { url: redact(url), error: (error as Error).message },
          'PostgreSQL not reachable at start; writes will retry',
        );
        return;
      }
      try {
        await prepare(client);
        client.release();
      } catch (error) {
        client.release(true);
        throw new ConnectError(
          `PostgreSQL at ${redact(url)}: could not create the tables: ${(error as Error).message}`,
          { cause: error },
        );
      }
    },
    async write({ items }: Batch<Reading>): Promise<WriteResult> {
      let client: PgClient | undefined;
      try {
        client = await pool.connect();
        await prepare(client);
        const { statements, rejected } = await plan(client, items);
        if (statements.length > 0) {
          await client.query('BEGIN');
          for (const s of statements) await client.query(s.text, s.values);
          await client.query('COMMIT');
        }
        client.release();
        return rejected.length > 0 ? { status: 'partial', rejected } : { status: 'delivered' };
      } catch (error) {
        const result = classifyPostgresError(error);
        if (client) {
          const rolledBack = await client.query('ROLLBACK').then(
            () => true,
            () => false,
          );
          client.release(result.status === 'rejected' && rolledBack ? undefined : true);
        }
        if (result.status === 'retry') catalog.forget(); // a table may have been dropped or changed meanwhile
        return result;
      }
    },
    async close() {
      if (owned) await pool.end().catch(noop);
    },
  };
}

function ownPool(url: string, max: number, timeoutMs: number): PgPool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'tributary',
  });
  pool.on('error', noop); // an idle connection that broke: the next write gets a new one, or fails and retries
  return pool as unknown as PgPool;
}

/** Why a reading cannot be a row of a wide table, or undefined. */
function wideProblem(r: Reading): string | undefined {
  if (!validIdentifier(r.measurement)) return `measurement "${r.measurement}" cannot name a table (1–63 bytes, no NUL)`;
  let fields = 0;
  for (const k in r.fields) {
    fields++;
    if (k === 'time' || k === 'series') return `field "${k}" has the name of a key column`;
    if (!validIdentifier(k)) return `field "${k}" cannot name a column (1–63 bytes, no NUL)`;
    if (Object.hasOwn(r.tags, k)) return `"${k}" is both a tag and a field`;
  }
  if (fields === 0) return 'the reading has no fields';
  for (const k in r.tags) {
    if (k === 'time' || k === 'series') return `tag "${k}" has the name of a key column`;
    if (!validIdentifier(k)) return `tag "${k}" cannot name a column (1–63 bytes, no NUL)`;
  }
  return undefined;
}

/** The columns the readings of one table need, typed by the first value seen. */
function neededColumns(readings: readonly Reading[]): Map<string, NeededColumn> {
  const needed = new Map<string, NeededColumn>();
  for (const r of readings) {
    for (const k in r.tags) if (!needed.has(k)) needed.set(k, { role: 'tag', type: 'text' });
    for (const k in r.fields) if (!needed.has(k)) needed.set(k, { role: 'field', type: fieldColumnType(r.fields[k]!) });
  }
  return needed;
}

/** Why a reading does not fit the table's columns (a field-type conflict, as InfluxDB has them), or undefined. */
function columnMisfit(r: Reading, columns: ReadonlyMap<string, Column>, table: string): string | undefined {
  for (const k in r.tags) {
    const c = columns.get(k);
    if (c?.role !== 'tag') return `tag "${k}": column "${k}" of "${table}" is a ${c?.role ?? 'missing'} column`;
  }
  for (const k in r.fields) {
    const c = columns.get(k);
    const type = fieldColumnType(r.fields[k]!);
    if (c?.role !== 'field') return `field "${k}": column "${k}" of "${table}" is a ${c?.role ?? 'missing'} column`;
    if (c.type !== type) return `field "${k}" is ${type}, but column "${k}" of "${table}" is ${c.type}`;
  }
  return undefined;
}

function validate(o: PostgresOptions, schema: string, layout: string, table: string): void {
  if (o.pool === undefined && (o.url === undefined || !/^postgres(ql)?:\/\//.test(o.url))) {
    throw new ConfigError(
      'postgres url',
      'a URL like postgres://user@127.0.0.1:5432/db (or a pool)',
      o.url === undefined ? undefined : redact(o.url),
    );
  }
  if (layout !== 'wide' && layout !== 'narrow') throw new ConfigError('postgres layout', "'wide' or 'narrow'", layout);
  if (!validIdentifier(schema)) throw new ConfigError('postgres schema', 'a name of 1–63 bytes', schema);
  if (!validIdentifier(table)) throw new ConfigError('postgres table', 'a name of 1–63 bytes', table);
  if (o.timescale !== undefined && o.timescale !== 'auto' && o.timescale !== 'off')
    throw new ConfigError('postgres timescale', "'auto' or 'off'", o.timescale);
}

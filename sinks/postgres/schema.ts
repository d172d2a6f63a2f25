import { createHash } from 'node:crypto';
import type { Logger } from '../../pipeline/core/types.js';
import { quoteIdent, type FieldColumnType } from './rows.js';

/** The subset of a `pg` pool client the sink uses (an injectable dependency; `pg.PoolClient` fits). */
export interface PgClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean | Error): void;
}

/** The subset of a `pg.Pool` the sink uses. */
export interface PgPool {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
}

/** A column of a wide table: `key` for time and series, `tag` (text) or `field` (typed). */
export interface Column {
  readonly role: 'key' | 'tag' | 'field';
  readonly type: string;
}

/** A column a batch needs. */
export interface NeededColumn {
  readonly role: 'tag' | 'field';
  readonly type: 'text' | FieldColumnType;
}

const TAG_COMMENT = 'tributary:tag';

/**
 * Table DDL for the sink: schema, tables and columns created as readings need them. Every change
 * runs in a transaction holding an advisory lock on the table's name, so workers adding the same
 * table or column at once wait for each other instead of failing (concurrent `CREATE TABLE IF
 * NOT EXISTS` can still collide on the catalog's unique indexes).
 */
export class TableCatalog {
  private readonly tables = new Map<string, ReadonlyMap<string, Column>>();
  private timescale: boolean | undefined;

  constructor(
    private readonly schema: string,
    private readonly useTimescale: boolean,
    private readonly log?: Logger,
  ) {}

  /** Whether TimescaleDB was found in `pg_extension` (undefined before the first {@link prepare}). */
  get hypertables(): boolean | undefined {
    return this.timescale;
  }

  /** Creates the schema when missing and looks for TimescaleDB. Idempotent. */
  async prepare(client: PgClient): Promise<void> {
    if (this.timescale !== undefined) return;
    await this.locked(client, `schema ${this.schema}`, async () => {
      const { rows } = await client.query('SELECT to_regnamespace($1) AS oid', [quoteIdent(this.schema)]);
      if ((rows[0] as { oid: unknown } | undefined)?.oid == null)
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`);
    });
    const found = this.useTimescale
      ? ((await client.query("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).rows[0] as
          { extversion: string } | undefined)
      : undefined;
    this.timescale = found !== undefined;
    this.log?.info(
      { schema: this.schema, timescaledb: found?.extversion ?? null },
      found ? 'TimescaleDB found: tables become hypertables' : 'PostgreSQL tables are plain tables (no TimescaleDB)',
    );
  }

  /** The qualified, quoted name of `table`. */
  qualified(table: string): string {
    return `${quoteIdent(this.schema)}.${quoteIdent(table)}`;
  }

  /** The narrow table: one row per reading, tags and fields as jsonb. */
  async ensureNarrow(client: PgClient, table: string): Promise<void> {
    if (this.tables.has(table)) return;
    await this.locked(client, table, async () => {
      const created = (await this.columns(client, table)).size === 0;
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.qualified(table)} (
        time timestamptz NOT NULL, series text NOT NULL, measurement text NOT NULL, tags jsonb NOT NULL, fields jsonb NOT NULL,
        PRIMARY KEY (time, series))`);
      if (created) await this.hypertable(client, table);
    });
    this.tables.set(table, await this.columns(client, table));
  }

  /**
   * The columns of wide table `table`, after creating the table and any of `needed` it lacks.
   * A column that exists keeps its type: the caller compares and rejects readings that do not fit.
   */
  async ensureWide(
    client: PgClient,
    table: string,
    needed: ReadonlyMap<string, NeededColumn>,
  ): Promise<ReadonlyMap<string, Column>> {
    const known = this.tables.get(table);
    if (known && [...needed.keys()].every((name) => known.has(name))) return known;
    await this.locked(client, table, async () => {
      const existing = await this.columns(client, table);
      if (existing.size === 0) {
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.qualified(table)} (time timestamptz NOT NULL, series text NOT NULL, PRIMARY KEY (time, series))`,
        );
        await this.hypertable(client, table);
      }
      const missing = [...needed].filter(([name]) => !existing.has(name));
      if (missing.length > 0) {
        await client.query(
          `ALTER TABLE ${this.qualified(table)} ${missing.map(([name, c]) => `ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${c.type}`).join(', ')}`,
        );
      }
      for (const [name, c] of missing) {
        if (c.role === 'tag')
          await client.query(`COMMENT ON COLUMN ${this.qualified(table)}.${quoteIdent(name)} IS '${TAG_COMMENT}'`);
      }
    });
    const columns = await this.columns(client, table);
    this.tables.set(table, columns);
    return columns;
  }

  /** Forgets what is known of the tables (after an error that may mean one changed). */
  forget(): void {
    this.tables.clear();
  }

  private async hypertable(client: PgClient, table: string): Promise<void> {
    if (!this.timescale) return;
    await client.query("SELECT create_hypertable($1::regclass, 'time', if_not_exists => TRUE, migrate_data => TRUE)", [
      this.qualified(table),
    ]);
  }

  private async columns(client: PgClient, table: string): Promise<Map<string, Column>> {
    const { rows } = await client.query(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.qualified(table)],
    );
    const columns = new Map<string, Column>();
    for (const row of rows as Array<{ name: string; type: string; comment: string | null }>) {
      const role = row.name === 'time' || row.name === 'series' ? 'key' : row.comment === TAG_COMMENT ? 'tag' : 'field';
      columns.set(row.name, { role, type: row.type });
    }
    return columns;
  }

  private async locked(client: PgClient, name: string, work: () => Promise<void>): Promise<void> {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [advisoryKey(`${this.schema}.${name}`)]);
      await work();
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}

/** A 64-bit advisory lock key for a name, the same on every worker. */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(`tributary:${name}`).digest().readBigInt64BE(0).toString();
}

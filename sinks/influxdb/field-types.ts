/**
 * Field types held steady: each field's InfluxDB type is learned per measurement (from the server,
 * or from the first value seen, shared through Redis so the first worker's type wins), and a value
 * of another type is coerced where that loses nothing, or else refused as `field_type_conflict`.
 * @packageDocumentation
 */
import { Redis } from 'ioredis';
import type { Failure, FieldValue, Reading } from '../../pipeline/core/types.js';

/** A field's type as InfluxQL's `SHOW FIELD KEYS` names it. */
export type InfluxFieldType = 'float' | 'integer' | 'string' | 'boolean';

/** How the InfluxDB sink learns and shares field types (`fieldTypes` of `influxdb()`). */
export interface FieldTypesOptions {
  /** Learn each field's type: from `SHOW FIELD KEYS` at start (v1), else from the first value seen. */
  readonly mode: 'learn';
  /** Redis shared by the workers: the first worker to see a field sets its type for all. Without it, types are learned per process. */
  readonly redisUrl?: string;
  /** A connection to use instead of `redisUrl` (not closed by the sink). */
  readonly redis?: Redis;
  /** Hash key prefix; one hash per target and measurement. @defaultValue 'tributary:field-types' */
  readonly keyPrefix?: string;
  /** How long a measurement's types are used before they are read from Redis again. @defaultValue 60000 */
  readonly refreshMs?: number;
}

const TYPES: ReadonlySet<string> = new Set<InfluxFieldType>(['float', 'integer', 'string', 'boolean']);
const INT64_LIMIT = 2 ** 63;
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** The type the line protocol writes a value as; `undefined` for what the encoder skips (NaN, ±Infinity, beyond int64, null). */
export function fieldTypeOf(value: FieldValue | null | undefined): InfluxFieldType | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? 'float' : undefined;
    case 'bigint':
      return value >= -(2n ** 63n) && value < 2n ** 63n ? 'integer' : undefined;
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    default:
      return undefined;
  }
}

/**
 * `value` as a `known` field, when that loses nothing: an integer within ±2^53 becomes a float
 * (`20i` → `20`), a whole float within int64 an integer (`20` → `20i`). `undefined` otherwise.
 */
export function coerceFieldValue(value: FieldValue, known: InfluxFieldType): FieldValue | undefined {
  const type = fieldTypeOf(value);
  if (type === known) return value;
  if (known === 'float' && typeof value === 'bigint' && value >= -MAX_EXACT && value <= MAX_EXACT) return Number(value);
  if (known === 'integer' && typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < INT64_LIMIT)
    return BigInt(value);
  return undefined;
}

/** A reading made to fit the known types: the same object when nothing changed, or a conflict. */
export type TypeCheck = { readonly reading: Reading } | { readonly conflict: Failure };

/** Checks every field of `reading` against `typeOf` (unknown fields pass as they are). */
export function holdFieldTypes(
  reading: Reading,
  typeOf: (measurement: string, field: string) => InfluxFieldType | undefined,
): TypeCheck {
  let fields: Reading['fields'] | undefined;
  for (const key in reading.fields) {
    const value = reading.fields[key]!;
    const known = typeOf(reading.measurement, key);
    if (known === undefined || fieldTypeOf(value) === undefined || fieldTypeOf(value) === known) continue;
    const coerced = coerceFieldValue(value, known);
    if (coerced === undefined) return { conflict: conflict(reading.measurement, key, known, value) };
    fields ??= { ...reading.fields };
    fields[key] = coerced;
  }
  return { reading: fields ? { ...reading, fields } : reading };
}

function conflict(measurement: string, field: string, known: InfluxFieldType, value: FieldValue): Failure {
  const type = fieldTypeOf(value)!;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 100)) : String(value);
  const why =
    (known === 'integer' && type === 'float') || (known === 'float' && type === 'integer')
      ? ', not convertible without loss'
      : '';
  return {
    code: 'field_type_conflict',
    reason: `field ${JSON.stringify(field)} of measurement ${JSON.stringify(measurement)} is ${known}, this value is ${type} (${shown})${why}`,
  };
}

/** `input field "f" on measurement "m" is type string, already exists as type float` in an InfluxDB 1.x 400 or 2.x 422, quotes maybe JSON-escaped. */
const SERVER_CONFLICT =
  /input field \\*"(.+?)\\*" on measurement \\*"(.+?)\\*" is type \w+, already exists as type (\w+)/;

/** The field, measurement and stored type an InfluxDB field-type-conflict message names. */
export function parseServerConflict(
  message: string,
): { measurement: string; field: string; type: InfluxFieldType } | undefined {
  const m = SERVER_CONFLICT.exec(message);
  return m && TYPES.has(m[3]!) ? { field: m[1]!, measurement: m[2]!, type: m[3] as InfluxFieldType } : undefined;
}

interface Known {
  readonly fields: Map<string, InfluxFieldType>;
  loadedAt: number;
}

/**
 * Known field types of one write target (database or bucket): a local cache per measurement,
 * backed by one Redis hash per measurement. First-seen types go in with HSETNX (the first worker
 * wins); types the server reported go in with HSET (the server is right).
 */
export class FieldTypeRegistry {
  private readonly known = new Map<string, Known>();
  private readonly redis: Redis | undefined;
  private readonly owned: boolean;
  /** Server-reported types not yet in Redis. */
  private pending: Array<[string, string, InfluxFieldType]> = [];

  constructor(
    private readonly options: FieldTypesOptions,
    private readonly target: string,
  ) {
    this.owned = options.redis === undefined && options.redisUrl !== undefined;
    this.redis =
      options.redis ??
      (options.redisUrl === undefined
        ? undefined
        : new Redis(options.redisUrl, {
            lazyConnect: true,
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            retryStrategy: (times) => Math.min(times * 200, 5_000),
          }));
    if (this.owned) this.redis?.on('error', () => {}); // failures surface as retried writes
  }

  /** Connects to Redis if the registry owns the connection; an unreachable Redis shows later, as retried writes. */
  async open(): Promise<void> {
    if (this.owned && this.redis?.status === 'wait') await this.redis.connect().catch(() => undefined);
  }

  /** Disconnects from Redis if the registry owns the connection. */
  close(): void {
    if (this.owned) this.redis?.disconnect();
  }

  /** The type known for a field, from the local cache (see {@link resolve}). */
  readonly typeOf = (measurement: string, field: string): InfluxFieldType | undefined =>
    this.known.get(measurement)?.fields.get(field);

  /** Records what the server says a field's type is; it overrides anything learned (see {@link publish}). */
  serverSays(measurement: string, field: string, type: InfluxFieldType): boolean {
    const changed = this.typeOf(measurement, field) !== type;
    this.entry(measurement).fields.set(field, type);
    if (this.redis) this.pending.push([measurement, field, type]);
    return changed;
  }

  /** Writes what the server said to Redis now (HSET), for the other workers; on failure, with the next batch. */
  async publish(): Promise<void> {
    if (this.redis && this.pending.length > 0) await this.flushPending(this.redis).catch(() => undefined);
  }

  /**
   * Makes every field of `readings` known locally: re-reads stale measurements from Redis, and
   * proposes the first value's type for each unknown field (HSETNX, then reads the winner).
   * A failure (Redis unreachable) means the batch should be retried.
   */
  async resolve(readings: readonly Reading[]): Promise<Failure | undefined> {
    try {
      if (this.redis) await this.refresh(this.redis, readings);
      const proposals = new Map<string, Map<string, InfluxFieldType>>();
      for (const r of readings) {
        for (const key in r.fields) {
          const type = fieldTypeOf(r.fields[key]);
          if (type === undefined || this.typeOf(r.measurement, key) !== undefined) continue;
          let fields = proposals.get(r.measurement);
          if (!fields) proposals.set(r.measurement, (fields = new Map()));
          if (!fields.has(key)) fields.set(key, type);
        }
      }
      if (proposals.size === 0) return undefined;
      if (!this.redis) {
        for (const [m, fields] of proposals) for (const [f, t] of fields) this.entry(m).fields.set(f, t);
        return undefined;
      }
      const multi = this.redis.multi();
      const asked: Array<[string, string]> = [];
      for (const [m, fields] of proposals) {
        for (const [f, t] of fields) {
          multi.hsetnx(this.key(m), f, t).hget(this.key(m), f);
          asked.push([m, f]);
        }
      }
      const results = await multi.exec();
      if (!results) return { code: 'field_types_unavailable', reason: 'Redis aborted the field-type transaction' };
      asked.forEach(([m, f], i) => {
        const [error, type] = results[2 * i + 1]!;
        if (!error && typeof type === 'string' && TYPES.has(type)) this.entry(m).fields.set(f, type as InfluxFieldType);
      });
      return undefined;
    } catch (error) {
      return {
        code: 'field_types_unavailable',
        reason: `cannot read or record field types in Redis: ${(error as Error).message}`,
      };
    }
  }

  private async refresh(redis: Redis, readings: readonly Reading[]): Promise<void> {
    await this.flushPending(redis);
    const now = Date.now();
    const stale = new Set<string>();
    for (const r of readings) {
      const k = this.known.get(r.measurement);
      if (!k || now - k.loadedAt > (this.options.refreshMs ?? 60_000)) stale.add(r.measurement);
    }
    if (stale.size === 0) return;
    const names = [...stale];
    const multi = redis.multi();
    for (const m of names) multi.hgetall(this.key(m));
    const results = (await multi.exec()) ?? [];
    names.forEach((m, i) => {
      const [error, hash] = results[i] ?? [new Error('no reply')];
      if (error) throw error;
      const fields = new Map<string, InfluxFieldType>();
      for (const [f, t] of Object.entries(hash as Record<string, string>))
        if (TYPES.has(t)) fields.set(f, t as InfluxFieldType);
      this.known.set(m, { fields, loadedAt: now });
    });
  }

  private async flushPending(redis: Redis): Promise<void> {
    if (this.pending.length === 0) return;
    const sent = this.pending;
    const multi = redis.multi();
    for (const [m, f, t] of sent) multi.hset(this.key(m), f, t);
    const results = await multi.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('Redis aborted the field-type transaction');
    this.pending = this.pending.filter((p) => !sent.includes(p));
  }

  private entry(measurement: string): Known {
    let k = this.known.get(measurement);
    if (!k) this.known.set(measurement, (k = { fields: new Map(), loadedAt: Date.now() }));
    return k;
  }

  private key(measurement: string): string {
    return `${this.options.keyPrefix ?? 'tributary:field-types'}:${this.target}:${measurement}`;
  }
}

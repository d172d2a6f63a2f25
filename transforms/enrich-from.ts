import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { FieldValue, Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/** What a lookup found for one key: names and string values (e.g. a device's `model`, `owner`). */
export type Enrichment = Readonly<Record<string, string>>;

/**
 * Where {@link enrichFrom} looks values up: {@link mapLookup}, {@link redisHash}, or your own object
 * (`{ name, key, load }` with an async `load` calling a registry API).
 */
export interface Lookup {
  /** Used in logs and dead-letter reasons. @defaultValue 'lookup' */
  readonly name?: string;
  /** The cache key of a reading (usually its device); `undefined` passes the reading unchanged. */
  key(reading: Reading): string | undefined;
  /** Loads one key; `undefined` or `{}` when unknown. Throwing or rejecting is a failed lookup. */
  load(key: string): Enrichment | undefined | Promise<Enrichment | undefined>;
  /** Connects (called when the pipeline starts). */
  open?(): Promise<void>;
  /** Disconnects (called when the pipeline stops). */
  close?(): Promise<void>;
}

/** Options of {@link enrichFrom}. */
export interface EnrichFromOptions {
  /** How long a loaded entry (found or not) is used before the key is loaded again. @defaultValue 60000 */
  readonly ttlMs?: number;
  /** Most keys kept; past it the least recently used goes. @defaultValue 10000 */
  readonly maxEntries?: number;
  /** Where the values go. Fields get string values; follow with {@link castFields} for numbers. @defaultValue 'tags' */
  readonly into?: 'tags' | 'fields';
  /** When the reading already has a name the lookup returns: `keep` the reading's value or `replace` it. @defaultValue 'keep' */
  readonly onConflict?: 'keep' | 'replace';
  /**
   * A failed lookup (the load threw or rejected; not cached, the next reading tries again): `pass`
   * sends the reading on unenriched; `reject` dead-letters the message (`lookup_failed`), from where
   * `tributary dead-letters replay` can resend it. @defaultValue 'reject'
   */
  readonly onError?: 'pass' | 'reject';
  /** A key the lookup does not know: `pass` the reading unchanged, or `reject` it (`lookup_missing`). @defaultValue 'pass' */
  readonly onMissing?: 'pass' | 'reject';
}

/** Counters of an {@link enrichFrom} stage. */
export interface EnrichStats {
  /** Readings served from the cache (synchronously). */
  hits: number;
  /** Readings not in the cache: they waited for a load (their own, or one in flight for the key). */
  misses: number;
  /** Loads started: one per key per TTL, however many readings asked at once. */
  loads: number;
  /** Loads that failed. */
  failures: number;
}

/** The stage {@link enrichFrom} returns, with its counters. */
export interface EnrichFromTransform extends Transform<Reading, Reading> {
  readonly stats: Readonly<EnrichStats>;
  /** Keys cached now. */
  readonly cached: number;
}

interface Entry {
  readonly value: Enrichment | undefined;
  readonly expiresAt: number;
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> =>
  typeof (v as { then?: unknown } | null)?.then === 'function';

/**
 * Adds tags (or fields) looked up per device, through a TTL cache of bounded size (LRU) with
 * single-flight loading: concurrent misses for one key share one load, so a device registry costs
 * one round trip per device per TTL. A cache hit returns synchronously (no promise, no extra tick);
 * a miss returns a promise, which the runtime awaits while holding the message's acknowledgement.
 * TTLs follow the pipeline clock (`ctx.now()`).
 * @example
 * enrichFrom(redisHash({ url: 'redis://127.0.0.1:6379', key: (r) => `devices:${r.tags.device}` }), { ttlMs: 60_000 })
 */
export function enrichFrom(lookup: Lookup, options: EnrichFromOptions = {}): EnrichFromTransform {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  if (!(ttlMs >= 0)) throw new ConfigError('enrichFrom ttlMs', 'a number of ms ≥ 0', ttlMs);
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new ConfigError('enrichFrom maxEntries', 'an integer ≥ 1', maxEntries);
  if (typeof lookup?.key !== 'function' || typeof lookup.load !== 'function')
    throw new ConfigError('enrichFrom lookup', 'an object with key(reading) and load(key)');
  const name = lookup.name ?? 'lookup';
  const intoFields = options.into === 'fields';
  const replace = options.onConflict === 'replace';
  const onError = options.onError ?? 'reject';
  const onMissing = options.onMissing ?? 'pass';
  const cache = new Map<string, Entry>();
  const loading = new Map<string, Promise<Enrichment | undefined>>();
  const stats: EnrichStats = { hits: 0, misses: 0, loads: 0, failures: 0 };

  const store = (key: string, value: Enrichment | undefined, now: number) => {
    cache.delete(key);
    cache.set(key, { value, expiresAt: now + ttlMs });
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
  };

  const enrich = (reading: Reading, key: string, value: Enrichment | undefined): StageOutput<Reading> => {
    if (value === undefined || Object.keys(value).length === 0) {
      return onMissing === 'reject'
        ? reject(`${name}: no entry for key ${JSON.stringify(key)}`, 'lookup_missing')
        : [reading];
    }
    if (intoFields) {
      const fields: Record<string, FieldValue> = replace
        ? { ...reading.fields, ...value }
        : { ...value, ...reading.fields };
      return [{ ...reading, fields }];
    }
    return [{ ...reading, tags: replace ? { ...reading.tags, ...value } : { ...value, ...reading.tags } }];
  };

  const failed = (reading: Reading, key: string, error: unknown): StageOutput<Reading> => {
    if (onError === 'pass') return [reading];
    return reject(
      `${name}: lookup of ${JSON.stringify(key)} failed: ${error instanceof Error ? error.message : String(error)}`,
      'lookup_failed',
    );
  };

  /** One load per key at a time; its result is cached when it succeeds. */
  const load = (key: string, now: () => number): Enrichment | undefined | Promise<Enrichment | undefined> => {
    const pending = loading.get(key);
    if (pending) return pending;
    stats.loads++;
    let result: Enrichment | undefined | Promise<Enrichment | undefined>;
    try {
      result = lookup.load(key);
    } catch (error) {
      stats.failures++;
      throw error;
    }
    if (!isPromise(result)) {
      store(key, result, now());
      return result;
    }
    const shared = result.then(
      (value) => {
        loading.delete(key);
        store(key, value, now());
        return value;
      },
      (error: unknown) => {
        loading.delete(key);
        stats.failures++;
        throw error;
      },
    );
    loading.set(key, shared);
    return shared;
  };

  return {
    name: `enrichFrom(${name})`,
    stats,
    get cached() {
      return cache.size;
    },
    apply(reading, ctx): StageOutput<Reading> | Promise<StageOutput<Reading>> {
      const key = lookup.key(reading);
      if (key === undefined) return [reading];
      const hit = cache.get(key);
      if (hit && hit.expiresAt > ctx.now()) {
        stats.hits++;
        cache.delete(key); // most recently used goes last
        cache.set(key, hit);
        return enrich(reading, key, hit.value);
      }
      let loaded: Enrichment | undefined | Promise<Enrichment | undefined>;
      try {
        loaded = load(key, () => ctx.now());
      } catch (error) {
        return failed(reading, key, error);
      }
      stats.misses++;
      if (!isPromise(loaded)) return enrich(reading, key, loaded);
      return loaded.then(
        (value) => enrich(reading, key, value),
        (error: unknown) => failed(reading, key, error),
      );
    },
    async open() {
      await lookup.open?.();
    },
    async close() {
      await lookup.close?.();
    },
  };
}

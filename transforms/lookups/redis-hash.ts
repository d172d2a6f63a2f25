import { Redis } from 'ioredis';
import { ConfigError } from '../../pipeline/core/errors.js';
import type { Reading } from '../../pipeline/core/types.js';
import type { Enrichment, Lookup } from '../enrich-from.js';

/** Options of {@link redisHash}. */
export interface RedisHashOptions {
  /** A connection to use; you open and close it. */
  readonly redis?: Redis;
  /** Redis URL, when no `redis` is given: the lookup opens and closes its own connection. */
  readonly url?: string;
  /** The hash key holding a reading's values (`devices:${r.tags.device}`); `undefined` skips the lookup. */
  readonly key: (reading: Reading) => string | undefined;
  /** Only these hash fields are used. @defaultValue all of them */
  readonly fields?: readonly string[];
  /** A command slower than this fails (a failed lookup, see `onError`). Own connection only. @defaultValue 2000 */
  readonly timeoutMs?: number;
}

/**
 * A Redis-hash lookup for {@link enrichFrom}: one `HGETALL` per key load, so with the cache one
 * round trip per device per TTL. A missing hash is an unknown key (cached too); Redis down is a
 * failed lookup, which fails fast rather than queueing.
 * @example
 * enrichFrom(redisHash({ url: 'redis://127.0.0.1:6379', key: (r) => `devices:${r.tags.device}` }), { ttlMs: 60_000 })
 */
export function redisHash(options: RedisHashOptions): Lookup {
  if (!options.redis && !options.url) throw new ConfigError('redisHash', 'a redis connection or a url');
  if (typeof options.key !== 'function') throw new ConfigError('redisHash key', 'a function (reading) => hash key');
  const owned = options.redis === undefined;
  const redis =
    options.redis ??
    new Redis(options.url!, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs ?? 2000,
      retryStrategy: (times) => Math.min(times * 200, 5_000),
    });
  if (owned) redis.on('error', () => {}); // a lost connection shows as failed lookups
  const only = options.fields;

  return {
    name: 'redisHash',
    key: options.key,
    async load(key): Promise<Enrichment | undefined> {
      const hash = await redis.hgetall(key);
      if (!only) return hash;
      const picked: Record<string, string> = {};
      for (const f of only) if (hash[f] !== undefined) picked[f] = hash[f];
      return picked;
    },
    async open() {
      // Unreachable at start is not fatal: ioredis keeps reconnecting, lookups fail meanwhile.
      if (owned && redis.status === 'wait') await redis.connect().catch(() => undefined);
    },
    async close() {
      if (owned) redis.disconnect();
    },
  };
}

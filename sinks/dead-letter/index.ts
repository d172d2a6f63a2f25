import { Redis } from 'ioredis';
import type { Batch, BatchPolicy, DeadLetter, DeadLetterSink, WriteResult } from '../../pipeline/types.js';

/** Options of {@link redisDeadLetters}. */
export interface RedisDeadLettersOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Ignored when `redis` is given. */
  readonly url?: string;
  /** A connection to use instead of opening one (it should have `enableOfflineQueue: false`). */
  readonly redis?: Redis;
  /** Stream key the dead letters are appended to. @defaultValue 'tributary:dead-letters' */
  readonly stream?: string;
  /** @defaultValue `{ maxItems: 500, maxBytes: 4 MiB, maxWaitMs: 50, maxConcurrency: 1 }` */
  readonly batch?: Partial<BatchPolicy>;
}

/** A dead letter as stored: the original payload in base64. */
export interface StoredDeadLetter extends Omit<DeadLetter, 'payload'> {
  readonly payloadBase64: string;
}

/** Serialises a dead letter the way {@link redisDeadLetters} stores it. */
export function encodeDeadLetter(letter: DeadLetter): string {
  const { payload, ...rest } = letter;
  const stored: StoredDeadLetter = { ...rest, payloadBase64: Buffer.from(payload).toString('base64') };
  return JSON.stringify(stored);
}

/**
 * Dead-letter sink on a Redis stream: durable (with AOF), ordered, each entry holding the reason,
 * topic, time and original payload. `tributary dead-letters list|replay` reads it back.
 * Redis down → the write fails fast and the runtime retries, holding the acknowledgements.
 * @example
 * redisDeadLetters({ url: 'redis://127.0.0.1:6379' })
 */
export function redisDeadLetters(options: RedisDeadLettersOptions): DeadLetterSink {
  const stream = options.stream ?? 'tributary:dead-letters';
  const owned = options.redis === undefined;
  const redis = options.redis ?? new Redis(options.url ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  });
  redis.on('error', () => {}); // connection errors surface as failed writes, which are retried
  return {
    name: 'dead-letters',
    batch: { maxItems: 500, maxBytes: 4 * 1024 * 1024, maxWaitMs: 50, maxConcurrency: 1, ...options.batch },
    accepts: (item): item is DeadLetter => typeof (item as DeadLetter | null)?.code === 'string' && (item as DeadLetter).payload instanceof Uint8Array,
    encode: encodeDeadLetter,
    async open() {
      if (owned && redis.status === 'wait') await redis.connect().catch(() => undefined);
    },
    async write({ encoded }: Batch<DeadLetter>): Promise<WriteResult> {
      try {
        const multi = redis.multi();
        for (const e of encoded) multi.xadd(stream, '*', 'letter', e);
        const results = await multi.exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) return { status: 'retry', failure: { code: 'redis_error', reason: String(failed?.[0] ?? 'transaction aborted') } };
        return { status: 'delivered' };
      } catch (error) {
        return { status: 'retry', failure: { code: 'redis_unavailable', reason: (error as Error).message } };
      }
    },
    async close() {
      if (owned) redis.disconnect();
    },
  };
}

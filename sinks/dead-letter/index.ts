import { Redis } from 'ioredis';
import type { Batch, BatchPolicy, DeadLetter, DeadLetterSink, WriteResult } from '../../pipeline/core/types.js';

/** Options of {@link redisDeadLetters}. */
export interface RedisDeadLettersOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379`. Ignored when `redis` is given. */
  readonly url?: string;
  /** A connection to use instead of opening one (it should have `enableOfflineQueue: false`). */
  readonly redis?: Redis;
  /** Stream key the dead letters are appended to. @defaultValue 'tributary:dead-letters' */
  readonly stream?: string;
  /**
   * Pipeline name recorded on every letter, so that `tributary dead-letters list --pipeline` finds
   * them in a stream several pipelines share. `tributary run` sets the running pipeline's name
   * (see {@link PipelineAwareDeadLetterSink}); set it here to name it otherwise.
   * @defaultValue the running pipeline's name
   */
  readonly pipeline?: string;
  /** @defaultValue `{ maxItems: 500, maxBytes: 4 MiB, maxWaitMs: 50, maxConcurrency: 1 }` */
  readonly batch?: Partial<BatchPolicy>;
}

/** A dead letter as stored: the original payload in base64. */
export interface StoredDeadLetter extends Omit<DeadLetter, 'payload'> {
  readonly payloadBase64: string;
  /** The pipeline that gave up on it; absent on letters written before pipelines were recorded. */
  readonly pipeline?: string;
}

/** Serialises a dead letter the way {@link redisDeadLetters} stores it, with the pipeline's name when given. */
export function encodeDeadLetter(letter: DeadLetter, pipeline?: string): string {
  const { payload, ...rest } = letter;
  const stored: StoredDeadLetter = { ...rest, pipeline, payloadBase64: Buffer.from(payload).toString('base64') };
  return JSON.stringify(stored);
}

/**
 * A dead-letter sink that can record the name of the pipeline it serves: the worker
 * (`startWorker`) hands over the running pipeline's name and uses the sink returned.
 */
export interface PipelineAwareDeadLetterSink extends DeadLetterSink {
  /** This sink, recording `pipeline` on each letter unless its options named one. */
  forPipeline(pipeline: string): DeadLetterSink;
}

/**
 * Dead-letter sink on a Redis stream: durable (with AOF), ordered, each entry holding the reason,
 * topic, time and original payload. `tributary dead-letters list|replay` reads it back.
 * Redis down → the write fails fast and the runtime retries, holding the acknowledgements.
 * @example
 * redisDeadLetters({ url: 'redis://127.0.0.1:6379' })
 */
export function redisDeadLetters(options: RedisDeadLettersOptions): PipelineAwareDeadLetterSink {
  const stream = options.stream ?? 'tributary:dead-letters';
  const owned = options.redis === undefined;
  const redis =
    options.redis ??
    new Redis(options.url ?? 'redis://127.0.0.1:6379', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 200, 5_000),
      socketTimeout: 10_000, // a command unanswered this long: dead peer (half-open), reconnect
    });
  redis.on('error', () => {}); // connection errors surface as failed writes, which are retried
  const sink = (pipeline: string | undefined): PipelineAwareDeadLetterSink => ({
    name: 'dead-letters',
    batch: { maxItems: 500, maxBytes: 4 * 1024 * 1024, maxWaitMs: 50, maxConcurrency: 1, ...options.batch },
    accepts: (item): item is DeadLetter =>
      typeof (item as DeadLetter | null)?.code === 'string' && (item as DeadLetter).payload instanceof Uint8Array,
    encode: (letter) => encodeDeadLetter(letter, pipeline),
    forPipeline: (name) => sink(options.pipeline ?? name),
    async open() {
      if (owned && redis.status === 'wait') await redis.connect().catch(() => undefined);
    },
    async write({ encoded }: Batch<DeadLetter>): Promise<WriteResult> {
      try {
        const multi = redis.multi();
        for (const e of encoded) multi.xadd(stream, '*', 'letter', e);
        const results = await multi.exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed)
          return {
            status: 'retry',
            failure: { code: 'redis_error', reason: String(failed?.[0] ?? 'transaction aborted') },
          };
        return { status: 'delivered' };
      } catch (error) {
        return { status: 'retry', failure: { code: 'redis_unavailable', reason: (error as Error).message } };
      }
    },
    async close() {
      if (owned) redis.disconnect();
    },
  });
  return sink(options.pipeline);
}

import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { ConfigError } from '../../pipeline/core/errors.js';
import type { AlertEvent, Logger } from '../../pipeline/core/types.js';

/** What a handler knows about the job besides the alert. */
export interface AlertJobContext {
  /** The job id: the same for every try, and for a redelivered transition (use it to deduplicate). */
  readonly jobId: string;
  /** 1 on the first try. */
  readonly attempt: number;
}

/**
 * Does something with one alert (log it, POST it, publish it). Throw to have the job retried with
 * the job's backoff; throw BullMQ's `UnrecoverableError` to fail it for good.
 */
export interface AlertHandler {
  /** Unique per worker: a handler that succeeded is not called again when a later one fails. */
  readonly name: string;
  handle(event: AlertEvent, ctx: AlertJobContext): Promise<void>;
  close?(): Promise<void>;
}

/** Options of {@link startAlertWorker}. */
export interface AlertWorkerOptions {
  /** Redis URL. Ignored when `redis` is given. @defaultValue 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /** A connection to copy (the worker opens its own, as BullMQ needs blocking commands). */
  readonly redis?: Redis;
  /** The queue the alert sink writes to. */
  readonly queue: string;
  /** Called in order for every alert. */
  readonly handlers: readonly AlertHandler[];
  /** Jobs handled at once. @defaultValue 4 */
  readonly concurrency?: number;
  /** At most `max` jobs per `duration` ms, over all workers of the queue. @defaultValue no limit */
  readonly limiter?: { readonly max: number; readonly duration: number };
  /** BullMQ key prefix. @defaultValue 'bull' */
  readonly prefix?: string;
  readonly log?: Logger;
}

/** A running alert worker. */
export interface AlertWorker {
  /** The BullMQ worker, for events and metrics. */
  readonly worker: Worker<AlertEvent>;
  /** Waits for running jobs, then disconnects and closes the handlers. */
  close(): Promise<void>;
}

/**
 * Consumes alert jobs and hands each alert to `handlers`, with BullMQ's concurrency, rate limiting
 * and retries. Progress records which handlers are done, so a retry skips them.
 * @example
 * const w = await startAlertWorker({ url, queue: 'alerts', handlers: [logHandler(log), webhookHandler({ url: hook })], limiter: { max: 10, duration: 1000 } });
 */
export async function startAlertWorker(options: AlertWorkerOptions): Promise<AlertWorker> {
  const names = options.handlers.map((h) => h.name);
  if (names.length === 0) throw new ConfigError('startAlertWorker handlers', 'at least one handler');
  if (new Set(names).size !== names.length)
    throw new ConfigError('startAlertWorker handlers', 'unique handler names', names);
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new ConfigError('startAlertWorker concurrency', 'an integer ≥ 1', concurrency);
  const { limiter, log } = options;
  if (limiter && !(limiter.max >= 1 && limiter.duration > 0))
    throw new ConfigError('startAlertWorker limiter', '{ max ≥ 1, duration > 0 }', limiter);

  // BullMQ's blocking connections need maxRetriesPerRequest: null and an offline queue.
  const connection = options.redis
    ? options.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: false })
    : new Redis(options.url ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  connection.on('error', () => {});
  const worker = new Worker<AlertEvent>(
    options.queue,
    async (job: Job<AlertEvent>) => {
      const done = new Set(handledBy(job.progress));
      for (const h of options.handlers) {
        if (done.has(h.name)) continue;
        await h.handle(job.data, { jobId: job.id ?? '', attempt: job.attemptsMade + 1 });
        done.add(h.name);
        if (done.size < options.handlers.length) await job.updateProgress({ handled: [...done] });
      }
    },
    { connection, concurrency, limiter, prefix: options.prefix, autorun: true },
  );
  worker.on('error', (error) => log?.warn({ error }, 'alert worker error'));
  worker.on('failed', (job, error) =>
    log?.warn({ jobId: job?.id, attempts: job?.attemptsMade, error: error.message }, 'alert job failed'),
  );
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      await worker.close();
      connection.disconnect();
      for (const h of options.handlers) await h.close?.();
    },
  };
}

function handledBy(progress: unknown): string[] {
  const handled = (progress as { handled?: unknown } | null)?.handled;
  return Array.isArray(handled) ? handled.filter((x): x is string => typeof x === 'string') : [];
}

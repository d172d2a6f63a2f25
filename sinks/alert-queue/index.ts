import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ConfigError } from '../../pipeline/core/errors.js';
import type { Batch, Failure, PipelineFlow, Reading, WriteResult } from '../../pipeline/core/types.js';
import { compileRules, validateAlertRules } from './evaluate.js';
import { ObservationFold, ruleFailureOf } from './observations.js';
import { toAlertJob } from './jobs.js';
import type { AlertQueueOptions, AlertQueueSink, SweepResult } from './options.js';
import { deadmanHolds, timeKey, type AlertTransition, type MachineRule } from './state-machine.js';
import { alertKeys, redisAlertStore } from './store.js';
import { isReading } from '../../pipeline/core/stage.js';

export type { AlertQueueOptions, AlertQueueSink, SweepResult } from './options.js';

const noop = () => {};

/**
 * Alert sink: evaluates `rules` on every reading routed to it and keeps each rule's state per series
 * in Redis (one script call per batch, atomic, so workers of a share group agree), then enqueues one
 * BullMQ job per transition (firing, repeat, resolved) with a deterministic id. Redis down →
 * `retry`, so the runtime holds the acknowledgements.
 * @example
 * alertQueue({ url: 'redis://127.0.0.1:6379', queue: 'alerts', rules: [
 *   { id: 'overheating', severity: 'critical', measurement: 'telemetry', when: above('temperature', { fire: 30, clear: 28 }), forMs: 2000 },
 * ] })
 */
export function alertQueue(options: AlertQueueOptions): AlertQueueSink {
  const problems = validateAlertRules(options.rules);
  if (problems.length > 0) throw new ConfigError('alertQueue rules', 'valid rules', problems.join('; '));
  const queueName = typeof options.queue === 'string' ? options.queue : options.queue.name;
  if (!queueName || queueName.includes(':'))
    throw new ConfigError('alertQueue queue', 'a queue name without ":"', queueName);
  const sweepIntervalMs = options.sweepIntervalMs ?? 5000;
  const slotMs = sweepIntervalMs > 0 ? sweepIntervalMs : 5000;
  const clock = options.clock ?? Date.now;
  const workerId = options.workerId ?? `${hostname()}-${process.pid}`;
  const jobOptions = options.jobs ?? {};
  const log = options.log;
  const compiled = compileRules(options.rules);
  const fold = new ObservationFold(compiled);
  const absentRules: Record<string, MachineRule> = {};
  for (const c of compiled) if (c.machine.kind === 'absent') absentRules[c.rule.id] = c.machine;
  const startupGraceMs =
    options.deadmanStartupGraceMs ?? Math.max(0, ...Object.values(absentRules).map((r) => r.afterMs));
  let openedAt = Number.POSITIVE_INFINITY;
  let flow: PipelineFlow | undefined;

  const owned = options.redis === undefined;
  const redis =
    options.redis ??
    new Redis(options.url ?? 'redis://127.0.0.1:6379', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 200, 5_000),
      // A command unanswered this long means a dead peer (half-open: no FIN, no RST): drop the socket
      // and reconnect, instead of waiting out TCP's retransmission backoff (minutes).
      socketTimeout: 10_000,
    });
  redis.on('error', noop); // connection errors surface as failed writes, which are retried
  const keys = alertKeys(options.keyPrefix ?? `tributary:alerts:{${queueName}}`);
  const store = redisAlertStore(redis, keys);
  /** Transitions recorded in the outbox but not yet in BullMQ, by job id. */
  const unsent = new Map<string, AlertTransition>();
  let queue: Promise<Queue> | undefined =
    typeof options.queue === 'string' ? undefined : Promise.resolve(options.queue);
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<SweepResult> | undefined;

  const getQueue = (): Promise<Queue> =>
    (queue ??= (async () => {
      const q = new Queue(queueName, { connection: redis, prefix: options.prefix });
      q.on('error', noop);
      try {
        await withTimeout(q.waitUntilReady(), 5_000, 'BullMQ queue not ready');
        return q;
      } catch (error) {
        queue = undefined; // BullMQ keeps a failed start forever: build a new Queue next time
        void q.close().catch(noop);
        throw error;
      }
    })());

  /** Enqueues what is unsent (idempotent by job id), then clears it from the outbox. */
  const enqueue = async (transitions: readonly AlertTransition[]): Promise<void> => {
    for (const tr of transitions) unsent.set(tr.id, tr);
    if (unsent.size === 0) return;
    const batch = [...unsent.values()];
    try {
      await (await getQueue()).addBulk(batch.map((tr) => toAlertJob(tr, jobOptions)));
    } catch (error) {
      throw new EnqueueError((error as Error).message);
    }
    for (const tr of batch) unsent.delete(tr.id);
    // Should this fail, a sweep re-enqueues the entries later and BullMQ ignores the known ids.
    await store
      .ack(batch.map((tr) => tr.id))
      .catch((error: unknown) => log?.warn({ error }, 'alert outbox cleanup failed; a sweep will retry'));
  };

  const nowKeys = () => {
    const now = clock();
    return { now, nowT: timeKey(BigInt(Math.round(now)) * 1_000_000n) };
  };

  let writing: Promise<unknown> = Promise.resolve();
  /** Applies what was folded and enqueues its transitions; on failure it is folded back for the retry. */
  const flushFold = async (): Promise<Failure | undefined> => {
    if (fold.empty) return undefined;
    const { folded, transitions } = applyFolded();
    try {
      await enqueue(await transitions);
      fold.recycle(folded);
      return undefined;
    } catch (error) {
      fold.putBack(folded);
      return failureOf(error);
    }
  };
  /** Takes the fold and sends it; not async, so the groups taken are garbage once sent, not held while Redis works. */
  const applyFolded = (): {
    folded: ReturnType<ObservationFold['take']>['folded'];
    transitions: Promise<AlertTransition[]>;
  } => {
    const { now, nowT } = nowKeys();
    const { groups, rules, folded } = fold.take(nowT);
    try {
      return {
        folded,
        transitions: groups.length > 0 ? store.apply({ now, nowT, workerId, rules, groups }) : Promise.resolve([]),
      };
    } catch (error) {
      return { folded, transitions: Promise.reject(error) };
    }
  };

  const sweepOnce = async (): Promise<SweepResult> => {
    if (redis.status !== 'ready')
      return { status: 'failed', failure: unavailable(`redis connection is ${redis.status}`) };
    const { now, nowT } = nowKeys();
    try {
      const hold = flow
        ? deadmanHolds(absentRules, flow.flowingForMs(), options.deadmanStartupGraceMs)
        : deadmanHolds(absentRules, now - openedAt, startupGraceMs);
      const reply = await store.sweep(
        {
          now,
          nowT,
          workerId,
          rules: absentRules,
          hold,
          limit: 1000,
          graceMs: options.outboxGraceMs ?? 10_000,
          claimLimit: 1000,
          lockMs: slotMs * 2,
        },
        `${keys.sweepLock}:${Math.floor(now / slotMs)}`,
      );
      if (reply.skipped) return { status: 'skipped' };
      await enqueue([...reply.transitions, ...reply.claimed]);
      return { status: 'swept', transitions: reply.transitions.length, claimed: reply.claimed.length };
    } catch (error) {
      return { status: 'failed', failure: failureOf(error) };
    }
  };

  return {
    name: 'alert-queue',
    // Batches group acknowledgements; what a write sends to Redis is what was folded (see write).
    // 250 ms: at a live rate each write then carries several readings per series, so the Redis
    // script and the fold cost less per reading; under load batches are sealed by the runner anyway.
    batch: { maxItems: 5000, maxBytes: 4 * 1024 * 1024, maxWaitMs: 250, maxConcurrency: 1, ...options.batch },
    keys,
    store,
    accepts: (item): item is Reading => isReading(item) && fold.selects(item),
    // Rules are evaluated as readings are routed here and folded per series (see ObservationFold):
    // the batch holds '' per reading, or the reason a rule threw on it.
    encode: (r) => fold.add(r),
    needsItems: false,
    async open(pipelineFlow?: PipelineFlow) {
      openedAt = clock();
      flow = pipelineFlow;
      if (owned && redis.status === 'wait') await redis.connect().catch(noop);
      if (sweepIntervalMs > 0) {
        timer = setInterval(() => {
          sweeping ??= sweepOnce()
            .then((r) => {
              if (r.status === 'failed')
                log?.warn({ code: r.failure.code, error: r.failure.reason }, 'alert sweep failed');
              return r;
            })
            .finally(() => {
              sweeping = undefined;
            });
        }, sweepIntervalMs);
        timer.unref();
      }
    },
    async write({ encoded }: Batch<Reading>): Promise<WriteResult> {
      if (redis.status !== 'ready')
        return { status: 'retry', failure: unavailable(`redis connection is ${redis.status}`) };
      const rejected: Array<{ index: number; failure: Failure }> = [];
      for (let index = 0; index < encoded.length; index++) {
        const failure = encoded[index] === '' ? undefined : ruleFailureOf(encoded[index]!);
        if (failure) rejected.push({ index, failure });
      }
      // Everything folded so far, which includes this batch. One write at a time: a batch whose
      // readings an earlier write took is delivered only once that write succeeded.
      const written = writing.then(() => flushFold());
      writing = written.catch(noop);
      const failure = await written;
      if (failure) return { status: 'retry', failure };
      return rejected.length > 0 ? { status: 'partial', rejected } : { status: 'delivered' };
    },
    sweep: () => sweeping ?? sweepOnce(),
    async close() {
      clearInterval(timer);
      await sweeping;
      if (typeof options.queue === 'string' && queue) await (await queue.catch(() => undefined))?.close().catch(noop);
      if (owned) redis.disconnect();
    },
  };
}

/** BullMQ refused the jobs; the transitions wait in the outbox and in memory. */
class EnqueueError extends Error {}

function unavailable(reason: string): Failure {
  return { code: 'redis_unavailable', reason };
}

function failureOf(error: unknown): Failure {
  if (error instanceof EnqueueError) return { code: 'alert_enqueue_failed', reason: error.message };
  return unavailable(error instanceof Error ? error.message : String(error));
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export { defaultAlertJobOptions, toAlertEvent, toAlertJob, type AlertJob, type AlertJobOptions } from './jobs.js';
export { alertKeys, redisAlertStore, type AlertKeys } from './store.js';
export type { AlertState, AlertStore, AlertTransition, SeriesState } from './state-machine.js';
export { seriesKey, parseSeries, validateAlertRules } from './evaluate.js';

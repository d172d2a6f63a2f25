import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AlertRule, BatchPolicy, Failure, Logger, Reading, Sink } from '../../pipeline/core/types.js';
import type { AlertJobOptions } from './jobs.js';
import type { AlertStore } from './state-machine.js';
import type { AlertKeys } from './store.js';

/** Options of {@link alertQueue}. */
export interface AlertQueueOptions {
  /** Redis URL. Ignored when `redis` is given. @defaultValue 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /** A connection to use (it should have `enableOfflineQueue: false` so commands fail fast). */
  readonly redis?: Redis;
  /** BullMQ queue name, or a Queue to add to (it must use the same Redis). */
  readonly queue: string | Queue;
  readonly rules: readonly AlertRule[];
  /** Prefix of the state, outbox and deadman keys. @defaultValue `tributary:alerts:{<queue name>}` */
  readonly keyPrefix?: string;
  /** BullMQ key prefix, when `queue` is a name. @defaultValue 'bull' */
  readonly prefix?: string;
  /** Recorded in every alert. @defaultValue `<hostname>-<pid>` */
  readonly workerId?: string;
  /** Options of the jobs, for their consumers. @defaultValue {@link defaultAlertJobOptions} */
  readonly jobs?: AlertJobOptions;
  /** How often a worker tries to sweep (deadmen, abandoned outbox entries); 0 = only by calling `sweep()`. @defaultValue 5000 */
  readonly sweepIntervalMs?: number;
  /** Outbox entries this old are presumed abandoned by a dead worker and enqueued by a sweep. @defaultValue 10000 */
  readonly outboxGraceMs?: number;
  /**
   * How long the pipeline must have flowed freely before this worker's sweeps fire a deadman, so
   * that the readings a backlog brings (after an outage, a reconnect, a backpressure pause) arrive
   * first and a stalled pipeline is not taken for a thousand silent devices.
   *
   * Given a `flow` at `open(flow)` (the runtime always passes one), "flowed freely" is
   * `flow.flowingForMs()`: time since the source (re)connected or intake resumed, 0 while
   * disconnected or paused. Each `absent` rule is then gated on its own: by this value when set,
   * else by the rule's own `afterMs`. Without a `flow`, it is the time since `open()`, and one grace
   * (this value, else the largest `absent` afterMs) gates every rule.
   *
   * A held rule's overdue series are looked at again when the hold would end; they fire then if
   * still silent. Sweeps go on claiming abandoned outbox entries meanwhile, and readings still
   * resolve firing deadmen. Each worker judges its own flow; whichever takes the sweep lock decides.
   * @defaultValue each `absent` rule's own afterMs (without `flow`: the largest, for all rules)
   */
  readonly deadmanStartupGraceMs?: number;
  /**
   * How readings are grouped for acknowledgement. A write takes every observation folded since the
   * last one (which includes its batch), and writes run one at a time whatever `maxConcurrency`
   * says, so that Redis sees each series' observations in order.
   * @defaultValue `{ maxItems: 5000, maxBytes: 4 MiB, maxWaitMs: 250, maxConcurrency: 1 }`
   */
  readonly batch?: Partial<BatchPolicy>;
  /** Clock of the deadman and the outbox, in ms. @defaultValue Date.now */
  readonly clock?: () => number;
  readonly log?: Logger;
}

/** What a sweep did. */
export type SweepResult =
  | { readonly status: 'swept'; readonly transitions: number; readonly claimed: number }
  | { readonly status: 'skipped' }
  | { readonly status: 'failed'; readonly failure: Failure };

/** The alert sink: a {@link Sink} of readings plus its deadman sweep. */
export interface AlertQueueSink extends Sink<Reading> {
  /** Sweeps once now, if no worker swept in this interval: fires deadmen (unless held, see `deadmanStartupGraceMs`), enqueues abandoned transitions. */
  sweep(): Promise<SweepResult>;
  /** The Redis keys the sink uses. */
  readonly keys: AlertKeys;
  /** The state store (tests and tooling read states through it). */
  readonly store: AlertStore;
}

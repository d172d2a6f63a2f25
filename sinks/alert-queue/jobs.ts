import type { JobsOptions, KeepJobs } from 'bullmq';
import type { AlertEvent } from '../../pipeline/core/types.js';
import { parseSeries } from './evaluate.js';
import { msOf, type AlertTransition } from './state-machine.js';

/** Options of the alert jobs, for their consumers. */
export interface AlertJobOptions {
  /** Tries per job before it fails for good. @defaultValue 5 */
  readonly attempts?: number;
  /** Delay between tries. @defaultValue `{ type: 'exponential', delay: 1000 }` */
  readonly backoff?: JobsOptions['backoff'];
  /**
   * Completed jobs kept. A job id is only deduplicated while the job exists, so keep them longer
   * than a redelivery can take. @defaultValue `{ age: 86400, count: 10000 }` (a day, at most 10,000)
   */
  readonly removeOnComplete?: KeepJobs | boolean | number;
  /** Failed jobs kept. @defaultValue `{ age: 604800 }` (a week) */
  readonly removeOnFail?: KeepJobs | boolean | number;
}

/** The defaults of {@link AlertJobOptions}. */
export const defaultAlertJobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 86_400, count: 10_000 },
  removeOnFail: { age: 604_800 },
} as const satisfies Required<AlertJobOptions>;

/** A job as BullMQ's `addBulk` takes it. */
export interface AlertJob {
  readonly name: string;
  readonly data: AlertEvent;
  readonly opts: JobsOptions & { jobId: string };
}

/** The ISO time of a 20-digit ns time key (ms precision). */
export function isoOf(t: string): string {
  return new Date(Math.floor(msOf(t))).toISOString();
}

/**
 * The job data of a transition.
 * @example
 * toAlertEvent(transition).state // 'firing'
 */
export function toAlertEvent(tr: AlertTransition): AlertEvent {
  const { measurement, tags } = parseSeries(tr.series);
  return {
    ruleId: tr.ruleId,
    severity: tr.severity as AlertEvent['severity'],
    labels: tr.labels,
    measurement,
    field: tr.field ?? null,
    tags,
    state: tr.state,
    repeat: tr.repeat,
    value: tr.value ?? null,
    startsAt: isoOf(tr.startsAt ?? tr.t),
    endsAt: tr.endsAt === undefined ? null : isoOf(tr.endsAt),
    eventTime: isoOf(tr.t),
    eventTimeNs: BigInt(tr.t).toString(),
    workerId: tr.workerId,
  };
}

/**
 * The job of a transition: named `<rule>.<state>`, with the transition's deterministic id.
 * @example
 * await queue.addBulk(transitions.map((tr) => toAlertJob(tr, defaultAlertJobOptions)));
 */
export function toAlertJob(tr: AlertTransition, options: AlertJobOptions): AlertJob {
  return {
    name: `${tr.ruleId}.${tr.repeat ? 'repeat' : tr.state}`,
    data: toAlertEvent(tr),
    opts: { ...defaultAlertJobOptions, ...defined(options), jobId: tr.id } as JobsOptions & { jobId: string },
  };
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

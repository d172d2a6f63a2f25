// Helpers of the alert tests: readings, a BullMQ queue to inspect, cleanup of test keys.
import { type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AlertEvent, Reading } from '../../pipeline/core/types.js';

/** Event-time origin of the sink tests (ms). */
export const T0 = 1_700_000_000_000;

/** A telemetry reading of `device` at `T0 + offsetMs`. */
export function reading(device: string, offsetMs: number, fields: Reading['fields'], site = 'site-1'): Reading {
  return { measurement: 'telemetry', tags: { site, device }, fields, timeNs: BigInt(T0 + offsetMs) * 1_000_000n };
}

/** A queue name unique to this run (BullMQ forbids ':'). */
export function queueName(label: string): string {
  return `alerts_${label}_${process.pid}_${Math.floor(Math.random() * 1e9).toString(36)}`;
}

/** The jobs of a queue, as `[name, state, repeat, device, eventOffsetMs]`, oldest event first. */
export async function jobsOf(
  queue: Queue,
): Promise<Array<{ id: string; data: AlertEvent; summary: [string, string, boolean, string, number] }>> {
  const jobs = await queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
  return jobs
    .map((j) => ({
      id: j.id ?? '',
      data: j.data as AlertEvent,
      summary: [
        j.name,
        (j.data as AlertEvent).state,
        (j.data as AlertEvent).repeat,
        (j.data as AlertEvent).tags.device ?? '',
        Number(BigInt((j.data as AlertEvent).eventTimeNs) / 1_000_000n) - T0,
      ] as [string, string, boolean, string, number],
    }))
    .sort((a, b) => a.summary[4] - b.summary[4] || a.summary[0].localeCompare(b.summary[0]));
}

/** Removes a queue's jobs and every key containing `marker`. */
export async function cleanup(redis: Redis, queues: readonly Queue[], marker: string): Promise<void> {
  for (const q of queues) {
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
  const keys = await redis.keys(`*${marker}*`);
  if (keys.length) await redis.del(...keys);
}

/** A clock the test moves by hand. */
export function fakeClock(start = T0) {
  let now = start;
  return {
    now: () => now,
    set: (ms: number) => {
      now = start + ms;
    },
  };
}

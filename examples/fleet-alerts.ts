// The fleet demo's alert rules, its alert sink, and a summary of the alerts a run produced.
// The simulator's `hotDevices` run 15 °C hotter: those devices trip "overheating".
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AlertEvent, AlertRule } from '../pipeline/index.js';
import { alertQueue, type AlertQueueSink } from '../sinks/index.js';
import { absent, above, below } from '../transforms/index.js';

/** The fleet's rules: overheating (with hysteresis and a 2 s hold), low battery, and a 30 s deadman. */
export const fleetAlertRules: readonly AlertRule[] = [
  {
    id: 'overheating',
    severity: 'critical',
    labels: { team: 'facilities' },
    measurement: 'telemetry',
    when: above('temperature', { fire: 30, clear: 28 }),
    forMs: 2000,
    repeatIntervalMs: 15 * 60_000,
  },
  {
    id: 'low-battery',
    severity: 'warning',
    labels: { team: 'field-service' },
    measurement: 'telemetry',
    when: below('battery', { fire: 20, clear: 25 }),
  },
  {
    id: 'deadman',
    severity: 'warning',
    labels: { team: 'network' },
    measurement: 'telemetry',
    when: absent({ afterMs: 30_000 }),
  },
];

/**
 * The fleet's alert sink (add it to the pipeline's `.to(...)` beside InfluxDB).
 * @example
 * .to(influxdb({ ...env.influx, log }), fleetAlerts({ url: env.redis.url }))
 */
export function fleetAlerts(options: { readonly url: string; readonly queue?: string }): AlertQueueSink {
  return alertQueue({ url: options.url, queue: options.queue ?? 'alerts', rules: fleetAlertRules });
}

/** Counts of alert notifications, in all and per rule. */
export interface AlertCounts {
  readonly total: number;
  readonly byRule: Readonly<Record<string, number>>;
}

/** What {@link summarizeAlerts} found in the queue. */
export interface AlertSummary {
  /** Alerts that started firing (repeats not counted). */
  readonly fired: AlertCounts;
  readonly resolved: AlertCounts;
  readonly repeats: number;
  /** `<rule> <tag=value,...>` of each alert still firing, sorted. */
  readonly stillFiring: readonly string[];
}

/**
 * Reads the jobs of `queue` (waiting, active, completed, failed, delayed) and counts the alerts,
 * only those of events at or after `sinceMs` when given (e.g. the demo's start).
 * @example
 * const { fired, resolved } = await summarizeAlerts(redis, 'alerts', { sinceMs: startedAt });
 */
export async function summarizeAlerts(
  redis: Redis,
  queue: string,
  options: { readonly sinceMs?: number } = {},
): Promise<AlertSummary> {
  const since = BigInt(Math.floor(options.sinceMs ?? 0)) * 1_000_000n;
  const q = new Queue(queue, { connection: redis });
  try {
    const jobs = await q.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
    const events = jobs
      .map((j) => j.data as AlertEvent)
      .filter((e) => typeof e?.ruleId === 'string' && BigInt(e.eventTimeNs) >= since);
    events.sort((a, b) =>
      BigInt(a.eventTimeNs) < BigInt(b.eventTimeNs) ? -1 : BigInt(a.eventTimeNs) > BigInt(b.eventTimeNs) ? 1 : 0,
    );
    const count = (pick: (e: AlertEvent) => boolean): AlertCounts => {
      const byRule: Record<string, number> = {};
      let total = 0;
      for (const e of events)
        if (pick(e)) {
          byRule[e.ruleId] = (byRule[e.ruleId] ?? 0) + 1;
          total++;
        }
      return { total, byRule };
    };
    const firing = new Map<string, boolean>();
    for (const e of events) {
      if (e.repeat) continue;
      const name = `${e.ruleId} ${Object.entries(e.tags)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}`;
      firing.set(name, e.state === 'firing');
    }
    return {
      fired: count((e) => e.state === 'firing' && !e.repeat),
      resolved: count((e) => e.state === 'resolved'),
      repeats: events.filter((e) => e.repeat).length,
      stillFiring: [...firing]
        .filter(([, on]) => on)
        .map(([name]) => name)
        .sort(),
    };
  } finally {
    await q.close();
  }
}

import type { RuntimeStats } from '../../engine/runtime/stats.js';
import type { Logger, Reading } from '../../core/types.js';
import { toLineProtocol } from '../../core/line-protocol.js';
import { getterOf, type StatsInput, type WindowInput } from './registry.js';

/** The measurement the internal metrics are written to. */
export const INTERNAL_MEASUREMENT = 'tributary_internal';

/** Tags on every internal point; `worker` and `pipeline` tell the series apart in dashboards. */
export interface InternalTags {
  readonly worker: string;
  readonly pipeline: string;
  readonly [tag: string]: string;
}

/** Options of {@link startInternalMetrics}. */
export interface InternalMetricsOptions {
  readonly stats: StatsInput;
  /** Writes line-protocol lines (one per point), e.g. {@link influxLineWriter}. */
  readonly write: (lines: string[]) => Promise<void>;
  /** How often to write. @defaultValue 10000 */
  readonly everyMs?: number;
  readonly tags: InternalTags;
  /** The source's in-flight window, for the `window` and `backpressure` fields. */
  readonly window?: WindowInput;
  /** @defaultValue 'tributary_internal' */
  readonly measurement?: string;
  /** @defaultValue Date.now */
  readonly clock?: () => number;
  /** Failed writes are logged here and otherwise ignored: these are diagnostics, never data. */
  readonly log?: Logger;
}

/** A running internal-metrics writer. */
export interface InternalMetrics {
  /** Writes one snapshot now (also what the timer does). */
  tick(): Promise<void>;
  /** Stops the timer and writes a final snapshot (once; later calls wait for the same). */
  stop(): Promise<void>;
}

/** Previous write totals per sink, for the per-interval mean latency. */
export type LatencyMemory = Map<string, { sum: number; count: number }>;

/**
 * One snapshot of `stats` as readings of `tributary_internal`; counters are cumulative since the
 * worker started (dashboards use `non_negative_derivative`, which also absorbs restarts):
 * - per worker (tags only): `received`, `decoded`, `settled`, `dropped_qos0`, `dead_lettered`,
 *   `unsettled`, and with a window `window`, `backpressure` (1 when unsettled ≥ window);
 * - per sink (tag `sink`): `sink_delivered`, `sink_batches`, `sink_retries`, `write_ms_sum`,
 *   `write_ms_count`, `write_ms_max`, and `write_ms_avg` (mean over the writes since the previous
 *   snapshot, when there were any);
 * - per dead-letter code (tag `code`): `dead_letters`.
 * Field names differ between the three kinds so a query on one never mixes in another.
 */
export function internalReadings(
  stats: RuntimeStats,
  tags: InternalTags,
  timeMs: number,
  opts: { window?: number; measurement?: string; previous?: LatencyMemory } = {},
): Reading[] {
  const measurement = opts.measurement ?? INTERNAL_MEASUREMENT;
  const timeNs = BigInt(Math.round(timeMs)) * 1_000_000n;
  const int = (n: number) => BigInt(Math.round(n));
  const worker: Reading['fields'] = {
    received: int(stats.received),
    decoded: int(stats.decoded),
    settled: int(stats.settled),
    dropped_qos0: int(stats.droppedQos0),
    dead_lettered: int(stats.deadLettered),
    unsettled: int(stats.unsettled),
  };
  if (opts.window !== undefined) {
    worker.window = int(opts.window);
    worker.backpressure = int(stats.unsettled >= opts.window ? 1 : 0);
  }
  const readings: Reading[] = [{ measurement, tags: { ...tags }, fields: worker, timeNs }];
  const sinks = new Set([
    ...stats.delivered.keys(),
    ...stats.batches.keys(),
    ...stats.retries.keys(),
    ...stats.writeMs.keys(),
  ]);
  for (const sink of [...sinks].sort()) {
    const w = stats.writeMs.get(sink) ?? { sum: 0, count: 0, max: 0 };
    const fields: Reading['fields'] = {
      sink_delivered: int(stats.delivered.get(sink) ?? 0),
      sink_batches: int(stats.batches.get(sink) ?? 0),
      sink_retries: int(stats.retries.get(sink) ?? 0),
      write_ms_sum: w.sum,
      write_ms_count: int(w.count),
      write_ms_max: w.max,
    };
    const before = opts.previous?.get(sink) ?? { sum: 0, count: 0 };
    if (w.count > before.count) fields.write_ms_avg = (w.sum - before.sum) / (w.count - before.count);
    opts.previous?.set(sink, { sum: w.sum, count: w.count });
    readings.push({ measurement, tags: { ...tags, sink }, fields, timeNs });
  }
  for (const [code, n] of [...stats.deadLetters].sort(([a], [b]) => a.localeCompare(b))) {
    readings.push({ measurement, tags: { ...tags, code }, fields: { dead_letters: int(n) }, timeNs });
  }
  return readings;
}

/**
 * Periodically writes the runtime's counters as `tributary_internal` points, so Grafana can show
 * pipeline health from InfluxDB alone (deploy/grafana/dashboards/pipeline-health.json), without
 * Prometheus. The timer does not keep the process alive; a write still running when the next tick
 * is due makes that tick skip.
 */
export function startInternalMetrics(options: InternalMetricsOptions): InternalMetrics {
  const stats = getterOf(options.stats);
  const window = options.window === undefined ? () => undefined : getterOf(options.window);
  const clock = options.clock ?? Date.now;
  const previous: LatencyMemory = new Map();
  let running: Promise<void> | undefined;

  const tick = async (): Promise<void> => {
    const s = stats();
    if (!s) return;
    const lines = internalReadings(s, options.tags, clock(), {
      window: window(),
      measurement: options.measurement,
      previous,
    }).map(toLineProtocol);
    try {
      await options.write(lines);
    } catch (error) {
      options.log?.warn(
        { error: error instanceof Error ? error.message : String(error) },
        'could not write internal metrics',
      );
    }
  };
  const guarded = (): Promise<void> => {
    if (!running)
      running = tick().finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void guarded(), options.everyMs ?? 10_000);
  timer.unref();
  let stopped: Promise<void> | undefined;
  return {
    tick: guarded,
    stop() {
      clearInterval(timer);
      return (stopped ??= (async () => {
        await running;
        await tick();
      })());
    },
  };
}

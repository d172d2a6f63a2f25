import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { RuntimeStats } from '../../engine/runtime/stats.js';

/** Where the exporter reads the runtime's counters: the stats, or a getter (undefined until the runtime exists). */
export type StatsInput = RuntimeStats | (() => RuntimeStats | undefined);

/** Where the exporter reads the source's in-flight window: a number, or a getter. */
export type WindowInput = number | (() => number | undefined);

/** Options of {@link createRuntimeRegistry}. */
export interface RuntimeRegistryOptions {
  /** The runtime's counters, read on every scrape. */
  readonly stats: StatsInput;
  /** The source's in-flight window (unacknowledged messages the broker lets a worker hold); drives the backpressure gauge. */
  readonly window?: WindowInput;
  /** Labels on every series, e.g. `{ worker: 'ingest-0', pipeline: 'fleet' }`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Also export prom-client's process metrics (CPU, memory, event-loop lag, GC). @defaultValue true */
  readonly processMetrics?: boolean;
}

/** The names this exporter writes, for dashboards, alerts and tests. */
export const METRIC_NAMES = {
  received: 'tributary_messages_received_total',
  decoded: 'tributary_messages_decoded_total',
  settled: 'tributary_messages_settled_total',
  droppedQos0: 'tributary_messages_dropped_qos0_total',
  unsettled: 'tributary_messages_unsettled',
  window: 'tributary_inflight_window',
  backpressure: 'tributary_backpressure',
  deadLetters: 'tributary_dead_letters_total',
  written: 'tributary_sink_items_written_total',
  batches: 'tributary_sink_batches_total',
  retries: 'tributary_sink_retries_total',
  writeDuration: 'tributary_sink_write_duration_seconds',
  writeDurationMax: 'tributary_sink_write_duration_max_seconds',
} as const;

/** @internal Turns a value-or-getter into a getter. */
export function getterOf<T>(input: T | (() => T | undefined)): () => T | undefined {
  return typeof input === 'function' ? (input as () => T | undefined) : () => input;
}

/**
 * A Prometheus registry of its own whose series are read from {@link RuntimeStats} at scrape
 * time (`collect()` callbacks), so the hot path pays nothing for metrics.
 */
export function createRuntimeRegistry(options: RuntimeRegistryOptions): Registry {
  const registry = new Registry();
  if (options.labels && Object.keys(options.labels).length > 0) registry.setDefaultLabels({ ...options.labels });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const stats = getterOf(options.stats);
  const window = options.window === undefined ? () => undefined : getterOf(options.window);
  const registers = [registry];

  const scalarCounter = (name: string, help: string, read: (s: RuntimeStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        const s = stats();
        if (s) this.inc(read(s));
      },
    });
  const mapCounter = (
    name: string,
    help: string,
    label: string,
    read: (s: RuntimeStats) => ReadonlyMap<string, number>,
  ) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        const s = stats();
        if (s) for (const [key, n] of read(s)) this.inc({ [label]: key }, n);
      },
    });

  scalarCounter(METRIC_NAMES.received, 'Messages handed over by the MQTT source.', (s) => s.received);
  scalarCounter(METRIC_NAMES.decoded, 'Messages whose payload decoded.', (s) => s.decoded);
  scalarCounter(METRIC_NAMES.settled, 'Messages acknowledged to the broker (QoS 0: finished).', (s) => s.settled);
  scalarCounter(
    METRIC_NAMES.droppedQos0,
    'QoS 0 messages dropped because the unsettled bound was reached.',
    (s) => s.droppedQos0,
  );
  mapCounter(METRIC_NAMES.deadLetters, 'Dead letters written, by failure code.', 'code', (s) => s.deadLetters);
  mapCounter(METRIC_NAMES.written, 'Items (points) written, by sink.', 'sink', (s) => s.delivered);
  mapCounter(METRIC_NAMES.batches, 'Batches written, by sink.', 'sink', (s) => s.batches);
  mapCounter(METRIC_NAMES.retries, 'Write attempts that were retried, by sink.', 'sink', (s) => s.retries);

  new Gauge({
    name: METRIC_NAMES.unsettled,
    help: 'Messages received and not yet acknowledged (held by this worker).',
    registers,
    collect() {
      this.set(stats()?.unsettled ?? 0);
    },
  });
  new Gauge({
    name: METRIC_NAMES.window,
    help: 'In-flight window: unacknowledged messages the broker lets this worker hold.',
    registers,
    collect() {
      const w = window();
      if (w === undefined) this.reset();
      else this.set(w);
    },
  });
  new Gauge({
    name: METRIC_NAMES.backpressure,
    help: '1 while the in-flight window is full (unacknowledged >= window): intake waits for writes to finish.',
    registers,
    collect() {
      const w = window();
      this.set(w !== undefined && (stats()?.unsettled ?? 0) >= w ? 1 : 0);
    },
  });
  new Gauge({
    name: METRIC_NAMES.writeDurationMax,
    help: 'Slowest successful write since start, by sink.',
    labelNames: ['sink'],
    registers,
    collect() {
      this.reset();
      const s = stats();
      if (s) for (const [sink, w] of s.writeMs) this.set({ sink }, w.max / 1000);
    },
  });
  registry.registerMetric(writeDurationSummary(stats) as unknown as Metric);
  return registry;
}

/**
 * `tributary_sink_write_duration_seconds` as a Prometheus summary without quantiles (`_sum` and
 * `_count` by sink): RuntimeStats keeps the sum and count, not each observation, so this family is
 * emitted directly instead of through prom-client's Summary. Mean latency in PromQL:
 * `rate(..._sum[5m]) / rate(..._count[5m])`.
 */
function writeDurationSummary(stats: () => RuntimeStats | undefined) {
  const name = METRIC_NAMES.writeDuration;
  const help = 'Successful write latency by sink (sum and count; no quantiles).';
  return {
    name,
    help,
    type: 'summary',
    aggregator: 'sum',
    get() {
      const values: Array<{ metricName: string; labels: { sink: string }; value: number }> = [];
      for (const [sink, w] of stats()?.writeMs ?? []) {
        values.push({ metricName: `${name}_sum`, labels: { sink }, value: w.sum / 1000 });
        values.push({ metricName: `${name}_count`, labels: { sink }, value: w.count });
      }
      return Promise.resolve({ name, help, type: 'summary', aggregator: 'sum', values });
    },
    reset() {},
  };
}

// The capturing side of tributary/testing: sinks that keep what they are given, and what came out.
import type { AlertEvent, DeadLetter, DecodedValue, Decoder, Reading, Sink, Source } from '../core/types.js';
import { topicMatcher } from '../engine/ingest/topic-filter.js';
import { isReading } from '../core/stage.js';

/** One item a sink would have written, as that sink encodes it. */
export interface CapturedWrite {
  readonly sink: string;
  readonly item: unknown;
  readonly encoded: string;
}

/** What the pipeline produced. */
export interface Outputs {
  /** Readings written to any sink (each once, however many sinks took it). */
  readonly readings: readonly Reading[];
  /** The line protocol the `influxdb` sink (see `lineSink`) would send, one line per reading. */
  readonly lines: readonly string[];
  /** Alerts produced by sinks that provide an in-memory stand-in (see `TestableSink` in tributary/testing). */
  readonly alerts: readonly AlertEvent[];
  /** Dead letters, with `code`, `reason` and `stage`. */
  readonly deadLetters: readonly DeadLetter[];
  /** Items written that are not readings, and what stand-ins produced that is not an alert. */
  readonly other: readonly unknown[];
  /** Every write, per sink. */
  readonly writes: readonly CapturedWrite[];
}

/** The source's decoder for a topic: its first matching subscription, like the MQTT source. */
export function decoderFor(
  source: Source<unknown>,
  fallback: Decoder<DecodedValue> | undefined,
): (topic: string) => Decoder<DecodedValue> {
  const subs = (source as { subscriptions?: ReadonlyArray<{ topic: string; decode: Decoder<DecodedValue> }> })
    .subscriptions;
  if (!subs) {
    if (!fallback)
      throw new Error(
        `testPipeline: source "${source.name}" exposes no subscriptions; pass { decode } to choose a decoder`,
      );
    return () => fallback;
  }
  const routes = subs.map((s) => ({ match: topicMatcher(s.topic), decoder: s.decode, filter: s.topic }));
  return (topic) => {
    const r = routes.find((x) => x.match(topic));
    if (r) return r.decoder;
    if (fallback) return fallback;
    throw new Error(
      `testPipeline: topic ${topic} matches no subscription of the source (${routes.map((x) => x.filter).join(', ')}), so a worker would never receive it`,
    );
  };
}

/** A sink with the routing and encoding of `sink` that keeps what it is given, written at once. */
export function capture<T>(sink: Sink<T>, keep: (w: CapturedWrite) => void, write?: Sink<T>['write']): Sink<T> {
  return {
    name: sink.name,
    batch: { maxItems: 1, maxBytes: Number.MAX_SAFE_INTEGER, maxWaitMs: 0, maxConcurrency: Number.MAX_SAFE_INTEGER },
    accepts: (item): item is T => sink.accepts(item),
    encode: (item) => sink.encode(item),
    open: async () => {},
    close: async () => {},
    async write(batch) {
      const result = write ? await write(batch) : ({ status: 'delivered' } as const);
      const bad = new Set(result.status === 'partial' ? result.rejected.map((r) => r.index) : []);
      if (result.status === 'delivered' || result.status === 'partial') {
        batch.items.forEach((item, i) => {
          if (!bad.has(i)) keep({ sink: sink.name, item, encoded: batch.encoded[i]! });
        });
      }
      return result;
    },
  };
}

export function outputs(
  writes: readonly CapturedWrite[],
  deadLetters: readonly DeadLetter[],
  produced: readonly unknown[],
  lineSink: string,
): Outputs {
  const readings = new Set<Reading>();
  const other = new Set<unknown>();
  const lines: string[] = [];
  for (const w of writes) {
    if (isReading(w.item)) readings.add(w.item);
    else other.add(w.item);
    if (w.sink === lineSink) lines.push(w.encoded);
  }
  const alerts: AlertEvent[] = [];
  for (const p of produced) {
    if (typeof (p as AlertEvent | null)?.ruleId === 'string' && typeof (p as AlertEvent).state === 'string')
      alerts.push(p as AlertEvent);
    else other.add(p);
  }
  return {
    readings: [...readings],
    lines,
    alerts,
    deadLetters: [...deadLetters],
    other: [...other],
    writes: [...writes],
  };
}

/** Counters the runtime keeps; the CLI prints them and the metrics endpoint exports them. */
export class RuntimeStats {
  /** Messages handed over by the source. */
  received = 0;
  /** Messages whose payload decoded. */
  decoded = 0;
  /** Messages acknowledged (or, for QoS 0, finished). */
  settled = 0;
  /** QoS 0 messages dropped because the unsettled bound was reached. */
  droppedQos0 = 0;
  /** Times intake was paused because unsettled messages reached the bound. */
  pauses = 0;
  /** Empty retained messages (deletions on the broker), settled without a reading. */
  retainedDeletions = 0;
  /** Messages currently held: received, not yet settled. */
  unsettled = 0;
  /** Dead letters written, by code. */
  readonly deadLetters = new Map<string, number>();
  /** Items delivered, by sink. */
  readonly delivered = new Map<string, number>();
  /** Write attempts that were retried, by sink. */
  readonly retries = new Map<string, number>();
  /** Batches written, by sink. */
  readonly batches = new Map<string, number>();
  /** Sum and count of successful write latencies in ms, by sink. */
  readonly writeMs = new Map<string, { sum: number; count: number; max: number }>();

  /** Adds `n` to the counter `key` of `map`. */
  static bump(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  /** Total dead letters over all codes. */
  get deadLettered(): number {
    let sum = 0;
    for (const n of this.deadLetters.values()) sum += n;
    return sum;
  }

  /** Records one successful write's latency. */
  /** The counters a worker logs when it stops. */
  summary(): Record<string, unknown> {
    const { received, settled, unsettled, batches, delivered, pauses, writeMs } = this;
    const meanWriteMs = Object.fromEntries(
      [...writeMs].map(([sink, w]) => [sink, Math.round(w.sum / Math.max(1, w.count))]),
    );
    return {
      received,
      settled,
      unsettled,
      pauses,
      batches: Object.fromEntries(batches),
      delivered: Object.fromEntries(delivered),
      meanWriteMs,
    };
  }

  recordWrite(sink: string, ms: number, items: number): void {
    const w = this.writeMs.get(sink) ?? { sum: 0, count: 0, max: 0 };
    w.sum += ms;
    w.count++;
    w.max = Math.max(w.max, ms);
    this.writeMs.set(sink, w);
    RuntimeStats.bump(this.batches, sink);
    RuntimeStats.bump(this.delivered, sink, items);
  }
}

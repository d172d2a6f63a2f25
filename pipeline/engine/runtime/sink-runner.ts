import type { Failure, Logger, Sink, WriteResult } from '../../core/types.js';
import { deliverBatch, type Delivery } from '../../core/deliver.js';
import type { Origin } from './origin.js';
import type { RetryPolicy } from '../../core/retry.js';
import { RuntimeStats } from './stats.js';

/** One item on its way to a sink, with the origin it settles. */
export interface Entry<T> {
  /** `undefined` when the sink does not read items (`needsItems: false`). */
  readonly item: T | undefined;
  readonly encoded: string;
  readonly origin: Origin;
}

/**
 * Entries as parallel arrays, no object per entry: they wait while batches are written, and the
 * garbage collector copies whatever waits. `items` is empty when the sink does not read items.
 */
export interface Entries<T> {
  readonly items: T[];
  readonly encoded: string[];
  readonly origins: Origin[];
}

/** What the runner reports back to the runtime. */
export interface SinkRunnerHooks<T> {
  /** These entries are durable in the sink. */
  delivered(entries: Entries<T>): void;
  /** The sink refused this entry for good. */
  rejected(entry: Entry<T>, failure: Failure): void;
}

const noEntries = <T>(): Entries<T> => ({ items: [], encoded: [], origins: [] });

/**
 * Batches the items of one sink by count, bytes and time, writes up to `maxConcurrency` batches
 * at once, retries with backoff, and splits rejected batches to isolate the bad items.
 * Writes go through `deliverBatch` (deliver.ts), the one retry and bisection loop, which the spool's replay uses too.
 */
export class SinkRunner<T> {
  private open: Entries<T> = noEntries();
  private openBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The open batch waited `maxWaitMs` and is sealed when a write slot frees. */
  private due = false;
  private readonly sealed: Entries<T>[] = [];
  private inFlight = 0;
  private inFlightEntries = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly abort = new AbortController();
  /** Whether entries must carry their item (the sink reads `batch.items`). */
  readonly keepsItems: boolean;

  constructor(
    readonly sink: Sink<T>,
    private readonly hooks: SinkRunnerHooks<T>,
    private readonly retry: RetryPolicy,
    private readonly stats: RuntimeStats,
    private readonly log: Logger,
    private readonly maxItems = sink.batch.maxItems,
    /** When a write slot frees up: should the open batch be sealed now (the source is at its window)? */
    private readonly atWindow: () => boolean = () => false,
  ) {
    this.keepsItems = sink.needsItems !== false;
  }

  /** Entries buffered or being written. */
  get pending(): number {
    let n = this.open.origins.length;
    for (const b of this.sealed) n += b.origins.length;
    return n + this.inFlightEntries;
  }

  /** Queues one entry (`item` is dropped unless the sink reads items); seals the batch when it is full. */
  add(item: T | undefined, encoded: string, origin: Origin): void {
    const open = this.open;
    if (this.keepsItems) open.items.push(item as T);
    open.encoded.push(encoded);
    open.origins.push(origin);
    this.openBytes += encoded.length + 1;
    if (open.origins.length >= this.maxItems || this.openBytes >= this.sink.batch.maxBytes) this.flush();
    else if (this.timer === undefined && !this.due) this.timer = setTimeout(this.waited, this.sink.batch.maxWaitMs);
  }

  /**
   * `maxWaitMs` passed. With every write slot busy, sealing now would not write any sooner: the
   * batch stays open and is sealed the moment a slot frees, so batches grow with the sink's
   * latency instead of being cut by the clock (fewer, larger writes under load; same latency).
   */
  private readonly waited = (): void => {
    this.timer = undefined;
    if (this.inFlight >= this.sink.batch.maxConcurrency || this.sealed.length > 0) this.due = true;
    else this.flush();
  };

  /** Seals the open batch now and starts writing it when a slot is free. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = false;
    if (this.open.origins.length === 0) return;
    this.sealed.push(this.open);
    this.open = noEntries();
    this.openBytes = 0;
    this.pump();
  }

  /**
   * Seals the open batch if a write slot is free and nothing sealed is waiting: when the source
   * is at its window, no more messages arrive until something is written. Sealing on every
   * arrival instead would cut batches of one while writes are in flight.
   */
  nudge(): void {
    if (this.inFlight < this.sink.batch.maxConcurrency && this.sealed.length === 0) this.flush();
  }

  /** Resolves once nothing is buffered or in flight. */
  async idle(): Promise<void> {
    this.flush();
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Abandons retries (shutdown past its deadline): what was not written stays unacknowledged. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.abort.abort();
  }

  private pump(): void {
    while (this.inFlight < this.sink.batch.maxConcurrency && this.sealed.length > 0) {
      const batch = this.sealed.shift()!;
      const size = batch.origins.length;
      this.inFlight++;
      this.inFlightEntries += size;
      void this.deliver(batch).finally(() => {
        this.inFlight--;
        this.inFlightEntries -= size;
        // A batch already half full goes now, even before maxWaitMs: under load the sink's latency,
        // not the clock, sets the batch size. A smaller one may wait out maxWaitMs to grow.
        if (this.due || this.atWindow() || this.open.origins.length >= this.maxItems >> 1) this.nudge();
        this.pump();
        if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private deliver(entries: Entries<T>): Promise<boolean> {
    return deliverBatch(entries, this.delivery, this.retry, this.abort.signal);
  }

  private readonly delivery: Delivery<Entries<T>> = {
    size: (e) => e.origins.length,
    slice,
    write: (e) => this.write(e),
    delivered: (e, writeMs) => {
      this.stats.recordWrite(this.sink.name, writeMs, e.origins.length);
      this.hooks.delivered(e);
    },
    partial: (e, rejected) => this.settlePartial(e, rejected),
    rejected: (e, index, failure) => this.hooks.rejected(entryAt(e, index), failure),
    retrying: (failure, attempt, delayMs, items) => {
      RuntimeStats.bump(this.stats.retries, this.sink.name);
      this.log.warn(
        { sink: this.sink.name, code: failure.code, error: failure.reason, attempt, delayMs, items },
        'write failed, retrying',
      );
    },
  };

  private settlePartial(
    entries: Entries<T>,
    rejected: ReadonlyArray<{ readonly index: number; readonly failure: Failure }>,
  ): void {
    const bad = new Map(rejected.map((r) => [r.index, r.failure]));
    const good = noEntries<T>();
    for (let i = 0; i < entries.origins.length; i++) {
      const failure = bad.get(i);
      if (failure) {
        this.hooks.rejected(entryAt(entries, i), failure);
      } else {
        if (this.keepsItems) good.items.push(entries.items[i]!);
        good.encoded.push(entries.encoded[i]!);
        good.origins.push(entries.origins[i]!);
      }
    }
    this.stats.recordWrite(this.sink.name, 0, good.origins.length);
    this.hooks.delivered(good);
  }

  private async write(entries: Entries<T>): Promise<WriteResult> {
    try {
      return await this.sink.write({ items: entries.items, encoded: entries.encoded });
    } catch (error) {
      // A sink that throws has a bug; retrying keeps the data and the bug shows in the logs.
      this.log.error({ sink: this.sink.name, error }, 'sink threw instead of returning a result');
      return { status: 'retry', failure: { code: 'sink_threw', reason: String(error) } };
    }
  }
}

function entryAt<T>(e: Entries<T>, i: number): Entry<T> {
  return { item: e.items[i], encoded: e.encoded[i]!, origin: e.origins[i]! };
}

function slice<T>(e: Entries<T>, from: number, to: number): Entries<T> {
  return { items: e.items.slice(from, to), encoded: e.encoded.slice(from, to), origins: e.origins.slice(from, to) };
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { Failure, Logger, Sink, WriteResult } from '../types.js';
import type { Origin } from './origin.js';
import { retryDelayMs, type RetryPolicy } from './retry.js';
import { RuntimeStats } from './stats.js';

/** One item on its way to a sink, with the origin it settles. */
export interface Entry<T> {
  readonly item: T;
  readonly encoded: string;
  readonly origin: Origin;
}

/** What the runner reports back to the runtime. */
export interface SinkRunnerHooks<T> {
  /** These entries are durable in the sink. */
  delivered(entries: readonly Entry<T>[]): void;
  /** The sink refused this entry for good. */
  rejected(entry: Entry<T>, failure: Failure): void;
}

/**
 * Batches the items of one sink by count, bytes and time, writes up to `maxConcurrency` batches
 * at once, retries with backoff, and splits rejected batches to isolate the bad items.
 * This is the only place in Tributary that retries a write.
 */
export class SinkRunner<T> {
  private open: Entry<T>[] = [];
  private openBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The open batch waited `maxWaitMs` and is sealed when a write slot frees. */
  private due = false;
  private readonly sealed: Entry<T>[][] = [];
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
    let n = this.open.length;
    for (const b of this.sealed) n += b.length;
    return n + this.inFlightEntries;
  }

  /** Queues one entry; seals the batch when it is full. */
  add(entry: Entry<T>): void {
    this.open.push(entry);
    this.openBytes += entry.encoded.length + 1;
    if (this.open.length >= this.maxItems || this.openBytes >= this.sink.batch.maxBytes) this.flush();
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
    if (this.open.length === 0) return;
    this.sealed.push(this.open);
    this.open = [];
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
      this.inFlight++;
      this.inFlightEntries += batch.length;
      void this.deliver(batch).finally(() => {
        this.inFlight--;
        this.inFlightEntries -= batch.length;
        if (this.due || this.atWindow()) this.nudge();
        this.pump();
        if (this.pending === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private async deliver(entries: readonly Entry<T>[]): Promise<void> {
    const startedAt = Date.now();
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      const t0 = performance.now();
      const result = await this.write(entries);
      switch (result.status) {
        case 'delivered':
          this.stats.recordWrite(this.sink.name, performance.now() - t0, entries.length);
          this.hooks.delivered(entries);
          return;
        case 'partial':
          return this.settlePartial(entries, result);
        case 'rejected':
          if (entries.length === 1) return this.hooks.rejected(entries[0]!, result.failure);
          // Bisect: the good halves get written, the bad items end up alone and dead-lettered.
          await this.deliver(entries.slice(0, entries.length >> 1));
          await this.deliver(entries.slice(entries.length >> 1));
          return;
        case 'retry': {
          if (Date.now() - startedAt >= this.retry.giveUpAfterMs) {
            const failure = { code: 'retry_exhausted', reason: `gave up after ${attempt} attempts: ${result.failure.reason}` };
            for (const e of entries) this.hooks.rejected(e, failure);
            return;
          }
          const delayMs = retryDelayMs(this.retry, attempt, result.retryAfterMs);
          RuntimeStats.bump(this.stats.retries, this.sink.name);
          this.log.warn({ sink: this.sink.name, code: result.failure.code, error: result.failure.reason, attempt, delayMs, items: entries.length }, 'write failed, retrying');
          await sleep(delayMs, undefined, { signal: this.abort.signal }).catch(() => undefined);
        }
      }
    }
  }

  private settlePartial(entries: readonly Entry<T>[], result: Extract<WriteResult, { status: 'partial' }>): void {
    const bad = new Map(result.rejected.map((r) => [r.index, r.failure]));
    const good: Entry<T>[] = [];
    entries.forEach((e, i) => {
      const failure = bad.get(i);
      if (failure) this.hooks.rejected(e, failure);
      else good.push(e);
    });
    this.stats.recordWrite(this.sink.name, 0, good.length);
    this.hooks.delivered(good);
  }

  private async write(entries: readonly Entry<T>[]): Promise<WriteResult> {
    const batch = { items: this.keepsItems ? entries.map((e) => e.item) : [], encoded: entries.map((e) => e.encoded) };
    try {
      return await this.sink.write(batch);
    } catch (error) {
      // A sink that throws has a bug; retrying keeps the data and the bug shows in the logs.
      this.log.error({ sink: this.sink.name, error }, 'sink threw instead of returning a result');
      return { status: 'retry', failure: { code: 'sink_threw', reason: String(error) } };
    }
  }
}

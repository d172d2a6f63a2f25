import { setTimeout as sleep } from 'node:timers/promises';
import type { Failure, WriteResult } from './types.js';
import { retryDelayMs, type RetryPolicy } from './retry.js';

/** How {@link deliverBatch} writes, splits and settles one kind of batch. */
export interface Delivery<B> {
  size(batch: B): number;
  slice(batch: B, from: number, to: number): B;
  /** One write attempt; the sink classifies, never retries. */
  write(batch: B): Promise<WriteResult>;
  /** The whole batch was written. */
  delivered(batch: B, writeMs: number): void | Promise<void>;
  /** Part of the batch was written; `rejected` are the refused items. */
  partial(
    batch: B,
    rejected: ReadonlyArray<{ readonly index: number; readonly failure: Failure }>,
  ): void | Promise<void>;
  /** Item `index` is refused for good (alone after bisection, or retries gave up). */
  rejected(batch: B, index: number, failure: Failure): void | Promise<void>;
  /** A write (or settling its result) failed and is tried again after `delayMs`. */
  retrying(failure: Failure, attempt: number, delayMs: number, size: number): void;
}

/**
 * The one delivery loop: writes `batch` until it is settled. `retry` waits with exponential
 * backoff and jitter (at least the server's Retry-After) and tries again, until
 * `policy.giveUpAfterMs`, past which every item is rejected with `retry_exhausted`; `rejected`
 * bisects the batch until the refused items are alone; `partial` settles the written and the
 * refused items. A write, or a settle hook, that throws is retried like a `retry` result.
 * @returns false when `signal` aborted before the batch settled (its items stay unsettled)
 */
export async function deliverBatch<B>(
  batch: B,
  d: Delivery<B>,
  policy: RetryPolicy,
  signal: AbortSignal,
): Promise<boolean> {
  const startedAt = Date.now();
  const size = d.size(batch);
  for (let attempt = 1; !signal.aborted; attempt++) {
    let failure: Failure;
    let retryAfterMs: number | undefined;
    try {
      const t0 = performance.now();
      const result = await d.write(batch);
      switch (result.status) {
        case 'delivered':
          await d.delivered(batch, performance.now() - t0);
          return true;
        case 'partial':
          await d.partial(batch, result.rejected);
          return true;
        case 'rejected':
          if (size === 1) {
            await d.rejected(batch, 0, result.failure);
            return true;
          }
          return (
            (await deliverBatch(d.slice(batch, 0, size >> 1), d, policy, signal)) &&
            deliverBatch(d.slice(batch, size >> 1, size), d, policy, signal)
          );
        case 'retry':
          failure = result.failure;
          retryAfterMs = result.retryAfterMs;
      }
    } catch (error) {
      failure = { code: 'delivery_error', reason: error instanceof Error ? error.message : String(error) };
    }
    if (Date.now() - startedAt >= policy.giveUpAfterMs) {
      const exhausted = { code: 'retry_exhausted', reason: `gave up after ${attempt} attempts: ${failure.reason}` };
      for (let i = 0; i < size; i++) await d.rejected(batch, i, exhausted);
      return true;
    }
    const delayMs = retryDelayMs(policy, attempt, retryAfterMs);
    d.retrying(failure, attempt, delayMs, size);
    await sleep(delayMs, undefined, { signal }).catch(() => undefined);
  }
  return false;
}

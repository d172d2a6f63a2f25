/** Backoff for retried writes: exponential with full jitter, capped, honouring Retry-After. */
export interface RetryPolicy {
  /** First delay before jitter, in ms. @defaultValue 100 */
  readonly initialDelayMs: number;
  /** Largest delay, in ms. @defaultValue 30000 */
  readonly maxDelayMs: number;
  /**
   * Give up after retrying this long and dead-letter the batch (`retry_exhausted`).
   * `Infinity` keeps retrying and holds the acknowledgements: nothing is lost, backpressure builds.
   * @defaultValue Infinity
   */
  readonly giveUpAfterMs: number;
}

/** The default retry policy. */
export const defaultRetryPolicy: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 30_000, giveUpAfterMs: Infinity };

/**
 * Delay before retry number `attempt` (1-based): a random point in [d/2, d] with
 * d = min(max, initial·2^(attempt-1)), never shorter than the server's Retry-After.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfterMs = 0, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.max(Math.round(jittered), Math.min(retryAfterMs, policy.maxDelayMs * 4));
}

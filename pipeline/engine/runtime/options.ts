import type { DeadLetterSink, Logger, Sink, Source, Transform } from '../../core/types.js';
import type { RetryPolicy } from '../../core/retry.js';

/** Everything the runtime needs to run one pipeline in one worker. */
export interface RuntimeOptions {
  readonly source: Source<unknown>;
  readonly stages: ReadonlyArray<Transform<unknown, unknown>>;
  readonly sinks: ReadonlyArray<Sink<unknown>>;
  readonly deadLetters: DeadLetterSink;
  readonly log: Logger;
  /** @defaultValue `defaultRetryPolicy` */
  readonly retry?: RetryPolicy;
  /**
   * The bound on unsettled messages: past it the source is paused (QoS 1) or QoS 0 messages are
   * dropped (best effort); reading resumes at half of it. @defaultValue 1.5 × the source window
   */
  readonly maxUnsettled?: number;
  /**
   * Also flush open batches when no message arrived for this long (0 = off). Batches are already
   * cut when the unsettled count reaches the source window and after each sink's `maxWaitMs`; this
   * helps only when the broker's in-flight limit is below the configured window. @defaultValue 0
   */
  readonly idleFlushMs?: number;
  /** The pipeline clock in ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

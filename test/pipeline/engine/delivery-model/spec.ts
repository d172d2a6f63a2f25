// The random material of the delivery model: a pipeline configuration and a schedule of steps.
// Plain data, so that fast-check prints a failing case readably and shrinks it.
import fc from 'fast-check';
import type { BatchPolicy } from '../../../../pipeline/core/types.js';

/** What the stages do with one item of a payload. */
export type Fate = 'ok' | 'throws' | 'rejects' | 'drops' | 'unencodable';

/** One item of a published payload: its fate, the sinks that take it, its series and event time. */
export interface ItemSpec {
  readonly fate: Fate;
  /** Bit 1: sink `a` accepts it, bit 2: sink `b` (0: no sink, the router dead-letters it). */
  readonly to: number;
  /** Window pipeline: series 0 goes to `a`, 1 to `a` and `b`, 2 to no sink. */
  readonly series: number;
  /** Event time relative to the publish time, in ms. */
  readonly offsetMs: number;
}

/** One message a publisher sends. */
export interface PublishSpec {
  /** Whether the topic matches the subscription (an unrouted one is dead-lettered, then acknowledged). */
  readonly routed: boolean;
  readonly qos: 0 | 1;
  /** `undecodable`: the decoder fails; `retained-empty`: an empty retained message (deletes nothing here). */
  readonly kind: 'data' | 'undecodable' | 'retained-empty';
  readonly items: readonly ItemSpec[];
}

export type WriteOutcome = 'delivered' | 'retry' | 'rejected' | 'partial' | 'throws';

/** One step of the schedule. */
export type Step =
  | { readonly kind: 'publish'; readonly spec: PublishSpec }
  /** The publisher sends an earlier message again (a new PUBLISH with the same content). */
  | { readonly kind: 'duplicate'; readonly pick: number }
  /** The broker sends up to `count` packets, as bytes cut at `cuts` (fractions of the stream). */
  | { readonly kind: 'deliver'; readonly count: number; readonly cuts: readonly number[] }
  /** A pending sink write (picked modulo the pending ones) completes with `outcome`. */
  | {
      readonly kind: 'write';
      readonly pick: number;
      readonly outcome: WriteOutcome;
      readonly mask: number;
      readonly retryAfterMs: number | undefined;
    }
  | { readonly kind: 'advance'; readonly ms: number }
  /** `count` publishes of `spec` at once, all sent: past DeferredAcks' first ring of 1024. */
  | { readonly kind: 'burst'; readonly count: number; readonly spec: PublishSpec }
  /** The connection drops and a new one is made; the session's unacknowledged messages are redelivered. */
  | { readonly kind: 'reconnect' };

export interface WindowConfig {
  readonly everyMs: number;
  readonly latenessMs: number;
  readonly maxSeries: number;
  readonly onLate: 'drop' | 'reject';
  readonly onTooManySeries: 'flush-oldest' | 'reject';
}

/** One pipeline and its limits. */
export interface ModelConfig {
  /** `plain`: decode → split → boom → sinks; `window`: … → toReading → aggregateWindow → sinks. */
  readonly pipeline: 'plain' | 'window';
  /** 0: the `boom` stage is synchronous; n: a `mapAsync` with n calls in flight. */
  readonly asyncBoom: number;
  /** The source window (the receive maximum the worker asks for). */
  readonly window: number;
  /** Extra QoS 1 messages the broker sends past the window (Mosquitto overshoots). */
  readonly overshoot: number;
  /** The runtime's bound on unsettled messages: backpressure pauses the source at it. */
  readonly maxUnsettled: number;
  readonly sinkA: BatchPolicy;
  readonly sinkB: BatchPolicy & { readonly needsItems: boolean };
  readonly deadLetters: BatchPolicy;
  /** Retry give-up (dead-letters as `retry_exhausted`); Infinity keeps retrying. */
  readonly giveUpAfterMs: number;
  readonly windowStage: WindowConfig;
  /** Seeds Math.random (the retry jitter), so a case replays exactly. */
  readonly randomSeed: number;
}

const batchPolicy = fc.record({
  maxItems: fc.integer({ min: 1, max: 4 }),
  maxBytes: fc.oneof(fc.constant(1 << 20), fc.integer({ min: 40, max: 160 })),
  maxWaitMs: fc.integer({ min: 1, max: 40 }),
  maxConcurrency: fc.integer({ min: 1, max: 2 }),
});

export const configArb: fc.Arbitrary<ModelConfig> = fc.record({
  pipeline: fc.constantFrom('plain', 'window'),
  asyncBoom: fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) },
  ),
  window: fc.integer({ min: 1, max: 6 }),
  overshoot: fc.integer({ min: 0, max: 6 }),
  maxUnsettled: fc.integer({ min: 1, max: 10 }),
  sinkA: batchPolicy,
  sinkB: fc.tuple(batchPolicy, fc.boolean()).map(([p, needsItems]) => ({ ...p, needsItems })),
  deadLetters: batchPolicy,
  giveUpAfterMs: fc.oneof(fc.constant(Infinity), fc.integer({ min: 30, max: 400 })),
  windowStage: fc.record({
    everyMs: fc.integer({ min: 50, max: 600 }),
    latenessMs: fc.integer({ min: 0, max: 200 }),
    maxSeries: fc.integer({ min: 1, max: 4 }),
    onLate: fc.constantFrom('drop', 'reject'),
    onTooManySeries: fc.constantFrom('flush-oldest', 'reject'),
  }),
  randomSeed: fc.integer(),
});

const fateArb: fc.Arbitrary<Fate> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('ok' as const) },
  { weight: 1, arbitrary: fc.constantFrom('throws', 'rejects', 'drops', 'unencodable') },
);

const itemArb: fc.Arbitrary<ItemSpec> = fc.record({
  fate: fateArb,
  to: fc.integer({ min: 0, max: 3 }),
  series: fc.integer({ min: 0, max: 2 }),
  offsetMs: fc.integer({ min: -400, max: 400 }),
});

const publishArb: fc.Arbitrary<PublishSpec> = fc.record({
  routed: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  qos: fc.oneof({ weight: 4, arbitrary: fc.constant(1 as const) }, { weight: 1, arbitrary: fc.constant(0 as const) }),
  kind: fc.oneof(
    { weight: 12, arbitrary: fc.constant('data' as const) },
    { weight: 1, arbitrary: fc.constantFrom('undecodable' as const, 'retained-empty' as const) },
  ),
  items: fc.array(itemArb, { maxLength: 3 }),
});

const outcomeArb: fc.Arbitrary<WriteOutcome> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('delivered' as const) },
  { weight: 2, arbitrary: fc.constant('retry' as const) },
  { weight: 1, arbitrary: fc.constantFrom('rejected' as const, 'partial' as const, 'throws' as const) },
);

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: publishArb.map((spec) => ({ kind: 'publish' as const, spec })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'duplicate' as const, pick })) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      count: fc.integer({ min: 1, max: 6 }),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
    }),
  },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      pick: fc.nat(),
      outcome: outcomeArb,
      mask: fc.nat({ max: 15 }),
      retryAfterMs: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
    }),
  },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 400 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
);

/** The schedule: a few dozen steps. */
export const stepsArb = fc.array(stepArb, { minLength: 10, maxLength: 80, size: 'large' });

/** A QoS 1 message with at least one item for the sinks: it stays held until written. */
const heldArb: fc.Arbitrary<PublishSpec> = fc.array(itemArb, { minLength: 1, maxLength: 2 }).map((items) => ({
  routed: true,
  qos: 1 as const,
  kind: 'data' as const,
  items: [{ fate: 'ok' as const, to: 1, series: 0, offsetMs: 0 }, ...items],
}));

/** Schedules with bursts of over a thousand messages, for configurations with a large window. */
export const burstStepsArb = fc.array(
  fc.oneof(
    { weight: 15, arbitrary: stepArb },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('burst' as const),
        count: fc.integer({ min: 1030, max: 1200 }),
        spec: heldArb,
      }),
    },
  ),
  { minLength: 10, maxLength: 40, size: 'large' },
);

/** Large windows and bounds, so that bursts are held at once. */
export const largeConfigArb: fc.Arbitrary<ModelConfig> = fc
  .record({
    window: fc.integer({ min: 1100, max: 2000 }),
    // Below a burst: intake pauses mid-burst; above: DeferredAcks holds over 1024 at once.
    maxUnsettled: fc.oneof(fc.integer({ min: 200, max: 1000 }), fc.integer({ min: 1100, max: 3000 })),
  })
  .chain((big) => configArb.map((c) => ({ ...c, ...big })));

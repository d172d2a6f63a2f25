/**
 * `tributary/testing`: runs a pipeline definition in memory, on the real {@link Runtime}, with a
 * fake clock. No broker, no database: push messages, get back what would have been written.
 * @packageDocumentation
 */
import type { PipelineDefinition } from './engine/builder.js';
import { silentLogger } from './core/log.js';
import { Runtime } from './engine/runtime/runtime.js';
import { capture, decoderFor, outputs, type CapturedWrite, type Outputs } from './testing/capture.js';
import { FakeClock, instrument } from './testing/fake-clock.js';
import type { DeadLetter, DecodedValue, Decoder, Logger, MessageHandler, Sink, Source } from './core/types.js';

export type { CapturedWrite, Outputs } from './testing/capture.js';

/** MQTT properties of a pushed message. */
export interface PushProperties {
  /** @defaultValue 1 */
  readonly qos?: 0 | 1 | 2;
  /** @defaultValue false */
  readonly retain?: boolean;
  readonly contentType?: string;
  readonly userProperties?: Readonly<Record<string, string | readonly string[]>>;
}

/** What one pushed message produced. */
export interface PushResult extends Outputs {
  /**
   * Whether the message was acknowledged. `false` while a stage holds it, e.g. an open
   * `aggregateWindow`: its output comes from a later {@link PipelineHarness.advance}.
   */
  readonly settled: boolean;
}

/**
 * A pipeline running in memory. Calls are serialised: concurrent pushes run one after another. Its
 * own `readings`, `lines`, `deadLetters`... hold everything produced so far.
 */
export interface PipelineHarness extends Outputs {
  /** Delivers one message as the source would and resolves once it settled or is held by a stage. */
  push(topic: string, payload: string | Uint8Array, properties?: PushProperties): Promise<PushResult>;
  /** Moves the fake clock forward, firing due timers (window closes); resolves with what that produced. */
  advance(ms: number): Promise<Outputs>;
  /** The fake clock, in ms since the epoch. */
  now(): number;
  /** The runtime's counters (received, settled, unsettled, dead letters by code...). */
  readonly stats: Runtime['stats'];
  /** Stops the runtime; messages still held stay unacknowledged. */
  close(): Promise<void>;
}

/** Options of {@link testPipeline}. */
export interface TestPipelineOptions {
  /** Start of the fake pipeline clock, ms since the epoch. @defaultValue Date.UTC(2024, 0, 1) */
  readonly clock?: number;
  /** Decoder for every topic, when the definition's source exposes no `subscriptions`. */
  readonly decode?: Decoder<DecodedValue>;
  /** The sink whose encodings are reported as {@link Outputs.lines}. @defaultValue 'influxdb' */
  readonly lineSink?: string;
  /** Real time a push or advance may wait for async stages before it fails. @defaultValue 5000 */
  readonly timeoutMs?: number;
  /** @defaultValue silent */
  readonly log?: Logger;
}

/**
 * A sink that can run without its service provides a stand-in for tests (e.g. an alert queue
 * evaluating its rules against an in-memory store). Its `write` results count; what it produced
 * comes back in {@link Outputs.alerts} (alert events) or {@link Outputs.other}.
 */
export interface TestableSink {
  testDouble(options: { readonly clock: () => number }): Sink<unknown> & { takeProduced(): unknown[] };
}

/** The default start of the fake clock: 2024-01-01T00:00:00Z, aligned to every minute, hour and day. */
export const DEFAULT_TEST_CLOCK_MS = Date.UTC(2024, 0, 1);

/**
 * Runs `definition` on the real runtime with an in-memory source (decoding with the definition's
 * own subscriptions) and capturing sinks in place of its sinks (keeping their routing and
 * encoding), on a fake clock that also drives stages' timers. Await each call; close when done.
 * @example
 * const t = await testPipeline(pipeline);
 * const { readings, lines, deadLetters } = await t.push('fleet/site-1/dev-1/telemetry', '{"temperature":21.5}');
 * await t.close();
 */
export async function testPipeline(
  definition: PipelineDefinition,
  options: TestPipelineOptions = {},
): Promise<PipelineHarness> {
  const clock = new FakeClock(options.clock ?? DEFAULT_TEST_CLOCK_MS);
  const route = decoderFor(definition.source, options.decode);
  const timeoutMs = options.timeoutMs ?? 5000;
  const lineSink = options.lineSink ?? 'influxdb';
  const writes: CapturedWrite[] = [];
  const letters: DeadLetter[] = [];
  const produced: unknown[] = [];
  const doubles: Array<{ takeProduced(): unknown[] }> = [];
  const tracker = { pending: 0 };

  const sinks = definition.sinks.map((sink) => {
    const testable = (sink as Partial<TestableSink>).testDouble;
    if (typeof testable !== 'function') return capture(sink, (w) => writes.push(w));
    const double = testable.call(sink, { clock: () => clock.now() });
    doubles.push(double);
    return capture(
      double,
      (w) => writes.push(w),
      (batch) => double.write(batch),
    );
  });
  const deadLetterSink = capture<DeadLetter>(
    {
      name: 'dead-letters',
      accepts: (x): x is DeadLetter => true,
      encode: (l) => `${l.code}: ${l.reason}`,
    } as Sink<DeadLetter>,
    (w) => letters.push(w.item as DeadLetter),
  );
  let handler: MessageHandler | undefined;
  const source: Source<unknown> = {
    name: 'memory',
    window: 65_535,
    open: async (h) => {
      handler = h;
    },
    stopIntake: async () => {},
    close: async () => {},
  };
  const runtime = new Runtime({
    source,
    sinks,
    deadLetters: deadLetterSink,
    log: options.log ?? silentLogger,
    stages: definition.stages.map((s) => instrument(s, clock, tracker)),
    clock: () => clock.now(),
    retry: { initialDelayMs: 1, maxDelayMs: 5, giveUpAfterMs: 1000 },
  });
  await runtime.start();

  const collectProduced = () => {
    for (const d of doubles) produced.push(...d.takeProduced());
  };
  /** Waits until `done()` or until nothing is in flight (the rest is held by a stage). */
  const quiesce = async (done: () => boolean, what: string) => {
    const until = Date.now() + timeoutMs;
    let idleRounds = 0;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (done()) return;
      idleRounds = tracker.pending === 0 ? idleRounds + 1 : 0;
      if (idleRounds >= 3) return;
      if (Date.now() > until)
        throw new Error(
          `testPipeline: ${what} did not finish within ${timeoutMs} ms (${tracker.pending} async stage call(s) pending)`,
        );
    }
  };
  const cursor = () => ({ w: writes.length, l: letters.length, p: produced.length });
  const since = (c: ReturnType<typeof cursor>): Outputs => {
    collectProduced();
    return outputs(writes.slice(c.w), letters.slice(c.l), produced.slice(c.p), lineSink);
  };
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const harness: PipelineHarness = {
    push: (topic, payload, properties = {}) =>
      serial(async () => {
        const c = cursor();
        let settled = false;
        handler!({
          topic,
          payload: typeof payload === 'string' ? new TextEncoder().encode(payload) : payload,
          qos: properties.qos ?? 1,
          retain: properties.retain ?? false,
          receivedAtMs: clock.now(),
          decoder: route(topic),
          contentType: properties.contentType,
          userProperties: properties.userProperties,
          settle: () => {
            settled = true;
          },
        });
        await quiesce(() => settled, `push(${topic})`);
        return { ...since(c), settled };
      }),
    advance: (ms) =>
      serial(async () => {
        if (!(ms >= 0)) throw new Error(`advance: expected ms ≥ 0, got ${ms}`);
        const c = cursor();
        const target = clock.now() + ms;
        for (let t = clock.nextDue(target); t; t = clock.nextDue(target)) {
          clock.fire(t);
          await quiesce(() => false, `advance(${ms})`);
        }
        clock.set(target);
        await quiesce(() => false, `advance(${ms})`);
        return since(c);
      }),
    now: () => clock.now(),
    stats: runtime.stats,
    close: () =>
      serial(async () => {
        await runtime.stop(0);
      }),
    get readings() {
      return harness_().readings;
    },
    get lines() {
      return harness_().lines;
    },
    get alerts() {
      return harness_().alerts;
    },
    get deadLetters() {
      return harness_().deadLetters;
    },
    get other() {
      return harness_().other;
    },
    get writes() {
      return harness_().writes;
    },
  };
  const harness_ = () => since({ w: 0, l: 0, p: 0 });
  return harness;
}

import type {
  DeadLetter,
  DeadLetterSink,
  Decoder,
  Failure,
  Rejection,
  Retention,
  Sink,
  SourceMessage,
  StageContext,
  StageOutput,
} from '../../core/types.js';
import { MessageContext, metaOf, safeJson, type RetentionOf } from './context.js';
import { IntakeFlow } from './intake-flow.js';
import { Origin } from './origin.js';
import type { RuntimeOptions } from './options.js';
import { defaultRetryPolicy } from '../../core/retry.js';
import { SinkRunner, type Entries, type Entry } from './sink-runner.js';
import { RuntimeStats } from './stats.js';

export type { RuntimeOptions } from './options.js';

/** The decoder named in the metadata of detached emissions; never called. */
const detachedDecoder: Decoder = {
  format: 'stage-state',
  decode: () => ({ ok: false, failure: { code: 'not_a_message', reason: 'a stage emission has no payload' } }),
};

const isRejection = <T>(out: StageOutput<T>): out is Rejection => 'rejected' in out;
const isPromise = <T>(v: T | Promise<T>): v is Promise<T> =>
  typeof (v as { then?: unknown } | null)?.then === 'function';

/**
 * Runs one pipeline: source → decoder → stages → sinks, acknowledging each source message once
 * every item derived from it settled (written, or dead-lettered with its reason).
 */
export class Runtime {
  /** Live counters. */
  readonly stats = new RuntimeStats();
  private readonly runners: SinkRunner<unknown>[];
  /** Runners of stages' durable steps (shared state), batched and retried like sinks. */
  private readonly stageRunners: SinkRunner<unknown>[] = [];
  /** Emissions derived from no source message (closed windows of shared state) not yet settled. */
  private detached = 0;
  private readonly deadLetterRunner: SinkRunner<DeadLetter>;
  private readonly clock: () => number;
  private readonly maxUnsettled: number;
  private readonly resumeBelow: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastArrivalMs = 0;
  /** For sinks: how long intake has been flowing freely (see {@link IntakeFlow}). */
  readonly flow: IntakeFlow;

  constructor(private readonly opts: RuntimeOptions) {
    const retry = opts.retry ?? defaultRetryPolicy;
    this.clock = opts.clock ?? Date.now;
    this.flow = new IntakeFlow(opts.source, this.clock);
    // Above the window: a broker that honours it never makes us pause (a pause also stalls keep-alive).
    this.maxUnsettled = opts.maxUnsettled ?? Math.ceil(opts.source.window * 1.5);
    // Resuming at half, not just below the bound: Mosquitto 2.0 overshoots a client's receive
    // maximum 2–3× while acknowledgements flow, so pauses are frequent; a narrow band (90 %) made
    // twice as many pauses and smaller batches, and drained 7 % slower in the bench.
    this.resumeBelow = this.maxUnsettled >> 1;
    const window = opts.source.window;
    const hooks = (sink: string) => ({
      delivered: (entries: Entries<unknown>) => {
        for (const origin of entries.origins) origin.release();
      },
      rejected: (entry: Entry<unknown>, failure: Failure) =>
        this.deadLetter(entry.origin, failure, sink, entry.encoded, entry.origin),
    });
    // A batch never needs to be larger than what the broker lets us hold unacknowledged.
    const atWindow = () => this.stats.unsettled >= window;
    this.runners = opts.sinks.map(
      (s) =>
        new SinkRunner(s, hooks(s.name), retry, this.stats, opts.log, Math.min(s.batch.maxItems, window), atWindow),
    );
    // The dead-letter sink is the last resort: its refusals are retried like an outage, never dropped.
    this.deadLetterRunner = new SinkRunner<DeadLetter>(
      lastResort(opts.deadLetters),
      {
        delivered: (entries) => {
          for (const origin of entries.origins) origin.release();
        },
        rejected: (_entry, failure) => {
          throw new Error(`bug: the dead-letter runner never gives up, yet rejected an entry (${failure.code})`);
        },
      },
      { ...retry, giveUpAfterMs: Infinity },
      this.stats,
      opts.log,
      opts.deadLetters.batch.maxItems,
      atWindow,
    );
  }

  /** Opens stages and sinks, then the source; resolves once messages flow. */
  async start(): Promise<void> {
    for (const [index, stage] of this.opts.stages.entries()) {
      await stage.open?.({
        emit: (items, retained) => this.emitLater(index, items, retained),
        emitDetached: (items, topic, settled) => this.emitDetached(index, items, topic, settled),
        durable: <T>(sink: Sink<T>) => this.durableStep(sink),
      });
    }
    await this.opts.deadLetters.open();
    for (const sink of this.opts.sinks) await sink.open(this.flow);
    this.flow.start();
    const idleMs = this.opts.idleFlushMs ?? 0;
    if (idleMs > 0) {
      this.idleTimer = setInterval(() => {
        if (this.stats.unsettled > 0 && Date.now() - this.lastArrivalMs >= idleMs) this.flushAll();
      }, idleMs);
    }
    await this.opts.source.open((m) => this.onMessage(m));
  }

  /**
   * Graceful drain: stops intake, flushes, waits for writes and acknowledgements, disconnects.
   * Past `deadlineMs`, unfinished writes are abandoned: their messages stay unacknowledged and
   * the broker redelivers them.
   * @returns whether everything settled before the deadline
   */
  async stop(deadlineMs = 10_000): Promise<boolean> {
    if (!this.flow.isRunning) return true;
    this.flow.stop();
    await this.opts.source.stopIntake();
    const until = Date.now() + deadlineMs;
    while ((this.stats.unsettled > 0 || this.detached > 0) && Date.now() < until) {
      this.flushAll();
      await new Promise((r) => setTimeout(r, 10));
    }
    const drained = this.stats.unsettled === 0;
    clearInterval(this.idleTimer);
    for (const r of [...this.runners, ...this.stageRunners, this.deadLetterRunner]) r.stop();
    await this.opts.source.close();
    for (const sink of this.opts.sinks) await sink.close();
    await this.opts.deadLetters.close();
    for (const stage of this.opts.stages) await stage.close?.();
    this.opts.log.info({ drained, ...this.stats.summary() }, 'pipeline stopped');
    return drained;
  }

  /** Whether intake is paused for backpressure. */
  get backpressured(): boolean {
    return this.flow.isPaused;
  }

  private setPaused(paused: boolean): void {
    this.stats.pauses += paused ? 1 : 0;
    if (paused) this.flow.pause();
    else this.flow.resume();
    this.opts.log.debug(
      { unsettled: this.stats.unsettled, max: this.maxUnsettled },
      paused ? 'backpressure: intake paused' : 'backpressure: intake resumed',
    );
  }

  /** At the window: seal open batches that can be written right away. */
  private nudgeAll(): void {
    for (const r of this.stageRunners) r.nudge();
    for (const r of this.runners) r.nudge();
    this.deadLetterRunner.nudge();
  }

  /** Seals every open batch now. */
  flushAll(): void {
    for (const r of this.stageRunners) r.flush();
    for (const r of this.runners) r.flush();
    this.deadLetterRunner.flush();
  }

  private onMessage(message: SourceMessage): void {
    const stats = this.stats;
    stats.received++;
    this.lastArrivalMs = Date.now();
    if (message.qos === 0 && stats.unsettled >= this.maxUnsettled) {
      stats.droppedQos0++;
      return;
    }
    if (message.retain && message.payload.length === 0) {
      // An empty retained message deletes the retained value on the broker: not a reading.
      stats.retainedDeletions++;
      message.settle();
      return;
    }
    stats.unsettled++;
    if (stats.unsettled >= this.opts.source.window) {
      this.flow.windowFilled();
      this.nudgeAll();
    }
    if (stats.unsettled >= this.maxUnsettled && !this.flow.isPaused) this.setPaused(true);
    const origin = new Origin(message, this.messageSettled);
    const meta = metaOf(message);
    const decoded = message.decoder.decode(message.payload, meta);
    if (!decoded.ok) {
      this.deadLetter(origin, decoded.failure, `decode:${meta.format}`);
      origin.release();
      return;
    }
    stats.decoded++;
    this.runStages(0, [decoded.value], origin, new MessageContext(meta, origin, this.clock));
    origin.release();
  }

  /** One function for all messages (no closure per message on the hot path). */
  private readonly messageSettled = (origin: Origin): void => {
    const stats = this.stats;
    stats.unsettled--;
    stats.settled++;
    origin.message.settle();
    if (stats.unsettled < this.opts.source.window) this.flow.windowFreed();
    if (this.flow.isPaused && stats.unsettled <= this.resumeBelow) this.setPaused(false);
  };

  /** Items a stage emits outside `apply` (a closed window): settle the retained messages once they settled. */
  private emitLater(stageIndex: number, items: readonly unknown[], retained: readonly Retention[]): void {
    const first = retained[0] as RetentionOf | undefined;
    if (!first) throw new Error('emit needs at least one retained message to settle');
    const origin = new Origin(first.origin.message, () => {
      for (const r of retained) r.release();
    });
    this.runStages(stageIndex + 1, items, origin, new MessageContext(metaOf(first.origin.message), origin, this.clock));
    origin.release();
  }

  /** Items a stage emits that derive from no source message: `settled` runs once they all settled. */
  private emitDetached(stageIndex: number, items: readonly unknown[], topic: string, settled: () => void): void {
    this.detached++;
    const message: SourceMessage = {
      topic,
      payload: new Uint8Array(0),
      qos: 1,
      retain: false,
      receivedAtMs: this.clock(),
      decoder: detachedDecoder,
      settle: () => {},
    };
    const origin = new Origin(message, () => {
      this.detached--;
      settled();
    });
    this.runStages(stageIndex + 1, items, origin, new MessageContext(metaOf(message), origin, this.clock));
    origin.release();
  }

  /** A stage's durable step: its items are batched and retried like a sink's; the retained message settles once written. */
  private durableStep<T>(sink: Sink<T>): { add(item: T, retained: Retention): void } {
    const runner = new SinkRunner<T>(
      sink,
      {
        delivered: (entries) => {
          for (const origin of entries.origins) origin.release();
        },
        rejected: (entry, failure) => this.deadLetter(entry.origin, failure, sink.name, entry.encoded, entry.origin),
      },
      this.opts.retry ?? defaultRetryPolicy,
      this.stats,
      this.opts.log,
      Math.min(sink.batch.maxItems, this.opts.source.window),
      () => this.stats.unsettled >= this.opts.source.window,
    );
    this.stageRunners.push(runner as SinkRunner<unknown>);
    return {
      add: (item, retained) => {
        const { origin } = retained as RetentionOf;
        let encoded: string;
        try {
          encoded = sink.encode(item);
        } catch (error) {
          this.deadLetter(
            origin,
            { code: 'encode_error', reason: error instanceof Error ? error.message : String(error) },
            sink.name,
            safeJson(item),
          );
          retained.release();
          return;
        }
        origin.hold(); // the entry's hold; the stage's retention is handed over to it
        runner.add(item, encoded, origin);
        retained.release();
      },
    };
  }

  /** Runs `bodies` through the stages from index `from`; synchronous until a stage returns a promise. */
  private runStages(from: number, bodies: readonly unknown[], origin: Origin, ctx: StageContext): void {
    const stages = this.opts.stages;
    for (const body of bodies) {
      if (from === stages.length) {
        this.route(body, origin);
        continue;
      }
      const stage = stages[from]!;
      let out: StageOutput<unknown> | Promise<StageOutput<unknown>>;
      try {
        out = stage.apply(body, ctx);
      } catch (error) {
        this.stageFailed(stage.name, error, origin);
        continue;
      }
      if (isPromise(out)) {
        origin.hold();
        out
          .then(
            (resolved) => this.continueWith(from, stage.name, resolved, origin, ctx),
            (error: unknown) => this.stageFailed(stage.name, error, origin),
          )
          .finally(() => origin.release());
      } else {
        this.continueWith(from, stage.name, out, origin, ctx);
      }
    }
  }

  private continueWith(
    index: number,
    stage: string,
    out: StageOutput<unknown>,
    origin: Origin,
    ctx: StageContext,
  ): void {
    if (isRejection(out)) this.deadLetter(origin, out.rejected, stage);
    else if (out.length > 0) this.runStages(index + 1, out, origin, ctx);
  }

  private stageFailed(stage: string, error: unknown, origin: Origin): void {
    this.opts.log.error({ stage, error, topic: origin.message.topic }, 'stage threw; message dead-lettered');
    const reason = error instanceof Error ? error.message : String(error);
    this.deadLetter(origin, { code: 'transform_error', reason }, stage);
  }

  private route(item: unknown, origin: Origin): void {
    let routed = false;
    for (const runner of this.runners) {
      if (!runner.sink.accepts(item)) continue;
      routed = true;
      let encoded: string;
      try {
        encoded = runner.sink.encode(item);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.deadLetter(origin, { code: 'encode_error', reason }, runner.sink.name, safeJson(item));
        continue;
      }
      origin.hold();
      runner.add(item, encoded, origin);
    }
    if (!routed)
      this.deadLetter(origin, { code: 'unrouted', reason: 'no sink accepts this item' }, 'router', safeJson(item));
  }

  /** Records a dead letter for `origin`; the origin settles once the dead letter is durable. */
  private deadLetter(origin: Origin, failure: Failure, stage: string, item?: string, releaseAfter?: Origin): void {
    const m = origin.message;
    const letter: DeadLetter = {
      code: failure.code,
      reason: failure.reason,
      stage,
      topic: m.topic,
      qos: m.qos,
      receivedAtMs: m.receivedAtMs,
      payload: m.payload,
      contentType: m.contentType,
      userProperties: m.userProperties,
      item,
    };
    RuntimeStats.bump(this.stats.deadLetters, failure.code);
    origin.hold();
    this.deadLetterRunner.add(letter, this.opts.deadLetters.encode(letter), origin);
    releaseAfter?.release(); // the rejected sink entry is replaced by its dead letter
  }
}

/** A dead-letter sink whose refusals (`rejected`, `partial`) come back as `retry` of the batch. */
function lastResort(sink: DeadLetterSink): DeadLetterSink {
  return {
    ...sink,
    write: async (batch) => {
      const result = await sink.write(batch);
      if (result.status === 'partial' && result.rejected.length === 0) return { status: 'delivered' };
      if (result.status === 'rejected' || result.status === 'partial') {
        const failure = result.status === 'rejected' ? result.failure : result.rejected[0]!.failure;
        return {
          status: 'retry',
          failure: { code: 'dead_letter_refused', reason: `${failure.code}: ${failure.reason}` },
        };
      }
      return result;
    },
  };
}

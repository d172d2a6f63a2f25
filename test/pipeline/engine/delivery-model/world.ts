// One run of the model: the real Runtime between the model source and the model sinks, driven
// step by step, with the invariants checked after every step and after a final drain.
import type { InboundPublish } from '../../../../pipeline/engine/ingest/publish-reader.js';
import { silentLogger } from '../../../../pipeline/core/log.js';
import { Runtime } from '../../../../pipeline/engine/runtime/runtime.js';
import { Broker, type Delivery } from './broker.js';
import { Ledger } from './ledger.js';
import { modelDecoder, modelStages, Tracer, tracedDecoder } from './pipeline.js';
import { ModelSinks } from './sinks.js';
import { ModelSource } from './source.js';
import type { ModelConfig, Step } from './spec.js';

/** Lets promises, next ticks and the fake socket's reads run to quiescence (timers stay frozen). */
async function quiesce(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

const deliveryOf = (p: InboundPublish) => Number(p.userProperties?.delivery);
/** Obligations that are opened and closed within one synchronous pass of the runtime. */
const TRANSIENT = /^(decode|stage|route|dl):/;

export class World {
  readonly ledger: Ledger;
  readonly sinks: ModelSinks;
  readonly source: ModelSource;
  readonly runtime: Runtime;
  broker!: Broker;
  private droppedBefore = 0;

  private constructor(
    readonly config: ModelConfig,
    private readonly advance: (ms: number) => Promise<void>,
  ) {
    this.ledger = new Ledger((d) => (this.broker?.deliveries.get(d)?.settles ?? 0) > 0);
    const tracer = new Tracer(this.ledger);
    const { first, stages } = modelStages(config, tracer);
    this.sinks = new ModelSinks(tracer);
    this.source = new ModelSource(
      config.window,
      { topic: 'model/+/data', decode: modelDecoder },
      (decoder) => tracedDecoder(decoder, tracer, first),
      { received: (p) => this.received(p), handed: (p) => this.handed(p), settled: (p) => this.settled(p) },
    );
    this.runtime = new Runtime({
      source: this.source,
      stages,
      log: silentLogger,
      maxUnsettled: config.maxUnsettled,
      sinks: [this.sinks.sink('a', 1, config.sinkA), this.sinks.sink('b', 2, config.sinkB, config.sinkB.needsItems)],
      deadLetters: this.sinks.deadLetters(config.deadLetters),
      retry: { initialDelayMs: 10, maxDelayMs: 80, giveUpAfterMs: config.giveUpAfterMs },
    });
  }

  /** Starts the runtime and connects the broker. */
  static async start(config: ModelConfig, advance: (ms: number) => Promise<void>): Promise<World> {
    const world = new World(config, advance);
    await world.runtime.start();
    world.broker = new Broker(world.source, world.ledger, config.window + config.overshoot);
    await quiesce();
    return world;
  }

  private received(p: InboundPublish): void {
    const d = deliveryOf(p);
    this.broker.arrived(d);
    this.droppedBefore = this.runtime.stats.droppedQos0;
    const retainedEmpty = p.retain && p.payloadEnd === p.payloadStart;
    if (!retainedEmpty) this.ledger.open(`decode:${d}`, [d], `the decoding of delivery ${d}`);
  }

  private handed(p: InboundPublish): void {
    const delivery = this.broker.deliveries.get(deliveryOf(p))!;
    delivery.handed = true;
    if (this.runtime.stats.droppedQos0 > this.droppedBefore) {
      delivery.dropped = true;
      this.ledger.close(`decode:${delivery.d}`, `QoS 0 drop of delivery ${delivery.d}`);
    }
  }

  private settled(p: InboundPublish): void {
    const delivery = this.broker.deliveries.get(deliveryOf(p))!;
    if (++delivery.settles > 1) this.ledger.violations.push(`delivery ${delivery.d} settled ${delivery.settles} times`);
    const waiting = this.ledger.reasonFor(delivery.d);
    if (waiting) this.ledger.violations.push(`delivery ${delivery.d} settled while it waits for: ${waiting}`);
  }

  /** Runs one step of the schedule and lets everything it started run until only timers are left. */
  async step(step: Step): Promise<void> {
    switch (step.kind) {
      case 'publish':
        this.broker.publish(step.spec, Date.now());
        break;
      case 'duplicate':
        this.broker.duplicate(step.pick);
        break;
      case 'deliver':
        this.broker.send(step.count, step.cuts);
        break;
      case 'write':
        this.sinks.complete(step.pick, step.outcome, step.mask, step.retryAfterMs);
        break;
      case 'advance':
        await this.advance(step.ms);
        break;
      case 'reconnect':
        this.broker.reconnect();
        break;
      case 'burst':
        for (let i = 0; i < step.count; i++) this.broker.publish(step.spec, Date.now());
        this.broker.send(step.count, []);
        break;
    }
    await quiesce();
  }

  /** The invariants that hold between steps; returns the violations seen so far. */
  check(): string[] {
    const v = this.ledger.violations;
    const { stats } = this.runtime;
    const conn = this.broker.current;
    const head = conn.arrivals[conn.acked];
    if (head && !this.ledger.reasonFor(head.d)) {
      v.push(
        `delivery ${head.d} (packet ${head.packetId}) heads the PUBACK queue of connection ${conn.index} with nothing pending (last: ${this.ledger.lastOf(head.d)})`,
      );
    }
    let unsettled = 0;
    for (const delivery of this.broker.deliveries.values()) {
      if (!delivery.handed || delivery.dropped || delivery.settles > 0) continue;
      unsettled++;
      if (!this.ledger.reasonFor(delivery.d))
        v.push(`delivery ${delivery.d} is not settled with nothing pending (last: ${this.ledger.lastOf(delivery.d)})`);
    }
    if (stats.unsettled !== unsettled)
      v.push(`the runtime counts ${stats.unsettled} unsettled messages, the model ${unsettled}`);
    if (stats.unsettled > this.config.maxUnsettled)
      v.push(`${stats.unsettled} unsettled messages, above the bound ${this.config.maxUnsettled}`);
    if (this.runtime.backpressured !== this.source.paused)
      v.push(`runtime backpressured=${this.runtime.backpressured}, source paused=${this.source.paused}`);
    if (this.source.paused && stats.unsettled <= this.config.maxUnsettled >> 1)
      v.push(`paused with only ${stats.unsettled} unsettled messages`);
    // Decoding, stages and routing are synchronous: between steps a body is in a sink, a window or an async call.
    for (const ob of this.ledger.allOpen()) {
      if (TRANSIENT.test(ob.key)) v.push(`${ob.what} never happened (held: ${ob.owners.join(', ')})`);
    }
    const held = conn.arrivals.length - conn.acked;
    if (this.source.acks.held !== held)
      v.push(`DeferredAcks holds ${this.source.acks.held} messages, the connection ${held}`);
    return v;
  }

  /**
   * Sinks heal, the broker sends everything, time passes: at the end every QoS 1 message was
   * acknowledged, every delivery settled once, and nothing is held.
   */
  async drain(): Promise<string[]> {
    this.sinks.auto = true;
    this.sinks.completeAll();
    // Until drained, or nothing moved for 10 s of fake time (retries back off 80 ms at most, windows
    // close within 800 ms): a long queue behind an async stage may need many rounds.
    let progress = '',
      still = 0;
    for (let round = 0; round < 5000 && still < 40 && !this.drained(); round++) {
      this.broker.send(Number.MAX_SAFE_INTEGER, []);
      await quiesce();
      if (this.check().length > 0) return this.ledger.violations;
      if (!this.drained()) await this.advance(250);
      await quiesce();
      const now = `${this.ledger.allOpen().length}/${this.runtime.stats.settled}/${this.broker.connections.length}`;
      still = now === progress ? still + 1 : 0;
      progress = now;
    }
    const v = this.check();
    if (!this.drained()) v.push(`not drained: ${this.stuck()}`);
    for (const p of this.broker.published)
      if (p.spec.qos === 1 && !p.acked) v.push(`QoS 1 message ${p.p} was never acknowledged`);
    const last = this.broker.current;
    if (last.acked !== last.arrivals.length)
      v.push(`connection ${last.index} acknowledged ${last.acked} of ${last.arrivals.length} messages`);
    for (const d of this.broker.deliveries.values()) {
      if (d.handed && !d.dropped && d.settles !== 1) v.push(`delivery ${d.d} settled ${d.settles} times`);
    }
    return v;
  }

  private drained(): boolean {
    return (
      this.broker.idle &&
      this.sinks.pending.length === 0 &&
      this.ledger.allOpen().length === 0 &&
      this.runtime.stats.unsettled === 0 &&
      this.source.acks.held === 0
    );
  }

  /** What is still held, for the failure message. */
  private stuck(): string {
    const open = this.ledger
      .allOpen()
      .slice(0, 5)
      .map((o) => `${o.what} [${o.state}] for ${o.owners.join(',')}`);
    return `broker idle=${this.broker.idle}, unsettled=${this.runtime.stats.unsettled}, held=${this.source.acks.held}, open: ${open.join('; ') || 'none'}`;
  }

  /** Stops the runtime (after the fake timers are gone: stop waits on real time). */
  async stop(): Promise<void> {
    await this.runtime.stop(0);
  }

  /** Deliveries for a report. */
  get deliveries(): Delivery[] {
    return [...this.broker.deliveries.values()];
  }
}

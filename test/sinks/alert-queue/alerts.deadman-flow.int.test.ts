// The deadman gate on pipeline flow against the real Redis (the Lua script) and BullMQ: a stalled
// pipeline (backpressure pause, source disconnected) fires no deadman; a silent device still does
// once the pipeline has flowed freely for the rule's afterMs. First with a flow the test drives,
// then with the real Runtime's flow, on one fake clock.
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { json } from '../../../pipeline/engine/decode/json.js';
import { silentLogger } from '../../../pipeline/core/log.js';
import { Runtime } from '../../../pipeline/engine/runtime/runtime.js';
import type {
  AlertRule,
  DeadLetterSink,
  MessageHandler,
  PipelineFlow,
  Reading,
  Sink,
  Source,
  Transform,
} from '../../../pipeline/core/types.js';
import { alertQueue, type AlertQueueOptions, type AlertQueueSink } from '../../../sinks/alert-queue/index.js';
import { timeKey } from '../../../sinks/alert-queue/state-machine.js';
import { absent } from '../../../transforms/alert-rules.js';
import { parseTopic } from '../../../transforms/parse-topic.js';
import { toReadings } from '../../../transforms/to-readings.js';
import { ruleOf } from '../../support/alert-cases.js';
import { fakeClock, jobsOf, queueName, reading, T0 } from '../../support/alerts.js';
import { REDIS_URL, waitFor } from '../../support/services.js';
import { alertRedisFixture } from '../../support/alerts-fixture.js';

const marker = `alerts_deadman_flow_${process.pid}`;
const fx = alertRedisFixture(marker);
const { queues, sinks } = fx;

const deadman = (id: string, afterMs: number): AlertRule => ({
  id,
  severity: 'warning',
  measurement: 'telemetry',
  when: absent({ afterMs }),
});

/** An alert sink on a fresh queue, sweep timer off; `open(flow)` is left to the caller. */
function sinkFor(rules: readonly AlertRule[], opts: Partial<AlertQueueOptions>) {
  const name = queueName(marker);
  const sink = alertQueue({
    url: REDIS_URL,
    queue: name,
    rules,
    sweepIntervalMs: 0,
    keyPrefix: `tributary-test:${name}`,
    batch: { maxWaitMs: 5 },
    ...opts,
  });
  sinks.push(sink);
  const queue = new Queue(name, { connection: fx.redis });
  queues.push(queue);
  return { sink, queue };
}

const write = (sink: AlertQueueSink, items: Reading[]) =>
  sink.write({ items, encoded: items.map((r) => sink.encode(r)) });
const firingDevices = async (queue: Queue) =>
  (await jobsOf(queue))
    .filter((j) => j.summary[1] === 'firing')
    .map((j) => `${j.data.ruleId}:${j.summary[3]}`)
    .sort();

describe('deadman sweeps gated on a flow the test drives (real Redis)', () => {
  it('1000 devices through a 60 s stall: no alert; afterwards only the silent device fires; outbox claims go on', async () => {
    const clock = fakeClock();
    let flowingSince: number | undefined = T0;
    const flow: PipelineFlow = { flowingForMs: () => (flowingSince === undefined ? 0 : clock.now() - flowingSince) };
    const { sink, queue } = sinkFor([deadman('deadman', 30_000)], { clock: clock.now, outboxGraceMs: 10_000 });
    await sink.open(flow);
    const fleet = Array.from({ length: 1000 }, (_, i) => `d${String(i).padStart(4, '0')}`);
    expect(
      await write(
        sink,
        fleet.map((d) => reading(d, 0, { t: 1 })),
      ),
    ).toEqual({ status: 'delivered' });
    clock.set(20_000);
    flowingSince = undefined; // InfluxDB stopped: the runtime pauses intake, the alert sink hears nothing
    // A transition a dead worker left in the outbox: sweeps must still re-enqueue it while deadmen are held.
    const t = timeKey(BigInt(T0 + 20_000) * 1_000_000n);
    await sink.store.apply({
      now: clock.now(),
      nowT: t,
      workerId: 'dead',
      rules: { hot: ruleOf('hot', {}) },
      groups: [['hot', '["telemetry","device","orphan"]', [[t, 'f', 31]]]],
    });
    clock.set(31_000);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 1 }); // the orphan, not 1000 deadmen
    clock.set(50_000);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
    clock.set(80_000);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
    flowingSince = clock.now(); // intake resumes at 80 s; the backlog arrives
    clock.set(81_000);
    await write(
      sink,
      fleet.slice(1).map((d) => reading(d, 30_000, { t: 2 })),
    );
    clock.set(109_999);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 }); // d0000 overdue, only 29.999 s of flow
    clock.set(110_000);
    expect(await sink.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 });
    expect(await firingDevices(queue)).toEqual(['deadman:d0000', 'hot:orphan']);
    expect(await fx.redis.hlen(sink.keys.outbox)).toBe(0);
  });

  it('gates each rule on its own afterMs', async () => {
    const clock = fakeClock();
    let flowingSince: number | undefined;
    const flow: PipelineFlow = { flowingForMs: () => (flowingSince === undefined ? 0 : clock.now() - flowingSince) };
    const { sink, queue } = sinkFor([deadman('short', 10_000), deadman('long', 60_000)], { clock: clock.now });
    await sink.open(flow); // disconnected from the start
    await write(sink, [reading('dev', 0, { t: 1 })]);
    clock.set(100_000);
    expect(await sink.sweep()).toMatchObject({ transitions: 0 });
    flowingSince = clock.now();
    clock.set(110_000);
    expect(await sink.sweep()).toMatchObject({ transitions: 1 });
    clock.set(159_999);
    expect(await sink.sweep()).toMatchObject({ transitions: 0 });
    clock.set(160_000);
    expect(await sink.sweep()).toMatchObject({ transitions: 1 });
    expect(await firingDevices(queue)).toEqual(['long:dev', 'short:dev']);
  });
});

/** A source the test feeds by hand, which it can also disconnect; records acknowledgements. */
class FakeSource implements Source<unknown> {
  readonly name = 'fake';
  readonly window = 100;
  readonly acked = new Set<number>();
  connectedAt: number | undefined;
  private handler: MessageHandler | undefined;
  private next = 0;
  constructor(private readonly now: () => number) {}
  async open(handler: MessageHandler) {
    this.handler = handler;
    this.connectedAt = this.now();
  }
  async stopIntake() {}
  async close() {}
  connectedSinceMs() {
    return this.connectedAt;
  }
  send(device: string): number {
    const id = this.next++;
    this.handler!({
      topic: `fleet/site-1/${device}/telemetry`,
      payload: new TextEncoder().encode(JSON.stringify({ ts: this.now(), temperature: 20 })),
      qos: 1,
      retain: false,
      receivedAtMs: this.now(),
      decoder: json(),
      settle: () => {
        this.acked.add(id);
      },
    });
    return id;
  }
}

/** Stands in for InfluxDB: answers at once, or not until released (a SIGSTOPped database). */
function stallableSink() {
  let gate: Promise<void> | undefined;
  let release = () => {};
  const sink: Sink<Reading> = {
    name: 'influxdb',
    batch: { maxItems: 100, maxBytes: 1 << 20, maxWaitMs: 5, maxConcurrency: 4 },
    accepts: (x): x is Reading => typeof x === 'object' && x !== null && 'measurement' in x,
    encode: (r) => r.measurement,
    open: async () => {},
    close: async () => {
      release();
    },
    async write() {
      await gate;
      return { status: 'delivered' };
    },
  };
  return {
    sink,
    stall: () => {
      gate = new Promise((r) => {
        release = r;
      });
    },
    resume: () => {
      release();
      gate = undefined;
    },
  };
}

const deadLetters: DeadLetterSink = {
  name: 'dead-letters',
  batch: { maxItems: 10, maxBytes: 1 << 20, maxWaitMs: 5, maxConcurrency: 1 },
  accepts: (x): x is never => true,
  encode: () => '',
  open: async () => {},
  close: async () => {},
  write: async () => ({ status: 'delivered' }),
};

describe('deadman sweeps gated on the real Runtime flow (real Redis)', () => {
  async function start() {
    const clock = fakeClock();
    const { sink: alerts, queue } = sinkFor([deadman('deadman', 30_000)], { clock: clock.now });
    const influx = stallableSink();
    const source = new FakeSource(clock.now);
    const stages = [
      toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms' }),
      parseTopic('fleet/{site}/{device}/telemetry'),
    ];
    const runtime = new Runtime({
      source,
      deadLetters,
      log: silentLogger,
      clock: clock.now,
      maxUnsettled: 4,
      retry: { initialDelayMs: 5, maxDelayMs: 20, giveUpAfterMs: Infinity },
      stages: stages as unknown as Array<Transform<unknown, unknown>>,
      sinks: [influx.sink as Sink<unknown>, alerts as Sink<unknown>],
    });
    await runtime.start(); // opens the alert sink with runtime.flow
    const send = async (...devices: string[]) => {
      const ids = devices.map((d) => source.send(d));
      expect(await waitFor(() => ids.every((id) => source.acked.has(id)), 5000, 5)).toBe(true);
    };
    return { clock, alerts, queue, influx, source, runtime, send };
  }

  it('backpressure pause (InfluxDB stalled): no deadman; after resuming, only a device silent for afterMs of flow', async () => {
    const { clock, alerts, queue, influx, source, runtime, send } = await start();
    try {
      await send('alive', 'gone', 'late');
      clock.set(20_000);
      await send('alive', 'late');
      clock.set(31_000);
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 }); // 'gone': silent while flowing
      clock.set(40_000);
      influx.stall();
      const held = ['alive', 'alive', 'alive', 'alive'].map((d) => source.send(d)); // 4 unsettled: intake pauses
      expect(runtime.backpressured).toBe(true);
      expect(runtime.flow.flowingForMs()).toBe(0);
      clock.set(100_000); // 60 s stalled: 'alive' and 'late' overdue by the sink's clock
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
      influx.resume();
      expect(await waitFor(() => held.every((id) => source.acked.has(id)), 5000, 5)).toBe(true);
      expect(runtime.backpressured).toBe(false);
      clock.set(101_000);
      await send('alive'); // the backlog: 'alive' kept talking, 'late' did not
      clock.set(129_000);
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 }); // 'late' overdue, 29 s of flow
      clock.set(130_500);
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 });
      expect(await firingDevices(queue)).toEqual(['deadman:gone', 'deadman:late']);
    } finally {
      await runtime.stop(2000);
    }
  });

  it('source disconnected: no deadman; after reconnecting, not before afterMs of flow; data still resolves', async () => {
    const { clock, alerts, queue, source, runtime, send } = await start();
    try {
      await send('dev-1', 'dev-2');
      clock.set(30_000);
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 2, claimed: 0 });
      clock.set(31_000);
      await send('dev-1'); // resolves dev-1
      clock.set(35_000);
      source.connectedAt = undefined; // the broker connection drops
      expect(runtime.flow.flowingForMs()).toBe(0);
      clock.set(90_000); // dev-1 overdue since 61 s
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
      source.connectedAt = clock.now(); // reconnected at 90 s
      clock.set(119_999);
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 0, claimed: 0 });
      await send('dev-2'); // a reading still resolves the deadman of dev-2, gate or not
      clock.set(120_000);
      expect(await alerts.sweep()).toEqual({ status: 'swept', transitions: 1, claimed: 0 });
      const jobs = (await jobsOf(queue)).map((j) => `${j.summary[4]} ${j.summary[0]} ${j.summary[3]}`);
      expect(jobs.sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b))).toEqual([
        '30000 deadman.firing dev-1',
        '30000 deadman.firing dev-2',
        '31000 deadman.resolved dev-1',
        '119999 deadman.resolved dev-2',
        '120000 deadman.firing dev-1',
      ]);
    } finally {
      await runtime.stop(2000);
    }
  });
});

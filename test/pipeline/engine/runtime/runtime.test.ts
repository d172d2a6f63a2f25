import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../pipeline/core/log.js';
import type { RetryPolicy } from '../../../../pipeline/core/retry.js';
import { Runtime } from '../../../../pipeline/engine/runtime/runtime.js';
import { flatMap, map, mapAsync, reject } from '../../../../pipeline/core/stage.js';
import type { DeadLetter, DeadLetterSink, Sink, Transform, WriteResult } from '../../../../pipeline/core/types.js';
import { deferred, fakeDeadLetters, fakeSink, FakeSource, isNumber, sleep, waitFor } from '../../../support/fakes.js';

const fast: RetryPolicy = { initialDelayMs: 1, maxDelayMs: 3, giveUpAfterMs: Infinity };
const retryResult: WriteResult = { status: 'retry', failure: { code: 'http_503', reason: 'unavailable' } };
const split = flatMap('split', (body: { items: number[] }) => body.items);

let runtimes: Runtime[] = [];
afterEach(async () => {
  for (const r of runtimes) await r.stop(50);
  runtimes = [];
});

/* eslint-disable @typescript-eslint/no-explicit-any -- the runtime takes stages and sinks of any type */
async function start(opts: {
  stages?: Array<Transform<any, unknown>>;
  sinks: Array<Sink<any>>;
  deadLetters?: DeadLetterSink & { delivered: DeadLetter[] };
  source?: FakeSource;
  maxUnsettled?: number;
}) {
  const source = opts.source ?? new FakeSource();
  const deadLetters = opts.deadLetters ?? fakeDeadLetters();
  const runtime = new Runtime({
    source,
    deadLetters,
    log: silentLogger,
    retry: fast,
    maxUnsettled: opts.maxUnsettled,
    stages: (opts.stages ?? []) as unknown as Array<Transform<unknown, unknown>>,
    sinks: opts.sinks as unknown as Array<Sink<unknown>>,
  });
  runtimes.push(runtime);
  await runtime.start();
  return { runtime, source, deadLetters };
}

describe('Runtime acknowledgements', () => {
  it('settles a message exactly once, only after every derived item reached every sink', async () => {
    const gate = deferred();
    const all = fakeSink('all', isNumber, {
      write: async () => {
        await gate.promise;
        return { status: 'delivered' };
      },
    });
    const big = fakeSink('big', (x: unknown): x is number => isNumber(x) && x > 1);
    const { source, runtime } = await start({ stages: [split], sinks: [all, big] });
    const id = source.send('{"items":[1,2,3]}');
    await waitFor(() => big.delivered.length === 2);
    await sleep(20);
    expect(source.settled(id)).toBe(0);
    expect(runtime.stats.unsettled).toBe(1);
    gate.resolve();
    await waitFor(() => source.settled(id) > 0);
    expect(all.delivered.sort()).toEqual([1, 2, 3]);
    await sleep(20);
    expect(source.settled(id)).toBe(1);
    expect(runtime.stats.settled).toBe(1);
    expect(runtime.stats.unsettled).toBe(0);
  });

  it('holds the acknowledgement while a sink keeps answering retry', async () => {
    let failing = true;
    const sink = fakeSink('flaky', isNumber, { write: () => (failing ? retryResult : { status: 'delivered' }) });
    const { source, runtime } = await start({ stages: [split], sinks: [sink] });
    const id = source.send('{"items":[7,8]}');
    await waitFor(() => sink.writes >= 4);
    expect(source.settled(id)).toBe(0);
    expect(runtime.stats.retries.get('flaky')).toBeGreaterThanOrEqual(3);
    failing = false;
    await waitFor(() => source.settled(id) === 1);
    expect(sink.delivered).toEqual([7, 8]);
    expect(runtime.stats.deadLettered).toBe(0);
  });

  it('keeps settle exact through an async stage', async () => {
    const gate = deferred();
    const lookup = mapAsync('lookup', 2, async (n: number) => {
      await gate.promise;
      return n * 10;
    });
    const sink = fakeSink('sink', isNumber);
    const { source } = await start({ stages: [split, lookup], sinks: [sink] });
    const ids = [source.send('{"items":[1,2]}'), source.send('{"items":[3]}'), source.send('{"items":[]}')];
    await waitFor(() => source.settled(ids[2]!) === 1);
    expect(ids.map((id) => source.settled(id))).toEqual([0, 0, 1]);
    gate.resolve();
    await waitFor(() => ids.every((id) => source.settled(id) > 0));
    await sleep(20);
    expect(ids.map((id) => source.settled(id))).toEqual([1, 1, 1]);
    expect(sink.delivered.sort((a, b) => a - b)).toEqual([10, 20, 30]);
  });
});

describe('Runtime dead letters', () => {
  it('dead-letters an undecodable payload with its bytes and topic, then settles', async () => {
    const sink = fakeSink('sink', isNumber);
    const { source, deadLetters, runtime } = await start({ sinks: [sink] });
    const lettersAtSettle: number[] = [];
    source.onSettle = () => lettersAtSettle.push(deadLetters.delivered.length);
    const id = source.send('{"temp": 2', { topic: 'fleet/a/b/telemetry' });
    await waitFor(() => source.settled(id) === 1);
    expect(lettersAtSettle).toEqual([1]);
    const [letter] = deadLetters.delivered;
    expect(letter).toMatchObject({ code: 'decode_error', stage: 'decode:json', topic: 'fleet/a/b/telemetry', qos: 1 });
    expect(new TextDecoder().decode(letter!.payload)).toBe('{"temp": 2');
    expect(runtime.stats.deadLetters.get('decode_error')).toBe(1);
  });

  it('dead-letters a stage rejection and a stage that throws (transform_error)', async () => {
    const check = map('check', (n: number) => (n < 0 ? reject('negative', 'out_of_range') : n));
    const boom = map('boom', (n: number) => {
      if (n === 13) throw new Error('unlucky');
      return n;
    });
    const sink = fakeSink('sink', isNumber);
    const { source, deadLetters } = await start({ stages: [check, boom], sinks: [sink] });
    const ids = [source.send('-1'), source.send('13'), source.send('5')];
    await waitFor(() => ids.every((id) => source.settled(id) === 1));
    expect(deadLetters.delivered.map((l) => [l.code, l.stage, l.reason])).toEqual(
      expect.arrayContaining([
        ['out_of_range', 'check', 'negative'],
        ['transform_error', 'boom', 'unlucky'],
      ]),
    );
    expect(deadLetters.delivered).toHaveLength(2);
    expect(sink.delivered).toEqual([5]);
  });

  it('dead-letters an item no sink accepts as unrouted', async () => {
    const { source, deadLetters } = await start({ sinks: [fakeSink('numbers', isNumber)] });
    const id = source.send('"text"');
    await waitFor(() => source.settled(id) === 1);
    expect(deadLetters.delivered).toHaveLength(1);
    expect(deadLetters.delivered[0]).toMatchObject({ code: 'unrouted', stage: 'router', item: '"text"' });
  });

  it('dead-letters an item whose encoding throws as encode_error', async () => {
    const sink = fakeSink('picky', isNumber, {
      encode: (n) => {
        if (n === 0) throw new Error('zero');
        return `n=${n}`;
      },
    });
    const { source, deadLetters } = await start({ stages: [split], sinks: [sink] });
    const id = source.send('{"items":[0,1]}');
    await waitFor(() => source.settled(id) === 1);
    expect(sink.delivered).toEqual([1]);
    expect(deadLetters.delivered).toHaveLength(1);
    expect(deadLetters.delivered[0]).toMatchObject({ code: 'encode_error', stage: 'picky', reason: 'zero', item: '0' });
  });

  it('dead-letters the one item a sink rejects (as encoded), writes the rest, and settles after the letter', async () => {
    const sink = fakeSink('influx', isNumber, {
      encode: (n) => `m v=${n}`,
      write: (b) =>
        b.items.includes(3)
          ? { status: 'rejected', failure: { code: 'write_rejected', reason: 'bad line' } }
          : { status: 'delivered' },
    });
    const dlGate = deferred();
    const deadLetters = fakeSink('dl', (_x: unknown): _x is DeadLetter => true, {
      write: async () => {
        await dlGate.promise;
        return { status: 'delivered' };
      },
    });
    const { source } = await start({ stages: [split], sinks: [sink], deadLetters });
    const id = source.send('{"items":[1,2,3,4]}');
    await waitFor(() => sink.delivered.length === 3);
    await sleep(20);
    expect(source.settled(id)).toBe(0);
    dlGate.resolve();
    await waitFor(() => source.settled(id) === 1);
    expect(sink.delivered.sort()).toEqual([1, 2, 4]);
    expect(deadLetters.delivered).toHaveLength(1);
    expect(deadLetters.delivered[0]).toMatchObject({ code: 'write_rejected', stage: 'influx', item: 'm v=3' });
  });
});

describe('Runtime bounds and shutdown', () => {
  it('drops QoS 0 messages past maxUnsettled and counts them; QoS 1 is never dropped', async () => {
    const gate = deferred();
    const sink = fakeSink('sink', isNumber, {
      write: async () => {
        await gate.promise;
        return { status: 'delivered' };
      },
    });
    const { source, runtime } = await start({ sinks: [sink], maxUnsettled: 2 });
    const a = source.send('1', { qos: 0 });
    const b = source.send('2', { qos: 0 });
    const dropped = source.send('3', { qos: 0 });
    const kept = source.send('4', { qos: 1 });
    expect(runtime.stats.droppedQos0).toBe(1);
    expect(runtime.stats.received).toBe(4);
    expect(runtime.stats.unsettled).toBe(3);
    gate.resolve();
    await waitFor(() => runtime.stats.unsettled === 0);
    expect([a, b, kept].map((id) => source.settled(id))).toEqual([1, 1, 1]);
    expect(source.settled(dropped)).toBe(0);
    expect(sink.delivered.sort()).toEqual([1, 2, 4]);
  });

  it('flow: not flowing while unsettled messages fill the source window (below the pause bound), flowing again once they settle', async () => {
    const gate = deferred();
    const sink = fakeSink('sink', isNumber, {
      write: async () => {
        await gate.promise;
        return { status: 'delivered' };
      },
    });
    const { source, runtime } = await start({ sinks: [sink], source: new FakeSource(3), maxUnsettled: 100 });
    await sleep(5);
    expect(runtime.flow.flowingForMs()).toBeGreaterThan(0); // open and below the window
    source.send('1');
    source.send('2');
    expect(runtime.flow.flowingForMs()).toBeGreaterThan(0);
    source.send('3'); // the broker sends nothing more until something settles: a stall is not silence
    expect(runtime.backpressured).toBe(false);
    expect(runtime.flow.flowingForMs()).toBe(0);
    await sleep(20);
    expect(runtime.flow.flowingForMs()).toBe(0);
    gate.resolve();
    await waitFor(() => runtime.stats.unsettled === 0);
    expect(runtime.flow.flowingForMs()).toBeLessThan(20); // counted from the moment it left the window
    await sleep(15);
    expect(runtime.flow.flowingForMs()).toBeGreaterThanOrEqual(10);
  });

  it('backpressure: pauses intake at maxUnsettled and resumes once unsettled fell to half of it', async () => {
    const gates = Array.from({ length: 20 }, () => deferred());
    const sink = fakeSink('gated', isNumber, {
      batch: { maxItems: 1, maxConcurrency: 100, maxWaitMs: 0 },
      write: async (b) => {
        await gates[b.items[0]!]!.promise;
        return { status: 'delivered' };
      },
    });
    const { source, runtime } = await start({ sinks: [sink], source: new FakeSource(10), maxUnsettled: 20 });
    for (let i = 0; i < 19; i++) source.send(String(i));
    expect(runtime.backpressured).toBe(false);
    source.send('19');
    expect(runtime.backpressured).toBe(true);
    for (let i = 0; i < 9; i++) gates[i]!.resolve();
    await waitFor(() => runtime.stats.unsettled === 11);
    expect(runtime.backpressured).toBe(true); // 11 > 10
    gates[9]!.resolve();
    await waitFor(() => runtime.stats.unsettled === 10);
    expect(runtime.backpressured).toBe(false);
    expect(runtime.stats.pauses).toBe(1);
    for (const g of gates) g.resolve();
    await waitFor(() => runtime.stats.unsettled === 0);
  });

  it('stop() drains: waits for writes and acknowledgements, then closes everything', async () => {
    const sink = fakeSink('slow', isNumber, {
      write: async () => {
        await sleep(30);
        return { status: 'delivered' };
      },
    });
    const { source, runtime } = await start({ stages: [split], sinks: [sink] });
    const ids = [source.send('{"items":[1,2]}'), source.send('{"items":[3]}')];
    expect(await runtime.stop(2000)).toBe(true);
    expect(ids.map((id) => source.settled(id))).toEqual([1, 1]);
    expect(sink.delivered.sort()).toEqual([1, 2, 3]);
    expect(source.intakeStopped && source.closed && sink.closed).toBe(true);
  });

  it('stop() returns false past its deadline while a sink keeps failing, leaving the message unsettled', async () => {
    const sink = fakeSink('down', isNumber, { write: () => retryResult });
    const { source, runtime } = await start({ sinks: [sink] });
    const id = source.send('42');
    const t0 = Date.now();
    expect(await runtime.stop(100)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(source.settled(id)).toBe(0);
    expect(runtime.stats.unsettled).toBe(1);
    const writes = sink.writes;
    await sleep(30);
    expect(sink.writes).toBe(writes);
  });
});

describe('Runtime: retained deletions', () => {
  it('settles an empty retained message (a deletion on the broker) without a reading or a dead letter', async () => {
    const source = new FakeSource();
    const sink = fakeSink('readings', (_i: unknown): _i is unknown => true);
    const dead = fakeDeadLetters();
    const runtime = new Runtime({ source, stages: [], sinks: [sink], deadLetters: dead, log: silentLogger });
    await runtime.start();
    const id = source.send(new Uint8Array(0), { retain: true });
    expect(source.settled(id)).toBe(1);
    expect(runtime.stats.retainedDeletions).toBe(1);
    const empty = source.send(new Uint8Array(0)); // not retained: an empty payload is a decode error
    await waitFor(() => source.settled(empty) === 1);
    expect(dead.delivered.map((d) => d.code)).toEqual(['decode_error']);
    expect(sink.delivered).toEqual([]);
    await runtime.stop();
  });
});

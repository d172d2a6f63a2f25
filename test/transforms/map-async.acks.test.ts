// mapAsync on the real runtime: bounded concurrency, and each message acknowledged exactly once,
// only after its own output was written, whatever order the calls finish in.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/log.js';
import { Runtime } from '../../pipeline/engine/runtime/runtime.js';
import { mapAsync } from '../../pipeline/core/stage.js';
import type { Sink, Transform } from '../../pipeline/core/types.js';
import { fakeDeadLetters, fakeSink, FakeSource, waitFor } from '../support/fakes.js';

describe('mapAsync acknowledgements', () => {
  it('keeps at most `concurrency` calls in flight and settles each message once, after its own write', async () => {
    let active = 0;
    let max = 0;
    const gates = new Map<number, () => void>();
    const stage = mapAsync('slow', 2, async (body: { n: number }) => {
      active++;
      max = Math.max(max, active);
      await new Promise<void>((r) => gates.set(body.n, r));
      active--;
      return body.n;
    });
    const sink = fakeSink('numbers', (x: unknown): x is number => typeof x === 'number', { batch: { maxItems: 1 } });
    const source = new FakeSource();
    const runtime = new Runtime({
      source,
      deadLetters: fakeDeadLetters(),
      log: silentLogger,
      retry: { initialDelayMs: 1, maxDelayMs: 2, giveUpAfterMs: Infinity },
      stages: [stage as unknown as Transform<unknown, unknown>],
      sinks: [sink as unknown as Sink<unknown>],
    });
    await runtime.start();
    const ids = [0, 1, 2, 3, 4].map((n) => source.send(JSON.stringify({ n })));
    await waitFor(() => gates.size === 2);
    expect([...gates.keys()]).toEqual([0, 1]); // the other three wait their turn
    const order = [1, 0, 3, 2, 4]; // finish out of order
    for (const n of order) {
      await waitFor(() => gates.has(n));
      gates.get(n)!();
      await waitFor(() => source.settled(ids[n]!) === 1);
      expect(sink.delivered).toContain(n);
      for (const other of order.slice(order.indexOf(n) + 1)) expect(source.settled(ids[other]!)).toBe(0);
    }
    expect(max).toBe(2);
    expect(ids.map((id) => source.settled(id))).toEqual([1, 1, 1, 1, 1]);
    expect(runtime.stats.unsettled).toBe(0);
    await runtime.stop(100);
  });

  it('refuses a concurrency below 1 (it would never run a call)', () => {
    expect(() => mapAsync('x', 0, async (n: number) => n)).toThrow(
      /mapAsync x concurrency: expected an integer ≥ 1, got 0/,
    );
  });
});

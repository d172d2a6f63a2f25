import { describe, expect, it } from 'vitest';
import { filter, flatMap, map, mapAsync, reject } from '../../../pipeline/core/stage.js';
import type { StageContext } from '../../../pipeline/core/types.js';

const ctx: StageContext = {
  meta: { topic: 't/1', qos: 1, retain: false, receivedAtMs: 5, format: 'json' },
  now: () => 99,
  retain: () => {
    throw new Error('not used');
  },
};
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('reject', () => {
  it('builds a Rejection with the default or given code', () => {
    expect(reject('bad')).toEqual({ rejected: { code: 'rejected', reason: 'bad' } });
    expect(reject('too hot', 'out_of_range')).toEqual({ rejected: { code: 'out_of_range', reason: 'too hot' } });
  });
});

describe('map', () => {
  const stage = map('double', (n: number, c) =>
    n < 0 ? reject('negative') : n === 0 ? undefined : n * 2 + c.now() * 0,
  );
  it('maps one to one', () => expect(stage.apply(4, ctx)).toEqual([8]));
  it('drops on undefined', () => expect(stage.apply(0, ctx)).toEqual([]));
  it('passes a rejection through', () => expect(stage.apply(-1, ctx)).toEqual(reject('negative')));
  it('has its name and sees the context', () => {
    expect(stage.name).toBe('double');
    expect(map('topic', (_: number, c) => c.meta.topic).apply(1, ctx)).toEqual(['t/1']);
  });
  it('keeps an object output that merely has a `rejected` key among others', () => {
    const v = { rejected: false, n: 1 };
    expect(map('m', () => v).apply(0, ctx)).toEqual([v]);
  });
});

describe('filter', () => {
  it('keeps bodies the predicate accepts and drops the rest', () => {
    const stage = filter('even', (n: number) => n % 2 === 0);
    expect(stage.apply(2, ctx)).toEqual([2]);
    expect(stage.apply(3, ctx)).toEqual([]);
  });
});

describe('flatMap', () => {
  it('returns every output, none, or the rejection', () => {
    const stage = flatMap('split', (b: { items: number[] }) => (b.items.length > 3 ? reject('too many') : b.items));
    expect(stage.apply({ items: [1, 2, 3] }, ctx)).toEqual([1, 2, 3]);
    expect(stage.apply({ items: [] }, ctx)).toEqual([]);
    expect(stage.apply({ items: [1, 2, 3, 4] }, ctx)).toEqual(reject('too many'));
  });
});

describe('mapAsync', () => {
  function tracked(concurrency: number) {
    let active = 0;
    let max = 0;
    let calls = 0;
    const gates: Array<() => void> = [];
    const stage = mapAsync('lookup', concurrency, async (n: number) => {
      calls++;
      active++;
      max = Math.max(max, active);
      await new Promise<void>((r) => gates.push(r));
      active--;
      return n * 10;
    });
    const releaseAll = () => gates.splice(0).forEach((g) => g());
    return {
      stage,
      releaseAll,
      get max() {
        return max;
      },
      get calls() {
        return calls;
      },
    };
  }

  it('maps asynchronously, dropping undefined and passing rejections', async () => {
    const stage = mapAsync('m', 2, async (n: number) => (n < 0 ? reject('neg') : n === 0 ? undefined : n + 1));
    expect(await stage.apply(1, ctx)).toEqual([2]);
    expect(await stage.apply(0, ctx)).toEqual([]);
    expect(await stage.apply(-1, ctx)).toEqual(reject('neg'));
  });

  it('never runs more than `concurrency` calls at once and completes them all', async () => {
    const t = tracked(3);
    const results = Array.from({ length: 10 }, (_, i) => t.stage.apply(i, ctx));
    await tick();
    expect(t.calls).toBe(3);
    while (t.calls < 10) {
      t.releaseAll();
      await tick();
    }
    t.releaseAll();
    expect(await Promise.all(results)).toEqual(Array.from({ length: 10 }, (_, i) => [i * 10]));
    expect(t.max).toBe(3);
  });

  it('keeps the bound when a new call arrives while a freed slot is being handed to a waiter', async () => {
    const t = tracked(1);
    const results = [t.stage.apply(1, ctx), t.stage.apply(2, ctx)];
    await tick();
    expect(t.calls).toBe(1);
    // A fresh call arriving in the same microtask burst that frees the slot still waits its turn.
    t.releaseAll();
    results.push(Promise.resolve().then(() => t.stage.apply(3, ctx)));
    await tick();
    expect(t.max).toBe(1);
    while (t.calls < 3) {
      t.releaseAll();
      await tick();
    }
    t.releaseAll();
    expect(await Promise.all(results)).toEqual([[10], [20], [30]]);
    expect(t.max).toBe(1);
  });

  it('frees the slot when the function throws', async () => {
    const stage = mapAsync('boom', 1, async (n: number) => {
      if (n === 1) throw new Error('boom');
      return n;
    });
    await expect(stage.apply(1, ctx)).rejects.toThrow('boom');
    await expect(
      Promise.race([stage.apply(2, ctx), new Promise((r) => setTimeout(() => r('stuck'), 100))]),
    ).resolves.toEqual([2]);
  });
});

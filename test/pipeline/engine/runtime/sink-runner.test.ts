import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../../pipeline/core/log.js';
import type { Origin } from '../../../../pipeline/engine/runtime/origin.js';
import { retryDelayMs, type RetryPolicy } from '../../../../pipeline/core/retry.js';
import { SinkRunner } from '../../../../pipeline/engine/runtime/sink-runner.js';
import { RuntimeStats } from '../../../../pipeline/engine/runtime/stats.js';
import type { Batch, BatchPolicy, Failure, Sink, WriteResult } from '../../../../pipeline/core/types.js';

const fast: RetryPolicy = { initialDelayMs: 1, maxDelayMs: 2, giveUpAfterMs: Infinity };
const bigBatch: BatchPolicy = { maxItems: 1000, maxBytes: 1 << 20, maxWaitMs: 10_000, maxConcurrency: 1 };

type Writer = (batch: Batch<string>, call: number) => WriteResult | Promise<WriteResult>;

function fakeSink(write: Writer, batch: Partial<BatchPolicy> = {}) {
  const batches: string[][] = [];
  const sink: Sink<string> = {
    name: 'fake',
    batch: { ...bigBatch, ...batch },
    accepts: (item): item is string => typeof item === 'string',
    encode: (item) => item,
    open: async () => {},
    close: async () => {},
    write: async (b) => {
      batches.push([...b.items]);
      return write(b, batches.length);
    },
  };
  return { sink, batches };
}

function harness(write: Writer, batch: Partial<BatchPolicy> = {}, retry: RetryPolicy = fast) {
  const { sink, batches } = fakeSink(write, batch);
  const delivered: string[] = [];
  const rejected: Array<{ item: string; failure: Failure }> = [];
  const stats = new RuntimeStats();
  const runner = new SinkRunner(
    sink,
    {
      delivered: (entries) => {
        delivered.push(...entries.items);
      },
      rejected: (entry, failure) => {
        rejected.push({ item: entry.item!, failure });
      },
    },
    retry,
    stats,
    silentLogger,
  );
  const add = (...items: string[]) => {
    for (const item of items) runner.add(item, item, {} as Origin);
  };
  return { runner, batches, delivered, rejected, stats, add };
}

const ok: WriteResult = { status: 'delivered' };
const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};
const tick = () => new Promise((r) => setTimeout(r, 0));

afterEach(() => {
  vi.useRealTimers();
});

describe('SinkRunner batching', () => {
  it('seals a batch at maxItems and keeps the rest open until flushed', async () => {
    const h = harness(() => ok, { maxItems: 4 });
    h.add('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i');
    await tick();
    expect(h.batches).toEqual([
      ['a', 'b', 'c', 'd'],
      ['e', 'f', 'g', 'h'],
    ]);
    await h.runner.idle();
    expect(h.batches).toEqual([['a', 'b', 'c', 'd'], ['e', 'f', 'g', 'h'], ['i']]);
    expect(h.delivered).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
  });

  it('seals a batch once the encoded bytes (plus a newline each) reach maxBytes', async () => {
    const h = harness(() => ok, { maxBytes: 10 });
    h.add('aaaa', 'bbbb', 'cccc');
    await tick();
    expect(h.batches).toEqual([['aaaa', 'bbbb']]);
    await h.runner.idle();
    expect(h.batches).toEqual([['aaaa', 'bbbb'], ['cccc']]);
  });

  it('flushes maxWaitMs after the first item of a batch', async () => {
    vi.useFakeTimers();
    const h = harness(() => ok, { maxWaitMs: 50 });
    h.add('a');
    await vi.advanceTimersByTimeAsync(30);
    h.add('b');
    await vi.advanceTimersByTimeAsync(19);
    expect(h.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.batches).toEqual([['a', 'b']]);
    expect(h.delivered).toEqual(['a', 'b']);
  });

  it('while every write slot is busy, a batch past maxWaitMs stays open and is sealed when the slot frees', async () => {
    vi.useFakeTimers();
    const gates: Array<() => void> = [];
    const h = harness(() => new Promise<WriteResult>((r) => gates.push(() => r(ok))), {
      maxWaitMs: 50,
      maxConcurrency: 1,
    });
    h.add('a');
    await vi.advanceTimersByTimeAsync(50);
    expect(h.batches).toEqual([['a']]); // slot free: written when maxWaitMs passed
    h.add('b');
    await vi.advanceTimersByTimeAsync(50);
    h.add('c');
    await vi.advanceTimersByTimeAsync(200);
    expect(h.batches).toEqual([['a']]); // no second batch cut by the clock while 'a' is being written
    gates.shift()!();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.batches).toEqual([['a'], ['b', 'c']]); // sealed the moment the slot freed
    gates.shift()!();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.delivered).toEqual(['a', 'b', 'c']);
    h.add('d'); // back to the clock once nothing is due
    await vi.advanceTimersByTimeAsync(49);
    expect(h.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.batches).toEqual([['a'], ['b', 'c'], ['d']]);
    gates.shift()!();
  });

  it('when a write slot frees, seals an open batch already half of maxItems; a smaller one waits for maxWaitMs', async () => {
    vi.useFakeTimers();
    const gates: Array<() => void> = [];
    const h = harness(() => new Promise<WriteResult>((r) => gates.push(() => r(ok))), {
      maxItems: 10,
      maxWaitMs: 250,
      maxConcurrency: 1,
    });
    h.add('a');
    h.runner.flush();
    h.add('b', 'c', 'd', 'e', 'f'); // half of maxItems, before maxWaitMs
    await vi.advanceTimersByTimeAsync(10);
    gates.shift()!();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.batches).toEqual([['a'], ['b', 'c', 'd', 'e', 'f']]); // sealed the moment the slot freed
    h.add('g', 'h', 'i', 'j'); // under half
    await vi.advanceTimersByTimeAsync(10);
    gates.shift()!();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.batches).toHaveLength(2); // stays open: a bigger batch costs no latency budget yet
    await vi.advanceTimersByTimeAsync(240);
    expect(h.batches).toEqual([['a'], ['b', 'c', 'd', 'e', 'f'], ['g', 'h', 'i', 'j']]);
    gates.shift()!();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.delivered).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  });

  it('keeps at most maxConcurrency writes in flight', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const gates: Array<() => void> = [];
    const h = harness(
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((r) => gates.push(r));
        inFlight--;
        return ok;
      },
      { maxItems: 1, maxConcurrency: 2 },
    );
    h.add('a', 'b', 'c', 'd', 'e');
    await tick();
    expect(h.batches).toHaveLength(2);
    const idle = h.runner.idle();
    while (h.delivered.length < 5) {
      gates.splice(0).forEach((g) => g());
      await tick();
    }
    await idle;
    expect(maxInFlight).toBe(2);
    expect(h.delivered.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('SinkRunner retries', () => {
  it('retries `retry` results with backoff until delivered', async () => {
    const h = harness((_b, call) =>
      call <= 3 ? { status: 'retry', failure: { code: 'http_503', reason: 'busy' } } : ok,
    );
    h.add('a', 'b');
    await h.runner.idle();
    expect(h.batches).toEqual([
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(h.delivered).toEqual(['a', 'b']);
    expect(h.rejected).toEqual([]);
    expect(h.stats.retries.get('fake')).toBe(3);
    expect(h.stats.delivered.get('fake')).toBe(2);
  });

  it('waits at least the Retry-After the sink reported', async () => {
    const times: number[] = [];
    const h = harness(
      (_b, call) => {
        times.push(performance.now());
        return call === 1
          ? { status: 'retry', failure: { code: 'http_429', reason: 'slow down' }, retryAfterMs: 60 }
          : ok;
      },
      {},
      { initialDelayMs: 1, maxDelayMs: 20, giveUpAfterMs: Infinity },
    );
    h.add('a');
    await h.runner.idle();
    expect(h.delivered).toEqual(['a']);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(55);
  });

  it('retries a sink that throws instead of losing the data', async () => {
    const h = harness((_b, call) => {
      if (call === 1) throw new Error('bug in sink');
      return ok;
    });
    h.add('a', 'b');
    await h.runner.idle();
    expect(h.delivered).toEqual(['a', 'b']);
    expect(h.rejected).toEqual([]);
    expect(h.stats.retries.get('fake')).toBe(1);
  });

  it('gives up after giveUpAfterMs and rejects each item as retry_exhausted', async () => {
    const h = harness(
      () => ({ status: 'retry', failure: { code: 'http_503', reason: 'down' } }),
      {},
      { initialDelayMs: 1, maxDelayMs: 5, giveUpAfterMs: 30 },
    );
    const t0 = Date.now();
    h.add('a', 'b');
    await h.runner.idle();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(29);
    expect(h.delivered).toEqual([]);
    expect(h.rejected.map((r) => r.item)).toEqual(['a', 'b']);
    for (const r of h.rejected) {
      expect(r.failure.code).toBe('retry_exhausted');
      expect(r.failure.reason).toContain('down');
    }
  }, 5000);

  it('stop() abandons a retry loop without delivering or rejecting', async () => {
    const h = harness(
      () => ({ status: 'retry', failure: { code: 'x', reason: 'down' } }),
      {},
      { initialDelayMs: 10_000, maxDelayMs: 10_000, giveUpAfterMs: Infinity },
    );
    h.add('a');
    h.runner.flush();
    await tick();
    expect(h.batches).toHaveLength(1);
    const t0 = Date.now();
    const idle = h.runner.idle();
    h.runner.stop();
    await idle;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(h.batches).toHaveLength(1);
    expect(h.delivered).toEqual([]);
    expect(h.rejected).toEqual([]);
  }, 5000);
});

describe('SinkRunner rejections', () => {
  it('bisects a rejected batch until the bad items are alone; every good item is delivered once', async () => {
    const items = ['a', 'b', 'BAD1', 'c', 'd', 'e', 'BAD2', 'f', 'g'];
    const h = harness((b) =>
      b.items.some((i) => i.startsWith('BAD'))
        ? { status: 'rejected', failure: { code: 'write_rejected', reason: 'bad line' } }
        : ok,
    );
    h.add(...items);
    await h.runner.idle();
    expect(h.rejected.map((r) => r.item)).toEqual(['BAD1', 'BAD2']);
    expect(h.rejected.every((r) => r.failure.code === 'write_rejected')).toBe(true);
    expect(h.delivered.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it('a rejected single item is reported without retrying', async () => {
    const h = harness(() => ({ status: 'rejected', failure: { code: 'write_rejected', reason: 'no' } }));
    h.add('x');
    await h.runner.idle();
    expect(h.batches).toEqual([['x']]);
    expect(h.rejected).toEqual([{ item: 'x', failure: { code: 'write_rejected', reason: 'no' } }]);
  });

  it('splits a partial result: listed items rejected, the others delivered', async () => {
    const h = harness(() => ({
      status: 'partial',
      rejected: [
        { index: 1, failure: { code: 'field_conflict', reason: 'type' } },
        { index: 3, failure: { code: 'field_conflict', reason: 'type' } },
      ],
    }));
    h.add('a', 'b', 'c', 'd', 'e');
    await h.runner.idle();
    expect(h.batches).toHaveLength(1);
    expect(h.rejected.map((r) => r.item)).toEqual(['b', 'd']);
    expect(h.delivered).toEqual(['a', 'c', 'e']);
  });
});

describe('SinkRunner.idle', () => {
  it('resolves at once when nothing is pending', async () => {
    const h = harness(() => ok);
    await h.runner.idle();
    expect(h.runner.pending).toBe(0);
  });

  it('resolves only after every buffered and in-flight item is written', async () => {
    const gate = deferred();
    const h = harness(
      async () => {
        await gate.promise;
        return ok;
      },
      { maxItems: 2, maxConcurrency: 1 },
    );
    h.add('a', 'b', 'c');
    let idle = false;
    const done = h.runner.idle().then(() => {
      idle = true;
    });
    await tick();
    expect(idle).toBe(false);
    expect(h.runner.pending).toBe(3);
    gate.resolve();
    await done;
    expect(h.delivered).toEqual(['a', 'b', 'c']);
    expect(h.runner.pending).toBe(0);
  });
});

describe('retryDelayMs', () => {
  const policy: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 1000, giveUpAfterMs: Infinity };
  it('doubles per attempt with jitter in [d/2, d], capped at maxDelayMs', () => {
    expect(retryDelayMs(policy, 1, 0, () => 0)).toBe(50);
    expect(retryDelayMs(policy, 1, 0, () => 1)).toBe(100);
    expect(retryDelayMs(policy, 3, 0, () => 0.5)).toBe(300);
    expect(retryDelayMs(policy, 10, 0, () => 1)).toBe(1000);
    expect(retryDelayMs(policy, 10, 0, () => 0)).toBe(500);
    expect(retryDelayMs(policy, 1000, 0, () => 1)).toBe(1000);
  });
  it('is never shorter than Retry-After (bounded at 4 × maxDelayMs)', () => {
    expect(retryDelayMs(policy, 1, 2000, () => 0)).toBe(2000);
    expect(retryDelayMs(policy, 1, 30, () => 1)).toBe(100);
    expect(retryDelayMs(policy, 1, 60_000, () => 0)).toBe(4000);
  });
});

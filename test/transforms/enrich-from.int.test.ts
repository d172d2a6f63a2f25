import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { StageOutput, Reading } from '../../pipeline/core/types.js';
import { enrichFrom, type Lookup } from '../../transforms/enrich-from.js';
import { mapLookup } from '../../transforms/lookups/map-lookup.js';
import { redisHash } from '../../transforms/lookups/redis-hash.js';
import { REDIS_URL, uniqueName } from '../support/services.js';
import { ctxAt, outs, reading } from '../support/transforms.js';

/** A lookup whose loads the test resolves by hand. */
function manualLookup() {
  const loads: Array<{
    key: string;
    resolve: (v: Record<string, string> | undefined) => void;
    reject: (e: Error) => void;
  }> = [];
  const lookup: Lookup = {
    name: 'registry',
    key: (r) => r.tags.device,
    load: (key) => new Promise((resolve, reject) => loads.push({ key, resolve, reject })),
  };
  return { lookup, loads };
}

const dev = (device: string, fields: Reading['fields'] = { v: 1 }) => reading(fields, { device });

describe('enrichFrom', () => {
  it('loads a key once for concurrent misses (single flight), then serves hits synchronously', async () => {
    const { lookup, loads } = manualLookup();
    const stage = enrichFrom(lookup, { ttlMs: 60_000 });
    const ctx = ctxAt(1000);
    const pending = [stage.apply(dev('d1'), ctx), stage.apply(dev('d1'), ctx), stage.apply(dev('d2'), ctx)];
    expect(pending.every((p) => p instanceof Promise)).toBe(true);
    expect(loads.map((l) => l.key)).toEqual(['d1', 'd2']);
    loads[0]!.resolve({ model: 'TX' });
    loads[1]!.resolve({ model: 'RX' });
    const results = (await Promise.all(pending)) as Array<readonly Reading[]>;
    expect(results.map((r) => r[0]!.tags)).toEqual([
      { model: 'TX', device: 'd1' },
      { model: 'TX', device: 'd1' },
      { model: 'RX', device: 'd2' },
    ]);
    const hit = stage.apply(dev('d1'), ctx);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(outs(hit)[0]!.tags.model).toBe('TX');
    expect(stage.stats).toEqual({ hits: 1, misses: 3, loads: 2, failures: 0 });
  });

  it('reloads after the TTL on the pipeline clock, and evicts the least recently used past maxEntries', async () => {
    let calls = 0;
    const stage = enrichFrom(
      { key: (r) => r.tags.device, load: async (k) => ({ n: `${k}-${++calls}` }) },
      { ttlMs: 100, maxEntries: 2 },
    );
    const at = (ms: number, d: string) => stage.apply(dev(d), ctxAt(ms));
    expect(((await at(0, 'a')) as Reading[])[0]!.tags.n).toBe('a-1');
    expect(outs(at(99, 'a'))[0]!.tags.n).toBe('a-1');
    expect(((await at(100, 'a')) as Reading[])[0]!.tags.n).toBe('a-2');
    await at(100, 'b');
    outs(at(101, 'a')); // a is now the most recently used
    await at(102, 'c'); // evicts b
    expect(stage.cached).toBe(2);
    expect(outs(at(103, 'a'))[0]!.tags.n).toBe('a-2');
    expect(at(103, 'b')).toBeInstanceOf(Promise);
  });

  it('fails a lookup per onError, does not cache the failure, and counts it once per load', async () => {
    const { lookup, loads } = manualLookup();
    const rejecting = enrichFrom(lookup);
    const a = rejecting.apply(dev('d1'), ctxAt());
    const b = rejecting.apply(dev('d1'), ctxAt());
    loads[0]!.reject(new Error('registry down'));
    const expected = { rejected: { code: 'lookup_failed', reason: 'registry: lookup of "d1" failed: registry down' } };
    expect(await a).toEqual(expected);
    expect(await b).toEqual(expected);
    expect(rejecting.stats.failures).toBe(1);
    const retry = rejecting.apply(dev('d1'), ctxAt());
    expect(loads).toHaveLength(2);
    loads[1]!.resolve({ model: 'TX' });
    expect(((await retry) as Reading[])[0]!.tags.model).toBe('TX');

    const passing = enrichFrom(
      {
        key: () => 'k',
        load: () => {
          throw new Error('sync boom');
        },
      },
      { onError: 'pass' },
    );
    const r = dev('d9');
    expect(outs(passing.apply(r, ctxAt()))[0]).toBe(r);
  });

  it('passes unknown keys and readings without a key; onMissing reject; into fields; onConflict', () => {
    const entries = { d1: { model: 'TX', device: 'other' } };
    const stage = enrichFrom(mapLookup({ entries }));
    expect(outs(stage.apply(dev('d1'), ctxAt()))[0]!.tags).toEqual({ model: 'TX', device: 'd1' });
    const unknown = dev('zz');
    expect(outs(stage.apply(unknown, ctxAt()))[0]).toBe(unknown);
    const keyless = reading({ v: 1 }, {});
    expect(outs(stage.apply(keyless, ctxAt()))[0]).toBe(keyless);
    expect(enrichFrom(mapLookup({ entries }), { onMissing: 'reject' }).apply(dev('zz'), ctxAt())).toEqual({
      rejected: { code: 'lookup_missing', reason: 'map: no entry for key "zz"' },
    });
    expect(
      outs(enrichFrom(mapLookup({ entries }), { onConflict: 'replace' }).apply(dev('d1'), ctxAt()))[0]!.tags.device,
    ).toBe('other');
    expect(
      outs(
        enrichFrom(mapLookup({ entries: new Map([['d1', { fw: '1.2' }]]) }), { into: 'fields' }).apply(
          dev('d1'),
          ctxAt(),
        ),
      )[0]!.fields,
    ).toEqual({ fw: '1.2', v: 1 });
  });

  it('refuses bad options at construction', () => {
    expect(() => enrichFrom(mapLookup({ entries: {} }), { maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => enrichFrom({} as Lookup)).toThrow(/key\(reading\) and load\(key\)/);
  });
});

describe('redisHash (real Redis)', () => {
  const prefix = uniqueName('enrich');
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    await redis.del(`${prefix}:d1`, `${prefix}:d2`, `${prefix}:d3`);
    redis.disconnect();
  });

  it('costs one HGETALL per device per TTL, however many readings and concurrent misses', async () => {
    await redis.hset(`${prefix}:d1`, { model: 'TX-100', owner: 'acme' });
    await redis.hset(`${prefix}:d2`, { model: 'RX-7', owner: 'globex' });
    const hgetall = vi.spyOn(redis, 'hgetall');
    const stage = enrichFrom(redisHash({ redis, key: (r) => `${prefix}:${r.tags.device}`, fields: ['model'] }), {
      ttlMs: 1000,
    });
    await stage.open!({ emit: () => {} });
    const burst = Array.from({ length: 50 }, (_, i) => stage.apply(dev(i % 2 ? 'd1' : 'd2'), ctxAt(0)));
    const results = await Promise.all(burst.map(async (p) => (await p) as StageOutput<Reading>));
    expect(hgetall).toHaveBeenCalledTimes(2);
    expect((results[1] as Reading[])[0]!.tags).toEqual({ model: 'TX-100', device: 'd1' });
    expect((results[0] as Reading[])[0]!.tags).toEqual({ model: 'RX-7', device: 'd2' });
    for (let i = 0; i < 100; i++) outs(stage.apply(dev('d1'), ctxAt(999)));
    expect(hgetall).toHaveBeenCalledTimes(2);
    await stage.apply(dev('d1'), ctxAt(1000)); // TTL over: one more round trip
    expect(hgetall).toHaveBeenCalledTimes(3);
    const missing = stage.apply(dev('nope'), ctxAt(0));
    expect(((await missing) as Reading[])[0]!.tags).toEqual({ device: 'nope' });
    expect(outs(stage.apply(dev('nope'), ctxAt(1))).length).toBe(1); // an unknown device is cached too
    expect(hgetall).toHaveBeenCalledTimes(4);
  });

  it('opens and closes its own connection from a url; Redis unreachable is a failed lookup', async () => {
    await redis.hset(`${prefix}:d3`, { site: 'north' });
    const own = enrichFrom(redisHash({ url: REDIS_URL, key: (r) => `${prefix}:${r.tags.device}` }));
    await own.open!({ emit: () => {} });
    expect(((await own.apply(dev('d3'), ctxAt())) as Reading[])[0]!.tags.site).toBe('north');
    await own.close!();
    const down = enrichFrom(redisHash({ url: 'redis://127.0.0.1:1', key: () => 'k', timeoutMs: 200 }));
    await down.open!({ emit: () => {} });
    expect(await down.apply(dev('d3'), ctxAt())).toHaveProperty('rejected.code', 'lookup_failed');
    await down.close!();
  });
});

// The shared state-machine cases against the Redis script, on the real Redis: the script and
// sinks/alert-queue/state-machine.ts must agree transition for transition.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAlertStore } from '../../../sinks/alert-queue/memory-store.js';
import { jobIdOf, timeKey, type AlertStore } from '../../../sinks/alert-queue/state-machine.js';
import { alertKeys, redisAlertStore } from '../../../sinks/alert-queue/store.js';
import { expected, machineCases, ruleOf, runCase, summarize, T0 } from '../../support/alert-cases.js';
import { REDIS_URL, uniqueName } from '../../support/services.js';

const prefix = uniqueName('tributary-test:alerts-machine');
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await redis.connect();
});

afterAll(async () => {
  const keys = await redis.keys(`*${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('alert state machine in Redis (the Lua script)', () => {
  it.each(machineCases.map((mc, i) => [mc.name, mc, i] as const))('%s', async (_name, mc, i) => {
    const keys = alertKeys(`${prefix}:${i}`);
    const store = redisAlertStore(redis, keys);
    const series = '["telemetry","device","dév:1","site","s|1"]';
    const { transitions, final } = await runCase(store, mc, `rule-${i}`, series, keys.sweepLock);
    expect(transitions.map(summarize)).toEqual(expected(mc));
    expect(final).toBe(mc.final);
    // The script and the TypeScript machine agree on the whole transition, job id included.
    const memory = await runCase(new MemoryAlertStore(), mc, `rule-${i}`, series, 'lock');
    expect(transitions).toEqual(
      memory.transitions.map((t) =>
        typeof t.value === 'number' ? { ...t, value: expect.closeTo(t.value, 9) as number } : t,
      ),
    );
    for (const t of transitions) expect(t.id).toBe(jobIdOf(t.ruleId, t.series, t.state, t.t));
    expect((await redis.hkeys(keys.outbox)).sort()).toEqual(transitions.map((t) => t.id).sort());
  });

  it('stores the rate base value exactly across batches', async () => {
    const keys = alertKeys(`${prefix}:rate-exact`);
    const store: AlertStore = redisAlertStore(redis, keys);
    const rule = ruleOf('rate', { kind: 'rate', fire: 1e9, clear: 0 });
    const v = 20.123456789012345;
    await store.apply({
      now: T0,
      nowT: timeKey(0n),
      workerId: 'w',
      rules: { rate: rule },
      groups: [['rate', 's', [[timeKey(1n), 'r', v]]]],
    });
    expect((await store.read('rate', 's'))?.pv).toBe(v);
  });

  it('applies one batch of several rules and series, with values of every kind, as the TypeScript machine does', async () => {
    const keys = alertKeys(`${prefix}:mixed`);
    const rules = {
      hot: ruleOf('hot', {}),
      mode: ruleOf('mode', { field: 'mode' }),
      door: ruleOf('door', { field: 'open' }),
      dead: ruleOf('dead', { kind: 'absent', afterMs: 1000 }),
    };
    const t = (ms: number) => timeKey(BigInt(T0 + ms) * 1_000_000n);
    const batch = (at: number, signal: 'f' | 'c') =>
      [
        [
          'hot',
          'a',
          [
            [t(at), 'n', 20.5],
            [t(at + 1), signal, 31.25],
          ],
        ],
        ['mode', 'a', [[t(at + 2), signal, 'manual|"x"']]],
        ['door', 'b', [[t(at + 3), signal, false]]],
        ['hot', 'b', [[t(at + 4), signal, -1]]],
        ['dead', 'a', [[t(at + 5), 'c']]],
        ['dead', 'c', [[t(at + 6), 'c']]],
      ] as const;
    const run = async (store: AlertStore) => [
      ...(await store.apply({ now: T0, nowT: t(0), workerId: 'w', rules, groups: batch(0, 'f') })),
      ...(await store.apply({ now: T0 + 100, nowT: t(100), workerId: 'w', rules, groups: batch(100, 'c') })),
    ];
    const fromRedis = await run(redisAlertStore(redis, keys));
    expect(fromRedis.map((tr) => [tr.ruleId, tr.series, tr.state, tr.value])).toEqual([
      ['hot', 'a', 'firing', 31.25],
      ['mode', 'a', 'firing', 'manual|"x"'],
      ['door', 'b', 'firing', false],
      ['hot', 'b', 'firing', -1],
      ['hot', 'a', 'resolved', 31.25],
      ['mode', 'a', 'resolved', 'manual|"x"'],
      ['door', 'b', 'resolved', false],
      ['hot', 'b', 'resolved', -1],
    ]);
    expect(fromRedis).toEqual(await run(new MemoryAlertStore()));
    expect(await redis.zcard(keys.deadlines)).toBe(2); // both deadmen armed
  });

  it('sweeps once per lock key and leases claimed outbox entries', async () => {
    const keys = alertKeys(`${prefix}:sweep`);
    const store = redisAlertStore(redis, keys);
    await store.apply({
      now: T0,
      nowT: timeKey(0n),
      workerId: 'w1',
      rules: { r: ruleOf('r', {}) },
      groups: [['r', 's', [[timeKey(1n), 'f']]]],
    });
    const sweep = (now: number, lock: string) =>
      store.sweep(
        {
          now,
          nowT: timeKey(BigInt(now) * 1_000_000n),
          workerId: 'w2',
          rules: {},
          limit: 10,
          graceMs: 10_000,
          claimLimit: 10,
          lockMs: 60_000,
        },
        `${keys.sweepLock}:${lock}`,
      );
    expect(await sweep(T0 + 5000, 'a')).toEqual({ skipped: false, transitions: [], claimed: [] });
    expect((await sweep(T0 + 20_000, 'a')).skipped).toBe(true);
    const late = await sweep(T0 + 20_000, 'b');
    expect(late.claimed.map((t) => [t.ruleId, t.state, t.workerId])).toEqual([['r', 'firing', 'w1']]);
    expect((await sweep(T0 + 21_000, 'c')).claimed).toEqual([]);
    await store.ack(late.claimed.map((t) => t.id));
    expect(await redis.hlen(keys.outbox)).toBe(0);
    expect(await redis.zcard(keys.leases)).toBe(0);
  });
});

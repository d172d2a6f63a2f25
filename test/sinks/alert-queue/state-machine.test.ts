import { describe, expect, it } from 'vitest';
import { MemoryAlertStore } from '../../../sinks/alert-queue/memory-store.js';
import { dns, jobIdOf, msOf, timeKey } from '../../../sinks/alert-queue/state-machine.js';
import { expected, machineCases, ruleOf, runCase, summarize, T0 } from '../../support/alert-cases.js';

describe('alert state machine (in memory, fake clock)', () => {
  it.each(machineCases.map((mc) => [mc.name, mc] as const))('%s', async (_name, mc) => {
    const store = new MemoryAlertStore();
    const { transitions, final } = await runCase(store, mc, 'rule-1', '["telemetry","device","d1"]', 'lock');
    expect(transitions.map(summarize)).toEqual(expected(mc));
    expect(final).toBe(mc.final);
    // Every transition waits in the outbox until acknowledged as enqueued.
    expect([...store.outbox.keys()].sort()).toEqual(transitions.map((t) => t.id).sort());
  });

  it('gives each transition a deterministic job id BullMQ accepts (no ":", not an integer)', async () => {
    const id = jobIdOf('overheating', '["telemetry","device","d:1"]', 'firing', timeKey(1n));
    expect(id).toMatch(/^alert-[0-9a-f]{40}$/);
    expect(jobIdOf('overheating', '["telemetry","device","d:1"]', 'firing', timeKey(1n))).toBe(id);
    expect(jobIdOf('overheating', '["telemetry","device","d:1"]', 'resolved', timeKey(1n))).not.toBe(id);
    const store = new MemoryAlertStore();
    const [tr] = await store.apply({
      now: T0,
      nowT: timeKey(0n),
      workerId: 'w',
      rules: { r: ruleOf('r', {}) },
      groups: [['r', 's', [[timeKey(7n), 'f', 1]]]],
    });
    expect(tr?.id).toBe(jobIdOf('r', 's', 'firing', timeKey(7n)));
  });

  it('computes time differences exactly at nanosecond resolution', () => {
    const a = timeKey(1_700_000_000_123_456_789n),
      b = timeKey(1_700_000_000_123_456_788n);
    expect(dns(a, b)).toBe(1);
    expect(dns(timeKey(1_700_000_002_000_000_000n), timeKey(1_700_000_000_000_000_000n))).toBe(2e9);
    expect(msOf(a)).toBeCloseTo(1_700_000_000_123.456789, 3);
    expect(timeKey(-5n)).toBe('0'.repeat(20));
  });

  it('a sweep takes its lock once, and claims outbox entries only after the grace period', async () => {
    const store = new MemoryAlertStore();
    const rules = { r: ruleOf('r', {}) };
    await store.apply({
      now: T0,
      nowT: timeKey(0n),
      workerId: 'w1',
      rules,
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
          lockMs: 5000,
        },
        lock,
      );
    expect((await sweep(T0 + 5000, 'a')).claimed).toEqual([]);
    expect((await sweep(T0 + 8000, 'a')).skipped).toBe(true); // lock 'a' held for 5 s
    const late = await sweep(T0 + 12_000, 'b');
    expect(late.claimed.map((t) => t.state)).toEqual(['firing']);
    // Claimed entries are leased: a second sweep right after does not take them again.
    expect((await sweep(T0 + 13_000, 'c')).claimed).toEqual([]);
    await store.ack(late.claimed.map((t) => t.id));
    expect((await sweep(T0 + 60_000, 'd')).claimed).toEqual([]);
  });
});

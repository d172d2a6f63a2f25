// The deadman gate on pipeline flow, in memory with a fake clock: a sweep fires a deadman only once
// the pipeline has flowed freely for the rule's afterMs, so a stalled pipeline (backpressure pause,
// disconnected source) is not taken for silent devices. Sweeps are built as the sink builds them.
import { describe, expect, it } from 'vitest';
import type { PipelineFlow } from '../../../pipeline/core/types.js';
import { MemoryAlertStore } from '../../../sinks/alert-queue/memory-store.js';
import {
  deadmanHolds,
  timeKey,
  type AlertTransition,
  type MachineRule,
} from '../../../sinks/alert-queue/state-machine.js';
import { ruleOf, T0 } from '../../support/alert-cases.js';

/** A fake clock (offsets from T0) and a pipeline flow on it that the test pauses and resumes. */
function pipeline() {
  let now = T0;
  let flowingSince: number | undefined = T0;
  const flow: PipelineFlow = { flowingForMs: () => (flowingSince === undefined ? 0 : now - flowingSince) };
  return {
    flow,
    at: (offsetMs: number) => {
      now = T0 + offsetMs;
    },
    now: () => now,
    stall: () => {
      flowingSince = undefined;
    },
    resume: () => {
      flowingSince = now;
    },
  };
}

/** A memory store swept the way the alert sink sweeps it (one lock per sweep, gated on `flow`). */
function sweeper(rules: Record<string, MachineRule>, p: ReturnType<typeof pipeline>, graceMs?: number) {
  const store = new MemoryAlertStore();
  const nowT = () => timeKey(BigInt(p.now()) * 1_000_000n);
  let sweeps = 0;
  return {
    store,
    seen: (ruleId: string, ...devices: string[]) =>
      store.apply({
        now: p.now(),
        nowT: nowT(),
        workerId: 'w1',
        rules,
        groups: devices.map((d) => [ruleId, d, [[nowT(), 'c']]] as const),
      }),
    sweep: () =>
      store.sweep(
        {
          now: p.now(),
          nowT: nowT(),
          workerId: 'w1',
          rules,
          hold: deadmanHolds(rules, p.flow.flowingForMs(), graceMs),
          limit: 1000,
          graceMs: 10_000,
          claimLimit: 1000,
          lockMs: 1, // lockMs 1: every sweep of the test runs
        },
        `lock:${sweeps++}`,
      ),
  };
}

const firing = (trs: readonly AlertTransition[]) =>
  trs
    .filter((t) => t.state === 'firing')
    .map((t) => `${t.ruleId}:${t.series}`)
    .sort();
const deadman = (id: string, afterMs: number) => ruleOf(id, { kind: 'absent', afterMs });
const devices = (n: number) => Array.from({ length: n }, (_, i) => `d${String(i).padStart(4, '0')}`);

describe('deadmanHolds', () => {
  it('holds each absent rule until the pipeline flowed for its own afterMs, or for graceMs when given', () => {
    const rules = { short: deadman('short', 10_000), long: deadman('long', 60_000) };
    expect(deadmanHolds(rules, 0)).toEqual({ short: 10_000, long: 60_000 });
    expect(deadmanHolds(rules, 9_999.5)).toEqual({ short: 1, long: 50_001 });
    expect(deadmanHolds(rules, 10_000)).toEqual({ long: 50_000 });
    expect(deadmanHolds(rules, 60_000)).toEqual({});
    expect(deadmanHolds(rules, 5_000, 20_000)).toEqual({ short: 15_000, long: 15_000 });
    expect(deadmanHolds(rules, 5_000, 0)).toEqual({});
    expect(deadmanHolds(rules, -Infinity)).toEqual({ short: 10_000, long: 60_000 }); // before open
    expect(deadmanHolds(rules, Number.NaN)).toEqual({ short: 10_000, long: 60_000 });
  });
});

describe('deadman sweeps gated on pipeline flow (memory store, fake clock)', () => {
  it('fires for a genuinely silent series while the pipeline flows', async () => {
    const p = pipeline();
    const s = sweeper({ deadman: deadman('deadman', 30_000) }, p);
    p.at(0);
    await s.seen('deadman', 'quiet', 'chatty');
    p.at(20_000);
    await s.seen('deadman', 'chatty');
    p.at(29_999);
    expect(firing((await s.sweep()).transitions)).toEqual([]);
    p.at(30_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['deadman:quiet']);
    p.at(50_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['deadman:chatty']);
  });

  it('fires nothing while the pipeline is stalled, nor until afterMs of free flow after it resumes', async () => {
    const p = pipeline();
    const s = sweeper({ deadman: deadman('deadman', 30_000) }, p);
    const fleet = devices(1000);
    p.at(0);
    await s.seen('deadman', ...fleet);
    p.at(10_000);
    p.stall(); // e.g. InfluxDB stopped: intake paused for backpressure, the alert sink gets nothing
    for (const t of [30_000, 40_000, 50_000, 70_000]) {
      p.at(t);
      expect(p.flow.flowingForMs()).toBe(0);
      expect((await s.sweep()).transitions).toEqual([]);
    }
    p.at(70_000);
    p.resume();
    p.at(71_000);
    await s.seen('deadman', ...fleet.slice(1)); // the backlog: every device but d0000 had kept talking
    for (const t of [75_000, 99_999]) {
      p.at(t);
      expect((await s.sweep()).transitions).toEqual([]); // d0000 overdue since 30 s, but < 30 s of flow
    }
    p.at(100_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['deadman:d0000']);
    expect((await s.store.read('deadman', 'd0001'))?.s).toBe('inactive');
  });

  it('a short stall just before the deadline also waits afterMs of flow; a disconnect mid-hold restarts it', async () => {
    const p = pipeline();
    const s = sweeper({ deadman: deadman('deadman', 30_000) }, p);
    p.at(0);
    await s.seen('deadman', 'quiet');
    p.at(25_000);
    p.stall();
    p.at(27_000);
    p.resume();
    p.at(40_000);
    expect((await s.sweep()).transitions).toEqual([]); // overdue, but only 13 s of flow
    p.at(50_000);
    p.stall(); // disconnected from the broker
    p.at(56_000);
    expect((await s.sweep()).transitions).toEqual([]);
    p.at(60_000);
    p.resume();
    p.at(89_999);
    expect((await s.sweep()).transitions).toEqual([]);
    p.at(90_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['deadman:quiet']);
  });

  it('gates each rule on its own afterMs', async () => {
    const p = pipeline();
    const s = sweeper({ short: deadman('short', 10_000), long: deadman('long', 60_000) }, p);
    p.at(0);
    await s.seen('short', 'dev');
    await s.seen('long', 'dev');
    p.stall();
    p.at(100_000);
    expect((await s.sweep()).transitions).toEqual([]);
    p.resume();
    p.at(110_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['short:dev']);
    p.at(159_999);
    expect((await s.sweep()).transitions).toEqual([]);
    p.at(160_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['long:dev']);
  });

  it('a single graceMs gates every rule alike', async () => {
    const p = pipeline();
    const s = sweeper({ short: deadman('short', 10_000), long: deadman('long', 60_000) }, p, 60_000);
    p.at(0);
    await s.seen('short', 'dev');
    await s.seen('long', 'dev');
    p.stall();
    p.at(100_000);
    p.resume();
    p.at(110_000);
    expect((await s.sweep()).transitions).toEqual([]);
    p.at(160_000);
    expect(firing((await s.sweep()).transitions)).toEqual(['long:dev', 'short:dev']);
  });

  it('while held, sweeps still claim abandoned outbox entries and readings still resolve', async () => {
    const p = pipeline();
    const s = sweeper({ deadman: deadman('deadman', 30_000) }, p);
    p.at(0);
    await s.seen('deadman', 'dev');
    p.at(30_000);
    const [fired] = (await s.sweep()).transitions;
    expect(fired?.state).toBe('firing'); // left in the outbox, as by a worker that died before enqueueing
    p.at(35_000);
    p.stall();
    p.at(41_000);
    const held = await s.sweep();
    expect(held.transitions).toEqual([]);
    expect(held.claimed.map((t) => t.id)).toEqual([fired!.id]);
    const resolved = await s.seen('deadman', 'dev'); // e.g. a reading retried through the stall
    expect(resolved.map((t) => t.state)).toEqual(['resolved']);
  });
});

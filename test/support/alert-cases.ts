// The alert state machine's cases, run against the in-memory machine (unit) and the Redis script
// (integration): same steps, same expected transitions and final state.
import {
  timeKey,
  type AlertState,
  type AlertStore,
  type AlertTransition,
  type MachineRule,
  type Observation,
  type Signal,
} from '../../sinks/alert-queue/state-machine.js';

/** Event-time origin of every case (ms). Offsets are ms, or ns when written as a bigint. */
export const T0 = 1_700_000_000_000;
type Offset = number | bigint;
const key = (off: Offset) =>
  timeKey(BigInt(T0) * 1_000_000n + (typeof off === 'bigint' ? off : BigInt(off) * 1_000_000n));

export type Step =
  | { readonly batch: ReadonlyArray<readonly [Offset, Signal, number?]> }
  /** A deadman sweep at this clock offset. */
  | { readonly sweep: number }
  /** Data for an `absent` rule arrives at this clock offset. */
  | { readonly seen: number };

export interface MachineCase {
  readonly name: string;
  readonly rule: Partial<MachineRule>;
  readonly steps: readonly Step[];
  /** [state, repeat, event-time offset, value] of each transition, in order. */
  readonly expect: ReadonlyArray<readonly [AlertTransition['state'], boolean, Offset, number?]>;
  readonly final: AlertState;
}

const f = (t: Offset, v?: number) => [t, 'f', v] as const;
const c = (t: Offset, v?: number) => [t, 'c', v] as const;
const n = (t: Offset, v?: number) => [t, 'n', v] as const;
const r = (t: Offset, v: number) => [t, 'r', v] as const;

export const machineCases: readonly MachineCase[] = [
  {
    name: 'fires at once without forMs and resolves on clear',
    rule: {},
    steps: [{ batch: [n(0, 25), f(1000, 31), f(2000, 32), c(3000, 27)] }],
    expect: [
      ['firing', false, 1000, 31],
      ['resolved', false, 3000, 27],
    ],
    final: 'resolved',
  },
  {
    name: 'hysteresis band (hold) keeps firing until a clear',
    rule: {},
    steps: [{ batch: [f(0, 31), n(1000, 29), n(2000, 28.5)] }, { batch: [c(3000, 27.9)] }],
    expect: [
      ['firing', false, 0, 31],
      ['resolved', false, 3000, 27.9],
    ],
    final: 'resolved',
  },
  {
    name: 'forMs: pending first, firing once the condition held forMs',
    rule: { forMs: 2000 },
    steps: [{ batch: [f(0), f(1000)] }, { batch: [f(1999), f(2000)] }],
    expect: [['firing', false, 2000]],
    final: 'firing',
  },
  {
    name: 'forMs: a clear while pending restarts the wait, without jobs',
    rule: { forMs: 2000 },
    steps: [{ batch: [f(0), f(1500), c(1800), f(2500), f(4000), f(4500)] }],
    expect: [['firing', false, 4500]],
    final: 'firing',
  },
  {
    name: 'forMs: a hold while pending keeps the pending start',
    rule: { forMs: 2000 },
    steps: [{ batch: [f(0), n(1000), f(2500)] }],
    expect: [['firing', false, 2500]],
    final: 'firing',
  },
  {
    name: 'forMs: pending then clear ends inactive',
    rule: { forMs: 5000 },
    steps: [{ batch: [f(0), f(1000), c(2000)] }],
    expect: [],
    final: 'inactive',
  },
  {
    name: 'repeats while firing, at most every repeatIntervalMs',
    rule: { repeatMs: 1000 },
    steps: [{ batch: [f(0), f(500), n(1000), f(1999)] }, { batch: [f(2000), c(2500)] }],
    expect: [
      ['firing', false, 0],
      ['firing', true, 1000],
      ['firing', true, 2000],
      ['resolved', false, 2500],
    ],
    final: 'resolved',
  },
  {
    name: 'ignores observations older than the last one (redelivery, other workers)',
    rule: {},
    steps: [{ batch: [f(0), c(1000)] }, { batch: [f(500)] }, { batch: [f(0), c(1000)] }],
    expect: [
      ['firing', false, 0],
      ['resolved', false, 1000],
    ],
    final: 'resolved',
  },
  {
    name: 'ignores a second observation at the same time',
    rule: {},
    steps: [{ batch: [f(0)] }, { batch: [c(0)] }],
    expect: [['firing', false, 0]],
    final: 'firing',
  },
  {
    name: 'orders by nanoseconds exactly',
    rule: {},
    steps: [{ batch: [c(5n)] }, { batch: [f(4n)] }, { batch: [f(6n)] }],
    expect: [['firing', false, 6n]],
    final: 'firing',
  },
  {
    name: 'fires again after a resolve',
    rule: {},
    steps: [{ batch: [f(0), c(1000), f(2000)] }],
    expect: [
      ['firing', false, 0],
      ['resolved', false, 1000],
      ['firing', false, 2000],
    ],
    final: 'firing',
  },
  {
    name: 'rate of change (rise) with hysteresis',
    rule: { kind: 'rate', fire: 2, clear: 0.5, direction: 'rise' },
    steps: [{ batch: [r(0, 20), r(1000, 21)] }, { batch: [r(2000, 24), r(3000, 25), r(4000, 25.25)] }],
    expect: [
      ['firing', false, 2000, 3],
      ['resolved', false, 4000, 0.25],
    ],
    final: 'resolved',
  },
  {
    name: 'rate of change (fall) across batches',
    rule: { kind: 'rate', fire: 4, clear: 1, direction: 'fall' },
    steps: [{ batch: [r(0, 50)] }, { batch: [r(500, 47.5)] }, { batch: [r(1500, 47)] }],
    expect: [
      ['firing', false, 500, 5],
      ['resolved', false, 1500, 0.5],
    ],
    final: 'resolved',
  },
  {
    name: 'rate of change (any) ignores a replayed older value',
    rule: { kind: 'rate', fire: 4, clear: 1, direction: 'any' },
    steps: [{ batch: [r(0, 10), r(1000, 16)] }, { batch: [r(500, 100)] }, { batch: [r(2000, 16.5)] }],
    expect: [
      ['firing', false, 1000, 6],
      ['resolved', false, 2000, 0.5],
    ],
    final: 'resolved',
  },
  {
    name: 'deadman fires after afterMs of silence and resolves when data returns',
    rule: { kind: 'absent', afterMs: 30_000 },
    steps: [
      { seen: 0 },
      { sweep: 10_000 },
      { seen: 20_000 },
      { sweep: 49_999 },
      { sweep: 50_000 },
      { sweep: 90_000 },
      { seen: 95_000 },
    ],
    expect: [
      ['firing', false, 50_000],
      ['resolved', false, 95_000],
    ],
    final: 'resolved',
  },
  {
    name: 'deadman honours forMs',
    rule: { kind: 'absent', afterMs: 30_000, forMs: 5000 },
    steps: [{ seen: 0 }, { sweep: 30_000 }, { sweep: 34_000 }, { sweep: 35_000 }],
    expect: [['firing', false, 35_000]],
    final: 'firing',
  },
  {
    name: 'deadman repeats while firing',
    rule: { kind: 'absent', afterMs: 30_000, repeatMs: 10_000 },
    steps: [{ seen: 0 }, { sweep: 30_000 }, { sweep: 35_000 }, { sweep: 40_000 }, { seen: 41_000 }],
    expect: [
      ['firing', false, 30_000],
      ['firing', true, 40_000],
      ['resolved', false, 41_000],
    ],
    final: 'resolved',
  },
];

/** The machine rule of a case. */
export function ruleOf(id: string, partial: Partial<MachineRule>): MachineRule {
  return {
    id,
    kind: 'signal',
    forMs: 0,
    repeatMs: 0,
    afterMs: 0,
    fire: 0,
    clear: 0,
    direction: 'any',
    severity: 'warning',
    labels: { team: 'ops' },
    field: partial.kind === 'absent' ? null : 'temperature',
    ...partial,
  };
}

/** Runs a case's steps against `store`; returns every transition and the final stored state. */
export async function runCase(store: AlertStore, mc: MachineCase, ruleId: string, series: string, lockBase: string) {
  const rule = ruleOf(ruleId, mc.rule);
  const transitions: AlertTransition[] = [];
  let i = 0;
  for (const s of mc.steps) {
    const now = T0 + ('sweep' in s ? s.sweep : 'seen' in s ? s.seen : 0);
    const nowT = key(now - T0);
    if ('sweep' in s) {
      const reply = await store.sweep(
        {
          now,
          nowT,
          workerId: 'w1',
          rules: { [ruleId]: rule },
          limit: 100,
          graceMs: 60_000,
          claimLimit: 100,
          lockMs: 10_000,
        },
        `${lockBase}:${i++}`,
      );
      transitions.push(...reply.transitions);
    } else {
      const obs: Observation[] =
        'seen' in s
          ? [[nowT, 'c']]
          : s.batch.map(([t, sig, v]) => (v === undefined ? [key(t), sig] : [key(t), sig, v]));
      transitions.push(
        ...(await store.apply({
          now,
          nowT,
          workerId: 'w1',
          rules: { [ruleId]: rule },
          groups: [[ruleId, series, obs]],
        })),
      );
    }
  }
  return { transitions, final: (await store.read(ruleId, series))?.s ?? 'inactive' };
}

/** A transition as the expectations write it (values rounded: the script's JSON keeps 14 digits). */
export function summarize(tr: AlertTransition): readonly [string, boolean, Offset, number?] {
  const off = BigInt(tr.t) - BigInt(T0) * 1_000_000n;
  const t: Offset = off % 1_000_000n === 0n ? Number(off / 1_000_000n) : off;
  return typeof tr.value === 'number'
    ? [tr.state, tr.repeat, t, Math.round(tr.value * 1e9) / 1e9]
    : [tr.state, tr.repeat, t];
}

/** The expectation of a case in the shape of {@link summarize}. */
export function expected(mc: MachineCase) {
  return mc.expect.map(([state, repeat, t, v]) => (v === undefined ? [state, repeat, t] : [state, repeat, t, v]));
}

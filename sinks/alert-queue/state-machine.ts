/**
 * The alert state machine per rule and series, pure: inactive → pending → firing → resolved.
 * `lua.ts` is the same machine for Redis; the shared case table in test/support/alert-cases.ts runs
 * against both. Times are event times as 20-digit ns strings, so the machine is exact and
 * replaying an observation changes nothing.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';

/** The states of one rule for one series. `resolved` behaves like `inactive`. */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'resolved';

/** A rule as the machine sees it (and as the Lua script receives it). */
export interface MachineRule {
  readonly id: string;
  /** `signal`: the worker evaluated fire/clear per reading; `rate`: the machine computes it; `absent`: deadman. */
  readonly kind: 'signal' | 'rate' | 'absent';
  readonly forMs: number;
  readonly repeatMs: number;
  /** Deadman silence, for `absent`. */
  readonly afterMs: number;
  /** Thresholds on the rate per second, for `rate`. */
  readonly fire: number;
  readonly clear: number;
  readonly direction: 'rise' | 'fall' | 'any';
  readonly severity: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly field: string | null;
}

/** `f` fire, `c` clear, `n` hold, `r` a raw value for a `rate` rule. */
export type Signal = 'f' | 'c' | 'n' | 'r';

/** One observation: event time (20-digit ns string), signal, and the value worth reporting. */
export type Observation = readonly [t: string, signal: Signal, value?: number | string | boolean];

/** What is stored per rule and series. Short keys: there is one of these per series. */
export interface SeriesState {
  s: AlertState;
  /** Last applied event time; older observations are ignored. */
  t?: string;
  /** Pending since. */
  ps?: string;
  /** Firing since. */
  fs?: string;
  /** Last notified (firing or repeat). */
  nt?: string;
  /** Previous value and time, for `rate` (Lua stores the value as a `%.17g` string, exact). */
  pv?: number;
  pt?: string;
}

/** One transition worth a job; also what the outbox holds until the job is enqueued. */
export interface AlertTransition {
  readonly id: string;
  readonly ruleId: string;
  readonly severity: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly field?: string | null;
  readonly series: string;
  readonly state: 'firing' | 'resolved';
  readonly repeat: boolean;
  readonly t: string;
  readonly value?: number | string | boolean;
  readonly startsAt?: string;
  readonly endsAt?: string;
  readonly workerId: string;
}

/** One batch for the store: observations grouped per rule and series, each group in time order. */
export interface BatchPayload {
  /** The caller's clock in ms, and the same instant as a 20-digit ns string. */
  readonly now: number;
  readonly nowT: string;
  readonly workerId: string;
  readonly rules: Readonly<Record<string, MachineRule>>;
  readonly groups: ReadonlyArray<readonly [ruleId: string, series: string, observations: readonly Observation[]]>;
}

/** One deadman sweep, which also claims outbox entries left behind by a crashed worker. */
export interface SweepPayload {
  readonly now: number;
  readonly nowT: string;
  readonly workerId: string;
  /** The `absent` rules. */
  readonly rules: Readonly<Record<string, MachineRule>>;
  /**
   * Rules whose deadmen may not fire yet (see {@link deadmanHolds}), with the ms they must still
   * wait: their overdue series are not stepped but looked at again that much later. Absent: none.
   */
  readonly hold?: Readonly<Record<string, number>>;
  /** Most overdue series handled per sweep. */
  readonly limit: number;
  /** Outbox entries older than this are claimed (their writer is presumed dead). */
  readonly graceMs: number;
  readonly claimLimit: number;
  /** How long the sweep lock is held: one sweep per lock key. */
  readonly lockMs: number;
}

/** What a sweep did. */
export interface SweepReply {
  readonly skipped: boolean;
  readonly transitions: AlertTransition[];
  readonly claimed: AlertTransition[];
}

/** Where the machine's state lives: Redis (one script call per batch) or memory (tests). */
export interface AlertStore {
  /** Applies a batch atomically; returns the transitions, already recorded in the outbox. */
  apply(payload: BatchPayload): Promise<AlertTransition[]>;
  /** Takes `lockKey` if free, fires overdue deadmen and claims stale outbox entries. */
  sweep(payload: SweepPayload, lockKey: string): Promise<SweepReply>;
  /** Removes enqueued transitions from the outbox. */
  ack(ids: readonly string[]): Promise<void>;
  /** The stored state of a rule and series (for tests and tooling). */
  read(ruleId: string, series: string): Promise<SeriesState | undefined>;
}

/** ns since the epoch as the machine's 20-digit string. */
export function timeKey(ns: bigint): string {
  return (ns < 0n ? 0n : ns).toString().padStart(20, '0');
}

/** Exact `a - b` in ns for two time keys (as the Lua script computes it). */
export function dns(a: string, b: string): number {
  return (Number(a.slice(0, 11)) - Number(b.slice(0, 11))) * 1e9 + (Number(a.slice(11)) - Number(b.slice(11)));
}

/** A time key in ms (as the Lua script computes it). */
export function msOf(t: string): number {
  return Number(t.slice(0, 14)) + Number(t.slice(14)) / 1e6;
}

/** The job id of a transition: deterministic, so a replayed transition is never enqueued twice. */
export function jobIdOf(ruleId: string, series: string, state: string, t: string): string {
  return `alert-${createHash('sha1').update(`${ruleId}|${series}|${state}|${t}`).digest('hex')}`;
}

/** Applies one observation to `rec`, calling `emit` for a transition worth a job. */
export function step(
  rule: MachineRule,
  series: string,
  rec: SeriesState,
  o: Observation,
  workerId: string,
  emit: (tr: AlertTransition) => void,
): void {
  const t = o[0];
  let c = o[1];
  let value = o[2];
  if (rec.t !== undefined && !(t > rec.t)) return; // time keys are 20 digits: string order is time order
  rec.t = t;
  if (rule.kind === 'rate') {
    const v = value as number;
    const { pv, pt } = rec;
    rec.pv = v;
    rec.pt = t;
    c = 'n';
    if (pv !== undefined && pt !== undefined) {
      let rate = (v - pv) / (dns(t, pt) / 1e9);
      if (rule.direction === 'fall') rate = -rate;
      else if (rule.direction === 'any') rate = Math.abs(rate);
      value = rate;
      if (rate >= rule.fire) c = 'f';
      else if (rate <= rule.clear) c = 'c';
    }
  }
  const notify = (state: 'firing' | 'resolved', repeat: boolean) =>
    emit(
      clean({
        id: jobIdOf(rule.id, series, state, t),
        ruleId: rule.id,
        severity: rule.severity,
        labels: rule.labels,
        field: rule.field,
        series,
        state,
        repeat,
        t,
        value,
        startsAt: rec.fs,
        endsAt: state === 'resolved' ? t : undefined,
        workerId,
      }),
    );
  const fire = () => {
    rec.s = 'firing';
    rec.fs = t;
    rec.nt = t;
    delete rec.ps;
    notify('firing', false);
  };
  if (rec.s === 'firing') {
    if (c === 'c') {
      rec.s = 'resolved';
      notify('resolved', false);
      delete rec.fs;
      delete rec.nt;
    } else if (rule.repeatMs > 0 && rec.nt !== undefined && dns(t, rec.nt) >= rule.repeatMs * 1e6) {
      rec.nt = t;
      notify('firing', true);
    }
  } else if (rec.s === 'pending') {
    if (c === 'c') {
      rec.s = 'inactive';
      delete rec.ps;
    } else if (c === 'f' && rec.ps !== undefined && dns(t, rec.ps) >= rule.forMs * 1e6) {
      fire();
    }
  } else if (c === 'f') {
    if (rule.forMs > 0) {
      rec.s = 'pending';
      rec.ps = t;
    } else {
      fire();
    }
  }
}

/**
 * The deadman gate: for each `absent` rule whose deadmen may not fire yet, the ms it must still
 * wait. A rule may fire once the pipeline has flowed freely for `graceMs`, or for the rule's own
 * `afterMs` when `graceMs` is undefined, so that the readings a backlog brings arrive first and a
 * stalled pipeline is not taken for silent devices.
 * @param flowingMs how long the pipeline has flowed freely; negative or NaN counts as 0
 * @example
 * deadmanHolds({ deadman: rule }, 10_000) // { deadman: 20_000 } when rule.afterMs is 30 000
 */
export function deadmanHolds(
  rules: Readonly<Record<string, MachineRule>>,
  flowingMs: number,
  graceMs?: number,
): Record<string, number> {
  const flowing = flowingMs > 0 ? flowingMs : 0;
  const hold: Record<string, number> = {};
  for (const [id, rule] of Object.entries(rules)) {
    const need = graceMs ?? rule.afterMs;
    if (flowing < need) hold[id] = Math.ceil(need - flowing);
  }
  return hold;
}

/** When a swept deadman series needs another look, in ms; `undefined` = not until data arrives. */
export function nextDue(rule: MachineRule, rec: SeriesState, now: number): number | undefined {
  if (rec.s === 'pending' && rec.ps !== undefined) return msOf(rec.ps) + rule.forMs;
  if (rec.s === 'firing') return rule.repeatMs > 0 && rec.nt !== undefined ? msOf(rec.nt) + rule.repeatMs : undefined;
  return now + rule.afterMs;
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

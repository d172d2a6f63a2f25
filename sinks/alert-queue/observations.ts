import type { Failure, Reading } from '../../pipeline/types.js';
import { seriesKey, type CompiledRule } from './evaluate.js';
import { timeKey, type BatchPayload, type MachineRule, type Observation, type Signal } from './state-machine.js';

/** What {@link ObservationFold.take} hands to the store. */
export interface CollectedRules {
  readonly groups: BatchPayload['groups'];
  readonly rules: Record<string, MachineRule>;
}

/** First character of what {@link ObservationFold.add} returns for a reading a rule threw on; the rest is the reason. */
const FAILED = '\u0015';

type Value = number | string | boolean;
/**
 * Observations before their times become time keys (only the kept ones are converted): time in
 * ns, signal and value, three entries each. Flat, because they wait for the next write, and the
 * garbage collector copies an array per observation while they wait.
 */
type Pending = Array<bigint | Signal | Value | undefined>;

/** One rule's observations of one series since the last take. */
interface Group {
  obs: Pending;
  /** Event times never went backwards: runs could be thinned as they came. */
  sorted: boolean;
}

interface SeriesGroups {
  readonly series: string;
  /** By rule index. */
  readonly perRule: Array<Group | undefined>;
}

/**
 * The alert rules' observations, folded per series and rule as readings are routed to the alert
 * sink: the sink's batches then hold nothing per reading, and a write takes everything folded so
 * far, which always includes the batch being written (readings are folded before their batch is
 * sealed). Taking more than the batch is safe: observations are idempotent, and older than a
 * series' last one are ignored, exactly as when a worker dies after writing and its messages are
 * redelivered.
 *
 * Runs of one signal are thinned to their first and last observation as they arrive where the
 * middle cannot change the outcome, which keeps the Redis script's work near one or two
 * observations per series and write. A deadman needs one "seen now" per series.
 */
export class ObservationFold {
  private current = new Map<string, SeriesGroups>();

  constructor(private readonly compiled: readonly CompiledRule[]) {}

  /** Whether nothing was folded since the last take. */
  get empty(): boolean {
    return this.current.size === 0;
  }

  /**
   * Evaluates the rules on `r` and folds its observations.
   * @returns '' when folded; when a rule threw, the reason (marked; see {@link ruleFailureOf}) and nothing is folded
   */
  add(r: Reading): string {
    const compiled = this.compiled, signals = this.signals;
    const selected = this.selectedFor === r ? this.selected : this.select(r);
    this.selectedFor = undefined;
    // Evaluated first, folded after: a reading a rule throws on contributes nothing.
    let any = false;
    for (let i = 0; i < compiled.length; i++) {
      const c = compiled[i]!;
      signals[i] = undefined;
      if (!selected[i]) continue;
      try {
        signals[i] = c.signal(r);
      } catch (error) {
        return `${FAILED}rule ${c.rule.id}: ${error instanceof Error ? error.message : String(error)}`;
      }
      any ||= signals[i] !== undefined;
    }
    if (!any) return '';
    const series = seriesKey(r);
    let s = this.current.get(series);
    if (s === undefined) this.current.set(series, (s = { series, perRule: [] }));
    for (let i = 0; i < compiled.length; i++) {
      const signal = signals[i];
      if (signal !== undefined) this.fold(s, i, r, signal);
    }
    return '';
  }

  /**
   * Whether any rule concerns `r`; remembers which, for the {@link ObservationFold.add} that
   * usually follows (the sink's `accepts`, then its `encode`).
   */
  selects(r: Reading): boolean {
    const selected = this.select(r);
    this.selectedFor = r;
    return selected.includes(true);
  }

  private select(r: Reading): boolean[] {
    for (let i = 0; i < this.compiled.length; i++) this.selected[i] = this.compiled[i]!.selects(r);
    return this.selected;
  }

  private readonly selected: boolean[] = [];
  private selectedFor: Reading | undefined;

  /** Signals of the reading being added, by rule index (reused: no array per reading). */
  private readonly signals: Array<Signal | undefined> = [];

  private fold(s: SeriesGroups, i: number, r: Reading, signal: Signal): void {
    const c = this.compiled[i]!;
    const g = s.perRule[i];
    if (g === undefined) {
      s.perRule[i] = { obs: [r.timeNs, signal, c.value(r)], sorted: true };
      return;
    }
    if (c.machine.kind === 'absent') return; // one "seen" per take
    const obs = g.obs, n = obs.length, ns = r.timeNs;
    if (ns < (obs[n - 3] as bigint)) g.sorted = false;
    // In order and a third of a thinnable run: the middle one goes (overwritten in place).
    if (g.sorted && n >= 6 && obs[n - 2] === signal && obs[n - 5] === signal && c.thinnable.has(signal)) {
      obs[n - 3] = ns;
      obs[n - 1] = c.value(r);
    } else {
      obs.push(ns, signal, c.value(r));
    }
  }

  /**
   * Everything folded since the last take, as the store's groups (per series in first-seen order,
   * then by rule); the fold starts empty. Give it back with {@link ObservationFold.putBack} when the
   * write fails.
   */
  take(nowT: string): CollectedRules & { readonly folded: Map<string, SeriesGroups> } {
    const folded = this.current;
    this.current = new Map();
    const groups: Array<readonly [string, string, readonly Observation[]]> = [];
    const rules: CollectedRules['rules'] = {};
    for (const { series, perRule } of folded.values()) {
      perRule.forEach((g, i) => {
        if (!g) return;
        const c = this.compiled[i]!;
        rules[c.rule.id] = c.machine;
        if (c.machine.kind === 'absent') {
          groups.push([c.rule.id, series, [[nowT, 'c']]]);
          return;
        }
        if (!g.sorted) g.obs = sorted(g.obs);
        const obs = g.sorted || c.thinnable.size === 0 ? g.obs : thin(g.obs, c.thinnable);
        const observations: Observation[] = [];
        for (let k = 0; k < obs.length; k += 3) {
          const t = timeKey(obs[k] as bigint), signal = obs[k + 1] as Signal, value = obs[k + 2] as Value | undefined;
          observations.push(value === undefined ? [t, signal] : [t, signal, value]);
        }
        groups.push([c.rule.id, series, observations]);
      });
    }
    return { groups, rules, folded };
  }

  /** A failed write's observations go back in front of what was folded since (a retry writes them). */
  putBack(folded: Map<string, SeriesGroups>): void {
    const later = this.current;
    this.current = folded;
    for (const [key, s] of later) {
      const earlier = folded.get(key);
      if (earlier === undefined) {
        folded.set(key, s);
        continue;
      }
      s.perRule.forEach((g, i) => {
        if (!g) return;
        const e = earlier.perRule[i];
        if (!e) earlier.perRule[i] = g;
        else if (this.compiled[i]!.machine.kind !== 'absent') {
          e.sorted = e.sorted && g.sorted && (g.obs[0] as bigint) >= (e.obs[e.obs.length - 3] as bigint);
          for (const x of g.obs) e.obs.push(x);
          if (e.sorted) e.obs = thin(e.obs, this.compiled[i]!.thinnable); // a run may span the two
        }
      });
    }
  }
}

/** The reason in what {@link ObservationFold.add} returned, when a rule threw. */
export function ruleFailureOf(added: string): Failure | undefined {
  return added.charCodeAt(0) === 0x15 ? { code: 'alert_rule_error', reason: added.slice(1) } : undefined;
}

/** Groups readings as the sink would fold them into one write: for tests and tools that hold readings. */
export function collectReadings(items: readonly Reading[], compiled: readonly CompiledRule[], nowT: string): CollectedRules & { rejected: Array<{ index: number; failure: Failure }> } {
  const fold = new ObservationFold(compiled);
  const rejected: Array<{ index: number; failure: Failure }> = [];
  items.forEach((r, index) => {
    const failure = ruleFailureOf(fold.add(r));
    if (failure) rejected.push({ index, failure });
  });
  const { groups, rules } = fold.take(nowT);
  return { groups, rules, rejected };
}

/** Drops observations inside a run of one thinnable signal, keeping each run's first and last. */
function thin(obs: Pending, thinnable: ReadonlySet<Signal>): Pending {
  const out: Pending = [];
  for (let i = 0; i < obs.length; i += 3) {
    const s = obs[i + 1] as Signal;
    if (i > 0 && i < obs.length - 3 && thinnable.has(s) && obs[i - 2] === s && obs[i + 4] === s) continue;
    out.push(obs[i], s, obs[i + 2]);
  }
  return out;
}

/** The observations in time order (stable: of two at the same time, the first folded stays first). */
function sorted(obs: Pending): Pending {
  const order = Array.from({ length: obs.length / 3 }, (_, k) => 3 * k);
  order.sort((a, b) => ((obs[a] as bigint) < (obs[b] as bigint) ? -1 : (obs[a] as bigint) > (obs[b] as bigint) ? 1 : 0));
  const out: Pending = [];
  for (const k of order) out.push(obs[k], obs[k + 1], obs[k + 2]);
  return out;
}

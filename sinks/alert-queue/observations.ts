import type { Failure, Reading } from '../../pipeline/core/types.js';
import { seriesKey, type CompiledRule } from './evaluate.js';
import { sorted, thin, type Pending, type Value } from './pending.js';
import { timeKey, type BatchPayload, type MachineRule, type Observation, type Signal } from './state-machine.js';

/** What {@link ObservationFold.take} hands to the store. */
export interface CollectedRules {
  readonly groups: BatchPayload['groups'];
  readonly rules: Record<string, MachineRule>;
}

/** First character of what {@link ObservationFold.add} returns for a reading a rule threw on; the rest is the reason. */
const FAILED = '\u0015';

/** One rule's observations of one series since the last take. */
interface Group {
  /** The first `n` entries are this take's; the array is reused (see {@link ObservationFold.recycle}). */
  obs: Pending;
  n: number;
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
  /** Structures of a written take, emptied, for the series that come again. */
  private spare = new Map<string, SeriesGroups>();

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
    const compiled = this.compiled,
      signals = this.signals;
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
    if (s === undefined) {
      s = this.spare.get(series);
      if (s === undefined) s = { series, perRule: [] };
      else this.spare.delete(series);
      this.current.set(series, s);
    }
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
    let g = s.perRule[i];
    if (g === undefined) s.perRule[i] = g = { obs: [], n: 0, sorted: true };
    const obs = g.obs,
      n = g.n,
      ns = r.timeNs;
    if (n > 0) {
      if (c.machine.kind === 'absent') return; // one "seen" per take
      if (ns < (obs[n - 3] as bigint)) g.sorted = false;
      // In order and a third of a thinnable run: the middle one goes (overwritten in place).
      if (g.sorted && n >= 6 && obs[n - 2] === signal && obs[n - 5] === signal && c.thinnable.has(signal)) {
        obs[n - 3] = ns;
        obs[n - 1] = c.value(r);
        return;
      }
    }
    obs[n] = ns;
    obs[n + 1] = signal;
    obs[n + 2] = c.value(r);
    g.n = n + 3;
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
        if (!g || g.n === 0) return;
        const c = this.compiled[i]!;
        rules[c.rule.id] = c.machine;
        if (c.machine.kind === 'absent') {
          groups.push([c.rule.id, series, [[nowT, 'c']]]);
          return;
        }
        if (!g.sorted) {
          g.obs = sorted(g.obs, g.n);
          if (c.thinnable.size > 0) g.obs = thin(g.obs, g.obs.length, c.thinnable);
          g.n = g.obs.length;
        }
        const obs = g.obs;
        const observations: Observation[] = [];
        for (let k = 0; k < g.n; k += 3) {
          const t = timeKey(obs[k] as bigint),
            signal = obs[k + 1] as Signal,
            value = obs[k + 2] as Value | undefined;
          observations.push(value === undefined ? [t, signal] : [t, signal, value]);
        }
        groups.push([c.rule.id, series, observations]);
      });
    }
    return { groups, rules, folded };
  }

  /**
   * After a write succeeded: its take's structures are emptied and reused for the series that come
   * again (they are old by then, so reusing them spares the garbage collector copying new ones).
   */
  recycle(folded: Map<string, SeriesGroups>): void {
    for (const s of folded.values()) {
      for (const g of s.perRule) {
        if (!g) continue;
        g.obs.fill(undefined, 0, g.n); // lets go of the times and values
        g.n = 0;
        g.sorted = true;
      }
    }
    this.spare = folded;
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
        if (!g || g.n === 0) return;
        const e = earlier.perRule[i];
        if (!e || e.n === 0) earlier.perRule[i] = g;
        else if (this.compiled[i]!.machine.kind !== 'absent') {
          e.sorted = e.sorted && g.sorted && (g.obs[0] as bigint) >= (e.obs[e.n - 3] as bigint);
          for (let k = 0; k < g.n; k++) e.obs[e.n + k] = g.obs[k];
          e.n += g.n;
          if (e.sorted) {
            // a run may span the two
            e.obs = thin(e.obs, e.n, this.compiled[i]!.thinnable);
            e.n = e.obs.length;
          }
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
export function collectReadings(
  items: readonly Reading[],
  compiled: readonly CompiledRule[],
  nowT: string,
): CollectedRules & { rejected: Array<{ index: number; failure: Failure }> } {
  const fold = new ObservationFold(compiled);
  const rejected: Array<{ index: number; failure: Failure }> = [];
  items.forEach((r, index) => {
    const failure = ruleFailureOf(fold.add(r));
    if (failure) rejected.push({ index, failure });
  });
  const { groups, rules } = fold.take(nowT);
  return { groups, rules, rejected };
}

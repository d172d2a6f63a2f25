import type { AlertRule, FieldValue, Reading } from '../../pipeline/core/types.js';
import { SeriesCache } from '../../pipeline/core/series-cache.js';
import type { MachineRule, Observation, Signal } from './state-machine.js';

/** A rule ready to evaluate: its selector, its per-reading signal and what the machine needs. */
export interface CompiledRule {
  readonly rule: AlertRule;
  readonly machine: MachineRule;
  /** Whether the rule concerns this reading (measurement, tags, field present). */
  selects(r: Reading): boolean;
  /** The observation for one selected reading at time key `t`; `undefined` when there is none (e.g. not a number). */
  observe(r: Reading, t: string): Observation | undefined;
  /** The signal of one selected reading (a predicate is called once); `undefined` when there is none. */
  signal(r: Reading): Signal | undefined;
  /** The value an observation of `r` records, if any (call after {@link CompiledRule.signal}). */
  value(r: Reading): number | string | boolean | undefined;
  /** Signals whose repeats in a row change nothing but the time, so the middle of a run can go. */
  readonly thinnable: ReadonlySet<Signal>;
}

/** The series of a reading: measurement and sorted tag set, as a JSON array (unambiguous, reversible). */
export function seriesKey(r: Reading): string {
  // Cached per series: sorting and JSON cost more than a few map lookups.
  return seriesKeys.get(r.measurement, r.tags, sortedSeriesKey);
}

const seriesKeys = new SeriesCache<string>();

function sortedSeriesKey(measurement: string, tags: Reading['tags']): string {
  const keys = Object.keys(tags).sort();
  const parts: string[] = [measurement];
  for (const k of keys) parts.push(k, tags[k]!);
  return JSON.stringify(parts);
}

/** The measurement and tags of a {@link seriesKey}. */
export function parseSeries(key: string): { measurement: string; tags: Record<string, string> } {
  const parts = JSON.parse(key) as string[];
  const tags: Record<string, string> = {};
  for (let i = 1; i + 1 < parts.length; i += 2) tags[parts[i]!] = parts[i + 1]!;
  return { measurement: parts[0] ?? '', tags };
}

/** Rule ids are used in Redis keys and job ids. */
const RULE_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * Checks a rule set: ids unique and well-formed, durations non-negative, a measurement named.
 * @returns a sentence per problem; empty when the rules are fine
 * @example
 * validateAlertRules([{ id: 'hot', severity: 'critical', measurement: 'telemetry', when: above('temperature', { fire: 30 }) }])
 */
export function validateAlertRules(rules: readonly AlertRule[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, r] of rules.entries()) {
    const name = `rules[${i}] (${String(r.id)})`;
    if (!RULE_ID.test(r.id)) problems.push(`${name}: id must match ${RULE_ID.source}`);
    if (seen.has(r.id)) problems.push(`${name}: duplicate id`);
    seen.add(r.id);
    if (!r.measurement) problems.push(`${name}: measurement must be non-empty`);
    if (!['critical', 'warning', 'info'].includes(r.severity))
      problems.push(`${name}: severity must be critical, warning or info`);
    for (const key of ['forMs', 'repeatIntervalMs'] as const) {
      const v = r[key];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) problems.push(`${name}: ${key} must be a number ≥ 0`);
    }
    if (typeof (r.when as Partial<AlertRule['when']> | undefined)?.kind !== 'string')
      problems.push(`${name}: when must be a condition (above, below, predicate, rateOfChange, absent)`);
  }
  return problems;
}

/**
 * Compiles rules for evaluation (validated beforehand with `validateAlertRules`).
 * @example
 * const compiled = compileRules([{ id: 'hot', severity: 'critical', measurement: 'telemetry', when: above('temperature', { fire: 30 }) }]);
 */
export function compileRules(rules: readonly AlertRule[]): CompiledRule[] {
  return rules.map((rule) => {
    const when = rule.when;
    const field = 'field' in when && when.field !== undefined ? when.field : null;
    const tagMatch = Object.entries(rule.tags ?? {}).map(
      ([k, v]) => [k, new Set(typeof v === 'string' ? [v] : v)] as const,
    );
    const machine: MachineRule = {
      id: rule.id,
      kind: when.kind === 'absent' ? 'absent' : when.kind === 'rateOfChange' ? 'rate' : 'signal',
      forMs: rule.forMs ?? 0,
      repeatMs: rule.repeatIntervalMs ?? 0,
      afterMs: when.kind === 'absent' ? when.afterMs : 0,
      fire: 'fire' in when ? when.fire : 0,
      clear: 'clear' in when ? when.clear : 0,
      direction: when.kind === 'rateOfChange' ? when.direction : 'any',
      severity: rule.severity,
      labels: { ...rule.labels },
      field,
    };
    const selects = (r: Reading) => {
      if (r.measurement !== rule.measurement) return false;
      if (field !== null && r.fields[field] === undefined) return false;
      for (const [k, allowed] of tagMatch) if (!allowed.has(r.tags[k] ?? '\u0000')) return false;
      return true;
    };
    const signal = (r: Reading): Signal | undefined => {
      switch (when.kind) {
        case 'absent':
          return 'c';
        case 'predicate': {
          const verdict = when.test(r.fields[when.field]!, r);
          return verdict === true ? 'f' : verdict === false ? 'c' : 'n';
        }
        default: {
          const v = numeric(r.fields[when.field]);
          if (v === undefined) return undefined;
          if (when.kind === 'rateOfChange') return 'r';
          return when.kind === 'above'
            ? v >= when.fire
              ? 'f'
              : v <= when.clear
                ? 'c'
                : 'n'
            : v <= when.fire
              ? 'f'
              : v >= when.clear
                ? 'c'
                : 'n';
        }
      }
    };
    const value = (r: Reading): number | string | boolean | undefined => {
      if (when.kind === 'absent') return undefined;
      const v = r.fields[when.field]!;
      return when.kind === 'predicate' ? jsonValue(v) : numeric(v);
    };
    const observe = (r: Reading, t: string): Observation | undefined => {
      const s = signal(r);
      if (s === undefined) return undefined;
      const v = value(r);
      return v === undefined ? [t, s] : [t, s, v];
    };
    // After the first of a run, a clear changes nothing; a hold only matters for repeats; a fire
    // only for repeats and forMs. See the thinning in collect().
    const thinnable = new Set<Signal>(
      machine.kind !== 'signal' ? [] : machine.repeatMs > 0 ? ['c'] : machine.forMs > 0 ? ['c', 'n'] : ['c', 'n', 'f'],
    );
    return { rule, machine, selects, observe, signal, value, thinnable };
  });
}

function numeric(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function jsonValue(v: FieldValue): number | string | boolean {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

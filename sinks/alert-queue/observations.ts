import { flatString } from '../../pipeline/flat-string.js';
import type { Failure, Reading } from '../../pipeline/types.js';
import { seriesKey, type CompiledRule } from './evaluate.js';
import { timeKey, type BatchPayload, type MachineRule, type Observation, type Signal } from './state-machine.js';

/** What {@link collect} found in a batch. */
export interface CollectedRules {
  readonly groups: BatchPayload['groups'];
  readonly rules: Record<string, MachineRule>;
  /** Readings a predicate threw on: they are dead-lettered with the reason. */
  readonly rejected: Array<{ index: number; failure: Failure }>;
}

/** Separator of an encoded reading; JSON escapes it, so series keys and values never contain it. */
const FIELD = '\u001f';
/** A rule's index is one character from here on: no number to parse back. */
const RULE_BASE = 0x40;
/** Marks a value written as JSON (a number is written as plain text). */
const JSON_VALUE = '\u0001';
/** First character of an encoded reading on which a rule threw; the rest is the reason. */
const FAILED = '\u0015';

/**
 * Evaluates the rules on one reading as it is routed to the alert sink, into a compact string:
 * series key, event time, and per selected rule its index, signal and value. A batch then holds
 * this flat string instead of the reading (less for the garbage collector to copy while the batch
 * waits), and {@link collect} needs no second pass over the rules.
 * A rule that throws is recorded in the string; {@link collect} reports it as `alert_rule_error`.
 * @example
 * encodeObservations(reading, compileRules(rules)) // '["telemetry","device","d1"]\u001f01795…\u001f0\u001ec\u001e21.5'
 */
export function encodeObservations(r: Reading, compiled: readonly CompiledRule[]): string {
  let t: string | undefined;
  let out = '';
  for (let i = 0; i < compiled.length; i++) {
    const c = compiled[i]!;
    if (!c.selects(r)) continue;
    const absentRule = c.machine.kind === 'absent';
    let o: Observation | undefined;
    try {
      // A deadman observation takes the batch's time ("seen now"), filled in by collect.
      o = c.observe(r, absentRule ? '' : (t ??= timeKey(r.timeNs)));
    } catch (error) {
      return `${FAILED}rule ${c.rule.id}: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (o === undefined) continue;
    // FIELD, rule, signal, value: a number as text, any other value (predicates) as JSON.
    const value = o.length < 3 ? '' : typeof o[2] === 'number' ? String(o[2]) : `${JSON_VALUE}${JSON.stringify(o[2])}`;
    out += `${FIELD}${String.fromCharCode(RULE_BASE + i)}${o[1]}${value}`;
  }
  return flatString(`${seriesKey(r)}${FIELD}${t ?? ''}${out}`);
}

/**
 * Evaluates a batch of readings encoded by {@link encodeObservations}: observations grouped per
 * rule and series in event-time order (a deadman needs one per series: "seen now"). Runs of one
 * signal are thinned to their first and last observation where the middle cannot change the
 * outcome, which keeps the Redis script's work near one or two observations per series and batch.
 */
export function collect(encoded: readonly string[], compiled: readonly CompiledRule[], nowT: string): CollectedRules {
  const bySeries = new Map<string, Array<{ obs: Observation[]; sorted: boolean } | undefined>>();
  const rules: CollectedRules['rules'] = {};
  const rejected: CollectedRules['rejected'] = [];
  for (let index = 0; index < encoded.length; index++) {
    const e = encoded[index]!;
    if (e.charCodeAt(0) === 0x15) {
      rejected.push({ index, failure: { code: 'alert_rule_error', reason: e.slice(1) } });
      continue;
    }
    const seriesEnd = e.indexOf(FIELD);
    const timeEnd = e.indexOf(FIELD, seriesEnd + 1);
    if (seriesEnd < 0 || timeEnd < 0) continue; // no rule observed this reading
    const series = e.slice(0, seriesEnd), t = e.slice(seriesEnd + 1, timeEnd);
    let perRule = bySeries.get(series);
    for (let pos = timeEnd + 1; pos < e.length;) {
      let end = e.indexOf(FIELD, pos);
      if (end < 0) end = e.length;
      const i = e.charCodeAt(pos) - RULE_BASE;
      const signal = e[pos + 1] as Signal;
      const c = compiled[i];
      const absentRule = c?.machine.kind === 'absent';
      let o: Observation;
      if (end === pos + 2) o = [absentRule ? nowT : t, signal];
      else if (e.charCodeAt(pos + 2) === 1) o = [t, signal, JSON.parse(e.slice(pos + 3, end)) as number | string | boolean];
      else o = [t, signal, Number(e.slice(pos + 2, end))];
      pos = end + 1;
      if (!c) continue;
      if (!perRule) bySeries.set(series, (perRule = []));
      const g = perRule[i];
      if (!g) {
        perRule[i] = { obs: [o], sorted: true };
        rules[c.rule.id] = c.machine;
      } else if (!absentRule) {
        if (g.obs[g.obs.length - 1]![0] > o[0]) g.sorted = false;
        g.obs.push(o);
      }
    }
  }
  const groups: Array<readonly [string, string, readonly Observation[]]> = [];
  for (const [series, perRule] of bySeries) {
    perRule.forEach((g, i) => {
      if (!g) return;
      const c = compiled[i]!;
      if (!g.sorted) g.obs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      groups.push([c.rule.id, series, c.thinnable.size > 0 ? thin(g.obs, c.thinnable) : g.obs]);
    });
  }
  return { groups, rules, rejected };
}

/** {@link collect} on readings (evaluated here): for tests and callers that hold readings. */
export function collectReadings(items: readonly Reading[], compiled: readonly CompiledRule[], nowT: string): CollectedRules {
  return collect(items.map((r) => encodeObservations(r, compiled)), compiled, nowT);
}

/** Drops observations inside a run of one thinnable signal, keeping each run's first and last. */
function thin(obs: readonly Observation[], thinnable: ReadonlySet<Signal>): Observation[] {
  const out: Observation[] = [];
  for (let i = 0; i < obs.length; i++) {
    const s = obs[i]![1];
    if (i > 0 && i < obs.length - 1 && thinnable.has(s) && obs[i - 1]![1] === s && obs[i + 1]![1] === s) continue;
    out.push(obs[i]!);
  }
  return out;
}

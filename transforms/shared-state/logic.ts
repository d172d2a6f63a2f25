/**
 * The decisions of sequence stages (dedupe, changed, rate) on a series' recent history, the twin
 * of the same code in `lua.ts` (change both together; test/support/shared-state-cases.ts runs
 * the same cases against both). Values are compared as their encodings and computed as IEEE
 * doubles in the same order of operations on both sides, so the results are bit for bit equal.
 * @packageDocumentation
 */
import type { FieldValue } from '../../pipeline/core/types.js';
import type { SequenceRule } from './types.js';

/** One remembered reading: time key, the decision made on it, then its encoded values. */
export type HistoryEntry = string[];

/** A field value as a sequence stage compares it: `''` absent, `n…` number, `i…` integer, `b1`/`b0`, `s…` string. */
export function encodeValue(v: FieldValue | undefined): string {
  switch (typeof v) {
    case 'undefined':
      return '';
    case 'number':
      return `n${String(v)}`;
    case 'bigint':
      return `i${v}`;
    case 'boolean':
      return v ? 'b1' : 'b0';
    default:
      return `s${v}`;
  }
}

/** The number an encoded value holds, or `undefined` (not numeric). */
export function numberOf(encoded: string): number | undefined {
  const c = encoded.charCodeAt(0);
  if (c !== 110 && c !== 105) return undefined; // 'n', 'i'
  const n = Number(encoded.slice(1));
  return Number.isNaN(n) ? undefined : n;
}

/** Ns from time key `b` to `a`, exact for differences below 2^53 ns (as the script computes it). */
export function nsBetween(a: string, b: string): number {
  return (Number(a.slice(0, 11)) - Number(b.slice(0, 11))) * 1e9 + (Number(a.slice(11)) - Number(b.slice(11)));
}

/** A double as the script formats it (`%.17g`), parsed back: JS keeps the exact double. */
const formatted = (x: number): string => String(x);

/**
 * Decides on the reading at time key `t` with `values`, and records it in `h` (sorted by time,
 * at most `size` entries). A time already in `h` gets its earlier decision again (a redelivery).
 */
export function stepSequence(
  h: HistoryEntry[],
  t: string,
  rule: SequenceRule,
  size: number,
  values: readonly string[],
): string {
  for (const e of h) if (e[0] === t) return e[1]!;
  if (h.length >= size && h.length > 0 && t < h[0]![0]!) return 'o';
  let pos = h.length;
  while (pos > 0 && h[pos - 1]![0]! > t) pos--;
  const out = decide(h, pos, t, rule, values);
  h.splice(pos, 0, [t, out, ...values]);
  if (h.length > size) h.shift();
  return out;
}

function decide(
  h: readonly HistoryEntry[],
  pos: number,
  t: string,
  rule: SequenceRule,
  values: readonly string[],
): string {
  const prev = pos > 0 ? h[pos - 1] : undefined;
  if (rule.mode === 'changed') {
    if (!prev) return 'e';
    for (let j = 0; j < values.length; j++) if (values[j] !== prev[j + 2]) return 'e';
    return 'd';
  }
  if (rule.mode === 'dedupe') {
    let last: HistoryEntry | undefined;
    for (let i = pos - 1; i >= 0 && !last; i--) if (h[i]![1] === 'e') last = h[i];
    if (!last) return 'e';
    if (rule.withinMs >= 0 && nsBetween(t, last[0]!) >= rule.withinMs * 1e6) return 'e';
    for (let j = 0; j < values.length; j++) {
      const a = values[j]!;
      const b = last[j + 2]!;
      if (a === b) continue;
      const band = rule.deadband[j] ?? -1;
      const x = numberOf(a);
      const y = numberOf(b);
      if (band >= 0 && x !== undefined && y !== undefined && Math.abs(x - y) <= band) continue;
      return 'e';
    }
    return 'd';
  }
  if (!prev) return 'd';
  const dt = nsBetween(t, prev[0]!);
  const outs: string[] = [];
  let any = false;
  for (let j = 0; j < values.length; j++) {
    const x = numberOf(values[j]!);
    const y = numberOf(prev[j + 2]!);
    if (x === undefined || y === undefined) {
      outs.push('');
      continue;
    }
    let d = x - y;
    if (rule.counter && d < 0) d = x;
    outs.push(formatted(d / (dt / rule.perNs)));
    any = true;
  }
  return any ? `r${outs.join(',')}` : 'd';
}

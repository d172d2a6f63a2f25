import type { Signal } from './state-machine.js';

/** A value an alert reports. */
export type Value = number | string | boolean;

/**
 * Observations before their times become time keys (only the kept ones are converted): time in
 * ns, signal and value, three entries each. Flat, because they wait for the next write, and the
 * garbage collector copies an array per observation while they wait.
 */
export type Pending = Array<bigint | Signal | Value | undefined>;

/** Drops observations inside a run of one thinnable signal, keeping each run's first and last. */
export function thin(obs: Pending, n: number, thinnable: ReadonlySet<Signal>): Pending {
  const out: Pending = [];
  for (let i = 0; i < n; i += 3) {
    const s = obs[i + 1] as Signal;
    if (i > 0 && i < n - 3 && thinnable.has(s) && obs[i - 2] === s && obs[i + 4] === s) continue;
    out.push(obs[i], s, obs[i + 2]);
  }
  return out;
}

/** The observations in time order (stable: of two at the same time, the first folded stays first). */
export function sorted(obs: Pending, n: number): Pending {
  const order = Array.from({ length: n / 3 }, (_, k) => 3 * k);
  order.sort((a, b) =>
    (obs[a] as bigint) < (obs[b] as bigint) ? -1 : (obs[a] as bigint) > (obs[b] as bigint) ? 1 : 0,
  );
  const out: Pending = [];
  for (const k of order) out.push(obs[k], obs[k + 1], obs[k + 2]);
  return out;
}

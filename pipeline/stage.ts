import type { Failure, Rejection, StageContext, StageOutput, Transform } from './types.js';

/** Marks a message as bad from inside a stage: it goes to the dead-letter sink with this reason. */
export function reject(reason: string, code = 'rejected'): Rejection {
  return { rejected: { code, reason } satisfies Failure };
}

/**
 * A one-to-one stage. Return `undefined` to drop the body (it counts as settled, not lost).
 * @example
 * map('celsius', (r: Reading) => ({ ...r, fields: { ...r.fields, temp: toC(r.fields.temp) } }))
 */
export function map<In, Out>(name: string, fn: (body: In, ctx: StageContext) => Out | undefined | Rejection): Transform<In, Out> {
  return {
    name,
    apply(body, ctx) {
      const out = fn(body, ctx);
      if (out === undefined) return [];
      return isRejection(out) ? out : [out];
    },
  };
}

/**
 * Keeps the bodies the predicate accepts; the others are dropped and settle at once.
 * @example
 * filter('only-ok', (r: Reading) => r.fields.status === 'ok')
 */
export function filter<T>(name: string, predicate: (body: T, ctx: StageContext) => boolean): Transform<T, T> {
  return { name, apply: (body, ctx) => (predicate(body, ctx) ? [body] : []) };
}

/**
 * One body in, many out (e.g. a batch payload into one reading per entry).
 * @example
 * flatMap('split', (p: { items: Item[] }) => p.items)
 */
export function flatMap<In, Out>(name: string, fn: (body: In, ctx: StageContext) => readonly Out[] | Rejection): Transform<In, Out> {
  return { name, apply: (body, ctx) => fn(body, ctx) };
}

/**
 * An async stage with at most `concurrency` calls in flight; further calls wait their turn.
 * The message is acknowledged only once its call resolved and what it produced settled.
 * @example
 * mapAsync('lookup', 8, async (r: Reading) => ({ ...r, tags: { ...r.tags, ...(await registry(r)) } }))
 */
export function mapAsync<In, Out>(
  name: string,
  concurrency: number,
  fn: (body: In, ctx: StageContext) => Promise<Out | undefined | Rejection>,
): Transform<In, Out> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    name,
    async apply(body, ctx): Promise<StageOutput<Out>> {
      if (active >= concurrency) await new Promise<void>((r) => waiting.push(r));
      active++;
      try {
        const out = await fn(body, ctx);
        if (out === undefined) return [];
        return isRejection(out) ? out : [out];
      } finally {
        active--;
        waiting.shift()?.();
      }
    },
  };
}

function isRejection(v: unknown): v is Rejection {
  return typeof v === 'object' && v !== null && 'rejected' in v && Object.keys(v).length === 1;
}

/**
 * Building blocks for stages written in code. A stage is a {@link Transform}: `apply(body, ctx)`
 * returns 0..n outputs (or a {@link Rejection}) synchronously or as a promise; the runtime tracks
 * the source message of every output and acknowledges it once all of them settled. A stage that
 * emits later (a window) takes `ctx.retain()` and hands the retentions to `emit` in `open`.
 * @packageDocumentation
 */
import { ConfigError } from './errors.js';
import type { Failure, Reading, Rejection, StageContext, StageOutput, Transform } from './types.js';

/**
 * Marks a message as bad from inside a stage: it goes to the dead-letter sink with this reason.
 * @param code - stable, countable code of the dead letter. @defaultValue 'rejected'
 * @example
 * map('check', (r: Reading) => (r.fields.temperature === undefined ? reject('no temperature', 'missing_field') : r))
 */
export function reject(reason: string, code = 'rejected'): Rejection {
  return { rejected: { code, reason } satisfies Failure };
}

/**
 * A one-to-one stage. Return `undefined` to drop the body (it counts as settled, not lost), or a
 * {@link reject} to dead-letter it. Throwing is a bug: the message is dead-lettered as `transform_error`.
 * @example
 * map('celsius', (r: Reading) => ({ ...r, fields: { ...r.fields, temp: toC(r.fields.temp) } }))
 */
export function map<In, Out>(
  name: string,
  fn: (body: In, ctx: StageContext) => Out | undefined | Rejection,
): Transform<In, Out> {
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
export function flatMap<In, Out>(
  name: string,
  fn: (body: In, ctx: StageContext) => readonly Out[] | Rejection,
): Transform<In, Out> {
  return { name, apply: (body, ctx) => fn(body, ctx) };
}

/**
 * An async stage with at most `concurrency` calls in flight; further calls wait their turn (in
 * arrival order). Each message is acknowledged only once its own call resolved and what it
 * produced settled, whatever order the calls finish in; a call that rejects dead-letters its
 * message as `transform_error`.
 * @param concurrency - calls in flight at once, an integer ≥ 1
 * @example
 * mapAsync('lookup', 8, async (r: Reading) => ({ ...r, tags: { ...r.tags, ...(await registry(r)) } }))
 */
export function mapAsync<In, Out>(
  name: string,
  concurrency: number,
  fn: (body: In, ctx: StageContext) => Promise<Out | undefined | Rejection>,
): Transform<In, Out> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new ConfigError(`mapAsync ${name} concurrency`, 'an integer ≥ 1', concurrency);
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    name,
    async apply(body, ctx): Promise<StageOutput<Out>> {
      // A finishing call hands its slot straight to the next waiter, so a call arriving meanwhile
      // can never slip in between and exceed the bound.
      if (active < concurrency) active++;
      else await new Promise<void>((r) => waiting.push(r));
      try {
        const out = await fn(body, ctx);
        if (out === undefined) return [];
        return isRejection(out) ? out : [out];
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}

function isRejection(v: unknown): v is Rejection {
  return typeof v === 'object' && v !== null && 'rejected' in v && Object.keys(v).length === 1;
}

/** True when `item` has the shape of a {@link Reading}: what sinks of readings accept. */
export function isReading(item: unknown): item is Reading {
  const r = item as Partial<Reading> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.measurement === 'string' &&
    typeof r.timeNs === 'bigint' &&
    typeof r.fields === 'object' &&
    typeof r.tags === 'object'
  );
}

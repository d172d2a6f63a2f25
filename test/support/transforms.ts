// Shared helpers of the transform tests: a stage context and readings.
import type { Reading, StageContext, StageOutput } from '../../pipeline/core/types.js';

/** A context at `nowMs` whose retain() is not expected. */
export function ctxAt(nowMs = 1_700_000_000_000): StageContext {
  return {
    meta: { topic: 'fleet/site-1/dev-1/telemetry', qos: 1, retain: false, receivedAtMs: nowMs, format: 'json' },
    now: () => nowMs,
    retain: () => {
      throw new Error('retain not expected');
    },
  };
}

/** A telemetry reading at `timeMs` with `fields` and `tags`. */
export function reading(
  fields: Reading['fields'],
  tags: Reading['tags'] = { device: 'dev-1' },
  timeMs = 1_700_000_000_000,
): Reading {
  return { measurement: 'telemetry', tags, fields, timeNs: BigInt(timeMs) * 1_000_000n };
}

/** The outputs of a synchronous stage result (fails on a promise). */
export function outs<T>(result: StageOutput<T> | Promise<StageOutput<T>>): readonly T[] {
  if (result instanceof Promise) throw new Error('expected a synchronous result');
  if ('rejected' in result) throw new Error(`unexpected rejection: ${result.rejected.reason}`);
  return result;
}

/**
 * A stage's shared-state updates as a sink the runtime runs for it (`Emitter.durable`): batched,
 * retried with backoff while Redis is down, and each message acknowledged only once its update
 * is durable. The stage decides what a result means (`settle`).
 * @packageDocumentation
 */
import type { Failure, Sink, WriteResult } from '../../pipeline/core/types.js';
import type { OpResult, StageState, StateOp } from './types.js';

/** An item of a state step: the update, plus whatever the stage needs to act on its result. */
export interface StateItem {
  readonly op: StateOp;
}

/**
 * The sink of a stage's state updates. `settle` runs once per item, after the batch's update
 * succeeded, and returns the items to dead-letter (index within the batch, failure).
 */
export function stateSink<T extends StateItem>(
  name: string,
  state: StageState,
  namespace: string,
  now: () => number,
  settle: (items: readonly T[], results: readonly OpResult[]) => Array<{ index: number; failure: Failure }>,
): Sink<T> {
  return {
    name: `${name}:state`,
    batch: state.batch,
    accepts: (item): item is T => typeof item === 'object' && item !== null && 'op' in item,
    encode: () => '',
    open: () => state.open(),
    async write({ items }): Promise<WriteResult> {
      const down = state.unavailable();
      if (down) return { status: 'retry', failure: { code: 'state_unavailable', reason: down } };
      let results: OpResult[];
      try {
        results = await state.apply(
          namespace,
          items.map((i) => i.op),
          now(),
        );
      } catch (error) {
        return {
          status: 'retry',
          failure: { code: 'state_unavailable', reason: error instanceof Error ? error.message : String(error) },
        };
      }
      const rejected = settle(items, results);
      return rejected.length > 0 ? { status: 'partial', rejected } : { status: 'delivered' };
    },
    close: async () => {},
  };
}

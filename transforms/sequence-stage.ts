/**
 * The common body of the sequence stages (`dedupe`, `changed`, `derivative`, `rate`): each reading's
 * watched values go to the series' history in shared stage state, one atomic update per batch,
 * and the decision made there (pass on, drop, or the rates) comes back to the stage. The message is
 * acknowledged once the update is durable and what it produced was written.
 * @packageDocumentation
 */
import { ConfigError } from '../pipeline/core/errors.js';
import type { DurableStep, Emitter, Reading, Retention, Transform } from '../pipeline/core/types.js';
import { memoryStageState } from './shared-state/memory.js';
import { stateSink } from './shared-state/durable.js';
import { seriesId, timeKey } from './shared-state/keys.js';
import { encodeValue } from './shared-state/logic.js';
import type { OpResult, SequenceRule, StageState, StateOp } from './shared-state/types.js';

/** Options every sequence stage takes. */
export interface SequenceStageOptions {
  /** The fields the stage looks at. */
  readonly fields: readonly string[];
  /**
   * Where each series' recent history lives: a shared state (`redisStageState(...)`) lets every
   * worker of a share group take any message. @defaultValue this worker's memory (`memoryStageState()`)
   */
  readonly state?: StageState;
  /** The stage's name in the state; give two stages of one kind their own. @defaultValue the stage's name */
  readonly id?: string;
  /** Readings kept per series to recognise redeliveries and place out-of-order ones. @defaultValue 16 */
  readonly history?: number;
}

/** A sequence stage, with its counters. */
export interface SequenceTransform extends Transform<Reading, Reading> {
  /** Readings not passed on, by reason (`unchanged`, `duplicate`, `first`, `out_of_order`, `no_fields`). */
  readonly dropped: ReadonlyMap<string, number>;
}

interface Item {
  readonly op: StateOp;
  readonly reading: Reading;
  readonly keep: Retention;
}

/**
 * Builds a sequence stage: `output` turns a decision into what is passed on (`undefined` drops the
 * reading, counted under `dropReason`).
 */
export function sequenceStage(
  name: string,
  options: SequenceStageOptions,
  rule: SequenceRule,
  output: (reading: Reading, result: OpResult) => Reading | undefined,
  dropReason: (result: OpResult) => string,
): SequenceTransform {
  validate(name, options);
  const fields = [...options.fields];
  const history = options.history ?? 16;
  const state = options.state ?? memoryStageState();
  const namespace = options.id ?? name;
  const dropped = new Map<string, number>();
  const count = (reason: string) => dropped.set(reason, (dropped.get(reason) ?? 0) + 1);
  let emitter: Emitter<Reading> | undefined;
  let step: DurableStep<Item> | undefined;
  let now: () => number = Date.now;

  const sink = stateSink<Item>(
    name,
    state,
    namespace,
    () => now(),
    (items, results) => {
      items.forEach((item, i) => {
        const r = results[i]!;
        const out = r === 'o' ? undefined : output(item.reading, r);
        if (out) {
          emitter!.emit([out], [item.keep]);
        } else {
          count(r === 'o' ? 'out_of_order' : dropReason(r));
          item.keep.release();
        }
      });
      return [];
    },
  );

  return {
    name,
    dropped,
    apply(reading, ctx) {
      if (!step) throw new Error(`${name}: apply before open()`);
      const values = fields.map((f) => encodeValue(reading.fields[f]));
      if (values.every((v) => v === '')) {
        count('no_fields');
        return rule.mode === 'rate' ? [] : [reading];
      }
      now = ctx.now;
      const op: StateOp = {
        kind: 'sequence',
        series: seriesId(reading),
        t: timeKey(reading.timeNs),
        rule,
        history,
        values,
      };
      step.add({ op, reading, keep: ctx.retain() }, ctx.retain());
      return [];
    },
    async open(emit) {
      if (!emit.durable) throw new Error(`${name} needs the Tributary runtime (Emitter.durable)`);
      emitter = emit;
      await state.open();
      step = emit.durable(sink);
    },
    async close() {
      await state.close();
    },
  };
}

function validate(name: string, o: SequenceStageOptions): void {
  if (!Array.isArray(o.fields) || o.fields.length === 0 || o.fields.some((f) => typeof f !== 'string' || f === '')) {
    throw new ConfigError(`${name} fields`, 'a non-empty list of field names', o.fields);
  }
  if (o.history !== undefined && !(Number.isInteger(o.history) && o.history >= 1 && o.history <= 1000))
    throw new ConfigError(`${name} history`, 'an integer from 1 to 1000', o.history);
  if (o.id !== undefined && !/^[A-Za-z0-9_.:-]{1,100}$/.test(o.id))
    throw new ConfigError(`${name} id`, 'letters, digits, _ . : - (1–100)', o.id);
  if (o.state !== undefined && typeof (o.state as Partial<StageState>).apply !== 'function')
    throw new ConfigError(`${name} state`, 'a stage state (redisStageState, memoryStageState)', o.state);
}

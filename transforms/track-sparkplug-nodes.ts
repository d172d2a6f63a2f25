/**
 * Sparkplug B edge-node state in shared stage state, so that every worker of a share group can
 * decode any NDATA/DDATA: BIRTH aliases and datatypes, bdSeq and seq per edge node. Follows the
 * `sparkplugMessages()` decoder; emits the rows the `sparkplug()` decoder would.
 * @packageDocumentation
 */
import { ConfigError } from '../pipeline/core/errors.js';
import { toBigInt } from '../pipeline/engine/decode/protobuf-message.js';
import type { SparkplugInput, SparkplugMessage } from '../pipeline/engine/decode/sparkplug-messages.js';
import {
  metricRows,
  metrics,
  rebirthPayload,
  status,
  timeOf,
  type SparkplugRow,
  type Where,
} from '../pipeline/engine/decode/sparkplug.js';
import { aliasKey, type Alias, type NodeState } from '../pipeline/engine/decode/sparkplug-state.js';
import { own, SparkplugError } from '../pipeline/engine/decode/sparkplug-values.js';
import type { DurableStep, Emitter, Failure, Retention, Transform } from '../pipeline/core/types.js';
import { stateSink } from './shared-state/durable.js';
import { memoryStageState } from './shared-state/memory.js';
import type { NodeAction, StageState, StateOp } from './shared-state/types.js';

/** Options of {@link trackSparkplugNodes}. */
export interface TrackSparkplugNodesOptions {
  /** Where edge-node state lives; `redisStageState(...)` shares it with the share group. @defaultValue this worker's memory */
  readonly state?: StageState;
  /** The stage's name in the state. @defaultValue 'sparkplug' */
  readonly id?: string;
  /**
   * How many later seqs a missing one waits for before it is a gap: messages of one edge node
   * taken by different workers reach the state a little out of order. 0 reports a gap at the
   * first message after it (one worker). @defaultValue 8
   */
  readonly seqTolerance?: number;
  /** Publishes a rebirth request (NCMD `Node Control/Rebirth`) after a seq gap or an unknown alias, e.g. with an MQTT client. */
  readonly rebirth?: (topic: string, payload: Uint8Array) => void | Promise<void>;
  /** At most one rebirth request per edge node this often. @defaultValue 10000 */
  readonly rebirthIntervalMs?: number;
}

/** The stage, with its counters. */
export interface SparkplugNodesTransform extends Transform<SparkplugInput, readonly SparkplugRow[]> {
  /** Seq gaps reported (each once), unknown aliases, rebirth requests sent, stale NDEATHs ignored. */
  readonly counts: { gaps: number; unknownAliases: number; rebirths: number; staleDeaths: number };
}

interface Item {
  readonly op: StateOp;
  readonly msg: SparkplugMessage;
  readonly rows: SparkplugRow[] | undefined;
  readonly keep: Retention;
}

const SEP = '\u0002';
const LIST = '\u0001';

/**
 * Resolves Sparkplug B messages against their edge node's shared state: a BIRTH stores its aliases
 * and datatypes (NBIRTH starts the node afresh, DBIRTH its device), a DATA reads them, seq is
 * tracked per node. A seq gap is reported once: the message that confirms it is written (its rows
 * carry `seq_gap: true`) and dead-lettered as `sparkplug_seq_gap` with the missing seqs; a DATA with
 * an alias no BIRTH defined is dead-lettered as `sparkplug_unknown_alias`; both request a rebirth
 * when `rebirth` is given. A stale NDEATH (an older session's bdSeq) gives no rows.
 * @example
 * .from(mqttSource({ ...env.mqtt, subscribe: [{ topic: 'spBv1.0/#', decode: sparkplugMessages() }] }))
 * .pipe(trackSparkplugNodes({ state: redisStageState({ url: env.redis.url }) }))
 * .pipe(toReadings({ measurement: 'sparkplug', tags: ['group', 'node', 'device', 'host'], time: ['ts'] }))
 */
export function trackSparkplugNodes(options: TrackSparkplugNodesOptions = {}): SparkplugNodesTransform {
  const tolerance = options.seqTolerance ?? 8;
  if (!(Number.isInteger(tolerance) && tolerance >= 0 && tolerance <= 64))
    throw new ConfigError('trackSparkplugNodes seqTolerance', 'an integer from 0 to 64', options.seqTolerance);
  const state = options.state ?? memoryStageState();
  const namespace = options.id ?? 'sparkplug';
  const intervalMs = options.rebirthIntervalMs ?? 10_000;
  const counts = { gaps: 0, unknownAliases: 0, rebirths: 0, staleDeaths: 0 };
  const lastRebirth = new Map<string, number>();
  let emitter: Emitter<readonly SparkplugRow[]> | undefined;
  let step: DurableStep<Item> | undefined;
  let now: () => number = Date.now;

  const requestRebirth = (m: SparkplugMessage) => {
    if (!options.rebirth) return;
    const key = `${m.group}/${m.node}`;
    const t = now();
    if ((lastRebirth.get(key) ?? -Infinity) > t - intervalMs) return;
    lastRebirth.set(key, t);
    counts.rebirths++;
    void Promise.resolve()
      .then(() => options.rebirth!(`spBv1.0/${m.group}/NCMD/${m.node}`, rebirthPayload(t)))
      .catch(() => undefined);
  };

  const sink = stateSink<Item>(
    'trackSparkplugNodes',
    state,
    namespace,
    () => now(),
    (items, results) => {
      const rejected: Array<{ index: number; failure: Failure }> = [];
      items.forEach((item, index) => {
        const [head = '', tail = ''] = results[index]!.split(SEP);
        const m = item.msg;
        const where: Where = { group: m.group, node: m.node, device: m.device };
        let rows: SparkplugRow[];
        if (m.type === 'NDEATH') {
          if (head === 'stale') counts.staleDeaths++;
          rows =
            head === 'stale'
              ? []
              : [
                  status(where, undefined, false, false),
                  ...(tail === '' ? [] : tail.split(LIST)).map((device) =>
                    status({ ...where, device }, undefined, false, false),
                  ),
                ];
        } else {
          const gap = head !== '';
          try {
            rows =
              item.rows ??
              (m.type === 'DDEATH'
                ? [status(where, timeOf(own(m.payload, 'timestamp')), false, false)]
                : metricRows(m.payload, nodeStateOf(item.op, tail), where, false, false));
          } catch (error) {
            counts.unknownAliases++;
            requestRebirth(m);
            rejected.push({
              index,
              failure: {
                code: 'sparkplug_unknown_alias',
                reason: error instanceof Error ? error.message : String(error),
              },
            });
            item.keep.release();
            return;
          }
          if (gap) {
            for (const r of rows) r.seq_gap = true;
            counts.gaps++;
            requestRebirth(m);
            rejected.push({
              index,
              failure: {
                code: 'sparkplug_seq_gap',
                reason: `seq gap on edge node ${m.group}/${m.node}: seq ${head} never arrived (its data is lost; a rebirth is needed)`,
              },
            });
          }
        }
        if (rows.length > 0) emitter!.emit([rows], [item.keep]);
        else item.keep.release();
      });
      return rejected;
    },
  );

  return {
    name: 'trackSparkplugNodes',
    counts,
    apply(input, ctx) {
      if (!step) throw new Error('trackSparkplugNodes: apply before open()');
      if (input.kind === 'rows') return input.rows.length > 0 ? [input.rows] : [];
      now = ctx.now;
      let prepared: { op: StateOp; rows: SparkplugRow[] | undefined };
      try {
        prepared = prepare(input, tolerance);
      } catch (error) {
        if (error instanceof SparkplugError) return { rejected: { code: 'decode_error', reason: error.message } };
        throw error;
      }
      step.add({ ...prepared, msg: input, keep: ctx.retain() }, ctx.retain());
      return [];
    },
    async open(emit) {
      if (!emit.durable) throw new Error('trackSparkplugNodes needs the Tributary runtime (Emitter.durable)');
      emitter = emit;
      await state.open();
      step = emit.durable(sink);
    },
    async close() {
      await state.close();
    },
  };
}

/** The node op of a message, and a BIRTH's rows (they need no state but the seq verdict). */
function prepare(m: SparkplugMessage, tolerance: number): { op: StateOp; rows: SparkplugRow[] | undefined } {
  const rawSeq = own(m.payload, 'seq');
  const seq = rawSeq === undefined ? -1 : Number(toBigInt(rawSeq) % 256n);
  const device = m.device ?? '';
  const set: string[] = [];
  const get: string[] = [];
  let bdSeq = '';
  let rows: SparkplugRow[] | undefined;
  const where: Where = { group: m.group, node: m.node, device: m.device };
  const action: NodeAction =
    m.type === 'NBIRTH'
      ? 'nbirth'
      : m.type === 'DBIRTH'
        ? 'dbirth'
        : m.type === 'DDEATH'
          ? 'ddeath'
          : m.type === 'NDEATH'
            ? 'ndeath'
            : 'data';
  if (action === 'nbirth' || action === 'dbirth') {
    const scratch: NodeState = {
      aliases: new Map(),
      datatypes: new Map(),
      devices: new Set(),
      seq: undefined,
      bdSeq: undefined,
    };
    rows = metricRows(m.payload, scratch, where, true, false); // throws on a metric without name
    rows.push(status(where, timeOf(own(m.payload, 'timestamp')), true, false));
    for (const [alias, a] of scratch.aliases)
      set.push(`a${alias}`, `${a.datatype ?? ''}\u0000${device}\u0000${a.name}`);
    for (const [k, dt] of scratch.datatypes) set.push(`n${k}`, String(dt));
    if (scratch.bdSeq !== undefined) set.push('#bd', String(scratch.bdSeq));
  } else if (action === 'ndeath') {
    const bd = metrics(m.payload).find((x) => own(x, 'name') === 'bdSeq');
    const v = bd && (own(bd, 'long_value') ?? own(bd, 'int_value'));
    if (v !== undefined) bdSeq = String(toBigInt(v));
  } else if (action === 'data') {
    for (const x of metrics(m.payload)) {
      const name = own(x, 'name');
      const alias = own(x, 'alias');
      if ((typeof name !== 'string' || name === '') && alias !== undefined) get.push(`a${aliasKey(alias)}`);
      else if (typeof name === 'string' && own(x, 'datatype') === undefined) get.push(`n${device}\u0000${name}`);
    }
  }
  return {
    op: { kind: 'node', series: `${m.group}/${m.node}`, action, device, seq, tolerance, bdSeq, set, get },
    rows,
  };
}

/** The aliases and datatypes a DATA asked for, as the decoder's node state. */
function nodeStateOf(op: StateOp, tail: string): NodeState {
  const values = tail === '' && op.kind === 'node' && op.get.length === 0 ? [] : tail.split(LIST);
  const aliases = new Map<number | string, Alias>();
  const datatypes = new Map<string, number>();
  if (op.kind === 'node') {
    op.get.forEach((field, j) => {
      const v = values[j] ?? '';
      if (v === '') return;
      if (field.startsWith('a')) {
        const [dt = '', device = '', ...name] = v.split('\u0000');
        const key = field.slice(1);
        const n = Number(key);
        aliases.set(/^\d+$/.test(key) && n < 4_294_967_296 ? n : key, {
          name: name.join('\u0000'),
          device: device === '' ? undefined : device,
          datatype: dt === '' ? undefined : Number(dt),
        });
      } else {
        datatypes.set(field.slice(1), Number(v));
      }
    });
  }
  return { aliases, datatypes, devices: new Set(), seq: undefined, bdSeq: undefined };
}

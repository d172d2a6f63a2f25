/**
 * The contract of shared stage state: per-series state that every worker of a share group reads
 * and advances, one atomic call per batch and shard. Implemented in memory (one worker, tests) and
 * in Redis (single instance or Cluster); `logic.ts` and `lua.ts` are twins.
 * @packageDocumentation
 */
import type { BatchPolicy } from '../../pipeline/core/types.js';

/** How a sequence stage decides on a reading from the series' recent history (see `logic.ts`). */
export type SequenceRule =
  /** Emit when any watched value differs from the previous reading's. */
  | { readonly mode: 'changed' }
  /**
   * Drop when every watched value equals the last emitted one (numbers: within `deadband[i]`,
   * -1 = exact), unless `withinMs` (-1 = forever) passed since it.
   */
  | { readonly mode: 'dedupe'; readonly withinMs: number; readonly deadband: readonly number[] }
  /** Change per `perNs` of each watched number since the previous reading; `counter`: a drop is a reset (the increase is the new value). */
  | { readonly mode: 'rate'; readonly perNs: number; readonly counter: boolean };

/** One update of shared state. Values and times travel as strings, so Lua and JS see the same bits. */
export type StateOp =
  /** Adds a point to a tumbling window of `series` (the first point at a time wins). */
  | {
      readonly kind: 'window';
      readonly series: string;
      readonly startMs: number;
      readonly endMs: number;
      /** When the window may close (ms, wall clock); the first contribution sets it. */
      readonly closeAtMs: number;
      /** Time key (20 digits, ns). */
      readonly t: string;
      /** The point's fields, encoded by the stage. */
      readonly data: string;
    }
  /** Decides on a reading of `series` at time key `t` with `values` (encoded, see `encodeValue`). */
  | {
      readonly kind: 'sequence';
      readonly series: string;
      readonly t: string;
      readonly rule: SequenceRule;
      readonly history: number;
      readonly values: readonly string[];
    }
  /**
   * Advances a Sparkplug edge node (`series` = `<group>/<node>`): a BIRTH stores `set` (field,
   * value pairs: aliases and datatypes), a DATA reads `get`; every message with a `seq` (≥ 0)
   * advances the node's seq tracking, which confirms a missing seq once `tolerance` later ones came.
   */
  | {
      readonly kind: 'node';
      readonly series: string;
      readonly action: NodeAction;
      readonly device: string;
      readonly seq: number;
      readonly tolerance: number;
      readonly bdSeq: string;
      readonly set: readonly string[];
      readonly get: readonly string[];
    };

/** What a Sparkplug message does to its edge node's state. */
export type NodeAction = 'nbirth' | 'dbirth' | 'data' | 'ddeath' | 'ndeath';

/**
 * What an op did: a node op `<missing seqs, comma-separated>\u0002<values of get, \u0001-separated>`
 * (an NDEATH: `ok` or `stale` before \u0002, then the node's devices); a window op `ok`, `late` (its window was claimed already) or `dup` (late, but
 * this very point is in the written window: a redelivery); a sequence op `e` (pass the reading
 * on), `d` (drop it), `o` (older than the kept history: dropped) or `r<v>,<v>…` (the rates, `''`
 * where a field had none).
 */
export type OpResult = string;

/** A window claimed for writing: its due-set member and its points (time key, data). */
export interface ClaimedWindow {
  readonly member: string;
  readonly points: ReadonlyArray<readonly [t: string, data: string]>;
}

/** Options of a claim: windows due at `nowMs`, leased for `leaseMs`, at most `limit` per shard. */
export interface ClaimOptions {
  readonly nowMs: number;
  readonly leaseMs: number;
  readonly limit: number;
  /** How long a written window's points stay to recognise redeliveries (`dup`). */
  readonly keepMs: number;
}

/** Shared stage state: where stateful stages keep per-series state. */
export interface StageState {
  /** `memory` (this process only) or `redis` (shared by every worker that uses the same Redis). */
  readonly kind: 'memory' | 'redis';
  /** How the runtime batches state updates (the stage's durable step). */
  readonly batch: BatchPolicy;
  /** Number of shards per stage; each is one Redis Cluster slot. */
  readonly shards: number;
  /** Connects (idempotent; several stages may share one state). */
  open(): Promise<void>;
  /** Why updates cannot be made right now (connection down), or `undefined`. */
  unavailable(): string | undefined;
  /** Applies `ops` of stage `namespace`, atomically per shard; one result per op, index for index. */
  apply(namespace: string, ops: readonly StateOp[], nowMs: number): Promise<OpResult[]>;
  /** Claims the windows of `namespace` due at `nowMs` (a lease: no other worker claims them meanwhile). */
  claim(namespace: string, options: ClaimOptions): Promise<ClaimedWindow[]>;
  /** Marks claimed windows as written (their points are kept `keepMs` for redeliveries). */
  finish(namespace: string, members: readonly string[], nowMs: number, keepMs: number): Promise<void>;
  /** Disconnects (after the last stage using it closed). */
  close(): Promise<void>;
}

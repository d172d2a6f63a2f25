import { parseWindowMember, shardOf, windowMember } from './keys.js';
import { stepSequence, type HistoryEntry } from './logic.js';
import { stepNode, type NodeHash } from './node-logic.js';
import type { ClaimedWindow, ClaimOptions, OpResult, StageState, StateOp } from './types.js';

/** Options of {@link memoryStageState}. */
export interface MemoryStageStateOptions {
  /** Shards per stage (as in Redis; only the claim order depends on it here). @defaultValue 16 */
  readonly shards?: number;
}

interface Namespace {
  /** member → close time or lease end (ms). */
  readonly due: Map<string, number>;
  /** series → end of the latest claimed window. */
  readonly closed: Map<string, number>;
  /** member → points, and for written windows when they are forgotten. */
  readonly windows: Map<string, { points: Map<string, string>; expiresAt: number }>;
  readonly last: Map<string, HistoryEntry[]>;
  readonly nodes: Map<string, NodeHash>;
}

/**
 * Stage state in this process: for a pipeline run by one worker, and for `tributary/testing`.
 * It behaves as the Redis state does, step for step (the same cases run against both), but is
 * lost when the process ends: messages are still acknowledged only once their state was updated,
 * so use it where losing open windows on a crash is acceptable, or where one worker runs alone
 * and a restart replays nothing (prefer `redisStageState` otherwise).
 * @example
 * aggregateWindow({ everyMs: 60_000, fields: { temperature: ['mean'] }, state: memoryStageState() })
 */
export function memoryStageState(
  options: MemoryStageStateOptions = {},
): StageState & { readonly namespaces: ReadonlyMap<string, Namespace> } {
  const shards = options.shards ?? 16;
  const namespaces = new Map<string, Namespace>();
  const ns = (name: string): Namespace => {
    let n = namespaces.get(name);
    if (!n)
      namespaces.set(
        name,
        (n = { due: new Map(), closed: new Map(), windows: new Map(), last: new Map(), nodes: new Map() }),
      );
    return n;
  };
  return {
    kind: 'memory',
    // Written at once: nothing to batch for, and `tributary/testing` sees results without waiting.
    batch: { maxItems: 1, maxBytes: Number.MAX_SAFE_INTEGER, maxWaitMs: 0, maxConcurrency: 1 },
    shards,
    namespaces,
    open: async () => {},
    unavailable: () => undefined,
    async apply(namespace, ops): Promise<OpResult[]> {
      const n = ns(namespace);
      return ops.map((op) =>
        op.kind === 'window' ? addToWindow(n, op) : op.kind === 'node' ? stepNode(n.nodes, op) : sequence(n, op),
      );
    },
    async claim(namespace, o: ClaimOptions): Promise<ClaimedWindow[]> {
      const n = ns(namespace);
      for (const [m, w] of n.windows) if (w.expiresAt <= o.nowMs) n.windows.delete(m);
      const perShard = new Map<number, number>();
      const claimed: ClaimedWindow[] = [];
      const due = [...n.due].filter(([, at]) => at <= o.nowMs).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
      for (const [member] of due) {
        const { endMs, series } = parseWindowMember(member);
        const shard = shardOf(series, shards);
        const count = perShard.get(shard) ?? 0;
        if (count >= o.limit) continue;
        perShard.set(shard, count + 1);
        n.due.set(member, o.nowMs + o.leaseMs);
        n.closed.set(series, Math.max(n.closed.get(series) ?? endMs, endMs));
        claimed.push({ member, points: [...(n.windows.get(member)?.points ?? [])] });
      }
      return claimed;
    },
    async finish(namespace, members, nowMs, keepMs) {
      const n = ns(namespace);
      for (const m of members) {
        n.due.delete(m);
        const w = n.windows.get(m);
        if (w) w.expiresAt = nowMs + keepMs;
      }
    },
    close: async () => {},
  };
}

function addToWindow(n: Namespace, op: Extract<StateOp, { kind: 'window' }>): OpResult {
  const member = windowMember(op.startMs, op.endMs, op.series);
  const closed = n.closed.get(op.series);
  if (closed !== undefined && closed > op.startMs) return n.windows.get(member)?.points.has(op.t) ? 'dup' : 'late';
  let w = n.windows.get(member);
  if (!w) n.windows.set(member, (w = { points: new Map(), expiresAt: Infinity }));
  if (!w.points.has(op.t)) w.points.set(op.t, op.data);
  if (!n.due.has(member)) n.due.set(member, op.closeAtMs);
  return 'ok';
}

function sequence(n: Namespace, op: Extract<StateOp, { kind: 'sequence' }>): OpResult {
  let h = n.last.get(op.series);
  if (!h) n.last.set(op.series, (h = []));
  return stepSequence(h, op.t, op.rule, op.history, op.values);
}

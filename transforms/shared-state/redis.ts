import { Cluster, Redis } from 'ioredis';
import { ConfigError } from '../../pipeline/core/errors.js';
import type { BatchPolicy } from '../../pipeline/core/types.js';
import { shardKeys, shardOf, type ShardKeys } from './keys.js';
import { STAGE_STATE_SCRIPT } from './lua.js';
import type { ClaimedWindow, OpResult, StageState, StateOp } from './types.js';

/** Options of {@link redisStageState}. */
export interface RedisStageStateOptions {
  /** Redis URL (single instance), when no `redis` is given. @defaultValue 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /** Redis Cluster seed nodes (`redis://host:port`), instead of `url`. */
  readonly cluster?: readonly string[];
  /** A connection (single instance or Cluster) to use; you open and close it. */
  readonly redis?: Redis | Cluster;
  /** Prefix of every key. @defaultValue 'tributary:state' */
  readonly keyPrefix?: string;
  /** Shards per stage; each is one hash slot, so a Cluster spreads a stage over its masters. @defaultValue 16 */
  readonly shards?: number;
  /** Batching of state updates. @defaultValue 5000 items, 4 MiB, 100 ms, 2 writes in flight */
  readonly batch?: Partial<BatchPolicy>;
}

const COMMAND = 'tributaryStageState1';
type ScriptClient = Record<typeof COMMAND, (...args: Array<string | number>) => Promise<unknown>>;

/**
 * Stage state in Redis, shared by every worker that names the same Redis and prefix: one script
 * call per batch and shard, atomic, so any worker can take any message of a series. Commands fail
 * fast while Redis is down; the stage's durable step then retries and holds the acknowledgements.
 * On a Redis Cluster (`cluster`), a call touches one shard, whose keys share one hash tag.
 * @example
 * aggregateWindow({ everyMs: 10_000, fields: { temperature: ['mean'] }, state: redisStageState({ url: env.redis.url }) })
 */
export function redisStageState(options: RedisStageStateOptions = {}): StageState {
  const shards = options.shards ?? 16;
  if (!Number.isInteger(shards) || shards < 1 || shards > 16_384)
    throw new ConfigError('redisStageState shards', 'an integer from 1 to 16384', shards);
  const prefix = options.keyPrefix ?? 'tributary:state';
  if (/[{}]/.test(prefix))
    throw new ConfigError(
      'redisStageState keyPrefix',
      'a prefix without { or } (the state adds its own hash tags)',
      prefix,
    );
  const owned = options.redis === undefined;
  const common = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 } as const;
  const redis: Redis | Cluster =
    options.redis ??
    (options.cluster
      ? new Cluster(
          options.cluster.map((u) => {
            const x = new URL(u);
            return { host: x.hostname, port: Number(x.port || 6379) };
          }),
          {
            lazyConnect: true,
            enableOfflineQueue: false,
            redisOptions: { ...common },
            clusterRetryStrategy: (times) => Math.min(times * 200, 5_000),
          },
        )
      : new Redis(options.url ?? 'redis://127.0.0.1:6379', {
          ...common,
          retryStrategy: (times) => Math.min(times * 200, 5_000),
        }));
  if (owned) redis.on('error', () => {}); // a lost connection shows as failed updates, which are retried
  if (typeof (redis as unknown as Partial<ScriptClient>)[COMMAND] !== 'function') {
    redis.defineCommand(COMMAND, { numberOfKeys: 3, lua: STAGE_STATE_SCRIPT });
  }
  const run = (k: ShardKeys, ...args: Array<string | number>) =>
    (redis as unknown as ScriptClient)[COMMAND](k.due, k.closed, k.last, ...args);
  const keyCache = new Map<string, ShardKeys>();
  const keysOf = (namespace: string, shard: number) => {
    const id = `${namespace}\u0000${shard}`;
    let k = keyCache.get(id);
    if (!k) keyCache.set(id, (k = shardKeys(prefix, namespace, shard)));
    return k;
  };
  const cluster = redis instanceof Cluster;
  let opening: Promise<void> | undefined;
  let users = 0;

  return {
    kind: 'redis',
    batch: { maxItems: 5000, maxBytes: 4 * 1024 * 1024, maxWaitMs: 100, maxConcurrency: 2, ...options.batch },
    shards,
    open() {
      users++;
      // Unreachable at start is not fatal: ioredis keeps reconnecting, updates are retried meanwhile.
      return (opening ??=
        owned && redis.status === 'wait'
          ? redis.connect().then(
              () => undefined,
              () => undefined,
            )
          : Promise.resolve());
    },
    unavailable: () => (redis.status === 'ready' ? undefined : `redis connection is ${redis.status}`),
    async apply(namespace, ops, _nowMs): Promise<OpResult[]> {
      const groups = new Map<number, number[]>();
      ops.forEach((op, i) => {
        const s = shardOf(op.series, shards);
        const g = groups.get(s);
        if (g) g.push(i);
        else groups.set(s, [i]);
      });
      const results: OpResult[] = new Array<OpResult>(ops.length);
      const callOf = (shards: Array<[number, number[]]>) => {
        const first = keysOf(namespace, shards[0]![0]);
        const args: Array<string | number> = ['apply', first.windowPrefix];
        const packed: string[] = [];
        for (const [shard, indexes] of shards) {
          const k = keysOf(namespace, shard);
          if (k !== first) {
            flushPacked(packed, args);
            args.push('K', k.due, k.closed, k.last, k.windowPrefix);
          }
          for (const i of indexes) {
            const op = ops[i]!;
            // Window ops travel packed in one argument: thousands of small arguments cost the worker more than the ops.
            if (op.kind === 'window' && !op.data.includes('\u0001') && !op.series.includes('\u0001'))
              packed.push(
                `${op.startMs}|${op.endMs}|${op.series}`,
                op.series,
                String(op.startMs),
                String(op.closeAtMs),
                op.t,
                op.data,
              );
            else {
              flushPacked(packed, args);
              wire(op, args, k);
            }
          }
        }
        flushPacked(packed, args);
        return (run(first, ...args) as Promise<string[]>).then((reply) => {
          let j = 0;
          for (const [, indexes] of shards) for (const i of indexes) results[i] = String(reply[j++]);
        });
      };
      // A Cluster: one call per shard (one slot each). A single instance: one call for the batch.
      const all = [...groups];
      if (all.length === 0) return results;
      await (cluster ? Promise.all(all.map((g) => callOf([g]))) : callOf(all));
      return results;
    },
    async claim(namespace, o): Promise<ClaimedWindow[]> {
      const replies = await Promise.all(
        Array.from({ length: shards }, (_, shard) => {
          const k = keysOf(namespace, shard);
          return run(k, 'claim', k.windowPrefix, o.nowMs, o.leaseMs, o.limit) as Promise<unknown[]>;
        }),
      );
      const claimed: ClaimedWindow[] = [];
      for (const reply of replies) {
        for (let i = 0; i + 1 < reply.length; i += 2) {
          const flat = reply[i + 1] as string[];
          const points: Array<readonly [string, string]> = [];
          for (let j = 0; j + 1 < flat.length; j += 2) points.push([flat[j]!, flat[j + 1]!]);
          claimed.push({ member: String(reply[i]), points });
        }
      }
      return claimed;
    },
    async finish(namespace, members, _nowMs, keepMs) {
      const byShard = new Map<number, string[]>();
      for (const m of members) {
        const s = shardOf(m.slice(m.indexOf('|', m.indexOf('|') + 1) + 1), shards);
        const g = byShard.get(s);
        if (g) g.push(m);
        else byShard.set(s, [m]);
      }
      await Promise.all(
        [...byShard].map(([shard, ms]) => {
          const k = keysOf(namespace, shard);
          return run(k, 'finish', k.windowPrefix, keepMs, ...ms);
        }),
      );
    },
    async close() {
      if (--users <= 0 && owned) redis.disconnect(); // several stages may share one state
    },
  };
}

/** Appends the packed window ops (`W`, count, fields joined by \u0001) and empties `packed`. */
function flushPacked(packed: string[], args: Array<string | number>): void {
  if (packed.length === 0) return;
  args.push('W', packed.length / 6, packed.join('\u0001'));
  packed.length = 0;
}

/** Appends one op to a script call's arguments (see `lua.ts`). */
function wire(op: StateOp, args: Array<string | number>, k: ShardKeys): void {
  if (op.kind === 'node') {
    args.push(
      'n',
      `${k.nodePrefix}${op.series}`,
      op.action,
      op.device,
      op.seq,
      op.tolerance,
      op.bdSeq,
      op.set.length,
      ...op.set,
      op.get.length,
      ...op.get,
    );
    return;
  }
  if (op.kind === 'window') {
    args.push('w', `${op.startMs}|${op.endMs}|${op.series}`, op.series, op.startMs, op.closeAtMs, op.t, op.data);
    return;
  }
  const r = op.rule;
  const [mode, p1, p2] =
    r.mode === 'changed' ? ['c', 0, 0] : r.mode === 'dedupe' ? ['d', r.withinMs, 0] : ['r', r.perNs, r.counter ? 1 : 0];
  args.push('s', op.series, op.t, mode, p1, p2, op.history, op.values.length, ...op.values);
  for (let j = 0; j < op.values.length; j++) args.push(r.mode === 'dedupe' ? (r.deadband[j] ?? -1) : -1);
}

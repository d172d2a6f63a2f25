import type { Redis } from 'ioredis';
import { ALERT_SCRIPT } from './lua.js';
import type { AlertStore, AlertTransition, BatchPayload, SeriesState, SweepReply } from './state-machine.js';

/** The Redis keys of one alert sink; they share a hash tag so the script runs on one cluster slot. */
export interface AlertKeys {
  readonly state: string;
  readonly deadlines: string;
  readonly outbox: string;
  readonly leases: string;
  /** Base of the per-slot sweep lock keys. */
  readonly sweepLock: string;
}

/**
 * The key names under `keyPrefix`. A prefix without a `{hash tag}` gets one, so that all keys
 * land in one Redis Cluster slot.
 * @example
 * alertKeys('tributary:alerts:{alerts}')
 */
export function alertKeys(keyPrefix: string): AlertKeys {
  const p = /\{[^{}]+\}/.test(keyPrefix) ? keyPrefix : `{${keyPrefix}}`;
  return {
    state: `${p}:state`,
    deadlines: `${p}:deadlines`,
    outbox: `${p}:outbox`,
    leases: `${p}:outbox-leases`,
    sweepLock: `${p}:sweep`,
  };
}

const COMMAND = 'tributaryAlerts1';
type ScriptClient = Record<typeof COMMAND, (...args: string[]) => Promise<unknown>>;

/**
 * The alert store in Redis: one EVALSHA per batch or sweep (ioredis falls back to EVAL after a
 * restart emptied the script cache). Commands fail fast when the connection has
 * `enableOfflineQueue: false`; callers turn failures into `retry`.
 * @example
 * const store = redisAlertStore(redis, alertKeys('tributary:alerts:{alerts}'));
 */
export function redisAlertStore(redis: Redis, keys: AlertKeys): AlertStore {
  if (typeof (redis as unknown as Partial<ScriptClient>)[COMMAND] !== 'function') {
    redis.defineCommand(COMMAND, { numberOfKeys: 5, lua: ALERT_SCRIPT });
  }
  const run = (mode: 'apply' | 'sweep', json: string, lock = keys.sweepLock) =>
    (redis as unknown as ScriptClient)[COMMAND](keys.state, keys.deadlines, keys.outbox, keys.leases, lock, mode, json);
  const parse = (rows: unknown): AlertTransition[] =>
    Array.isArray(rows) ? rows.map((r) => JSON.parse(String(r)) as AlertTransition) : [];
  return {
    // Not async: the payload is not held while Redis works.
    apply: (payload) => run('apply', applyWire(payload)).then(parse),
    async sweep(payload, lockKey): Promise<SweepReply> {
      const [status, transitions, claimed] = (await run('sweep', JSON.stringify(payload), lockKey)) as [
        string,
        unknown,
        unknown,
      ];
      return { skipped: status === 'skipped', transitions: parse(transitions), claimed: parse(claimed) };
    },
    async ack(ids) {
      if (ids.length === 0) return;
      const results = await redis
        .multi()
        .hdel(keys.outbox, ...ids)
        .zrem(keys.leases, ...ids)
        .exec();
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('outbox acknowledgement aborted');
    },
    async read(ruleId, series) {
      const raw = await redis.hget(keys.state, `${ruleId}|${series}`);
      if (raw === null) return undefined;
      const rec = JSON.parse(raw) as SeriesState & { pv?: number | string };
      if (rec.pv !== undefined) rec.pv = Number(rec.pv);
      return rec as SeriesState;
    },
  };
}

/**
 * A batch as the script reads it: each series key once (`s`), and the groups as one flat list
 * (`g`: rule id, 1-based series index, count, then per observation time key, signal, value or null).
 */
export function applyWire(p: BatchPayload): string {
  const index = new Map<string, number>();
  const s: string[] = [];
  const g: Array<string | number | boolean | null> = [];
  for (const [ruleId, series, observations] of p.groups) {
    let i = index.get(series);
    if (i === undefined) index.set(series, (i = s.push(series)));
    g.push(ruleId, i, observations.length);
    for (const [t, signal, value] of observations) g.push(t, signal, value ?? null);
  }
  return JSON.stringify({ now: p.now, nowT: p.nowT, workerId: p.workerId, rules: p.rules, s, g });
}

import { fork } from 'node:child_process';
import { Redis } from 'ioredis';
import type { WorkerEnv } from './config/env.js';
import { mqttSecurityOptions } from '../engine/ingest/mqtt-security.js';
import { WorkerSessions, type HelperConnectOptions } from '../engine/ingest/worker-sessions.js';
import type { Runtime } from '../engine/runtime/runtime.js';
import type { Logger, Source } from '../core/types.js';

const LEASE_MS = 30_000;
// Renews the lease only while this worker holds it; releases it likewise.
const RENEW =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/** The Redis key of the lease on draining `clientId`'s session: one drain at a time, group-wide. */
export const drainLeaseKey = (group: string, clientId: string) => `tributary:drain:{${group}}:${clientId}`;

/** Connection options for a helper connection to the broker, with the worker's credentials and TLS. */
export async function helperConnectOptions(env: WorkerEnv): Promise<HelperConnectOptions> {
  const security = mqttSecurityOptions({
    ...env.mqtt.security,
    username: env.mqtt.username ?? env.mqtt.security.username,
    password: env.mqtt.password ?? env.mqtt.security.password,
  });
  return { protocolVersion: env.mqtt.protocolVersion, ...(await security.connectOptions()) };
}

/**
 * Drains `clientId`'s session through the pipeline in `file`, in a child process (`tributary run`
 * with `TRIBUTARY_DRAIN_SESSION=true`), holding the group's lease on it so no other worker drains
 * it at the same time. Resolves with the child's exit code, or `'leased'` when another holds it.
 */
export async function drainSession(
  file: string,
  clientId: string,
  env: WorkerEnv,
  log: Logger,
): Promise<number | 'leased'> {
  const redis = new Redis(env.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  const key = drainLeaseKey(env.mqtt.group, clientId);
  const me = `${env.mqtt.clientId}:${process.pid}`;
  try {
    await redis.connect();
    if ((await redis.set(key, me, 'PX', LEASE_MS, 'NX')) !== 'OK') return 'leased';
    log.info({ orphan: clientId, group: env.mqtt.group }, 'draining an orphaned session');
    const renew = setInterval(() => {
      redis.eval(RENEW, 1, key, me, LEASE_MS).catch(() => undefined);
    }, LEASE_MS / 3);
    try {
      const child = fork(process.argv[1]!, ['run', file], {
        env: {
          ...process.env,
          TRIBUTARY_CLIENT_ID: clientId,
          TRIBUTARY_DRAIN_SESSION: 'true',
          TRIBUTARY_ADOPT_ORPHANS: 'false',
          TRIBUTARY_METRICS_PORT: '',
          TRIBUTARY_GROUP: env.mqtt.group,
        },
      });
      const code = await new Promise<number>((resolve) =>
        child.on('exit', (c, signal) => resolve(signal ? 128 : (c ?? 1))),
      );
      log[code === 0 ? 'info' : 'warn'](
        { orphan: clientId, code },
        code === 0
          ? 'orphaned session drained and ended'
          : 'draining an orphaned session failed; it is tried again later',
      );
      return code;
    } finally {
      clearInterval(renew);
      await redis.eval(RELEASE, 1, key, me).catch(() => undefined);
    }
  } finally {
    redis.disconnect();
  }
}

/** Options of {@link startOrphanAdopter}. */
export interface OrphanAdopterOptions {
  readonly file: string;
  readonly env: WorkerEnv;
  readonly log: Logger;
  /** Members to drain at once, without waiting for the grace (a pool shrunk from a larger N). */
  readonly retired?: (clientId: string) => boolean;
}

/**
 * Watches the worker presence of this worker's share group and drains the session of a member
 * offline past the grace (`TRIBUTARY_ORPHAN_GRACE_S`): the broker keeps giving such a session its
 * share of the group's messages, and nobody would write them.
 */
export async function startOrphanAdopter(o: OrphanAdopterOptions): Promise<{ stop(): Promise<void> }> {
  const { env, log } = o;
  const sessions = await WorkerSessions.open(env.mqtt.url, await helperConnectOptions(env));
  const retryAfter = new Map<string, number>();
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = Date.now();
      const candidates = [
        ...sessions.orphans(env.mqtt.group, env.mqtt.clientId, 0).filter((w) => o.retired?.(w.clientId)),
        ...sessions.orphans(env.mqtt.group, env.mqtt.clientId, env.orphans.graceMs),
      ];
      for (const orphan of candidates) {
        if ((retryAfter.get(orphan.clientId) ?? 0) > now) continue;
        const result = await drainSession(o.file, orphan.clientId, env, log);
        if (result !== 0) retryAfter.set(orphan.clientId, Date.now() + Math.max(10_000, env.orphans.graceMs / 4));
        break; // one drain at a time; the list is read afresh next tick
      }
    } catch (error) {
      log.warn({ error }, 'orphaned-session check failed');
    } finally {
      busy = false;
    }
  };
  const everyMs = Math.min(5_000, Math.max(500, env.orphans.graceMs / 4));
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  void tick();
  return {
    async stop() {
      clearInterval(timer);
      await sessions.close();
    },
  };
}

/**
 * In a drain child: waits until the adopted session's queue was delivered and settled (no message
 * for `quietMs`, nothing unsettled), then stops the runtime, which ends the session.
 * @returns the exit code: 0 drained and ended; 1 the connection was lost or the drain timed out
 *   (the session stays, with what it still holds, for a later drain)
 */
export async function drainUntilQuiet(
  runtime: Runtime,
  source: Source<unknown>,
  log: Logger,
  quietMs = 2_000,
): Promise<number> {
  let last = -1;
  let quietSince = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    const { received, unsettled } = runtime.stats;
    if (received !== last) {
      last = received;
      quietSince = Date.now();
    }
    if (source.connectedSinceMs?.() === undefined) {
      log.warn({ received }, 'drained session lost its connection (taken over?); not ended');
      await runtime.stop(10_000);
      return 1;
    }
    if (unsettled === 0 && Date.now() - quietSince >= quietMs) {
      log.info({ received }, 'session queue delivered');
      return (await runtime.stop(10_000)) ? 0 : 1;
    }
  }
}

/** Which client ids a pool of `size` workers no longer has: `<group>-<i>` with i ≥ size. */
export function retiredMembers(group: string, size: number | undefined): ((clientId: string) => boolean) | undefined {
  if (size === undefined) return undefined;
  const pattern = new RegExp(`^${group.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`);
  return (clientId) => {
    const m = pattern.exec(clientId);
    return m !== null && Number(m[1]) >= size;
  };
}

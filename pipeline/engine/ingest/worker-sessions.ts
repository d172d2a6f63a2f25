import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { PresenceStatus } from './presence.js';
import { parseSubscriptionRecord } from './subscription-record.js';

/** What the broker's retained topics say of one worker (its presence and its subscription record). */
export interface WorkerSession {
  readonly clientId: string;
  /** Share group, from the presence status (absent in statuses of older versions). */
  readonly group?: string;
  readonly state: 'online' | 'offline';
  /** Offline without a DISCONNECT (the broker published the Last Will). */
  readonly lost: boolean;
  /** When this state was published (ms), or first seen by this watcher when the status has no time. */
  readonly sinceMs: number;
  readonly pipeline?: string;
  readonly host?: string;
  /** The filters its session subscribed, from its subscription record. */
  readonly filters: readonly string[];
}

const WORKERS = 'tributary/workers/';

/** Connection options for a short-lived helper connection: clean, no session left behind. */
export type HelperConnectOptions = Omit<IClientOptions, 'clientId' | 'clean'>;

/**
 * Follows the retained presence and subscription records of every worker on a broker, over its
 * own clean connection (never the worker's: nothing here touches the acknowledgement path).
 */
export class WorkerSessions {
  private readonly byId = new Map<
    string,
    { status?: PresenceStatus; firstSeenMs: number; filters: readonly string[] }
  >();

  private constructor(
    private readonly client: MqttClient,
    private readonly clock: () => number,
  ) {
    client.on('message', (topic, payload) => this.take(topic, payload));
  }

  /** Connects and subscribes; resolves once the retained records had time to arrive (`settleMs`). */
  static async open(
    url: string,
    options: HelperConnectOptions & { clock?: () => number; settleMs?: number } = {},
  ): Promise<WorkerSessions> {
    const { clock = Date.now, settleMs = 500, ...connect } = options;
    const client = await mqtt.connectAsync(url, {
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...connect,
      clientId: `tributary-sessions-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      clean: true,
    });
    const sessions = new WorkerSessions(client, clock);
    await client.subscribeAsync([`${WORKERS}+/status`, `${WORKERS}+/subscriptions`], { qos: 0 });
    await new Promise((r) => setTimeout(r, settleMs));
    return sessions;
  }

  /** Every worker seen, optionally of one share group. */
  list(group?: string): WorkerSession[] {
    const out: WorkerSession[] = [];
    for (const w of this.byId.values()) {
      const s = w.status;
      if (!s) continue;
      const clientId = s.clientId;
      const g = typeof s.group === 'string' ? s.group : undefined;
      if (group !== undefined && g !== group) continue;
      out.push({
        clientId,
        group: g,
        state: s.state,
        lost: s.state === 'offline' && s.graceful !== true,
        sinceMs: typeof s.at === 'number' ? s.at : w.firstSeenMs,
        pipeline: typeof s.pipeline === 'string' ? s.pipeline : undefined,
        host: typeof s.host === 'string' ? s.host : undefined,
        filters: w.filters,
      });
    }
    return out.sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  /** Members of `group` other than `self` offline for at least `graceMs`. */
  orphans(group: string, self: string, graceMs: number): WorkerSession[] {
    const now = this.clock();
    return this.list(group).filter((w) => w.clientId !== self && w.state === 'offline' && now - w.sinceMs >= graceMs);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  private take(topic: string, payload: Buffer): void {
    const parts = topic.split('/');
    const kind = parts[3];
    const key = parts[2] ?? '';
    const w = this.byId.get(key) ?? { firstSeenMs: this.clock(), filters: [] };
    if (kind === 'subscriptions') {
      w.filters = payload.length === 0 ? [] : (parseSubscriptionRecord(payload)?.filters ?? w.filters);
    } else if (kind === 'status') {
      const status = payload.length === 0 ? undefined : parseStatus(payload);
      if (status?.state !== w.status?.state) w.firstSeenMs = this.clock();
      w.status = status;
    }
    this.byId.set(key, w);
  }
}

function parseStatus(payload: Buffer): PresenceStatus | undefined {
  try {
    const s = JSON.parse(payload.toString('utf8')) as PresenceStatus;
    return s && (s.state === 'online' || s.state === 'offline') && typeof s.clientId === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Ends `clientId`'s persistent session on the broker, dropping whatever it still queues: a clean
 * connect with session expiry 0 (MQTT 5) or a clean session (3.1.1). Drain it first.
 */
export async function endSession(url: string, clientId: string, options: HelperConnectOptions = {}): Promise<void> {
  const v5 = (options.protocolVersion ?? 5) === 5;
  const c = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...options,
    clientId,
    clean: true,
    properties: v5 ? { sessionExpiryInterval: 0 } : undefined,
  });
  await c.endAsync();
}

/** Removes a worker's retained presence and subscription record (empty retained messages). */
export async function clearWorkerRecords(client: MqttClient, statusTopic: string, recordTopic: string): Promise<void> {
  for (const topic of [statusTopic, recordTopic]) await client.publishAsync(topic, '', { qos: 1, retain: true });
}

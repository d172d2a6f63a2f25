import { hostname } from 'node:os';
import type { IClientOptions, MqttClient } from 'mqtt';

/** Options of {@link presence}. */
export interface PresenceOptions {
  /** The worker's MQTT client id. */
  readonly clientId: string;
  /** Retained status topic. @defaultValue `tributary/workers/<clientId>/status` (`/ + #` in the id become `_`) */
  readonly topic?: string;
  /** Extra JSON members in every status message, e.g. `{ pipeline: 'fleet' }`. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
  /** @defaultValue Date.now */
  readonly clock?: () => number;
}

/** The worker's states as the status topic shows them. */
export type PresenceState = 'online' | 'offline';

/** A status message (JSON on the status topic). */
export interface PresenceStatus {
  readonly state: PresenceState;
  readonly clientId: string;
  /** `false` when the broker published it as the Last Will (the connection was lost). */
  readonly graceful?: boolean;
  /** When the worker published it (ms); absent in the Last Will, which is fixed at connect time. */
  readonly at?: number;
  readonly [key: string]: unknown;
}

/** Presence of one worker: what to put in CONNECT, and what to publish after connect and before close. */
export interface Presence {
  readonly topic: string;
  /** The Last Will for `IClientOptions.will`: retained, QoS 1, `{"state":"offline","graceful":false,...}`. */
  readonly will: NonNullable<IClientOptions['will']>;
  /** Publishes the retained `online` status (after every CONNACK: a lost connection published the will). */
  online(client: MqttClient): Promise<void>;
  /**
   * Publishes the retained graceful `offline` status; call before a normal DISCONNECT, which
   * discards the will. Skipped when not connected, bounded by `timeoutMs`.
   */
  offline(client: MqttClient, timeoutMs?: number): Promise<void>;
}

/** The default status topic of a worker. */
export function statusTopic(clientId: string): string {
  return `tributary/workers/${clientId.replace(/[/+#]/g, '_')}/status`;
}

/**
 * Worker presence over MQTT: a retained status topic that says `online` while the worker is
 * connected and `offline` after it left, gracefully (published by the worker) or not (the broker
 * publishes the Last Will when the connection drops without a DISCONNECT).
 * The broker's ACL must let the worker publish to the topic.
 * @example
 * const p = presence({ clientId: 'ingest-0' });
 * const client = mqtt.connect(url, { clientId: 'ingest-0', will: p.will });
 * client.on('connect', () => { p.online(client).catch(log) });
 * // shutdown: await p.offline(client); await client.endAsync();
 */
export function presence(options: PresenceOptions): Presence {
  const topic = options.topic ?? statusTopic(options.clientId);
  const clock = options.clock ?? Date.now;
  const base = { clientId: options.clientId, host: hostname(), pid: process.pid, ...options.details };
  const body = (state: PresenceState, graceful: boolean | undefined, at?: number) =>
    JSON.stringify({
      state,
      ...base,
      ...(graceful === undefined ? {} : { graceful }),
      ...(at === undefined ? {} : { at }),
    });
  const publishOpts = { qos: 1 as const, retain: true };
  return {
    topic,
    will: { topic, payload: Buffer.from(body('offline', false)), qos: 1, retain: true },
    async online(client) {
      await client.publishAsync(topic, body('online', undefined, clock()), publishOpts);
    },
    async offline(client, timeoutMs = 2000) {
      if (!client.connected) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.publishAsync(topic, body('offline', true, clock()), publishOpts).then(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    },
  };
}

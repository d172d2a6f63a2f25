import type { MqttClient } from 'mqtt';
import type { DecodedValue, Decoder, Logger } from '../../core/types.js';
import type { ReceivedPublish } from './mqtt-message.js';

/**
 * The retained topic where a worker records the filters its persistent session subscribed:
 * MQTT cannot list a session's subscriptions, so a resumed session is compared with this record.
 * Beside the presence topic (`tributary/workers/<clientId>/status`); `/ + #` in the id become `_`.
 */
export function subscriptionRecordTopic(clientId: string): string {
  return `tributary/workers/${clientId.replace(/[/+#]/g, '_')}/subscriptions`;
}

/** The record's JSON: the full filters (with `$share/<group>/`) and when they were subscribed. */
export interface SubscriptionRecord {
  readonly clientId: string;
  readonly filters: readonly string[];
  readonly at: number;
}

/** Reads a record; `undefined` for anything that is not one. */
export function parseSubscriptionRecord(payload: Uint8Array): SubscriptionRecord | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(payload).toString('utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const { clientId, filters, at } = value as Record<string, unknown>;
    if (!Array.isArray(filters) || !filters.every((f) => typeof f === 'string')) return undefined;
    return { clientId: String(clientId ?? ''), filters: filters as string[], at: Number(at) || 0 };
  } catch {
    return undefined;
  }
}

/** Filters in `recorded` that the pipeline no longer subscribes. */
export function staleFilters(recorded: readonly string[], current: readonly string[]): string[] {
  const keep = new Set(current);
  return [...new Set(recorded)].filter((f) => !keep.has(f));
}

/**
 * A decoder for a message whose topic matches none of the pipeline's subscriptions (a filter left
 * in a resumed session, or a broker that delivers more than was asked): the message is
 * dead-lettered with code `unrouted`, topic and payload kept, and then acknowledged, so it never
 * holds back the PUBACKs behind it.
 */
export const unroutedDecoder: Decoder<DecodedValue> = {
  format: 'unrouted',
  decode: (_payload, meta) => ({
    ok: false,
    failure: { code: 'unrouted', reason: `topic ${meta.topic} matches no subscription of this pipeline` },
  }),
};

const READ_TIMEOUT_MS = 1500;

/**
 * Reads and writes one worker's subscription record on its own connection. The retained record
 * arrives as a QoS 0 PUBLISH right after the SUBACK; the source hands it over through
 * {@link SubscriptionRecorder.offer} before routing.
 */
export class SubscriptionRecorder {
  readonly topic: string;
  private waiting: ((record: SubscriptionRecord | undefined) => void) | undefined;

  constructor(
    private readonly clientId: string,
    private readonly log: Logger,
  ) {
    this.topic = subscriptionRecordTopic(clientId);
  }

  /** True when `publish` was the record (consumed here, not a pipeline message). */
  offer(publish: ReceivedPublish): boolean {
    if (publish.topic !== this.topic) return false;
    const record = parseSubscriptionRecord(publish.data.subarray(publish.payloadStart, publish.payloadEnd));
    this.waiting?.(record);
    return true;
  }

  /** The filters recorded by the last run with this client id ([] when none or unreadable). */
  async read(client: MqttClient): Promise<readonly string[]> {
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<SubscriptionRecord | undefined>((resolve) => {
      this.waiting = resolve;
      timer = setTimeout(() => resolve(undefined), READ_TIMEOUT_MS);
    });
    try {
      const granted = await client.subscribeAsync(this.topic, { qos: 0, rh: 0 });
      if (granted.some((g) => g.qos > 2)) {
        this.log.warn(
          { topic: this.topic },
          'broker refused the subscription record topic; stale subscriptions are not removed',
        );
        return [];
      }
      return (await arrived)?.filters ?? [];
    } finally {
      clearTimeout(timer);
      this.waiting = undefined;
      await client.unsubscribeAsync(this.topic).catch(() => undefined);
    }
  }

  /** Records `filters` (retained, QoS 1). */
  async write(client: MqttClient, filters: readonly string[]): Promise<void> {
    const record: SubscriptionRecord = { clientId: this.clientId, filters, at: Date.now() };
    await client.publishAsync(this.topic, JSON.stringify(record), { qos: 1, retain: true });
  }

  /** Removes the record (an empty retained message), when the session itself is ended. */
  async clear(client: MqttClient): Promise<void> {
    await client.publishAsync(this.topic, '', { qos: 1, retain: true });
  }
}

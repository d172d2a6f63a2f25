import type { MqttClient } from 'mqtt';
import type { DecodedValue, Decoder, Logger, Source } from '../../core/types.js';
import type { MqttSecurityInput } from './mqtt-security.js';
import type { PresenceOptions } from './presence.js';

/** One subscription: a topic filter and the decoder for what arrives on it. */
export interface Subscription<B> {
  /** Topic filter; wrapped in `$share/<group>/` when the source has a group. */
  readonly topic: string;
  /** Decoder for payloads on this filter (the first matching subscription wins). */
  readonly decode: Decoder<B>;
  /** QoS 1 is acknowledged after delivery; QoS 0 is best effort. @defaultValue 1 */
  readonly qos?: 0 | 1;
}

/** Options of {@link mqttSource}. */
export interface MqttSourceOptions<B> {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1884`. */
  readonly url: string;
  /** Share group: subscriptions become `$share/<group>/<filter>`. Omit for a plain subscription. */
  readonly group?: string;
  readonly subscribe: ReadonlyArray<Subscription<B>>;
  /** Stable client id, so the broker keeps this worker's session across restarts. */
  readonly clientId: string;
  /** @defaultValue 5 */
  readonly protocolVersion?: 4 | 5;
  readonly username?: string;
  readonly password?: string;
  /**
   * TLS (CA, client certificate and key) and a token provider refreshed before reconnects, see
   * `mqttSecurityOptions`; files are read when the source is made. `workerEnv().mqtt.security`
   * reads them from TRIBUTARY_MQTT_* variables.
   */
  readonly security?: MqttSecurityInput;
  /** @defaultValue 30 */
  readonly keepaliveS?: number;
  /** MQTT 5 session expiry; the broker keeps the session (and queues) this long offline. @defaultValue 86400 */
  readonly sessionExpiryS?: number;
  /**
   * Unacknowledged QoS 1 messages this connection may hold: sent as MQTT 5 `receiveMaximum`; on
   * 3.1.1 set it to the broker's `max_inflight_messages`. Bounds batches and memory.
   * @defaultValue 10000
   */
  readonly inflightWindow?: number;
  /** Reconnect backoff bounds, exponential with jitter. @defaultValue `{ minDelayMs: 250, maxDelayMs: 30000 }` */
  readonly reconnect?: { readonly minDelayMs: number; readonly maxDelayMs: number };
  /** How long `open()` waits for the first connection. @defaultValue 30000 */
  readonly connectTimeoutMs?: number;
  /**
   * Publish a retained `online` status on connect and set a Last Will `offline`, on
   * `tributary/workers/<clientId>/status` unless told otherwise. @defaultValue false
   */
  readonly presence?: boolean | Omit<PresenceOptions, 'clientId'>;
  /**
   * On a resumed session, unsubscribe the filters an earlier run subscribed that this pipeline no
   * longer has. The filters are kept in a retained record on
   * `tributary/workers/<clientId>/subscriptions` (the broker's ACL must let the worker publish and
   * subscribe to it). A message that matches no subscription is dead-lettered as `unrouted` either way.
   * @defaultValue true
   */
  readonly reconcileSubscriptions?: boolean;
  /**
   * Drain mode, for taking over an orphaned worker's session (`tributary sessions drain`): connect
   * with that worker's client id, unsubscribe its filters so it gets no new share of the group's
   * messages, deliver what its session had queued with the usual acknowledgements, and on
   * `close()` end the session and clear its presence. No presence of its own, no reconnect.
   * @defaultValue false
   */
  readonly drainSession?: boolean;
  readonly log?: Logger;
}

/** A Source over MQTT with acknowledgement after delivery. */
export interface MqttSource<B> extends Source<B> {
  /** The underlying client (for presence messages and tests). */
  readonly client: MqttClient | undefined;
  /**
   * The subscriptions as given (filters without the `$share/<group>/` prefix) with their decoders,
   * in order: the first filter matching a topic decodes it. `tributary/testing` uses them to decode
   * pushed messages exactly as this source would.
   */
  readonly subscriptions: ReadonlyArray<{ readonly topic: string; readonly decode: Decoder<DecodedValue> }>;
}

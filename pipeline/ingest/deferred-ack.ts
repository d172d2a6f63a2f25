import type { IPublishPacket, MqttClient } from 'mqtt';

/**
 * Passed to mqtt.js's `handleMessage` callback to make it skip the automatic PUBACK. mqtt.js then
 * goes on to the next packet, so keep-alive is never starved by slow writes. Pre-allocated: no
 * stack trace per message.
 */
const DEFER_PUBACK = Object.freeze(new Error('tributary: PUBACK deferred until the message settled'));

interface Held {
  readonly messageId: number;
  readonly epoch: number;
  settled: boolean;
}

/**
 * Deferred PUBACKs for QoS 1 messages on one mqtt.js client — the only file that touches mqtt.js
 * internals (`handleMessage` and the private `_sendPacket`). mqtt is pinned to a minor version and
 * `test/integration/deferred-ack.test.ts` fails against the real broker if an upgrade breaks this.
 *
 * Rules (MQTT 3.1.1 §4.6, MQTT 5 §4.6): PUBACKs go out in the order the PUBLISHes arrived, only on
 * the connection the message came in on. Each (re)connection starts a new epoch; messages held
 * from an earlier epoch are forgotten, and the broker redelivers them (DUP=1) on the resumed session.
 */
export class DeferredAcks {
  private epoch = 0;
  private queue: Held[] = [];
  private head = 0;
  private blocked: (() => void) | undefined;
  private paused = false;
  /** PUBACKs sent since the client was created. */
  sent = 0;

  constructor(private readonly client: MqttClient) {
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void) => {
      const next = () => callback(packet.qos === 1 ? DEFER_PUBACK : undefined);
      // mqtt.js reads the next packet only after this callback: holding it is its flow control.
      if (this.paused) this.blocked = next;
      else next();
    };
    const newEpoch = () => {
      this.epoch++;
      this.queue = [];
      this.head = 0;
      this.unblock(); // the old connection's packet loop is dropped by mqtt.js; let it finish
    };
    client.on('connect', newEpoch);
    client.on('close', newEpoch);
  }

  /**
   * Backpressure: stop reading packets after the current one, so TCP pushes back on the broker.
   * Keep pauses short: keep-alive answers are not read either, and past 1.5 × keepalive the
   * connection is dropped (nothing is lost; held messages are redelivered).
   */
  pause(): void {
    this.paused = true;
  }

  /** Reads packets again. */
  resume(): void {
    this.paused = false;
    this.unblock();
  }

  private unblock(): void {
    const next = this.blocked;
    this.blocked = undefined;
    next?.();
  }

  /** Messages held on the current connection and not yet acknowledged. */
  get held(): number {
    return this.queue.length - this.head;
  }

  /**
   * Registers a QoS 1 message just received (call from the `message` event, which mqtt.js emits
   * right before `handleMessage`). Returns the function that settles it; idempotent.
   */
  hold(messageId: number): () => void {
    const held: Held = { messageId, epoch: this.epoch, settled: false };
    this.queue.push(held);
    return () => {
      if (held.settled) return;
      held.settled = true;
      if (held.epoch === this.epoch) this.release();
    };
  }

  private release(): void {
    const q = this.queue;
    let i = this.head;
    if (i >= q.length || !q[i]!.settled) return;
    // One write for the whole run of PUBACKs instead of a syscall each.
    const stream = this.client.stream;
    stream.cork();
    process.nextTick(() => stream.uncork());
    // Only while connected: a PUBACK "sent" offline is queued by mqtt.js for the next connection,
    // where the same message id may name a different message.
    while (i < q.length && q[i]!.settled && this.client.connected) {
      sendPuback(this.client, q[i]!.messageId);
      i++;
    }
    this.sent += i - this.head;
    this.head = i;
    if (this.head > 4096 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }
}

type PacketSender = { _sendPacket(packet: { cmd: 'puback'; messageId: number }): void };

function sendPuback(client: MqttClient, messageId: number): void {
  (client as unknown as PacketSender)._sendPacket({ cmd: 'puback', messageId });
}

import type { Duplex } from 'node:stream';
import type { IPublishPacket, MqttClient } from 'mqtt';

/**
 * Passed to mqtt.js's `handleMessage` callback to make it skip the automatic PUBACK. mqtt.js then
 * goes on to the next packet, so keep-alive is never starved by slow writes. Pre-allocated: no
 * stack trace per message.
 */
const DEFER_PUBACK = Object.freeze(new Error('tributary: PUBACK deferred until the message settled'));

/**
 * Deferred PUBACKs for QoS 1 messages on one mqtt.js client. With `PublishReader`, one of the two
 * files that touch mqtt.js internals (here `handleMessage` and the client's socket). mqtt is pinned
 * to a minor version, and `test/pipeline/engine/ingest/deferred-ack.int.test.ts` and
 * `test/pipeline/engine/ingest/mqtt-source.read.int.test.ts` fail against the real broker if an upgrade breaks them.
 *
 * Rules (MQTT 3.1.1 §4.6, MQTT 5 §4.6): PUBACKs go out in the order the PUBLISHes arrived, only on
 * the connection the message came in on. Each (re)connection starts a new epoch; messages held
 * from an earlier epoch are forgotten, and the broker redelivers them (DUP=1) on the resumed session.
 *
 * Held messages live in a ring of packet ids and settled flags indexed by arrival number: no
 * object per message, and a run of settled messages is acknowledged with one socket write.
 */
export class DeferredAcks {
  private epoch = 0;
  private ids = new Uint16Array(1024);
  private settledFlags = new Uint8Array(1024);
  /** Arrival numbers: `head` is the oldest unacknowledged message, `tail` the next to arrive. */
  private head = 0;
  private tail = 0;
  private blocked: (() => void) | undefined;
  private paused = false;
  private releaseScheduled = false;
  /** Where PUBACKs go when connections are reported by {@link DeferredAcks.connected}. */
  private socket: Duplex | undefined;
  /** PUBACKs sent since the client was created. */
  sent = 0;

  /**
   * @param followClientEvents - start an epoch on the client's `connect` and `close` events; false
   *   when a `PublishReader` reports connections through {@link DeferredAcks.connected} instead
   *   (it sees the CONNACK before the messages that follow it, mqtt.js may emit `connect` later).
   */
  constructor(
    private readonly client: MqttClient,
    followClientEvents = true,
  ) {
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void) => {
      const next = () => callback(packet.qos === 1 ? DEFER_PUBACK : undefined);
      // mqtt.js reads the next packet only after this callback: holding it is its flow control.
      if (this.paused) this.blocked = next;
      else next();
    };
    const newEpoch = () => this.connected(undefined);
    if (followClientEvents) {
      client.on('connect', newEpoch);
      client.on('close', newEpoch);
    }
  }

  /**
   * A connection was established on `socket` (its CONNACK is being read), or closed (`undefined`):
   * a new epoch. PUBACKs of this epoch go to `socket`.
   */
  connected(socket: Duplex | undefined): void {
    this.socket = socket;
    this.epoch++;
    this.head = this.tail = 0;
    this.unblock(); // the old connection's packet loop is dropped by mqtt.js; let it finish
  }

  /** `socket` closed: if it is the current connection, a new epoch (nothing held is acknowledged). */
  disconnected(socket: Duplex): void {
    if (socket === this.socket) this.connected(undefined);
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
    return this.tail - this.head;
  }

  /** The current connection epoch, to pass to {@link DeferredAcks.settle} with a message's arrival number. */
  get currentEpoch(): number {
    return this.epoch;
  }

  /**
   * Registers a QoS 1 message just received (call from the `message` event, which mqtt.js emits
   * right before `handleMessage`). Returns its arrival number for {@link DeferredAcks.settle}.
   */
  hold(messageId: number): number {
    if (this.tail - this.head === this.ids.length) this.grow();
    const seq = this.tail++;
    const slot = seq & (this.ids.length - 1);
    this.ids[slot] = messageId;
    this.settledFlags[slot] = 0;
    return seq;
  }

  /**
   * The message settled: its PUBACK goes out with the settled run it ends, in arrival order, once
   * the current tick is done (one write for all messages settled in it). Idempotent.
   */
  settle(seq: number, epoch: number): void {
    if (epoch !== this.epoch || seq < this.head || seq >= this.tail) return;
    this.settledFlags[seq & (this.ids.length - 1)] = 1;
    if (seq === this.head && !this.releaseScheduled) {
      this.releaseScheduled = true;
      process.nextTick(this.release);
    }
  }

  /** Holds a message and returns the function that settles it (idempotent). */
  settler(messageId: number): () => void {
    const seq = this.hold(messageId),
      epoch = this.epoch;
    return () => this.settle(seq, epoch);
  }

  private grow(): void {
    const n = this.ids.length,
      mask = n - 1;
    const ids = new Uint16Array(n * 2),
      flags = new Uint8Array(n * 2);
    for (let seq = this.head; seq < this.tail; seq++) {
      ids[seq & (2 * n - 1)] = this.ids[seq & mask]!;
      flags[seq & (2 * n - 1)] = this.settledFlags[seq & mask]!;
    }
    this.ids = ids;
    this.settledFlags = flags;
  }

  private readonly release = (): void => {
    this.releaseScheduled = false;
    const mask = this.ids.length - 1;
    let end = this.head;
    while (end < this.tail && this.settledFlags[end & mask] === 1) end++;
    // Only on the connection the messages came in on: the message ids belong to it.
    const socket = this.socket ?? (this.client.connected ? this.client.stream : undefined);
    if (end === this.head || !socket || socket.destroyed) return;
    // PUBACK with success and no properties is the same 4 bytes in MQTT 3.1.1 and 5: one write a run.
    const out = Buffer.allocUnsafe((end - this.head) * 4);
    let o = 0;
    for (let seq = this.head; seq < end; seq++) {
      const id = this.ids[seq & mask]!;
      out[o++] = 0x40;
      out[o++] = 0x02;
      out[o++] = id >> 8;
      out[o++] = id & 0xff;
    }
    socket.write(out);
    this.sent += end - this.head;
    this.head = end;
  };
}

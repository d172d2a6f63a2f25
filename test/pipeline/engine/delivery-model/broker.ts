// The broker side of the model: a persistent session that sends PUBLISH bytes (MQTT 5, encoded by
// mqtt-packet) within its in-flight limit, reads the PUBACKs written to the socket and checks each
// one, and on a reconnect redelivers what was not acknowledged (DUP=1), before anything new.
import mqttPacket from 'mqtt-packet';
import type { Ledger } from './ledger.js';
import type { ModelPayload } from './pipeline.js';
import { FakeSocket, type ModelSource } from './source.js';
import type { PublishSpec } from './spec.js';

/** One message the publishers sent to the broker. */
export interface Published {
  readonly p: number;
  readonly spec: PublishSpec;
  readonly topic: string;
  readonly payload: Buffer;
  /** Acknowledged by the worker at least once. */
  acked: boolean;
}

/** One send of a message on one connection. `d` travels in the user property `delivery`. */
export interface Delivery {
  readonly d: number;
  readonly published: Published;
  readonly connection: number;
  readonly packetId: number;
  readonly qos: 0 | 1;
  /** Read by the source and handed to the runtime. */
  handed: boolean;
  /** Dropped by the runtime (QoS 0 past its bound). */
  dropped: boolean;
  settles: number;
  acked: boolean;
}

interface Connection {
  readonly index: number;
  readonly socket: FakeSocket;
  /** QoS 1 deliveries in the order the source read them. */
  readonly arrivals: Delivery[];
  acked: number;
}

/** A QoS 1 message sent and not acknowledged; survives reconnects (persistent session). */
interface InFlight {
  readonly published: Published;
  readonly packetId: number;
  delivery: Delivery | undefined;
}

const encode = (packet: mqttPacket.Packet) => mqttPacket.generate(packet, { protocolVersion: 5 });

export class Broker {
  readonly published: Published[] = [];
  readonly deliveries = new Map<number, Delivery>();
  readonly connections: Connection[] = [];
  private readonly queue: Published[] = [];
  private session: InFlight[] = [];
  private redeliver: InFlight[] = [];
  private packetId = 65_530; // wraps past 65535 within the first runs' messages
  private nextDelivery = 0;

  /** @param receiveMaximum - QoS 1 messages the broker lets one connection hold unacknowledged. */
  constructor(
    private readonly source: ModelSource,
    private readonly ledger: Ledger,
    private readonly receiveMaximum: number,
  ) {
    this.connect();
  }

  get current(): Connection {
    return this.connections[this.connections.length - 1]!;
  }

  /** Nothing left to send or to be acknowledged. */
  get idle(): boolean {
    return (
      this.queue.length === 0 &&
      this.redeliver.length === 0 &&
      this.session.length === 0 &&
      this.current.socket.buffered === 0
    );
  }

  publish(spec: PublishSpec, nowMs: number): void {
    const p = this.published.length + 1;
    const body: ModelPayload = {
      p,
      baseMs: nowMs,
      ...(spec.kind === 'undecodable' ? { fail: true as const } : {}),
      items: spec.items,
    };
    const payload = spec.kind === 'retained-empty' ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
    const published: Published = {
      p,
      spec,
      topic: spec.routed ? `model/${p % 3}/data` : `stray/${p}`,
      payload,
      acked: false,
    };
    this.published.push(published);
    this.queue.push(published);
  }

  /** The publisher sends message `pick` again: a new PUBLISH, the same content. */
  duplicate(pick: number): void {
    if (this.published.length === 0) return;
    const original = this.published[pick % this.published.length]!;
    const again: Published = { ...original, acked: false };
    this.published.push(again);
    this.queue.push(again);
  }

  /** Sends up to `count` packets, redeliveries first, as one byte stream cut at `cuts`. */
  send(count: number, cuts: readonly number[]): void {
    const conn = this.current;
    const packets: Buffer[] = [];
    let inFlight = this.session.filter((f) => f.delivery?.connection === conn.index).length;
    for (let n = 0; n < count; n++) {
      const full = inFlight >= this.receiveMaximum;
      let flight: InFlight | undefined;
      let published: Published;
      if (this.redeliver.length > 0) {
        if (full) break;
        flight = this.redeliver.shift()!;
        published = flight.published;
      } else if (this.queue.length > 0) {
        if (this.queue[0]!.spec.qos === 1 && full) break;
        published = this.queue.shift()!;
        if (published.spec.qos === 1) {
          flight = { published, packetId: (this.packetId = (this.packetId % 65_535) + 1), delivery: undefined };
          this.session.push(flight);
        }
      } else {
        break;
      }
      const d = ++this.nextDelivery;
      const delivery: Delivery = {
        d,
        published,
        connection: conn.index,
        packetId: flight?.packetId ?? 0,
        qos: published.spec.qos,
        handed: false,
        dropped: false,
        settles: 0,
        acked: false,
      };
      this.deliveries.set(d, delivery);
      const dup = flight?.delivery !== undefined;
      if (flight) {
        flight.delivery = delivery;
        inFlight++;
      }
      packets.push(
        encode({
          cmd: 'publish',
          topic: published.topic,
          payload: published.payload,
          qos: published.spec.qos,
          dup,
          retain: published.spec.kind === 'retained-empty',
          ...(flight ? { messageId: flight.packetId } : {}),
          properties: { userProperties: { delivery: String(d) } },
        }),
      );
    }
    const bytes = Buffer.concat(packets);
    let from = 0;
    for (const at of [...cuts].map((c) => Math.floor(c * bytes.length)).sort((a, b) => a - b)) {
      if (at > from) conn.socket.feed(bytes.subarray(from, at));
      from = Math.max(from, at);
    }
    if (from < bytes.length) conn.socket.feed(bytes.subarray(from));
  }

  /** The source read delivery `d` (QoS 1 arrivals are what PUBACKs must follow). */
  arrived(d: number): Delivery {
    const delivery = this.deliveries.get(d);
    if (!delivery) throw new Error(`the source read delivery ${d}, which the broker never sent`);
    if (delivery.connection !== this.current.index)
      this.ledger.violations.push(`delivery ${d} read after its connection closed`);
    if (delivery.qos === 1) this.connections[delivery.connection]!.arrivals.push(delivery);
    return delivery;
  }

  /** The connection drops; a new one resumes the session. */
  reconnect(): void {
    this.current.socket.destroy();
    this.connect();
  }

  private connect(): void {
    const socket = new FakeSocket(this.connections.length, (s, data) => this.onWrite(s, data));
    this.connections.push({ index: socket.connection, socket, arrivals: [], acked: 0 });
    this.redeliver = [...this.session];
    this.source.connect(socket);
    socket.feed(encode({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: true }));
  }

  /** PUBACKs written by the worker: in arrival order, on the live connection, only for settled deliveries. */
  private onWrite(socket: FakeSocket, data: Buffer): void {
    const conn = this.connections[socket.connection]!;
    const v = this.ledger.violations;
    if (data.length % 4 !== 0) v.push(`a write of ${data.length} bytes is not a run of PUBACKs`);
    for (let o = 0; o + 4 <= data.length; o += 4) {
      const id = data.readUInt16BE(o + 2);
      if (data[o] !== 0x40 || data[o + 1] !== 2)
        v.push(`bytes ${data.subarray(o, o + 4).toString('hex')} are not a PUBACK`);
      if (socket.destroyed || conn !== this.current) {
        v.push(`PUBACK ${id} written on closed connection ${conn.index}`);
        continue;
      }
      const expected = conn.arrivals[conn.acked];
      if (!expected || expected.packetId !== id) {
        v.push(
          `PUBACK ${id} out of arrival order on connection ${conn.index}: expected ${expected ? `packet ${expected.packetId} (delivery ${expected.d})` : 'none'}`,
        );
        continue;
      }
      conn.acked++;
      expected.acked = true;
      const waiting = this.ledger.reasonFor(expected.d);
      if (waiting) v.push(`PUBACK for delivery ${expected.d} while it waits for: ${waiting}`);
      if (expected.settles === 0) v.push(`PUBACK for delivery ${expected.d}, which the runtime never settled`);
      const i = this.session.findIndex((f) => f.delivery === expected);
      if (i < 0) v.push(`PUBACK for delivery ${expected.d}, which the session no longer holds`);
      else this.session.splice(i, 1)[0]!.published.acked = true;
    }
  }
}

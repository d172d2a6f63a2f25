import type { Duplex, Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import type { ReceivedPublish } from './mqtt-message.js';
import { TopicNames } from './topic-names.js';

/** A QoS 0 or 1 PUBLISH as read off the socket; `data` is the socket's read buffer (no copy). */
export interface InboundPublish extends ReceivedPublish {
  readonly qos: 0 | 1;
  readonly messageId: number;
}

/** What a {@link PublishReader} reports, synchronously and in the order the packets arrived. */
export interface PublishReaderEvents {
  /** A CONNACK is about to be handed to mqtt.js: acknowledgements from now on go to `socket`. */
  connack(socket: Duplex): void;
  /** The connection's socket closed. */
  closed(socket: Duplex): void;
  publish(message: InboundPublish): void;
}

const PUBLISH = 3;
const CONNACK = 2;
/** Not read here: mqtt.js reads the packet (and reports what is wrong with it). */
const DEFER = Symbol('defer to mqtt.js');

/**
 * Reads QoS 0/1 PUBLISH packets straight off the connection's socket and hands every other packet
 * (CONNACK, SUBACK, PINGRESP, malformed ones, a PUBLISH with a topic alias) to mqtt.js unchanged.
 *
 * Why: mqtt.js parses each packet through a general parser, a buffer list, a packet queue and debug
 * calls: about 6 KB allocated and 3 µs of CPU per message, half of a worker's garbage. Here a PUBLISH
 * costs its topic string, a payload view and one small object.
 *
 * Like `DeferredAcks`, this touches mqtt.js internals (`streamBuilder` and the stream's `pipe`);
 * the client must be made with `manualConnect: true` and connected after this is installed.
 * `test/pipeline/engine/ingest/mqtt-source.read.int.test.ts` runs it against the real broker on MQTT 3.1.1 and 5.
 */
export class PublishReader {
  private paused = false;
  private current: Connection | undefined;

  constructor(client: MqttClient, events: PublishReaderEvents) {
    const internals = client as unknown as { streamBuilder: (c: MqttClient) => Duplex };
    const build = internals.streamBuilder;
    const v5 = client.options.protocolVersion === 5;
    internals.streamBuilder = (c) => {
      const socket = build(c);
      socket.pipe = <T extends NodeJS.WritableStream>(dest: T): T => {
        this.current = new Connection(socket, dest as unknown as Writable, v5, events, () => this.paused);
        return dest;
      };
      return socket;
    };
  }

  /** Stops reading after the packet being read: TCP pushes back on the broker. */
  pause(): void {
    this.paused = true;
    this.current?.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.current?.resume();
  }
}

/** One socket's framing: complete packets are read in order, a partial one waits for more bytes. */
class Connection {
  /** Unread bytes: a partial packet, or what was left when reading paused. */
  private rest: Buffer | undefined;
  /** After a malformed length, framing is lost: everything goes to mqtt.js, which closes. */
  private broken = false;

  constructor(
    readonly socket: Duplex,
    private readonly mqttjs: Writable,
    private readonly v5: boolean,
    private readonly events: PublishReaderEvents,
    private readonly isPaused: () => boolean,
  ) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('end', () => mqttjs.end());
    socket.once('close', () => events.closed(socket));
    if (isPaused()) socket.pause(); // a reconnect while paused: read nothing until resumed
  }

  resume(): void {
    const rest = this.rest;
    this.rest = undefined;
    if (rest) this.read(rest);
    if (!this.isPaused()) this.socket.resume();
  }

  private read(chunk: Buffer): void {
    if (this.broken) {
      this.mqttjs.write(chunk);
      return;
    }
    const rest = this.rest;
    this.rest = undefined;
    if (!rest) return this.readPackets(chunk);
    // A packet split across reads: join it alone, not the whole new read buffer.
    const total = packetLength(Buffer.concat([rest, chunk.subarray(0, 5)]), 0);
    const missing = total - rest.length;
    if (total < 0 || missing <= 0 || missing > chunk.length) return this.readPackets(Buffer.concat([rest, chunk]));
    this.readPackets(Buffer.concat([rest, chunk.subarray(0, missing)]));
    if (this.rest)
      this.rest = Buffer.concat([this.rest, chunk.subarray(missing)]); // paused
    else this.readPackets(chunk.subarray(missing));
  }

  private readPackets(buf: Buffer): void {
    let pos = 0;
    let passFrom = -1; // start of a run of packets for mqtt.js
    while (pos < buf.length && !this.isPaused()) {
      const total = packetLength(buf, pos);
      if (total === -2) {
        this.broken = true;
        if (passFrom < 0) passFrom = pos;
        pos = buf.length;
        break;
      }
      if (total === -1 || pos + total > buf.length) break;
      const type = buf[pos]! >> 4;
      const message = type === PUBLISH ? readPublish(buf, pos, total, this.v5) : DEFER;
      if (message === DEFER && type !== CONNACK) {
        if (passFrom < 0) passFrom = pos;
        pos += total;
        continue;
      }
      if (passFrom >= 0) this.mqttjs.write(buf.subarray(passFrom, pos));
      passFrom = -1;
      if (message === DEFER) {
        // CONNACK: acknowledgements of this connection start now
        this.events.connack(this.socket);
        this.mqttjs.write(buf.subarray(pos, pos + total));
      } else {
        this.events.publish(message);
      }
      pos += total;
    }
    if (passFrom >= 0) this.mqttjs.write(buf.subarray(passFrom, pos));
    // Copied: a view would keep the whole read buffer alive for a few bytes.
    if (pos < buf.length) this.rest = Buffer.from(buf.subarray(pos));
  }
}

/** Length of the packet at `pos` with its fixed header; -1 when the header is incomplete, -2 when malformed. */
function packetLength(buf: Buffer, pos: number): number {
  let length = 0,
    multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (pos + i >= buf.length) return -1;
    const b = buf[pos + i]!;
    length += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return 1 + i + length;
    multiplier *= 128;
  }
  return -2;
}

const topicNames = new TopicNames();

/** Reads a QoS 0/1 PUBLISH, or defers anything unusual to mqtt.js. */
function readPublish(buf: Buffer, pos: number, total: number, v5: boolean): InboundPublish | typeof DEFER {
  const flags = buf[pos]! & 0x0f;
  const qos = (flags >> 1) & 3;
  if (qos > 1) return DEFER;
  const end = pos + total;
  let p = pos + 1;
  while (buf[p]! & 0x80) p++;
  p++;
  if (p + 2 > end) return DEFER;
  const topicEnd = p + 2 + buf.readUInt16BE(p);
  if (topicEnd > end) return DEFER;
  const topic = topicNames.get(buf, p + 2, topicEnd);
  p = topicEnd;
  let messageId = 0;
  if (qos === 1) {
    if (p + 2 > end) return DEFER;
    messageId = buf.readUInt16BE(p);
    p += 2;
  }
  let contentType: string | undefined;
  let userProperties: Record<string, string | string[]> | undefined;
  if (v5 && buf[p] === 0) {
    p++; // no properties, the usual case
  } else if (v5) {
    try {
      ({ p, contentType, userProperties } = readProperties(buf, p, end));
    } catch {
      return DEFER; // a property past the end of the buffer
    }
    if (p < 0) return DEFER;
  }
  return {
    topic,
    data: buf,
    payloadStart: p,
    payloadEnd: end,
    qos: qos as 0 | 1,
    retain: (flags & 1) === 1,
    messageId,
    contentType,
    userProperties,
  };
}

/** MQTT 5 PUBLISH properties: content type and user properties kept, the rest skipped; p = -1 to defer. */
function readProperties(
  buf: Buffer,
  p: number,
  end: number,
): { p: number; contentType?: string; userProperties?: Record<string, string | string[]> } {
  let contentType: string | undefined;
  let userProperties: Record<string, string | string[]> | undefined;
  const props = readVarInt(buf, p, end);
  if (props === undefined) return { p: -1 };
  p = props.next;
  const propsEnd = p + props.value;
  if (propsEnd > end) return { p: -1 };
  while (p < propsEnd) {
    const id = buf[p++]!;
    if (id === 0x01)
      p += 1; // payload format indicator
    else if (id === 0x02)
      p += 4; // message expiry interval
    else if (id === 0x03 || id === 0x08 || id === 0x09) {
      // content type, response topic, correlation data
      const n = buf.readUInt16BE(p);
      if (id === 0x03) contentType = buf.toString('utf8', p + 2, p + 2 + n);
      p += 2 + n;
    } else if (id === 0x0b) {
      // subscription identifier
      const sid = readVarInt(buf, p, propsEnd);
      if (sid === undefined) return { p: -1 };
      p = sid.next;
    } else if (id === 0x26) {
      // user property
      const kn = buf.readUInt16BE(p),
        key = buf.toString('utf8', p + 2, p + 2 + kn);
      p += 2 + kn;
      const vn = buf.readUInt16BE(p),
        value = buf.toString('utf8', p + 2, p + 2 + vn);
      p += 2 + vn;
      userProperties ??= {};
      const had = userProperties[key];
      userProperties[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    } else {
      return { p: -1 }; // a topic alias (never advertised) or a property not allowed here
    }
    if (p > propsEnd) return { p: -1 };
  }
  return { p, contentType, userProperties };
}

function readVarInt(buf: Buffer, p: number, end: number): { value: number; next: number } | undefined {
  let value = 0,
    multiplier = 1;
  for (let i = 0; i < 4 && p + i < end; i++) {
    const b = buf[p + i]!;
    value += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return { value, next: p + i + 1 };
    multiplier *= 128;
  }
  return undefined;
}

// The socket framing of PublishReader, with a fake socket and a fake mqtt.js writable: packets
// encoded by mqtt-packet (mqtt.js's own encoder), fed in every possible split.
import { PassThrough, Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PublishReader, type InboundPublish } from '../../../../pipeline/engine/ingest/publish-reader.js';

function harness(protocolVersion: 4 | 5, onPublish?: (m: InboundPublish, reader: PublishReader) => void) {
  const socket = new PassThrough();
  const toMqttjs: Buffer[] = [];
  const mqttjs = new Writable({
    write(chunk: Buffer, _enc, done) {
      toMqttjs.push(chunk);
      done();
    },
  });
  const events: string[] = [];
  const published: InboundPublish[] = [];
  const client = { streamBuilder: () => socket, options: { protocolVersion } };
  const reader = new PublishReader(client as unknown as MqttClient, {
    connack: (s) => events.push(s === socket ? 'connack' : 'connack on another socket'),
    closed: () => events.push('closed'),
    publish: (m) => {
      events.push(`publish ${m.topic}`);
      published.push(m);
      onPublish?.(m, reader);
    },
  });
  (client as unknown as { streamBuilder: (c: unknown) => PassThrough }).streamBuilder(client).pipe(mqttjs);
  const feed = (bytes: Buffer) => socket.write(bytes);
  const passedOn = () => Buffer.concat(toMqttjs);
  return { reader, socket, feed, events, published, passedOn };
}

const encode = (packet: Packet, protocolVersion: 4 | 5) => mqttPacket.generate(packet, { protocolVersion });
const payloadOf = (m: InboundPublish) => m.data.subarray(m.payloadStart, m.payloadEnd);
const tick = () => new Promise((r) => setImmediate(r));

const publish = (
  topic: string,
  payload: Buffer | string,
  extra: Partial<mqttPacket.IPublishPacket> = {},
): mqttPacket.IPublishPacket => ({
  cmd: 'publish',
  topic,
  payload,
  qos: 1,
  messageId: 7,
  dup: false,
  retain: false,
  ...extra,
});

describe.each([4, 5] as const)('PublishReader on MQTT %s', (v) => {
  const connack = encode({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: true }, v);
  const suback = encode({ cmd: 'suback', messageId: 1, granted: [1] }, v);
  const stream = Buffer.concat([
    connack,
    encode(publish('a/1', '{"t":1}', { messageId: 1 }), v),
    encode(publish('a/2', Buffer.alloc(300, 7), { messageId: 300, retain: true }), v),
    suback,
    encode(publish('b/ü', 'qos0', { qos: 0, messageId: undefined }), v),
    encode(publish('big', Buffer.alloc(70_000, 1), { messageId: 65535 }), v),
  ]);

  it('reads QoS 0/1 PUBLISHes in order and passes CONNACK and SUBACK to mqtt.js byte for byte, however the bytes are split', async () => {
    for (const split of [1, 2, 3, 5, 17, 64, 1000, 65_536, stream.length]) {
      const h = harness(v);
      for (let i = 0; i < stream.length; i += split) h.feed(stream.subarray(i, i + split));
      await tick();
      expect(h.events).toEqual(['connack', 'publish a/1', 'publish a/2', 'publish b/ü', 'publish big']);
      expect(h.passedOn()).toEqual(Buffer.concat([connack, suback]));
      expect(h.published.map((m) => [m.qos, m.messageId, m.retain, payloadOf(m).length])).toEqual([
        [1, 1, false, 7],
        [1, 300, true, 300],
        [0, 0, false, 4],
        [1, 65535, false, 70_000],
      ]);
      expect(payloadOf(h.published[0]!).toString()).toBe('{"t":1}');
      expect(payloadOf(h.published[3]!).every((b) => b === 1)).toBe(true);
    }
  });

  it('pauses after the packet being read and reads the rest on resume', async () => {
    const h = harness(v, (m, reader) => {
      if (m.topic === 'a/1') reader.pause();
    });
    h.feed(stream);
    await tick();
    expect(h.events).toEqual(['connack', 'publish a/1']);
    h.reader.resume();
    await tick();
    expect(h.events).toEqual(['connack', 'publish a/1', 'publish a/2', 'publish b/ü', 'publish big']);
    expect(h.passedOn()).toEqual(Buffer.concat([connack, suback]));
  });
});

describe('PublishReader across connections', () => {
  it('a connection made while paused reads nothing until resumed', async () => {
    const socket = new PassThrough();
    const seen: string[] = [];
    const client = { streamBuilder: () => socket, options: { protocolVersion: 4 } };
    const reader = new PublishReader(client as unknown as MqttClient, {
      connack: () => {},
      closed: () => {},
      publish: (m) => {
        seen.push(m.topic);
      },
    });
    reader.pause(); // e.g. backpressure held across a reconnect
    (client as unknown as { streamBuilder: (c: unknown) => PassThrough }).streamBuilder(client).pipe(
      new Writable({
        write(_c, _e, done) {
          done();
        },
      }),
    );
    socket.write(encode(publish('late', 'x'), 4));
    await tick();
    expect(seen).toEqual([]);
    expect(socket.isPaused()).toBe(true);
    reader.resume();
    await tick();
    expect(seen).toEqual(['late']);
  });
});

describe('PublishReader leaves to mqtt.js what it does not read', () => {
  it('MQTT 5 properties: content type and repeated user properties kept, others skipped; a topic alias goes to mqtt.js', async () => {
    const h = harness(5);
    const withProps = publish('p', 'x', {
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
        contentType: 'application/json',
        responseTopic: 'r',
        correlationData: Buffer.from('c'),
        subscriptionIdentifier: 300,
        userProperties: { site: 'a', tag: ['1', '2'] },
      },
    });
    const aliased = encode(publish('q', 'y', { properties: { topicAlias: 3 } }), 5);
    h.feed(Buffer.concat([encode(withProps, 5), aliased]));
    await tick();
    expect(h.published).toHaveLength(1);
    expect(h.published[0]!.contentType).toBe('application/json');
    expect(h.published[0]!.userProperties).toEqual({ site: 'a', tag: ['1', '2'] });
    expect(payloadOf(h.published[0]!).toString()).toBe('x');
    expect(h.passedOn()).toEqual(aliased);
  });

  it('QoS 2 and a malformed remaining length go to mqtt.js with everything after them', async () => {
    const h = harness(4);
    const qos2 = encode(publish('two', 'z', { qos: 2 }), 4);
    const malformed = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]);
    const after = encode(publish('after', 'w'), 4);
    h.feed(Buffer.concat([qos2, malformed, after]));
    await tick();
    expect(h.published).toEqual([]);
    expect(h.passedOn()).toEqual(Buffer.concat([qos2, malformed, after]));
  });

  it('reports the socket closing', async () => {
    const h = harness(4);
    h.socket.destroy();
    await tick();
    expect(h.events).toEqual(['closed']);
  });
});

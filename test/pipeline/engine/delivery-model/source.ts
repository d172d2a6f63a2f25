// The MQTT source of the model: the real PublishReader, DeferredAcks and MqttMessage over a fake
// socket (the connection is the only thing faked). Routing is the source's own routeTable (routes.ts).
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { DeferredAcks } from '../../../../pipeline/engine/ingest/deferred-ack.js';
import { MqttMessage, type ReceivedPublish } from '../../../../pipeline/engine/ingest/mqtt-message.js';
import { PublishReader, type InboundPublish } from '../../../../pipeline/engine/ingest/publish-reader.js';
import { unroutedDecoder } from '../../../../pipeline/engine/ingest/subscription-record.js';
import { routeTable } from '../../../../pipeline/engine/ingest/routes.js';
import { silentLogger } from '../../../../pipeline/core/log.js';
import type { DecodedValue, Decoder, MessageHandler, Source } from '../../../../pipeline/core/types.js';

/** A socket the broker feeds and the acknowledgements are written to; reads pause like TCP's. */
export class FakeSocket extends EventEmitter {
  destroyed = false;
  /** Replaced by PublishReader (it takes over mqtt.js's pipe). */
  pipe: unknown = undefined;
  private paused = false;
  private readonly unread: Buffer[] = [];

  constructor(
    readonly connection: number,
    private readonly onWrite: (socket: FakeSocket, data: Buffer) => void,
  ) {
    super();
  }

  /** Bytes from the broker: read now, or kept while reading is paused. */
  feed(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.paused || this.unread.length > 0) this.unread.push(chunk);
    else this.emit('data', chunk);
  }

  get buffered(): number {
    return this.unread.length;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  /** Like a net.Socket: reading resumes on the next tick. */
  resume(): this {
    this.paused = false;
    process.nextTick(this.flow);
    return this;
  }

  private readonly flow = (): void => {
    while (!this.paused && !this.destroyed && this.unread.length > 0) this.emit('data', this.unread.shift());
  };

  write(data: Buffer): boolean {
    this.onWrite(this, data);
    return true;
  }

  /** The connection drops: unread bytes are lost. */
  destroy(): void {
    this.destroyed = true;
    this.unread.length = 0;
    this.emit('close');
  }
}

/** A received message whose settle() the model sees before the real one runs. */
class TracedMessage extends MqttMessage {
  constructor(
    publish: ReceivedPublish,
    decoder: Decoder<DecodedValue>,
    acks: DeferredAcks,
    seq: number,
    private readonly onSettle: () => void,
  ) {
    super(publish, decoder, acks, seq);
  }

  override settle(): void {
    this.onSettle();
    super.settle();
  }
}

/** What the model learns from the source. */
export interface SourceEvents {
  /** A PUBLISH was read (and held, if QoS 1) and is about to be handed to the runtime. */
  received(publish: InboundPublish): void;
  /** The runtime's handler returned. */
  handed(publish: InboundPublish): void;
  /** The runtime settled the message of this PUBLISH. */
  settled(publish: InboundPublish): void;
}

/** The model's `Source`: the real reading and acknowledgement path on fake connections. */
export class ModelSource implements Source<unknown> {
  readonly name = 'mqtt';
  readonly acks: DeferredAcks;
  private readonly reader: PublishReader;
  private readonly client: MqttClient;
  private handler: MessageHandler | undefined;
  private nextSocket: FakeSocket | undefined;
  private readonly decoderOf: (topic: string) => Decoder<DecodedValue>;
  /** Reading paused for backpressure. */
  paused = false;

  constructor(
    readonly window: number,
    subscription: { readonly topic: string; readonly decode: Decoder<DecodedValue> },
    /** Wraps the decoders (the model traces them); gets the source's unrouted decoder too. */
    wrap: (decoder: Decoder<DecodedValue>) => Decoder<DecodedValue>,
    private readonly events: SourceEvents,
  ) {
    const fake = {
      options: { protocolVersion: 5 },
      connected: false,
      stream: undefined,
      streamBuilder: () => this.nextSocket,
    };
    this.client = fake as unknown as MqttClient;
    this.acks = new DeferredAcks(this.client, false);
    this.reader = new PublishReader(this.client, {
      connack: (socket) => this.acks.connected(socket),
      closed: (socket) => this.acks.disconnected(socket),
      publish: (p) => this.receive(p),
    });
    // The source's own routing, with the model's traced decoders.
    this.decoderOf = routeTable(
      [{ topic: subscription.topic, decode: wrap(subscription.decode) }],
      silentLogger,
      wrap(unroutedDecoder),
    );
  }

  /** A new connection on `socket`, as mqtt.js makes it: the stream is built, then piped to the parser. */
  connect(socket: FakeSocket): void {
    this.nextSocket = socket;
    const build = (this.client as unknown as { streamBuilder: (c: MqttClient) => FakeSocket }).streamBuilder;
    const stream = build(this.client) as unknown as { pipe: (dest: unknown) => unknown };
    stream.pipe({ write: () => true, end: () => undefined });
  }

  private receive(publish: InboundPublish): void {
    const seq = publish.qos === 1 ? this.acks.hold(publish.messageId) : -1;
    this.events.received(publish);
    this.handler!(
      new TracedMessage(publish, this.decoderOf(publish.topic), this.acks, seq, () => this.events.settled(publish)),
    );
    this.events.handed(publish);
  }

  async open(handler: MessageHandler): Promise<void> {
    this.handler = handler;
  }
  pause(): void {
    this.paused = true;
    this.acks.pause();
    this.reader.pause();
  }
  resume(): void {
    this.paused = false;
    this.acks.resume();
    this.reader.resume();
  }
  async stopIntake(): Promise<void> {}
  async close(): Promise<void> {}
}

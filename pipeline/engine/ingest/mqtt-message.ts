import type { DecodedValue, Decoder, SourceMessage } from '../../core/types.js';
import type { DeferredAcks } from './deferred-ack.js';

/** What a received PUBLISH carries, as `PublishReader` or mqtt.js read it. */
export interface ReceivedPublish {
  readonly topic: string;
  /** The payload is `data[payloadStart, payloadEnd)`. */
  readonly data: Buffer;
  readonly payloadStart: number;
  readonly payloadEnd: number;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly contentType: string | undefined;
  readonly userProperties: Readonly<Record<string, string | readonly string[]>> | undefined;
}

/** One received message; settling it releases its PUBACK (QoS 1) through the connection's acks. */
export class MqttMessage implements SourceMessage {
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly receivedAtMs = Date.now();
  readonly contentType: string | undefined;
  readonly userProperties: Readonly<Record<string, string | readonly string[]>> | undefined;
  private readonly epoch: number;
  // The payload as a range of the read buffer: a view object per held message would be copied by
  // every garbage collection while the message waits for its batch.
  private readonly data: Buffer;
  private readonly start: number;
  private readonly end: number;

  constructor(
    publish: ReceivedPublish,
    readonly decoder: Decoder<DecodedValue>,
    private readonly acks: DeferredAcks,
    /** Arrival number for the acks; -1 when there is nothing to acknowledge (QoS 0). */
    private readonly seq: number,
  ) {
    this.topic = publish.topic;
    this.data = publish.data;
    this.start = publish.payloadStart;
    this.end = publish.payloadEnd;
    this.qos = publish.qos;
    this.retain = publish.retain;
    this.contentType = publish.contentType;
    this.userProperties = publish.userProperties;
    this.epoch = acks.currentEpoch;
  }

  /** A view of the payload (made on each access: read it once). */
  get payload(): Buffer {
    return this.data.subarray(this.start, this.end);
  }

  settle(): void {
    if (this.seq >= 0) this.acks.settle(this.seq, this.epoch);
  }
}

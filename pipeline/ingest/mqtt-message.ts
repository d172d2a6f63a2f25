import type { DecodedValue, Decoder, SourceMessage } from '../types.js';
import type { DeferredAcks } from './deferred-ack.js';

/** What a received PUBLISH carries, as `PublishReader` or mqtt.js read it. */
export interface ReceivedPublish {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly contentType: string | undefined;
  readonly userProperties: Readonly<Record<string, string | readonly string[]>> | undefined;
}

/** One received message; settling it releases its PUBACK (QoS 1) through the connection's acks. */
export class MqttMessage implements SourceMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly receivedAtMs = Date.now();
  readonly contentType: string | undefined;
  readonly userProperties: Readonly<Record<string, string | readonly string[]>> | undefined;
  private readonly epoch: number;

  constructor(
    publish: ReceivedPublish,
    readonly decoder: Decoder<DecodedValue>,
    private readonly acks: DeferredAcks,
    /** Arrival number for the acks; -1 when there is nothing to acknowledge (QoS 0). */
    private readonly seq: number,
  ) {
    this.topic = publish.topic;
    this.payload = publish.payload;
    this.qos = publish.qos;
    this.retain = publish.retain;
    this.contentType = publish.contentType;
    this.userProperties = publish.userProperties;
    this.epoch = acks.currentEpoch;
  }

  settle(): void {
    if (this.seq >= 0) this.acks.settle(this.seq, this.epoch);
  }
}

import type { IPublishPacket } from 'mqtt';
import type { DecodedValue, Decoder, SourceMessage } from '../types.js';
import type { DeferredAcks } from './deferred-ack.js';

/** One received message; settling it releases its PUBACK (QoS 1) through the connection's acks. */
export class MqttMessage implements SourceMessage {
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly receivedAtMs = Date.now();
  readonly contentType: string | undefined;
  readonly userProperties: Readonly<Record<string, string | readonly string[]>> | undefined;
  private readonly epoch: number;

  constructor(
    readonly topic: string,
    readonly payload: Buffer,
    packet: IPublishPacket,
    readonly decoder: Decoder<DecodedValue>,
    private readonly acks: DeferredAcks,
    /** Arrival number for the acks; -1 when there is nothing to acknowledge (QoS 0). */
    private readonly seq: number,
  ) {
    this.qos = packet.qos;
    this.retain = packet.retain;
    this.contentType = packet.properties?.contentType;
    this.userProperties = packet.properties?.userProperties;
    this.epoch = acks.currentEpoch;
  }

  settle(): void {
    if (this.seq >= 0) this.acks.settle(this.seq, this.epoch);
  }
}

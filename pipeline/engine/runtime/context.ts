import type { MessageMeta, Retention, SourceMessage, StageContext } from '../../core/types.js';
import type { Origin } from './origin.js';

/** The stage context of one message. */
export class MessageContext implements StageContext {
  constructor(
    readonly meta: MessageMeta,
    private readonly origin: Origin,
    readonly now: () => number,
  ) {}

  retain(): Retention {
    return retention(this.origin);
  }
}

export interface RetentionOf extends Retention {
  readonly origin: Origin;
}

export function retention(origin: Origin): RetentionOf {
  origin.hold();
  let released = false;
  return {
    origin,
    release: () => {
      if (!released) {
        released = true;
        origin.release();
      }
    },
  };
}

/** What stages and decoders see of a source message. */
export function metaOf(m: SourceMessage): MessageMeta {
  return {
    topic: m.topic,
    qos: m.qos,
    retain: m.retain,
    receivedAtMs: m.receivedAtMs,
    format: m.decoder.format,
    contentType: m.contentType,
    userProperties: m.userProperties,
  };
}

/** An item as JSON for a dead letter (bigints as strings); never throws. */
export function safeJson(item: unknown): string {
  try {
    return JSON.stringify(item, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(item);
  } catch {
    return String(item);
  }
}

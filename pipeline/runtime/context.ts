import type { MessageMeta, Retention, StageContext } from '../types.js';
import type { Origin } from './origin.js';

/** The stage context of one message. */
export class MessageContext implements StageContext {
  constructor(readonly meta: MessageMeta, private readonly origin: Origin, readonly now: () => number) {}

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
  return { origin, release: () => { if (!released) { released = true; origin.release(); } } };
}

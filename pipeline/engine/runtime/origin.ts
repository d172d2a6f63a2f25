import type { SourceMessage } from '../../core/types.js';

/**
 * The runtime's handle on one source message: counts the copies derived from it that have not
 * settled. The message is acknowledged when the count reaches zero.
 */
export class Origin {
  /** Starts at 1: the message itself holds a reference until its stages finished. */
  private pending = 1;

  constructor(
    readonly message: SourceMessage,
    private readonly onSettled: (origin: Origin) => void,
  ) {}

  /** One more derived item is on its way to a sink. */
  hold(): void {
    this.pending++;
  }

  /** One derived item (or the stage pass itself) settled. */
  release(): void {
    if (--this.pending === 0) this.onSettled(this);
    else if (this.pending < 0) throw new Error('origin released more often than held');
  }
}

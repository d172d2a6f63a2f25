// The fake clock of tributary/testing and the stage wrapper that hands it to stages.
import type { Emitter, StageOutput, Transform } from '../core/types.js';

/** Wraps a stage: counts its pending async calls and gives `open` the fake clock. */
export function instrument(
  stage: Transform<unknown, unknown>,
  clock: FakeClock,
  tracker: { pending: number },
): Transform<unknown, unknown> {
  const done = () => {
    tracker.pending--;
  };
  return {
    name: stage.name,
    apply(body, ctx) {
      const out = stage.apply(body, ctx);
      if (typeof (out as { then?: unknown }).then !== 'function') return out;
      tracker.pending++;
      void (out as Promise<StageOutput<unknown>>).then(done, done);
      return out;
    },
    open: (emit: Emitter<unknown>) => stage.open?.(Object.assign({ clock: clock.timers }, emit)) ?? Promise.resolve(),
    close: () => stage.close?.() ?? Promise.resolve(),
  };
}

/** A timer of the fake clock. */
export interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** A manual clock whose timers fire only when the harness advances it. */
export class FakeClock {
  private timers_: Timer[] = [];
  private seq = 0;
  /** The clock and timers handed to stages' `open` (the shape aggregateWindow's `TimerClock` expects). */
  readonly timers = {
    now: () => this.t,
    setTimeout: (fn: () => void, ms: number): (() => void) => {
      const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
      this.timers_.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
  };

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = Math.max(this.t, t);
  }

  /** The earliest live timer due at or before `until`. */
  nextDue(until: number): Timer | undefined {
    this.timers_ = this.timers_.filter((x) => !x.cancelled);
    let best: Timer | undefined;
    for (const x of this.timers_)
      if (x.at <= until && (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq))) best = x;
    return best;
  }

  fire(timer: Timer): void {
    timer.cancelled = true;
    this.set(timer.at);
    timer.fn();
  }
}

// The clock of stages that close windows: the pipeline clock in ms with timers on it.
/** A clock with a timer: the pipeline clock in ms and a way to be called back on it. */
export interface TimerClock {
  now(): number;
  /** Calls `fn` once, `ms` from now on this clock; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** The wall clock, with timers that do not keep the process alive. */
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

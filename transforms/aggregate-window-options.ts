// The options and the stage type of aggregateWindow (local and shared state).
import type { Reading, Transform } from '../pipeline/core/types.js';
import type { AggregateFn } from './aggregates.js';
import type { TimerClock } from './aggregate-window-clock.js';
import type { StageState } from './shared-state/types.js';

/** Options of {@link aggregateWindow}. */
export interface AggregateWindowOptions {
  /** Window length: tumbling windows aligned to the epoch (`[k·everyMs, (k+1)·everyMs)`), by event time. */
  readonly everyMs: number;
  /** Aggregates per input field; an output field is named `<field>_<fn>` (`temperature_mean`). */
  readonly fields: Readonly<Record<string, readonly AggregateFn[]>>;
  /** How long after its end a window waits for late readings, on the pipeline clock. @defaultValue 0 */
  readonly allowedLatenessMs?: number;
  /** Most windows open at once (a series normally has one; two while the previous one waits for lateness). @defaultValue 10000 */
  readonly maxSeries?: number;
  /**
   * A reading that needs a new window while `maxSeries` are open: `flush-oldest` closes and writes
   * the window opened first (its later readings are then late), `reject` dead-letters the reading
   * (`too_many_series`). @defaultValue 'flush-oldest'
   */
  readonly onTooManySeries?: 'flush-oldest' | 'reject';
  /** A late reading (its series' window was already written): `drop` and count it, or `reject` it (`late_reading`). @defaultValue 'drop' */
  readonly onLate?: 'drop' | 'reject';
  /** Measurement of the aggregates. @defaultValue the readings' own */
  readonly measurement?: string | ((measurement: string) => string);
  /** Clock for closing windows. @defaultValue the clock the runtime gives `open` (the fake one under `tributary/testing`), else the wall clock */
  readonly clock?: TimerClock;
  /**
   * Where windows live. `'local'`: in this worker, every message of an open window unacknowledged
   * until it is written (one worker per series, windows bounded by the in-flight window). A
   * {@link StageState} (`redisStageState(...)`): points are added to shared state and acknowledged
   * once durable there; any worker takes any message, and one worker (a lease) writes each closed
   * window. `maxSeries` and `onTooManySeries` apply to `'local'` only. @defaultValue 'local'
   */
  readonly state?: 'local' | StageState;
  /** Shared state: this stage's name in it; give each window of a pipeline its own. @defaultValue 'aggregateWindow' */
  readonly id?: string;
  /** Shared state: how long a worker holds a closed window it claimed before another may write it again. @defaultValue 30000 */
  readonly leaseMs?: number;
  /** Shared state: how often a worker looks for closed windows. @defaultValue min(1000, everyMs / 2) */
  readonly tickMs?: number;
}

/** The stage {@link aggregateWindow} returns, with its counters. */
export interface AggregateWindowTransform extends Transform<Reading, Reading> {
  /** Readings dropped, by reason: `late`, `duplicate` (same series and time as one in the window), `no_fields`. */
  readonly dropped: ReadonlyMap<string, number>;
  /** Windows open now. */
  readonly openWindows: number;
  /** Windows closed early by `flush-oldest`. */
  readonly flushedEarly: number;
  /** Aggregates emitted. */
  readonly emitted: number;
}

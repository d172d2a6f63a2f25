import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { Emitter, FieldValue, Reading, Retention, StageOutput } from '../pipeline/core/types.js';
import { AGGREGATE_FNS, FieldAccumulator, msOf, seriesKey, windowFields } from './aggregates.js';
import { aggregateWindowShared } from './aggregate-window-shared.js';
import type { StageState } from './shared-state/types.js';
import type { AggregateWindowOptions, AggregateWindowTransform } from './aggregate-window-options.js';
import { systemClock, type TimerClock } from './aggregate-window-clock.js';

export type { AggregateFn } from './aggregates.js';

export { systemClock, type TimerClock } from './aggregate-window-clock.js';
export type { AggregateWindowOptions, AggregateWindowTransform } from './aggregate-window-options.js';

interface Win {
  readonly key: string;
  readonly series: string;
  readonly reading: Reading;
  readonly startMs: number;
  readonly closesAt: number;
  readonly points: Array<{ readonly t: bigint; readonly fields: Readonly<Record<string, FieldValue>> }>;
  readonly retained: Retention[];
}

/**
 * Tumbling-window aggregation per series (measurement + tag set) by event time (`reading.timeNs`):
 * mean, min, max, sum, count, first, last; one aggregate per series and window, stamped with the
 * window's start. Raw readings are not passed on.
 *
 * Closing: by the pipeline clock (processing time), when it passes the window's end plus
 * `allowedLatenessMs`. A window first seen after its end (a redelivery after a restart, a device
 * catching up) waits `allowedLatenessMs` from its first reading; no window stays open longer than
 * `everyMs + allowedLatenessMs` after its first reading, whatever the timestamps say, so a window
 * always closes and never deadlocks intake. Late: a reading whose series already had this or a later
 * window written (counted in `dropped`); remembered for the last `maxSeries` series.
 *
 * With `state: redisStageState(...)` (shared state) what follows does not apply: points are
 * acknowledged once durable in Redis and any worker of a share group takes any message; see
 * `state` and docs/transforms.md. With `state: 'local'` (the default):
 *
 * Delivery: every reading added to a window is retained (`ctx.retain()`), and its message is
 * acknowledged only once the window's aggregate was written. A worker killed with windows open
 * loses nothing: the broker redelivers their messages and the next worker recomputes the same
 * aggregates. Readings with the same series and time count once (the first), so a redelivered
 * message is never counted twice, and first/last/sum follow event-time order, never arrival order.
 * Consequences: (1) a worker holds every message of an open window unacknowledged, and PUBACKs go
 * out in arrival order, so the broker's in-flight window (`inflightWindow` / `receiveMaximum` and
 * the broker's own limit) must exceed the messages a worker receives per `everyMs +
 * allowedLatenessMs`; otherwise intake stalls until windows close by the clock, and readings that
 * arrive after their window closed are late. (2) All readings of a series must reach one worker
 * (one worker, or topics partitioned between workers): two workers sharing a series would each write
 * a partial aggregate for the same point. (3) At shutdown open windows are not written; their
 * messages stay unacknowledged and are redelivered. Memory: a window keeps its readings until it
 * closes, so memory follows the unacknowledged messages, which the in-flight window bounds.
 * @example
 * aggregateWindow({ everyMs: 60_000, allowedLatenessMs: 5_000, fields: { temperature: ['mean', 'max'], battery: ['last'] } })
 */
export function aggregateWindow(options: AggregateWindowOptions): AggregateWindowTransform {
  const { everyMs } = options;
  const latenessMs = options.allowedLatenessMs ?? 0;
  const maxSeries = options.maxSeries ?? 10_000;
  const onTooMany = options.onTooManySeries ?? 'flush-oldest';
  const onLate = options.onLate ?? 'drop';
  validate(options, latenessMs, maxSeries);
  const plan = Object.entries(options.fields).map(([field, fns]) => ({ field, fns: [...new Set(fns)] }));
  if (options.state !== undefined && options.state !== 'local')
    return aggregateWindowShared(options, options.state, plan);
  const rename = options.measurement;
  const windows = new Map<string, Win>();
  const closedThrough = new Map<string, number>();
  const dropped = new Map<string, number>();
  const count = (reason: string) => dropped.set(reason, (dropped.get(reason) ?? 0) + 1);
  let emitter: Emitter<Reading> | undefined;
  let clock: TimerClock = options.clock ?? systemClock;
  let cancel: (() => void) | undefined;
  let timerAt = Infinity;
  let flushedEarly = 0;
  let emitted = 0;

  const schedule = (at: number) => {
    if (!emitter || at >= timerAt) return;
    cancel?.();
    timerAt = at;
    cancel = clock.setTimeout(sweep, Math.max(0, at - clock.now()));
  };

  function sweep(): void {
    timerAt = Infinity;
    cancel = undefined;
    const now = clock.now();
    let next = Infinity;
    for (const w of windows.values()) {
      if (w.closesAt <= now) close(w);
      else next = Math.min(next, w.closesAt);
    }
    if (next < Infinity) schedule(next);
  }

  function close(w: Win): void {
    windows.delete(w.key);
    const endMs = w.startMs + everyMs;
    const before = closedThrough.get(w.series);
    closedThrough.delete(w.series); // re-inserted last: the map's order is least recently closed first
    closedThrough.set(w.series, Math.max(before ?? endMs, endMs));
    if (closedThrough.size > maxSeries) closedThrough.delete(closedThrough.keys().next().value!);
    const aggregate = aggregateOf(w);
    if (!aggregate) {
      for (const r of w.retained) r.release();
      return;
    }
    emitted++;
    emitter!.emit([aggregate], w.retained);
  }

  function aggregateOf(w: Win): Reading | undefined {
    // Event-time order (stable: the first arrival wins a tie), so the result is the same whatever
    // order the broker delivered or redelivered the messages in.
    const points = w.points.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    const accs = plan.map(() => new FieldAccumulator());
    let prev: bigint | undefined;
    for (const p of points) {
      if (p.t === prev) {
        count('duplicate');
        continue;
      }
      prev = p.t;
      plan.forEach(({ field }, i) => {
        const v = p.fields[field];
        if (v !== undefined) accs[i]!.add(v, p.t);
      });
    }
    const fields = windowFields(plan, accs);
    if (!fields) return undefined;
    const m = w.reading.measurement;
    const measurement = rename === undefined ? m : typeof rename === 'string' ? rename : rename(m);
    return { measurement, tags: { ...w.reading.tags }, fields, timeNs: BigInt(w.startMs) * 1_000_000n };
  }

  const lateReading = (r: Reading): StageOutput<Reading> => {
    count('late');
    return onLate === 'drop'
      ? []
      : reject(
          `reading at ${r.timeNs} ns is late: its ${everyMs} ms window of this series was already written`,
          'late_reading',
        );
  };

  return {
    name: 'aggregateWindow',
    dropped,
    get openWindows() {
      return windows.size;
    },
    get flushedEarly() {
      return flushedEarly;
    },
    get emitted() {
      return emitted;
    },
    apply(reading, ctx): StageOutput<Reading> {
      if (!emitter) throw new Error('aggregateWindow: apply before open()');
      if (!plan.some(({ field }) => reading.fields[field] !== undefined)) {
        count('no_fields');
        return [];
      }
      const series = seriesKey(reading);
      const startMs = Math.floor(msOf(reading.timeNs) / everyMs) * everyMs;
      if ((closedThrough.get(series) ?? -Infinity) > startMs) return lateReading(reading);
      const key = `${series}\n${startMs}`;
      let w = windows.get(key);
      if (!w) {
        if (windows.size >= maxSeries) {
          if (onTooMany === 'reject')
            return reject(`more than ${maxSeries} windows open (maxSeries)`, 'too_many_series');
          close(windows.values().next().value!);
          flushedEarly++;
          if ((closedThrough.get(series) ?? -Infinity) > startMs) return lateReading(reading);
        }
        const now = ctx.now();
        const closesAt = Math.min(Math.max(startMs + everyMs, now), now + everyMs) + latenessMs;
        w = { key, series, reading, startMs, closesAt, points: [], retained: [] };
        windows.set(key, w);
        schedule(closesAt);
      }
      w.points.push({ t: reading.timeNs, fields: reading.fields });
      w.retained.push(ctx.retain());
      return [];
    },
    async open(emit) {
      emitter = emit;
      // tributary/testing hands its fake clock to `open` along with `emit`.
      clock = options.clock ?? (emit as Emitter<Reading> & { clock?: TimerClock }).clock ?? systemClock;
    },
    async close() {
      cancel?.();
      cancel = undefined;
      timerAt = Infinity;
    },
  };
}

function validate(o: AggregateWindowOptions, latenessMs: number, maxSeries: number): void {
  if (!Number.isInteger(o.everyMs) || o.everyMs < 1)
    throw new ConfigError('aggregateWindow everyMs', 'an integer number of ms ≥ 1', o.everyMs);
  if (!(latenessMs >= 0) || !Number.isFinite(latenessMs))
    throw new ConfigError('aggregateWindow allowedLatenessMs', 'a number of ms ≥ 0', latenessMs);
  if (!Number.isInteger(maxSeries) || maxSeries < 1)
    throw new ConfigError('aggregateWindow maxSeries', 'an integer ≥ 1', maxSeries);
  if (o.onTooManySeries !== undefined && !['flush-oldest', 'reject'].includes(o.onTooManySeries))
    throw new ConfigError('aggregateWindow onTooManySeries', "'flush-oldest' or 'reject'", o.onTooManySeries);
  if (o.onLate !== undefined && !['drop', 'reject'].includes(o.onLate))
    throw new ConfigError('aggregateWindow onLate', "'drop' or 'reject'", o.onLate);
  if (o.state !== undefined && o.state !== 'local' && typeof (o.state as Partial<StageState>).apply !== 'function')
    throw new ConfigError(
      'aggregateWindow state',
      "'local' or a stage state (redisStageState, memoryStageState)",
      o.state,
    );
  if (o.id !== undefined && !/^[A-Za-z0-9_.:-]{1,100}$/.test(o.id))
    throw new ConfigError('aggregateWindow id', 'letters, digits, _ . : - (1–100)', o.id);
  for (const key of ['leaseMs', 'tickMs'] as const) {
    const v = o[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= 1))
      throw new ConfigError(`aggregateWindow ${key}`, 'a number of ms ≥ 1', v);
  }
  const entries = Object.entries(o.fields ?? {});
  if (entries.length === 0)
    throw new ConfigError(
      'aggregateWindow fields',
      "at least one field with its aggregates, e.g. { temperature: ['mean'] }",
    );
  for (const [field, fns] of entries) {
    if (!Array.isArray(fns) || fns.length === 0)
      throw new ConfigError(`aggregateWindow fields.${field}`, `a list of ${AGGREGATE_FNS.join(', ')}`, fns);
    for (const fn of fns)
      if (!AGGREGATE_FNS.includes(fn))
        throw new ConfigError(`aggregateWindow fields.${field}`, `aggregates among ${AGGREGATE_FNS.join(', ')}`, fn);
  }
}

/**
 * `aggregateWindow` on shared stage state: every point is added to its window in the state (Redis),
 * and its message is acknowledged once that is durable; windows close by a lease-holding ticker in
 * whichever worker claims them first. See {@link aggregateWindow}.
 * @packageDocumentation
 */
import { reject } from '../pipeline/core/stage.js';
import type { DurableStep, Emitter, FieldValue, Reading, StageOutput } from '../pipeline/core/types.js';
import { FieldAccumulator, msOf, windowFields, type AggregatePlan } from './aggregates.js';
import type { AggregateWindowOptions, AggregateWindowTransform } from './aggregate-window-options.js';
import { systemClock, type TimerClock } from './aggregate-window-clock.js';
import { stateSink, type StateItem } from './shared-state/durable.js';
import { parseSeriesId, parseWindowMember, seriesId, timeKey } from './shared-state/keys.js';
import { encodeValue } from './shared-state/logic.js';
import type { ClaimedWindow, StageState } from './shared-state/types.js';

type Plan = AggregatePlan;

/** The shared-state variant of {@link aggregateWindow}; `options` are validated by the caller. */
export function aggregateWindowShared(
  options: AggregateWindowOptions,
  state: StageState,
  plan: Plan,
): AggregateWindowTransform {
  const { everyMs } = options;
  const latenessMs = options.allowedLatenessMs ?? 0;
  const onLate = options.onLate ?? 'drop';
  const namespace = options.id ?? 'aggregateWindow';
  const leaseMs = options.leaseMs ?? 30_000;
  const tickMs = options.tickMs ?? Math.min(1000, Math.max(10, Math.floor(everyMs / 2)));
  const keepMs = Math.max(60_000, everyMs + latenessMs);
  const dropped = new Map<string, number>();
  const count = (reason: string, n = 1) => dropped.set(reason, (dropped.get(reason) ?? 0) + n);
  const rename = options.measurement;
  const name = 'aggregateWindow';
  let clock: TimerClock = options.clock ?? systemClock;
  let emitter: Emitter<Reading> | undefined;
  let step: DurableStep<StateItem> | undefined;
  let cancel: (() => void) | undefined;
  let claiming: Promise<void> | undefined;
  let closed = false;
  let emitted = 0;
  let outstanding = 0;
  const written: string[] = [];

  const sink = stateSink<StateItem>(
    name,
    state,
    namespace,
    () => clock.now(),
    (_items, results) => {
      const rejected: Array<{ index: number; failure: { code: string; reason: string } }> = [];
      results.forEach((r, index) => {
        if (r === 'dup') count('duplicate');
        if (r !== 'late') return;
        count('late');
        if (onLate === 'reject')
          rejected.push({
            index,
            failure: {
              code: 'late_reading',
              reason: `reading is late: its ${everyMs} ms window of this series was already written`,
            },
          });
      });
      return rejected;
    },
  );

  const aggregateOf = (w: ClaimedWindow): Reading | undefined => {
    const { startMs, series } = parseWindowMember(w.member);
    // Event-time order, so the result is the same whatever order the points arrived in.
    const points = [...w.points].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const accs = plan.map(() => new FieldAccumulator());
    for (const [t, data] of points) {
      const fields = decodeFields(data, plan);
      const timeNs = BigInt(t);
      plan.forEach(({ field }, i) => {
        const v = fields[field];
        if (v !== undefined) accs[i]!.add(v, timeNs);
      });
    }
    const fields = windowFields(plan, accs);
    if (!fields) return undefined;
    const { measurement: m, tags } = parseSeriesId(series);
    const measurement = rename === undefined ? m : typeof rename === 'string' ? rename : rename(m);
    return { measurement, tags, fields, timeNs: BigInt(startMs) * 1_000_000n };
  };

  const finishWritten = async () => {
    if (written.length === 0) return;
    const members = written.splice(0);
    try {
      await state.finish(namespace, members, clock.now(), keepMs);
    } catch {
      // The lease runs out and a worker claims these windows again: it writes the same points.
    }
  };

  const claim = async () => {
    await finishWritten();
    if (state.unavailable() || outstanding >= 10_000) return;
    let windows: ClaimedWindow[];
    try {
      windows = await state.claim(namespace, { nowMs: clock.now(), leaseMs, limit: 500, keepMs });
    } catch {
      return; // Redis down: the next tick claims them
    }
    for (const w of windows) {
      const aggregate = aggregateOf(w);
      if (!aggregate) {
        written.push(w.member);
        continue;
      }
      outstanding++;
      emitted++;
      emitter!.emitDetached!([aggregate], `${name}:${namespace}`, () => {
        outstanding--;
        written.push(w.member);
      });
    }
  };

  const tick = () => {
    cancel = undefined;
    if (closed) return;
    claiming ??= claim().finally(() => {
      claiming = undefined;
      if (!closed) cancel = clock.setTimeout(tick, tickMs);
    });
  };

  return {
    name,
    dropped,
    openWindows: 0,
    flushedEarly: 0,
    get emitted() {
      return emitted;
    },
    apply(reading, ctx): StageOutput<Reading> {
      if (!step) throw new Error('aggregateWindow: apply before open()');
      if (!plan.some(({ field }) => reading.fields[field] !== undefined)) {
        count('no_fields');
        return [];
      }
      const startMs = Math.floor(msOf(reading.timeNs) / everyMs) * everyMs;
      const endMs = startMs + everyMs;
      const now = ctx.now();
      const closeAtMs = Math.min(Math.max(endMs, now), now + everyMs) + latenessMs;
      const data = encodeFields(reading.fields, plan);
      if (data.length > 1 << 20) return reject('reading too large for shared window state (1 MiB)', 'too_large');
      step.add(
        {
          op: {
            kind: 'window',
            series: seriesId(reading),
            startMs,
            endMs,
            closeAtMs,
            t: timeKey(reading.timeNs),
            data,
          },
        },
        ctx.retain(),
      );
      return [];
    },
    async open(emit) {
      if (!emit.durable || !emit.emitDetached)
        throw new Error(
          'aggregateWindow with shared state needs the Tributary runtime (Emitter.durable, Emitter.emitDetached)',
        );
      emitter = emit;
      clock = options.clock ?? (emit as Emitter<Reading> & { clock?: TimerClock }).clock ?? systemClock;
      await state.open();
      step = emit.durable(sink);
      cancel = clock.setTimeout(tick, tickMs);
    },
    async close() {
      closed = true;
      cancel?.();
      await claiming;
      await finishWritten();
      await state.close();
    },
  };
}

/**
 * The plan's fields of a reading, encoded (exact: numbers round-trip, integers as digits), in plan
 * order joined by \u0003; as JSON (`{`…) when a string value holds \u0001 or \u0003.
 */
function encodeFields(fields: Readonly<Record<string, FieldValue>>, plan: Plan): string {
  let out = '';
  let plain = true;
  for (let i = 0; i < plan.length; i++) {
    const e = encodeValue(fields[plan[i]!.field]);
    if (e.charCodeAt(0) === 115 && (e.includes('\u0001') || e.includes('\u0003'))) plain = false; // 's'
    out += i === 0 ? e : `\u0003${e}`;
  }
  if (plain) return out;
  const json: Record<string, string> = {};
  for (const { field } of plan) {
    const v = fields[field];
    if (v !== undefined) json[field] = encodeValue(v);
  }
  return JSON.stringify(json);
}

function decodeFields(data: string, plan: Plan): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  const entries: Array<[string, string]> = data.startsWith('{')
    ? Object.entries(JSON.parse(data) as Record<string, string>)
    : data.split('\u0003').map((e, i) => [plan[i]!.field, e]);
  for (const [k, e] of entries) {
    if (e === '') continue;
    const rest = e.slice(1);
    switch (e[0]) {
      case 'n':
        out[k] = Number(rest);
        break;
      case 'i':
        out[k] = BigInt(rest);
        break;
      case 'b':
        out[k] = rest === '1';
        break;
      default:
        out[k] = rest;
    }
  }
  return out;
}

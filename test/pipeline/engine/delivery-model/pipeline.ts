// The model pipeline: a decoder that fails for chosen payloads, a split stage, a stage (sync or
// async) that throws, rejects or drops chosen items, and (in window pipelines) an aggregateWindow. Every hop is traced
// in the ledger: a body handed on opens an obligation that the next hop must close.
import { flatMap, map, mapAsync, reject } from '../../../../pipeline/core/stage.js';
import type {
  DecodedValue,
  Decoder,
  Emitter,
  Reading,
  Retention,
  StageContext,
  StageOutput,
  Transform,
} from '../../../../pipeline/core/types.js';
import { aggregateWindow, type TimerClock } from '../../../../transforms/aggregate-window.js';
import type { Ledger } from './ledger.js';
import type { Fate, ItemSpec, ModelConfig } from './spec.js';

/** What a published payload carries (the same bytes on every delivery of it). */
export interface ModelPayload {
  readonly p: number;
  readonly baseMs: number;
  readonly fail?: true;
  readonly items: readonly ItemSpec[];
}

/** Anything that flows between hops: its trace number `k` and the delivery (or deliveries) it came from. */
export interface Traced {
  k: number;
  d: number;
  owners?: number[];
  /** Sinks that take it (bit 1: `a`, bit 2: `b`). */
  to?: number;
  fate?: Fate;
}

interface ModelBody extends Traced {
  readonly p: number;
  readonly baseMs: number;
  readonly items: readonly ItemSpec[];
}
interface ModelItem extends ItemSpec {
  readonly k: number;
  readonly d: number;
  readonly p: number;
  readonly i: number;
  readonly baseMs: number;
}

/** The ledger plus the model's counters, shared by every traced hop. */
export class Tracer {
  private k = 0;
  private e = 0;
  constructor(readonly ledger: Ledger) {}
  nextK(): number {
    return ++this.k;
  }
  nextEntry(): number {
    return ++this.e;
  }

  /** How many sink entries or dead letters the router must make for `item`. */
  static routes(item: Traced): number {
    const to = item.to ?? 0;
    return Math.max(1, (to & 1) + ((to >> 1) & 1));
  }

  /** `item` leaves a hop: the next stage, or the router when `next` is undefined, must take it. */
  handOn(item: Traced, next: string | undefined): void {
    const owners = item.owners ?? [item.d];
    if (next) this.ledger.open(`stage:${next}:${item.k}`, owners, `${next} to see item ${item.k}`);
    else this.ledger.open(`route:${item.k}`, owners, `item ${item.k} routed to its sinks`, Tracer.routes(item));
  }

  /** A dead letter is now due for delivery `d`, from `stage`. */
  expectDeadLetter(stage: string, d: number): void {
    this.ledger.open(`dl:${stage}:${d}`, [d], `dead letter from ${stage}`);
  }
}

const deliveryOf = (meta: { readonly userProperties?: Readonly<Record<string, string | readonly string[]>> }): number =>
  Number(meta.userProperties?.delivery);

/** The subscription's decoder, or the source's unrouted one, traced: it must see each handed-over delivery once. */
export function tracedDecoder(inner: Decoder<DecodedValue>, t: Tracer, next: string): Decoder<DecodedValue> {
  return {
    format: inner.format,
    decode(payload, meta) {
      const d = deliveryOf(meta);
      t.ledger.close(`decode:${d}`, `decode of delivery ${d}`);
      const result = inner.decode(payload, meta);
      if (!result.ok) {
        t.expectDeadLetter(`decode:${inner.format}`, d);
        return result;
      }
      const body = { ...(result.value as object), k: t.nextK(), d } as ModelBody;
      t.handOn(body, next);
      return { ok: true, value: body as unknown as DecodedValue };
    },
  };
}

/** The payload format of the model: JSON, failing when the payload says so. */
export const modelDecoder: Decoder<DecodedValue> = {
  format: 'model',
  decode(payload) {
    const parsed = JSON.parse(Buffer.from(payload).toString('utf8')) as ModelPayload;
    if (parsed.fail)
      return { ok: false, failure: { code: 'decode_error', reason: `payload ${parsed.p} is marked undecodable` } };
    return { ok: true, value: parsed as unknown as DecodedValue };
  },
};

/** Wraps a synchronous stage: closes the obligation of each body it sees, opens those of its outputs. */
function traced(stage: Transform<unknown, unknown>, t: Tracer, next: string | undefined): Transform<unknown, unknown> {
  return {
    name: stage.name,
    apply(body, ctx) {
      const b = body as Traced;
      t.ledger.close(`stage:${stage.name}:${b.k}`, `${stage.name} saw item ${b.k}`);
      const settle = (out: StageOutput<unknown>) => {
        if ('rejected' in out) t.expectDeadLetter(stage.name, b.d);
        else for (const item of out) t.handOn(item as Traced, next);
        return out;
      };
      let out: StageOutput<unknown> | Promise<StageOutput<unknown>>;
      try {
        out = stage.apply(body, ctx);
      } catch (error) {
        t.expectDeadLetter(stage.name, b.d);
        throw error;
      }
      if (!(out instanceof Promise)) return settle(out);
      // In flight: the delivery waits for the call; its outputs are handed on as it resolves.
      const key = `async:${stage.name}:${b.k}`;
      t.ledger.open(key, [b.d], `${stage.name} call on item ${b.k}`).state = 'in flight';
      return out.then(
        (resolved) => {
          t.ledger.close(key, `${stage.name} resolved`);
          return settle(resolved);
        },
        (error: unknown) => {
          t.ledger.close(key, `${stage.name} failed`);
          t.expectDeadLetter(stage.name, b.d);
          throw error;
        },
      );
    },
  };
}

/** An aggregateWindow, traced: a retained reading holds its delivery until the aggregate it went into is routed. */
function tracedWindow(inner: Transform<Reading, Reading>, t: Tracer): Transform<unknown, unknown> {
  const holds = new WeakMap<Retention, string>();
  const toOfSeries = (s: string | undefined) => (s === '0' ? 1 : s === '1' ? 3 : 0);
  return {
    name: inner.name,
    apply(body, ctx) {
      const r = body as Reading & Traced;
      t.ledger.close(`stage:${inner.name}:${r.k}`, `${inner.name} saw item ${r.k}`);
      const tracedCtx: StageContext = {
        meta: ctx.meta,
        now: () => ctx.now(),
        retain: () => {
          const retention = ctx.retain();
          const key = `window:${r.k}`;
          t.ledger.open(key, [r.d], `window of series ${r.tags.s} holding item ${r.k}`).state = 'window open';
          holds.set(retention, key);
          return retention;
        },
      };
      const out = inner.apply(r, tracedCtx) as StageOutput<Reading>;
      if ('rejected' in out) t.expectDeadLetter(inner.name, r.d);
      return out;
    },
    open(emitter: Emitter<unknown>) {
      return inner.open!({
        ...emitter,
        emit(items, retained) {
          const owners = new Set<number>();
          for (const retention of retained) {
            const key = holds.get(retention);
            const ob = key === undefined ? undefined : t.ledger.close(key, `aggregate of ${key}`);
            for (const d of ob?.owners ?? []) owners.add(d);
          }
          for (const item of items) {
            const aggregate = Object.assign(item, {
              k: t.nextK(),
              d: [...owners][0] ?? -1,
              owners: [...owners],
              to: toOfSeries(item.tags.s),
            });
            t.handOn(aggregate, undefined);
          }
          emitter.emit(items, retained);
        },
      });
    },
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}

/** A timer clock on the (faked) global timers, for the window stage. */
export const globalTimerClock: TimerClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** The stages of the configured pipeline, each traced; the name of the first (the decoder hands on to it). */
export function modelStages(
  config: ModelConfig,
  t: Tracer,
): { first: string; stages: Array<Transform<unknown, unknown>> } {
  const split = flatMap('split', (body: ModelBody) =>
    body.items.map((spec, i): ModelItem => ({
      ...spec,
      k: t.nextK(),
      d: body.d,
      p: body.p,
      i,
      baseMs: body.baseMs,
    })),
  );
  const fateOf = (item: ModelItem) => {
    if (item.fate === 'throws') throw new Error(`item ${item.k} makes boom throw`);
    if (item.fate === 'rejects') return reject(`item ${item.k} is rejected by boom`, 'model_rejected');
    return item.fate === 'drops' ? undefined : item;
  };
  // Async: each call takes a few ms of (fake) time, at most `asyncBoom` at once.
  const boom =
    config.asyncBoom === 0
      ? map('boom', fateOf)
      : mapAsync('boom', config.asyncBoom, async (item: ModelItem) => {
          await new Promise((resolve) => setTimeout(resolve, 1 + ((item.k * 7) % 40)));
          return fateOf(item);
        });
  if (config.pipeline === 'plain') {
    return {
      first: 'split',
      stages: [
        traced(split as Transform<unknown, unknown>, t, 'boom'),
        traced(boom as Transform<unknown, unknown>, t, undefined),
      ],
    };
  }
  const toReading = map('toReading', (item: ModelItem): Reading & Traced => ({
    measurement: 'm',
    tags: { s: String(item.series) },
    fields: { v: item.i + 1 },
    timeNs: BigInt(item.baseMs + item.offsetMs) * 1_000_000n,
    k: item.k,
    d: item.d,
  }));
  const w = config.windowStage;
  const window = aggregateWindow({
    everyMs: w.everyMs,
    allowedLatenessMs: w.latenessMs,
    maxSeries: w.maxSeries,
    onLate: w.onLate,
    onTooManySeries: w.onTooManySeries,
    fields: { v: ['sum', 'count'] },
    clock: globalTimerClock,
  });
  return {
    first: 'split',
    stages: [
      traced(split as Transform<unknown, unknown>, t, 'boom'),
      traced(boom as Transform<unknown, unknown>, t, 'toReading'),
      traced(toReading as Transform<unknown, unknown>, t, 'aggregateWindow'),
      tracedWindow(window, t),
    ],
  };
}

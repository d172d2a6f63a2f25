import { json } from '../../pipeline/engine/decode/json.js';
import type {
  Batch,
  BatchPolicy,
  DeadLetter,
  DeadLetterSink,
  MessageHandler,
  Sink,
  Source,
  SourceMessage,
  WriteResult,
} from '../../pipeline/core/types.js';

/** A source the test drives by hand; each message counts its own settle calls. */
export class FakeSource implements Source<unknown> {
  readonly name = 'fake-source';
  handler: MessageHandler | undefined;
  intakeStopped = false;
  closed = false;
  /** settle() calls, by message id. */
  readonly settles = new Map<number, number>();
  /** Hook run inside settle(), before counting. */
  onSettle: ((id: number) => void) | undefined;
  private nextId = 0;

  constructor(readonly window = 100) {}

  async open(handler: MessageHandler): Promise<void> {
    this.handler = handler;
  }
  async stopIntake(): Promise<void> {
    this.intakeStopped = true;
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  /** Delivers one message; returns its id. */
  send(payload: string | Uint8Array, opts: { topic?: string; qos?: 0 | 1 | 2; retain?: boolean } = {}): number {
    const id = this.nextId++;
    this.settles.set(id, 0);
    const message: SourceMessage = {
      topic: opts.topic ?? 'fleet/site-1/dev-1/telemetry',
      payload: typeof payload === 'string' ? new TextEncoder().encode(payload) : payload,
      qos: opts.qos ?? 1,
      retain: opts.retain ?? false,
      receivedAtMs: 1_700_000_000_000,
      decoder: json(),
      settle: () => {
        this.onSettle?.(id);
        this.settles.set(id, (this.settles.get(id) ?? 0) + 1);
      },
    };
    if (!this.handler) throw new Error('source not opened');
    this.handler(message);
    return id;
  }

  settled(id: number): number {
    return this.settles.get(id) ?? 0;
  }
}

type Writer<T> = (batch: Batch<T>) => WriteResult | Promise<WriteResult>;

/** A sink recording what it delivered; `write` decides each result. */
export function fakeSink<T>(
  name: string,
  accepts: (item: unknown) => item is T,
  opts: {
    write?: Writer<T>;
    encode?: (item: T) => string;
    batch?: Partial<BatchPolicy>;
  } = {},
) {
  const delivered: T[] = [];
  let writes = 0;
  const sink: Sink<T> & { delivered: T[]; readonly writes: number; closed: boolean } = {
    name,
    batch: { maxItems: 100, maxBytes: 1 << 20, maxWaitMs: 5, maxConcurrency: 2, ...opts.batch },
    accepts,
    encode: opts.encode ?? ((item) => String(item)),
    open: async () => {},
    close: async () => {
      sink.closed = true;
    },
    write: async (batch) => {
      writes++;
      const result = await (opts.write ?? (() => ({ status: 'delivered' }) as const))(batch);
      if (result.status === 'delivered') delivered.push(...batch.items);
      if (result.status === 'partial') {
        const bad = new Set(result.rejected.map((r) => r.index));
        batch.items.forEach((item, i) => {
          if (!bad.has(i)) delivered.push(item);
        });
      }
      return result;
    },
    delivered,
    get writes() {
      return writes;
    },
    closed: false,
  };
  return sink;
}

/** A dead-letter sink that records the letters it made durable. */
export function fakeDeadLetters(): DeadLetterSink & { delivered: DeadLetter[] } {
  return fakeSink('dead-letters', (_item: unknown): _item is DeadLetter => true, {
    encode: (l) => `${l.code}:${l.topic}`,
  });
}

export const isNumber = (item: unknown): item is number => typeof item === 'number';

export async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('waitFor timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

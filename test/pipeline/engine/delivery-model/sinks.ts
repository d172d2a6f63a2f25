// Sinks whose writes wait until the schedule completes them with a chosen result, and a
// dead-letter sink alike. Each encoded entry is an obligation of the deliveries it came from,
// closed when a write that contains it is delivered (or moved to its dead letter).
import type { BatchPolicy, DeadLetter, DeadLetterSink, Sink, WriteResult } from '../../../../pipeline/core/types.js';
import type { Tracer, Traced } from './pipeline.js';
import type { WriteOutcome } from './spec.js';

interface PendingWrite {
  readonly sink: string;
  readonly encoded: readonly string[];
  complete(result: WriteResult | Error): void;
}

const ENTRY = '{"e":';
const DEAD_LETTERS = 'dead-letters';

/** The sinks `a` and `b` and the dead-letter sink of one model run, with their pending writes. */
export class ModelSinks {
  readonly pending: PendingWrite[] = [];
  /** Draining: every write, pending or new, is delivered at once. */
  auto = false;
  writes = 0;
  private readonly written = new Set<string>();

  constructor(private readonly t: Tracer) {}

  /** A sink taking the items whose `to` has `bit` set. */
  sink(name: 'a' | 'b', bit: number, batch: BatchPolicy, needsItems = true): Sink<unknown> {
    const ledger = this.t.ledger;
    return {
      name,
      batch,
      needsItems,
      accepts: (item: unknown): item is unknown => (((item as Traced).to ?? 0) & bit) !== 0,
      encode: (item: unknown) => {
        const it = item as Traced;
        if (name === 'a' && it.fate === 'unencodable') throw new Error(`item ${it.k} cannot be encoded for sink a`);
        ledger.close(`route:${it.k}`, `sink ${name} took item ${it.k}`);
        const encoded = `${ENTRY}${this.t.nextEntry()},"k":${it.k},"sink":"${name}"}`;
        ledger.open(encoded, it.owners ?? [it.d], `item ${it.k} in sink ${name}`).state = 'batching';
        return encoded;
      },
      open: async () => {},
      close: async () => {},
      write: (b) => this.write(name, b.encoded),
    };
  }

  /** The dead-letter sink: a letter closes what it answers and is itself an obligation until written. */
  deadLetters(batch: BatchPolicy): DeadLetterSink {
    const ledger = this.t.ledger;
    return {
      name: DEAD_LETTERS,
      batch,
      accepts: (_l: unknown): _l is DeadLetter => true,
      encode: (letter: DeadLetter) => {
        const encoded = `${ENTRY}${this.t.nextEntry()},"code":"${letter.code}","stage":"${letter.stage}"}`;
        const what = `dead letter ${letter.code} from ${letter.stage}`;
        if (letter.item?.startsWith(ENTRY)) {
          // a sink refused an entry: the entry's obligation moves to its letter
          const entry = ledger.close(letter.item, `dead letter of entry ${letter.item}`);
          ledger.open(encoded, entry?.owners ?? [], what).state = 'batching';
        } else if (letter.item !== undefined) {
          // the router or an encoder gave up on an item
          const item = JSON.parse(letter.item) as Traced;
          ledger.close(`route:${item.k}`, `${what} for item ${item.k}`);
          ledger.open(encoded, item.owners ?? [item.d], what).state = 'batching';
        } else {
          // a decoder or stage failed on the message
          const d = Number(letter.userProperties?.delivery);
          ledger.close(`dl:${letter.stage}:${d}`, what);
          ledger.open(encoded, [d], what).state = 'batching';
        }
        return encoded;
      },
      open: async () => {},
      close: async () => {},
      write: (b) => this.write(DEAD_LETTERS, b.encoded),
    };
  }

  private write(sink: string, batch: readonly string[]): Promise<WriteResult> {
    this.writes++;
    const encoded = [...batch];
    for (const e of encoded) this.t.ledger.mark(e, `write in flight to ${sink}`);
    if (this.auto) return Promise.resolve(this.apply(sink, encoded, 'delivered', 0, undefined));
    return new Promise((resolve, reject) => {
      this.pending.push({ sink, encoded, complete: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  /** Completes pending write number `pick` (modulo the pending ones) with `outcome`. */
  complete(pick: number, outcome: WriteOutcome, mask: number, retryAfterMs: number | undefined): void {
    if (this.pending.length === 0) return;
    const [write] = this.pending.splice(pick % this.pending.length, 1);
    if (outcome === 'throws') {
      for (const e of write!.encoded) this.t.ledger.mark(e, `retrying (${write!.sink} threw)`);
      write!.complete(new Error('sink bug'));
    } else {
      write!.complete(this.apply(write!.sink, write!.encoded, outcome, mask, retryAfterMs));
    }
  }

  /** Delivers every pending write. */
  completeAll(): void {
    while (this.pending.length > 0) this.complete(0, 'delivered', 0, undefined);
  }

  /** The entry is durable; writing it again is a duplicate (allowed: at least once), not an event. */
  private durable(e: string, how: string): void {
    if (this.written.has(e)) return;
    this.written.add(e);
    this.t.ledger.close(e, how);
  }

  /** The ledger side of a write result; returns the result for the runtime. */
  private apply(
    sink: string,
    encoded: readonly string[],
    outcome: Exclude<WriteOutcome, 'throws'>,
    mask: number,
    retryAfterMs: number | undefined,
  ): WriteResult {
    const ledger = this.t.ledger;
    switch (outcome) {
      case 'delivered':
        for (const e of encoded) this.durable(e, `a write to ${sink} answered delivered`);
        return { status: 'delivered' };
      case 'retry':
        for (const e of encoded) ledger.mark(e, 'retrying');
        return {
          status: 'retry',
          failure: { code: 'model_503', reason: 'unavailable' },
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        };
      case 'rejected':
        for (const e of encoded) ledger.mark(e, 'rejected: bisecting or dead-lettering');
        return { status: 'rejected', failure: { code: 'model_400', reason: 'bad batch' } };
      case 'partial': {
        // An empty list of refused items is a batch written whole.
        const rejected = encoded.flatMap((e, index) =>
          (mask >> (index % 4)) & 1 ? [{ index, failure: { code: 'model_partial', reason: 'bad point' } }] : [],
        );
        encoded.forEach((e, index) => {
          if (rejected.some((r) => r.index === index))
            ledger.mark(e, sink === DEAD_LETTERS ? 'refused: the batch is retried' : 'rejected: to be dead-lettered');
          // The dead-letter sink is the last resort: a batch with a refused letter is retried whole.
          else if (sink === DEAD_LETTERS && rejected.length > 0)
            ledger.mark(e, 'in a batch retried for a refused letter');
          else
            this.durable(
              e,
              `a write to ${sink} answered partial, refusing ${rejected.length ? `items ${rejected.map((r) => r.index).join(', ')}` : 'none'}`,
            );
        });
        return { status: 'partial', rejected };
      }
    }
  }
}

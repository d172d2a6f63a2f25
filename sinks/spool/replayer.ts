/**
 * The replay loop: reads segments oldest first, writes their lines through the inner sink in
 * batches with backoff while it asks to retry, isolates refused lines by bisection, checkpoints
 * after each batch and deletes a segment once it is fully replayed.
 * @packageDocumentation
 */
import { open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliverBatch, type Delivery } from '../../pipeline/core/deliver.js';
import { retryDelayMs } from '../../pipeline/core/retry.js';
import type { Failure, Logger, WriteResult } from '../../pipeline/core/types.js';
import { segmentPath, writeCheckpoint, type Checkpoint, type Segment } from './disk.js';
import { readRecords } from './record.js';

/** What one replayed batch came to. */
export interface Outcome {
  readonly replayed: number;
  readonly rejected: number;
}

/** Options of {@link Replayer}. */
export interface ReplayerOptions {
  readonly dir: string;
  readonly name: string;
  /** The spool's segment list, oldest first (shared with the appender). */
  readonly segments: Segment[];
  /** Where replay starts. */
  readonly checkpoint: Checkpoint;
  readonly batchItems: number;
  readonly concurrency: number;
  readonly retry: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  /** Writes lines through the inner sink. */
  readonly write: (encoded: readonly string[]) => Promise<WriteResult>;
  /** Keeps a line the inner sink refused for good; resolves once that is durable. */
  readonly reject: (encoded: string, failure: Failure) => Promise<void>;
  /** Seals the newest segment if nothing is being appended to it. */
  readonly sealIfIdle: () => boolean;
  /** A batch of `records` records was replayed (and checkpointed). */
  readonly onProgress: (records: number, outcome: Outcome) => void;
  /** A replayed segment file was deleted. */
  readonly onDeleted: (segment: Segment) => void;
  readonly log: Logger;
}

interface Job {
  readonly seg: Segment;
  /** Position just past the job's last record. */
  readonly end: number;
  readonly records: number;
  /** The job ends its (sealed) segment. */
  readonly segmentDone: boolean;
  /** `undefined` when replay was stopped before the batch was written. */
  readonly result: Promise<Outcome | undefined>;
}

const NONE: Promise<Outcome> = Promise.resolve({ replayed: 0, rejected: 0 });

/** Replays a spool directory through the inner sink; one per spool. */
export class Replayer {
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private failing = false;

  constructor(private readonly o: ReplayerOptions) {}

  /** Starts the loop. */
  start(): void {
    this.loop = this.run();
  }

  /** New records were committed: wakes the loop if it waits for some. */
  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Stops the loop; a batch being written is abandoned (replayed again after a restart). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.notify();
    await this.loop;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    let seq = this.o.checkpoint.segment,
      pos = this.o.checkpoint.offset;
    const jobs: Job[] = [];
    for (let errors = 0; !this.stopped;) {
      try {
        while (jobs.length < this.o.concurrency && !this.stopped) {
          const seg = this.o.segments.find((s) => s.seq >= seq);
          if (!seg) break;
          if (seg.seq !== seq) [seq, pos] = [seg.seq, 0];
          const { size, sealed } = seg; // read together: a sealed segment's size is final
          if (pos >= size) {
            if (!sealed) break; // caught up with the appender
            jobs.push({ seg, end: size, records: 0, segmentDone: true, result: NONE });
            [seq, pos] = [seg.seq + 1, 0];
            continue;
          }
          const lines: string[] = [];
          const fh = await open(segmentPath(this.o.dir, seg.seq), 'r');
          const read = await readRecords(fh, pos, size, this.o.batchItems, (payload) => {
            lines.push(payload.toString('utf8'));
          }).finally(() => fh.close());
          const segmentDone = sealed && read.next >= size;
          jobs.push({
            seg,
            end: read.next,
            records: lines.length,
            segmentDone,
            result: lines.length > 0 ? this.deliver(lines) : NONE,
          });
          [seq, pos] = segmentDone ? [seg.seq + 1, 0] : [seg.seq, read.next];
        }
        const head = jobs[0];
        if (!head) {
          if (this.o.sealIfIdle()) continue;
          if (this.stopped) break;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        const outcome = await head.result;
        if (!outcome) break;
        await this.commit(head);
        jobs.shift();
        this.o.onProgress(head.records, outcome);
        errors = 0;
      } catch (error) {
        // A file system error: keep the position, log, and try again later.
        this.o.log.error(
          { sink: this.o.name, dir: this.o.dir, error: (error as Error).message },
          'spool replay failed, retrying',
        );
        await sleep(retryDelayMs({ ...this.o.retry, giveUpAfterMs: Infinity }, ++errors), undefined, {
          signal: this.abort.signal,
        }).catch(() => undefined);
      }
    }
    await Promise.allSettled(jobs.map((j) => j.result));
  }

  /** Moves the checkpoint past `job`; deletes its segment when the job finished it. */
  private async commit(job: Job): Promise<void> {
    if (!job.segmentDone) return writeCheckpoint(this.o.dir, { segment: job.seg.seq, offset: job.end });
    await writeCheckpoint(this.o.dir, { segment: job.seg.seq + 1, offset: 0 });
    await rm(segmentPath(this.o.dir, job.seg.seq), { force: true });
    const i = this.o.segments.indexOf(job.seg);
    if (i >= 0) {
      this.o.segments.splice(i, 1);
      this.o.onDeleted(job.seg);
    }
  }

  /**
   * Writes `lines` until the inner sink took them, through the runtime's one delivery loop: backs
   * off on `retry`, splits on `rejected` until the refused lines are alone and hands those to
   * `reject`; a failure to keep a refused line writes the batch again later.
   */
  private async deliver(lines: readonly string[]): Promise<Outcome | undefined> {
    const outcome = { replayed: 0, rejected: 0 };
    const delivery: Delivery<readonly string[]> = {
      size: (b) => b.length,
      slice: (b, from, to) => b.slice(from, to),
      write: (b) => this.o.write(b),
      delivered: (b) => {
        if (this.failing)
          this.o.log.info({ sink: this.o.name, dir: this.o.dir }, 'spool replay: the sink accepts writes again');
        this.failing = false;
        outcome.replayed += b.length;
      },
      partial: async (b, rejected) => {
        for (const { index, failure } of rejected) await this.o.reject(b[index]!, failure);
        outcome.replayed += b.length - rejected.length;
        outcome.rejected += rejected.length;
      },
      rejected: async (b, index, failure) => {
        await this.o.reject(b[index]!, failure);
        outcome.rejected++;
      },
      retrying: (failure) => {
        if (!this.failing)
          this.o.log.warn(
            { sink: this.o.name, code: failure.code, error: failure.reason },
            'spool replay: sink unavailable, retrying with backoff',
          );
        this.failing = true;
      },
    };
    const settled = await deliverBatch(
      lines,
      delivery,
      { ...this.o.retry, giveUpAfterMs: Infinity },
      this.abort.signal,
    );
    return settled ? outcome : undefined;
  }
}

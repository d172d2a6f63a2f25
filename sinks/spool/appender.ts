/**
 * Appends framed records to the newest segment with group commit: batches that arrive while a
 * write and fsync are under way share the next write and fsync.
 * @packageDocumentation
 */
import { open, type FileHandle } from 'node:fs/promises';
import { fsyncDir, segmentPath, type Segment } from './disk.js';

interface Pending {
  readonly buf: Buffer;
  readonly records: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Options of {@link Appender}. */
export interface AppenderOptions {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly fsync: 'batch' | 'none';
  /** Sequence number of the first segment this appender creates. */
  readonly nextSeq: number;
  /** The spool's segment list, oldest first: new segments are pushed onto it. */
  readonly segments: Segment[];
  /** Records became durable (written, and synced when `fsync` is `batch`). */
  readonly onCommit: (records: number, bytes: number) => void;
}

/** The single writer of a spool directory. */
export class Appender {
  private tail: { seg: Segment; fh: FileHandle } | undefined;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private nextSeq: number;
  /** Bytes accepted but not yet written. */
  queuedBytes = 0;

  constructor(private readonly o: AppenderOptions) {
    this.nextSeq = o.nextSeq;
  }

  /** Whether anything is queued or being written. */
  get busy(): boolean {
    return this.flushing !== undefined;
  }

  /** Appends `buf` (holding `records` records); resolves once it is durable. */
  append(buf: Buffer, records: number): Promise<void> {
    this.queuedBytes += buf.length;
    const done = new Promise<void>((resolve, reject) => this.queue.push({ buf, records, resolve, reject }));
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined;
    });
    return done;
  }

  /**
   * Seals the newest segment if nothing is being appended (the replayer caught up with it):
   * the next append starts a new segment, and this one can be deleted once replayed.
   * @returns whether a segment was sealed
   */
  sealIfIdle(): boolean {
    if (this.flushing || !this.tail) return false;
    const { seg, fh } = this.tail;
    this.tail = undefined;
    seg.sealed = true;
    void fh.close().catch(() => undefined);
    return true;
  }

  /** Waits for queued appends, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    const tail = this.tail;
    this.tail = undefined;
    if (tail) {
      tail.seg.sealed = true;
      await tail.fh.close();
    }
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0);
      try {
        for (let i = 0; i < group.length;) {
          let tail = this.tail;
          if (!tail || (tail.seg.size > 0 && tail.seg.size + group[i]!.buf.length > this.o.segmentBytes))
            tail = await this.roll();
          // As many as fit in this segment, and at least one (a batch larger than a segment gets its own).
          let j = i,
            bytes = 0,
            records = 0;
          while (j < group.length && (j === i || tail.seg.size + bytes + group[j]!.buf.length <= this.o.segmentBytes)) {
            bytes += group[j]!.buf.length;
            records += group[j]!.records;
            j++;
          }
          await this.write(
            tail,
            Buffer.concat(
              group.slice(i, j).map((p) => p.buf),
              bytes,
            ),
          );
          tail.seg.size += bytes;
          tail.seg.records += records;
          this.queuedBytes -= bytes;
          this.o.onCommit(records, bytes);
          for (const p of group.slice(i, j)) p.resolve();
          i = j;
        }
      } catch (error) {
        // Disk full or an I/O error: nothing of this group is acknowledged. What may have reached
        // the file past the synced size is cut off, or skipped by its checksum on replay.
        const failed = this.tail;
        this.tail = undefined;
        if (failed) {
          failed.seg.sealed = true;
          await failed.fh.truncate(failed.seg.size).catch(() => undefined);
          await failed.fh.close().catch(() => undefined);
        }
        for (const p of group) p.reject(error as Error); // a no-op for those already durable
        this.queuedBytes = this.queue.reduce((n, p) => n + p.buf.length, 0);
      }
    }
  }

  private async write(tail: { fh: FileHandle; seg: Segment }, buf: Buffer): Promise<void> {
    for (let off = 0; off < buf.length;) {
      const { bytesWritten } = await tail.fh.write(buf, off, buf.length - off, tail.seg.size + off);
      off += bytesWritten;
    }
    if (this.o.fsync === 'batch') await tail.fh.datasync();
  }

  private async roll(): Promise<{ seg: Segment; fh: FileHandle }> {
    const old = this.tail;
    this.tail = undefined;
    if (old) {
      old.seg.sealed = true;
      await old.fh.close();
    }
    const seq = this.nextSeq++;
    const fh = await open(segmentPath(this.o.dir, seq), 'wx');
    if (this.o.fsync === 'batch') await fsyncDir(this.o.dir);
    const seg: Segment = { seq, size: 0, records: 0, sealed: false };
    this.o.segments.push(seg);
    this.tail = { seg, fh };
    return this.tail;
  }
}

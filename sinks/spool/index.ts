import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../pipeline/core/errors.js';
import { silentLogger } from '../../pipeline/core/log.js';
import type { Batch, Failure, Logger, PipelineFlow, Sink, WriteResult } from '../../pipeline/core/types.js';
import { Appender } from './appender.js';
import { lockDir, recover, type Segment } from './disk.js';
import { encodeRecords } from './record.js';
import { Replayer } from './replayer.js';

/** A sink that can also write lines from their encodings alone (what a spool keeps on disk). */
export type ReplayableSink<T> = Sink<T> & {
  /** Writes already-encoded items; classifies failures like `write`. */
  writeEncoded(encoded: readonly string[]): Promise<WriteResult>;
};

/** Options of {@link spooled}. */
export interface SpoolOptions {
  /** The spool's directory, created if missing. One per worker: a second process is refused. */
  readonly dir: string;
  /** Most bytes of segments on disk; past it, writes are refused with `retry` (backpressure). @defaultValue 1 GiB */
  readonly maxBytes?: number;
  /** Size at which a new segment file is started; disk is freed a whole segment at a time. @defaultValue 16 MiB */
  readonly segmentBytes?: number;
  /**
   * `batch`: fdatasync each append (shared by concurrent batches) before acknowledging: survives a
   * power cut. `none`: survives a process crash only (the page cache is the kernel's).
   * @defaultValue 'batch'
   */
  readonly fsync?: 'batch' | 'none';
  /** Lines per replayed write. @defaultValue the inner sink's `batch.maxItems` */
  readonly replayBatchItems?: number;
  /** Replayed writes in flight at once; above 1, batches may land out of order. @defaultValue 1 */
  readonly replayConcurrency?: number;
  /** Backoff of replayed writes while the inner sink asks to retry. @defaultValue `{ initialDelayMs: 100, maxDelayMs: 5000 }` */
  readonly replayRetry?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /**
   * Takes a spooled line the inner sink refused for good on replay (a 400): the original message
   * was acknowledged long ago, so the runtime's dead-letter sink cannot take it.
   * @defaultValue appends `{ at, code, reason, line }` as JSON to `<dir>/rejected.jsonl`
   */
  readonly onRejected?: (encoded: string, failure: Failure) => Promise<void> | void;
  /** @defaultValue silentLogger */
  readonly log?: Logger;
}

/** Live counters of a spool (`spooled(...).stats`). */
export interface SpoolStats {
  /** Bytes of segment files on disk (replayed parts of a segment count until it is deleted). */
  readonly bytesOnDisk: number;
  readonly segments: number;
  /** Records on disk not replayed yet. */
  readonly recordsPending: number;
  /** Records appended since open. */
  readonly spooled: number;
  /** Records the inner sink took on replay since open. */
  readonly replayed: number;
  /** Records the inner sink refused on replay since open (see {@link SpoolOptions.onRejected}). */
  readonly rejected: number;
  /** Batches refused because the spool was full. */
  readonly refusedFull: number;
  /** Unreadable bytes found at open (inside segments; a torn tail is not counted). */
  readonly corruptBytes: number;
}

/** A sink wrapped by {@link spooled}. */
export type SpooledSink<T> = Sink<T> & { readonly stats: SpoolStats };

const MiB = 1024 * 1024;

/**
 * Wraps a sink with a local durable spool for outages longer than the broker can queue.
 *
 * A batch is written to `inner` first; when that asks to retry (an outage), its encoded lines are
 * appended to the spool (checksummed records, fdatasync) and the batch counts as delivered, so
 * the runtime acknowledges its messages. While the spool holds anything, new batches are
 * appended behind it without trying `inner`, so that replay stays oldest first and a newer value
 * of a point is never overwritten by an older one. A replay loop writes the spool through
 * `inner.writeEncoded` with backoff, checkpoints after each batch (a crash replays at most the
 * batches in flight again: harmless, InfluxDB keeps identical points once) and deletes replayed
 * segments. A full spool answers `retry` (code `spool_full`): the runtime holds the
 * acknowledgements and the broker stops sending. `rejected` and `partial` pass through.
 * A new process on the same `dir` recovers (truncating a torn tail) and replays what is there.
 *
 * @example
 * spooled(influxdb({ url, api: 'v1', database: 'telemetry' }), { dir: '/var/lib/tributary/spool-0', maxBytes: 10 * 1024 ** 3 })
 */
export function spooled<T>(inner: ReplayableSink<T>, options: SpoolOptions): SpooledSink<T> {
  const { dir, maxBytes = 1024 * MiB, segmentBytes = 16 * MiB, fsync = 'batch', replayConcurrency = 1 } = options;
  const replayBatchItems = options.replayBatchItems ?? inner.batch.maxItems;
  const log = options.log ?? silentLogger;
  const positive = (name: string, v: number) => {
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`spool ${name}`, 'a positive integer', v);
  };
  if (!dir) throw new ConfigError('spool dir', 'a directory path');
  positive('maxBytes', maxBytes);
  positive('segmentBytes', segmentBytes);
  positive('replayBatchItems', replayBatchItems);
  positive('replayConcurrency', replayConcurrency);
  if (segmentBytes > maxBytes)
    throw new ConfigError('spool segmentBytes', `at most maxBytes (${maxBytes})`, segmentBytes);
  if (fsync !== 'batch' && fsync !== 'none') throw new ConfigError('spool fsync', "'batch' or 'none'", fsync);

  const segments: Segment[] = [];
  const c = {
    bytesOnDisk: 0,
    recordsPending: 0,
    spooled: 0,
    replayed: 0,
    rejected: 0,
    refusedFull: 0,
    corruptBytes: 0,
  };
  let appender: Appender | undefined;
  let replayer: Replayer | undefined;
  let release: (() => Promise<void>) | undefined;
  let full = false;

  const onRejected =
    options.onRejected ??
    (async (line: string, failure: Failure) => {
      const fh = await open(join(dir, 'rejected.jsonl'), 'a');
      try {
        await fh.write(
          `${JSON.stringify({ at: new Date().toISOString(), code: failure.code, reason: failure.reason, line })}\n`,
        );
        if (fsync === 'batch') await fh.datasync();
      } finally {
        await fh.close();
      }
    });

  async function append(encoded: readonly string[], innerFailure: Failure | undefined): Promise<WriteResult> {
    const buf = encodeRecords(encoded);
    if (!appender) return { status: 'retry', failure: { code: 'spool_closed', reason: `spool at ${dir} is not open` } };
    if (c.bytesOnDisk + appender.queuedBytes + buf.length > maxBytes) {
      c.refusedFull++;
      if (!full)
        log.warn(
          { sink: inner.name, dir, bytes: c.bytesOnDisk, maxBytes },
          'spool full: holding acknowledgements until replay frees space',
        );
      full = true;
      const why = innerFailure ? `; ${inner.name}: ${innerFailure.reason}` : '';
      return {
        status: 'retry',
        failure: {
          code: 'spool_full',
          reason: `spool at ${dir} is full (${c.bytesOnDisk} of ${maxBytes} bytes)${why}`,
        },
      };
    }
    full = false;
    try {
      await appender.append(buf, encoded.length);
      return { status: 'delivered' };
    } catch (error) {
      log.error(
        { sink: inner.name, dir, error: (error as Error).message },
        'spool append failed; the batch is retried',
      );
      return { status: 'retry', failure: { code: 'spool_write_failed', reason: (error as Error).message } };
    }
  }

  return {
    name: inner.name,
    batch: inner.batch,
    accepts: (item: unknown): item is T => inner.accepts(item),
    encode: (item: T) => inner.encode(item),
    needsItems: inner.needsItems,
    get stats(): SpoolStats {
      return { ...c, segments: segments.length };
    },
    async open(flow?: PipelineFlow) {
      await inner.open(flow);
      await mkdir(dir, { recursive: true });
      release = await lockDir(dir);
      const found = await recover(dir, log).catch(async (error: unknown) => {
        await release?.();
        release = undefined;
        throw error;
      });
      segments.push(...found.segments);
      Object.assign(c, {
        recordsPending: found.pending,
        corruptBytes: found.corruptBytes,
        bytesOnDisk: found.segments.reduce((n, s) => n + s.size, 0),
      });
      appender = new Appender({
        dir,
        segmentBytes,
        fsync,
        nextSeq: found.nextSeq,
        segments,
        onCommit: (records, bytes) => {
          c.recordsPending += records;
          c.spooled += records;
          c.bytesOnDisk += bytes;
          replayer?.notify();
        },
      });
      const a = appender;
      replayer = new Replayer({
        dir,
        name: inner.name,
        segments,
        checkpoint: found.checkpoint,
        batchItems: replayBatchItems,
        concurrency: replayConcurrency,
        retry: { initialDelayMs: 100, maxDelayMs: 5000, ...options.replayRetry },
        write: (encoded) => inner.writeEncoded(encoded),
        reject: async (line, failure) => {
          log.error(
            { sink: inner.name, dir, code: failure.code, error: failure.reason },
            'spool replay: the sink refused a spooled line; kept aside',
          );
          await onRejected(line, failure);
        },
        sealIfIdle: () => a.sealIfIdle(),
        onProgress: (records, { replayed, rejected }) => {
          c.recordsPending -= records;
          c.replayed += replayed;
          c.rejected += rejected;
          if (records > 0 && c.recordsPending === 0)
            log.info({ sink: inner.name, dir, replayed: c.replayed, rejected: c.rejected }, 'spool drained');
        },
        onDeleted: (seg) => {
          c.bytesOnDisk -= seg.size;
        },
        log,
      });
      if (found.pending > 0)
        log.info(
          { sink: inner.name, dir, records: found.pending, bytes: c.bytesOnDisk },
          'spool: replaying records left by a previous run',
        );
      replayer.start();
    },
    async write(batch: Batch<T>): Promise<WriteResult> {
      // Anything spooled or being spooled: append behind it, so replay stays in order.
      if (c.recordsPending > 0 || appender?.busy) return append(batch.encoded, undefined);
      let result: WriteResult;
      try {
        result = await inner.write(batch);
      } catch (error) {
        log.error(
          { sink: inner.name, error: (error as Error).message },
          'sink threw instead of returning a result; spooling the batch',
        );
        result = { status: 'retry', failure: { code: 'sink_threw', reason: String(error) } };
      }
      if (result.status !== 'retry') return result;
      if (c.recordsPending === 0 && !appender?.busy)
        log.warn(
          { sink: inner.name, dir, code: result.failure.code, error: result.failure.reason },
          'sink unavailable: spooling to disk',
        );
      return append(batch.encoded, result.failure);
    },
    async close() {
      await replayer?.stop();
      await appender?.close();
      appender = undefined;
      replayer = undefined;
      segments.length = 0;
      await inner.close();
      await release?.();
      release = undefined;
    },
  };
}

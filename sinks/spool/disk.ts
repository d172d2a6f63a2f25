/**
 * The spool directory: segment files `<16-digit sequence>.seg`, a `checkpoint.json` saying how far
 * replay got, a `lock` naming the owning process, and `rejected.jsonl`. Recovery at open lives here.
 * @packageDocumentation
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../pipeline/core/errors.js';
import type { Logger } from '../../pipeline/core/types.js';
import { readRecords } from './record.js';

/** One segment file as the spool tracks it. */
export interface Segment {
  readonly seq: number;
  /** Bytes written and synced: readers never look past this. */
  size: number;
  /** Records in the file. */
  records: number;
  /** No more appends: once replayed to its end, the file is deleted. */
  sealed: boolean;
}

/**
 * How far replay got: every segment numbered below `segment` is done, and `segment` is done up
 * to byte `offset`.
 */
export interface Checkpoint {
  readonly segment: number;
  readonly offset: number;
}

/** The path of segment `seq` in `dir`. */
export const segmentPath = (dir: string, seq: number): string => join(dir, `${String(seq).padStart(16, '0')}.seg`);

/** Sequence numbers of the segment files in `dir`, oldest first. */
export async function listSegments(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => /^\d{16}\.seg$/.test(n))
    .map((n) => Number(n.slice(0, 16)))
    .sort((a, b) => a - b);
}

/** Reads the checkpoint; a missing or unreadable one means "from the oldest segment". */
export async function readCheckpoint(dir: string, log: Logger): Promise<Checkpoint> {
  try {
    const cp = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as Partial<Checkpoint>;
    if (Number.isSafeInteger(cp.segment) && Number.isSafeInteger(cp.offset))
      return { segment: cp.segment!, offset: cp.offset! };
    log.warn({ dir }, 'spool checkpoint unreadable; replaying from the oldest segment (duplicates are harmless)');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn(
        { dir, error: (error as Error).message },
        'spool checkpoint unreadable; replaying from the oldest segment',
      );
  }
  return { segment: 0, offset: 0 };
}

/**
 * Replaces the checkpoint atomically (write, rename). Not fsynced: a checkpoint lost to a power
 * failure only means some records are replayed twice, and InfluxDB keeps identical points once.
 */
export async function writeCheckpoint(dir: string, cp: Checkpoint): Promise<void> {
  const tmp = join(dir, 'checkpoint.json.tmp');
  await writeFile(tmp, JSON.stringify(cp));
  await rename(tmp, join(dir, 'checkpoint.json'));
}

/** Makes a new directory entry durable (a created segment file). */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const heldHere = new Set<string>();

/**
 * Takes the directory for this process: two writers on one spool would interleave records.
 * A lock left by a process that is gone (killed, crashed) is taken over.
 * @returns the release function
 */
export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const key = resolve(dir);
  const path = join(dir, 'lock');
  const busy = (owner: string) =>
    new ConfigError('spool dir', `a directory no other spool uses (one per worker); ${dir} is held by ${owner}`);
  if (heldHere.has(key)) throw busy('this process');
  try {
    await writeFile(path, String(process.pid), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid > 0 && pid !== process.pid && isAlive(pid)) throw busy(`process ${pid}`);
    await writeFile(path, String(process.pid));
  }
  heldHere.add(key);
  return async () => {
    heldHere.delete(key);
    await rm(path, { force: true });
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What {@link recover} found on disk. */
export interface Recovered {
  /** Segments left to replay, oldest first, all sealed (a new process appends to new segments). */
  readonly segments: Segment[];
  readonly checkpoint: Checkpoint;
  /** Records not replayed yet. */
  readonly pending: number;
  /** Unreadable bytes that replay will skip. */
  readonly corruptBytes: number;
  /** Sequence number for the next segment. */
  readonly nextSeq: number;
}

/**
 * Scans the spool after a start or a crash: deletes segments the checkpoint says are done,
 * checks every record's checksum, truncates a torn tail off the newest segment, and counts what
 * is left to replay.
 */
export async function recover(dir: string, log: Logger): Promise<Recovered> {
  await mkdir(dir, { recursive: true });
  let cp = await readCheckpoint(dir, log);
  const segments: Segment[] = [];
  let pending = 0,
    corruptBytes = 0;
  const seqs = await listSegments(dir);
  for (const seq of seqs) {
    const path = segmentPath(dir, seq);
    if (seq < cp.segment) {
      // replayed before the process stopped, not yet deleted
      await rm(path, { force: true });
      continue;
    }
    const size = (await stat(path)).size;
    const doneUpTo = seq === cp.segment ? cp.offset : 0;
    let done = 0;
    const fh = await open(path, 'r');
    const scan = await readRecords(fh, 0, size, Infinity, (_payload, end) => {
      if (end <= doneUpTo) done++;
    }).finally(() => fh.close());
    const torn = seq === seqs[seqs.length - 1] ? size - scan.validEnd : 0;
    if (torn > 0) {
      await truncate(path, scan.validEnd);
      log.warn(
        { dir, segment: seq, bytes: torn },
        'spool: torn write at the end of the newest segment truncated (it was never acknowledged)',
      );
    }
    const inside = scan.skipped - torn;
    if (inside > 0)
      log.error({ dir, segment: seq, bytes: inside }, 'spool: unreadable bytes inside a segment will be skipped');
    corruptBytes += inside;
    segments.push({ seq, size: size - torn, records: scan.records, sealed: true });
    pending += scan.records - done;
  }
  const first = segments[0];
  if (first && first.seq !== cp.segment) cp = { segment: first.seq, offset: 0 };
  else if (first && cp.offset > first.size) cp = { segment: first.seq, offset: first.size };
  const last = segments[segments.length - 1];
  return { segments, checkpoint: cp, pending, corruptBytes, nextSeq: Math.max(last ? last.seq + 1 : 0, cp.segment) };
}

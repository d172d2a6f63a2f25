import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WriteResult } from '../../../pipeline/core/types.js';
import { spooled, type SpoolOptions } from '../../../sinks/spool/index.js';
import { encodeRecords, HEADER_BYTES } from '../../../sinks/spool/record.js';
import { batchOf, down, fakeInner, fastReplay, lines, ok, segmentFiles, tempDir, until } from './fakes.js';

const opened: Array<{ close(): Promise<void> }> = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  for (const c of cleanups.splice(0)) await c();
});

async function dir(): Promise<string> {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

/** A spool on `path` whose inner sink answers with `respond`. */
async function start(path: string, respond: (ls: readonly string[]) => WriteResult, opts: Partial<SpoolOptions> = {}) {
  const inner = fakeInner(respond);
  const spool = spooled(inner.sink, { dir: path, replayRetry: fastReplay, ...opts });
  await spool.open();
  opened.push(spool);
  const close = async () => {
    opened.splice(opened.indexOf(spool), 1);
    await spool.close();
  };
  return { spool, inner, close };
}

/** Spools `all` during an outage, in batches of 10, then stops the process-equivalent. */
async function spoolDuringOutage(path: string, all: readonly string[], opts: Partial<SpoolOptions> = {}) {
  const first = await start(path, () => down, opts);
  for (let i = 0; i < all.length; i += 10) expect(await first.spool.write(batchOf(all.slice(i, i + 10)))).toEqual(ok);
  await first.close();
}

describe('spooled: restart', () => {
  it('a new spool on the same directory replays what the previous one left, in order', async () => {
    const path = await dir();
    const all = lines('r', 100);
    await spoolDuringOutage(path, all, { segmentBytes: 1500 });
    expect((await segmentFiles(path)).length).toBeGreaterThan(1);
    const second = await start(path, () => ok, { replayBatchItems: 8 });
    expect(second.spool.stats.recordsPending).toBe(100);
    await until(
      () => second.spool.stats.recordsPending === 0 && second.spool.stats.segments === 0,
      'replay after restart',
    );
    expect(second.inner.state.delivered).toEqual(all);
    expect(await segmentFiles(path)).toEqual([]);
  });

  it('recovers a torn tail: garbage after the last record is truncated, every complete record is replayed', async () => {
    const path = await dir();
    const all = lines('t', 40);
    await spoolDuringOutage(path, all);
    const [file] = await segmentFiles(path);
    const seg = join(path, file!);
    const sizeBefore = (await stat(seg)).size;
    // A crash in the middle of an append: a header promising more bytes than made it to disk.
    const torn = encodeRecords(['never acknowledged']).subarray(0, HEADER_BYTES + 4);
    await appendFile(seg, Buffer.concat([torn, Buffer.from([0xde, 0xad])]));
    const second = await start(path, () => down);
    expect((await stat(seg)).size).toBe(sizeBefore);
    expect(second.spool.stats).toMatchObject({ recordsPending: 40, corruptBytes: 0 });
    // Appends after recovery go to a new segment and are replayed after the recovered ones.
    expect(await second.spool.write(batchOf(['after-restart']))).toEqual(ok);
    await second.close();
    const third = await start(path, () => ok);
    await until(() => third.spool.stats.recordsPending === 0, 'replay');
    expect(third.inner.state.delivered).toEqual([...all, 'after-restart']);
  });

  it('skips a corrupted record inside a segment (checksum) and replays the rest', async () => {
    const path = await dir();
    const all = lines('c', 20);
    await spoolDuringOutage(path, all);
    const [file] = await segmentFiles(path);
    const seg = join(path, file!);
    const bytes = await readFile(seg);
    const fifth = encodeRecords(all.slice(0, 4)).length; // where record #4 starts
    bytes[fifth + HEADER_BYTES + 1]! ^= 0x55;
    await writeFile(seg, bytes);
    const second = await start(path, () => ok);
    await until(() => second.spool.stats.recordsPending === 0, 'replay');
    expect(second.inner.state.delivered).toEqual(all.filter((_, i) => i !== 4));
    expect(second.spool.stats.corruptBytes).toBe(encodeRecords([all[4]!]).length);
  });

  it('the checkpoint keeps a restart from replaying batches that were already replayed', async () => {
    const path = await dir();
    const all = lines('k', 100);
    await spoolDuringOutage(path, all);
    // Replay gets through three batches of 10, then the sink fails again and the process stops.
    let calls = 0;
    const first = await start(path, () => (++calls <= 3 ? ok : down), { replayBatchItems: 10 });
    await until(() => first.spool.stats.replayed === 30 && calls > 4, 'three batches, then retries');
    await first.close();
    expect(first.inner.state.delivered).toEqual(all.slice(0, 30));
    const second = await start(path, () => ok, { replayBatchItems: 10 });
    expect(second.spool.stats.recordsPending).toBe(70);
    await until(() => second.spool.stats.recordsPending === 0, 'replay');
    expect(second.inner.state.delivered).toEqual(all.slice(30));
  });

  it('a crash between a delivered batch and its checkpoint replays that one batch again, no more', async () => {
    const path = await dir();
    const all = lines('d', 50);
    await spoolDuringOutage(path, all);
    const first = await start(path, () => ok, { replayBatchItems: 10 });
    await until(() => first.spool.stats.recordsPending === 0, 'replay');
    await first.close();
    // Put back the checkpoint of two batches ago and the segment with it: as if the process died
    // after the 4th batch was delivered but before its checkpoint was written.
    await spoolDuringOutage(path, all);
    const [file] = await segmentFiles(path);
    const seq = Number(file!.slice(0, 16));
    await writeFile(
      join(path, 'checkpoint.json'),
      JSON.stringify({ segment: seq, offset: encodeRecords(all.slice(0, 30)).length }),
    );
    const second = await start(path, () => ok, { replayBatchItems: 10 });
    expect(second.spool.stats.recordsPending).toBe(20);
    await until(() => second.spool.stats.recordsPending === 0, 'replay');
    expect(second.inner.state.delivered).toEqual(all.slice(30));
  });

  it('segments the checkpoint says are done but were not deleted yet are deleted at open, not replayed', async () => {
    const path = await dir();
    await spoolDuringOutage(path, lines('s', 30), { segmentBytes: 600 });
    const files = await segmentFiles(path);
    expect(files.length).toBeGreaterThan(2);
    const second = Number(files[1]!.slice(0, 16));
    await writeFile(join(path, 'checkpoint.json'), JSON.stringify({ segment: second, offset: 0 }));
    const next = await start(path, () => down);
    expect(await segmentFiles(path)).toEqual(files.slice(1));
    expect(next.spool.stats.segments).toBe(files.length - 1);
  });

  it('an unreadable checkpoint means replay from the oldest segment (duplicates, never loss)', async () => {
    const path = await dir();
    const all = lines('u', 20);
    await spoolDuringOutage(path, all);
    await writeFile(join(path, 'checkpoint.json'), '{"segm');
    const second = await start(path, () => ok);
    await until(() => second.spool.stats.recordsPending === 0, 'replay');
    expect(second.inner.state.delivered).toEqual(all);
  });
});

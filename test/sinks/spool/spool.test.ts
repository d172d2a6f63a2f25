import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../pipeline/core/errors.js';
import type { WriteResult } from '../../../pipeline/core/types.js';
import { spooled, type SpoolOptions } from '../../../sinks/spool/index.js';
import { batchOf, down, fakeInner, fastReplay, lines, ok, segmentFiles, tempDir, until } from './fakes.js';

const open: Array<{ close(): Promise<void> }> = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const c of cleanups.splice(0)) await c();
});

async function setup(respond?: Parameters<typeof fakeInner>[0], opts: Partial<SpoolOptions> = {}) {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  return start(t.dir, respond, opts);
}

async function start(dir: string, respond?: Parameters<typeof fakeInner>[0], opts: Partial<SpoolOptions> = {}) {
  const inner = fakeInner(respond);
  const spool = spooled(inner.sink, { dir, replayRetry: fastReplay, ...opts });
  await spool.open();
  open.push(spool);
  return {
    dir,
    spool,
    inner,
    close: async () => {
      open.splice(open.indexOf(spool), 1);
      await spool.close();
    },
  };
}

describe('spooled: outage', () => {
  it('a batch the inner sink asks to retry is appended to disk and reported delivered', async () => {
    const { spool, inner, dir } = await setup();
    const batch = lines('a', 50);
    expect(await spool.write(batchOf(batch))).toEqual(ok);
    expect(inner.state.writes).toBe(1);
    expect(inner.state.delivered).toEqual([]);
    expect(spool.stats).toMatchObject({ recordsPending: 50, spooled: 50, segments: 1 });
    const files = await segmentFiles(dir);
    expect(files).toHaveLength(1);
    expect((await stat(join(dir, files[0]!))).size).toBe(spool.stats.bytesOnDisk);
    expect(spool.stats.bytesOnDisk).toBeGreaterThan(batch.join('').length);
  });

  it('while the spool holds anything, new batches are appended behind it without trying the inner sink', async () => {
    const { spool, inner } = await setup();
    await spool.write(batchOf(lines('a', 5)));
    await spool.write(batchOf(lines('a', 5, 5)));
    expect(inner.state.writes).toBe(1);
    expect(spool.stats.recordsPending).toBe(10);
  });

  it('concurrent batches share appends and all become durable', async () => {
    const { spool } = await setup();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => spool.write(batchOf(lines('c', 10, i * 10)))),
    );
    expect(results.every((r) => r.status === 'delivered')).toBe(true);
    expect(spool.stats.recordsPending).toBe(200);
  });

  it('rejected and partial results pass through unchanged and nothing is spooled', async () => {
    const rejected: WriteResult = { status: 'rejected', failure: { code: 'write_rejected', reason: 'bad line' } };
    const partial: WriteResult = {
      status: 'partial',
      rejected: [{ index: 1, failure: { code: 'write_rejected', reason: 'bad' } }],
    };
    let next: WriteResult = rejected;
    const { spool } = await setup(() => next);
    expect(await spool.write(batchOf(lines('r', 3)))).toEqual(rejected);
    next = partial;
    expect(await spool.write(batchOf(lines('r', 3)))).toEqual(partial);
    expect(spool.stats).toMatchObject({ recordsPending: 0, bytesOnDisk: 0, spooled: 0 });
  });
});

describe('spooled: full', () => {
  it('answers retry (spool_full, with the inner reason) when the append would pass maxBytes, and accepts again once replay frees space', async () => {
    let up = false;
    const { spool, inner } = await setup(() => (up ? ok : down), { maxBytes: 4096, segmentBytes: 1024 });
    let accepted = 0;
    let refused: WriteResult | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await spool.write(batchOf(lines('f', 5, i * 5)));
      if (r.status === 'delivered') accepted += 5;
      else refused = r;
    }
    expect(refused).toMatchObject({ status: 'retry', failure: { code: 'spool_full' } });
    expect(spool.stats.bytesOnDisk).toBeLessThanOrEqual(4096);
    expect(spool.stats).toMatchObject({ recordsPending: accepted, refusedFull: 1 });
    // The first refusal tried the inner sink only while the spool was empty: it says why it is spooling.
    const fresh = await setup(() => down, { maxBytes: 100, segmentBytes: 100 });
    const r = await fresh.spool.write(batchOf(lines('g', 5)));
    expect(r).toMatchObject({ status: 'retry', failure: { code: 'spool_full' } });
    expect((r as { failure: { reason: string } }).failure.reason).toContain('InfluxDB answered 503');
    up = true;
    await until(() => spool.stats.recordsPending === 0, 'replay');
    expect(await spool.write(batchOf(lines('f', 5, 1000)))).toEqual(ok);
    expect(inner.state.delivered).toHaveLength(accepted + 5);
  });
});

describe('spooled: replay', () => {
  it('replays oldest first once the inner sink recovers, deletes the segments, then writes through again', async () => {
    let up = false;
    const { spool, inner, dir } = await setup(() => (up ? ok : down), { segmentBytes: 2048, replayBatchItems: 7 });
    const all: string[] = [];
    for (let i = 0; i < 10; i++) {
      const b = lines('o', 9, i * 9);
      all.push(...b);
      expect(await spool.write(batchOf(b))).toEqual(ok);
    }
    expect((await segmentFiles(dir)).length).toBeGreaterThan(1);
    up = true;
    await until(() => spool.stats.recordsPending === 0 && spool.stats.segments === 0, 'replay and deletion');
    expect(inner.state.delivered).toEqual(all);
    expect(inner.state.replays.every((r) => r.length <= 7)).toBe(true);
    expect(spool.stats).toMatchObject({ replayed: 90, rejected: 0, bytesOnDisk: 0 });
    expect(await segmentFiles(dir)).toEqual([]);
    const writesBefore = inner.state.writes;
    expect(await spool.write(batchOf(['after']))).toEqual(ok);
    expect(inner.state.writes).toBe(writesBefore + 1);
    expect(inner.state.delivered.at(-1)).toBe('after');
  });

  it('batches appended while replay runs are replayed after the older ones', async () => {
    let up = false;
    const { spool, inner } = await setup(() => (up ? ok : down), { replayBatchItems: 3 });
    await spool.write(batchOf(lines('p', 30)));
    up = true;
    await spool.write(batchOf(lines('p', 30, 30))); // spool not empty: appended, not written through
    await until(() => spool.stats.recordsPending === 0, 'replay');
    expect(inner.state.delivered).toEqual(lines('p', 60));
  });

  it('a line the inner sink refuses for good goes to rejected.jsonl, and replay goes on', async () => {
    let up = false;
    const bad = (l: string) => l.endsWith('-13') || l.endsWith('-21');
    const respond = (ls: readonly string[]): WriteResult => {
      if (!up) return down;
      return ls.some(bad)
        ? { status: 'rejected', failure: { code: 'write_rejected', reason: 'field type conflict' } }
        : ok;
    };
    const { spool, inner, dir } = await setup(respond, { replayBatchItems: 10 });
    const all = lines('x', 30);
    await spool.write(batchOf(all));
    up = true;
    await until(() => spool.stats.recordsPending === 0, 'replay');
    expect(inner.state.delivered).toEqual(all.filter((l) => !bad(l)));
    expect(spool.stats).toMatchObject({ replayed: 28, rejected: 2 });
    const kept = (await readFile(join(dir, 'rejected.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: string; code: string });
    expect(kept.map((k) => k.line)).toEqual(all.filter(bad));
    expect(kept[0]?.code).toBe('write_rejected');
  });

  it('onRejected replaces the file', async () => {
    const got: string[] = [];
    let up = false;
    const { spool } = await setup(
      (ls) =>
        !up
          ? down
          : ls.includes('bad')
            ? { status: 'rejected', failure: { code: 'write_rejected', reason: '400' } }
            : ok,
      {
        onRejected: (line) => {
          got.push(line);
        },
      },
    );
    await spool.write(batchOf(['good-1', 'bad', 'good-2']));
    up = true;
    await until(() => spool.stats.recordsPending === 0, 'replay');
    expect(got).toEqual(['bad']);
  });

  it('with replayConcurrency above 1 every record is replayed once and the checkpoint stays correct', async () => {
    let up = false;
    const { spool, inner, dir } = await setup(() => (up ? ok : down), {
      replayBatchItems: 5,
      replayConcurrency: 4,
      segmentBytes: 1500,
    });
    const all = lines('k', 200);
    for (let i = 0; i < 200; i += 20) await spool.write(batchOf(all.slice(i, i + 20)));
    up = true;
    await until(() => spool.stats.recordsPending === 0 && spool.stats.segments === 0, 'replay');
    expect([...inner.state.delivered].sort()).toEqual([...all].sort());
    expect(await segmentFiles(dir)).toEqual([]);
  });

  it('refuses a second spool on the same directory', async () => {
    const { dir } = await setup();
    await expect(spooled(fakeInner().sink, { dir }).open()).rejects.toThrow(ConfigError);
  });
});

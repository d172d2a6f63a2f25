import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WriteResult } from '../../../pipeline/core/types.js';
import type { ReplayableSink } from '../../../sinks/spool/index.js';

export const down: WriteResult = { status: 'retry', failure: { code: 'http_503', reason: 'InfluxDB answered 503' } };
export const ok: WriteResult = { status: 'delivered' };

/** A sink whose answer the test decides; records what it took, via `write` and via `writeEncoded`. */
export function fakeInner(respond: (lines: readonly string[], via: 'write' | 'replay') => WriteResult = () => down) {
  const state = {
    respond,
    /** Lines taken, in the order they were taken. */
    delivered: [] as string[],
    /** Each `writeEncoded` call's lines, whatever the answer. */
    replays: [] as string[][],
    writes: 0,
    closed: false,
  };
  const take = (lines: readonly string[], via: 'write' | 'replay'): WriteResult => {
    const result = state.respond(lines, via);
    if (result.status === 'delivered') state.delivered.push(...lines);
    if (result.status === 'partial') {
      const bad = new Set(result.rejected.map((r) => r.index));
      lines.forEach((l, i) => {
        if (!bad.has(i)) state.delivered.push(l);
      });
    }
    return result;
  };
  const sink: ReplayableSink<string> = {
    name: 'fake',
    batch: { maxItems: 100, maxBytes: 1 << 20, maxWaitMs: 5, maxConcurrency: 2 },
    accepts: (item): item is string => typeof item === 'string',
    encode: (item) => item,
    open: async () => {},
    close: async () => {
      state.closed = true;
    },
    write: async (batch) => {
      state.writes++;
      return take(batch.encoded, 'write');
    },
    writeEncoded: async (encoded) => {
      state.replays.push([...encoded]);
      return take(encoded, 'replay');
    },
  };
  return { sink, state };
}

/** `n` distinct lines `prefix-<i>` (with some non-ASCII and a raw newline, as line protocol allows). */
export const lines = (prefix: string, n: number, from = 0): string[] =>
  Array.from({ length: n }, (_, i) => `m,site=s${(from + i) % 3} t=${from + i},s="ü\n${prefix}" ${prefix}-${from + i}`);

export const batchOf = (encoded: readonly string[]) => ({ items: encoded, encoded });

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-spool-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const segmentFiles = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();

/** Polls until `check` holds; fails the test with `what` after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const fastReplay = { initialDelayMs: 1, maxDelayMs: 5 } as const;

import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32, encodeRecords, HEADER_BYTES, MAGIC, parseRecord, readRecords } from '../../../sinks/spool/record.js';
import { lines, tempDir } from './fakes.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function readAll(buf: Buffer, maxItems = Infinity, chunkBytes = 1 << 20) {
  const t = await tempDir();
  cleanup = t.cleanup;
  const path = join(t.dir, 'x.seg');
  await writeFile(path, buf);
  const fh = await open(path, 'r');
  const got: string[] = [];
  const ends: number[] = [];
  try {
    const r = await readRecords(
      fh,
      0,
      buf.length,
      maxItems,
      (p, end) => {
        got.push(p.toString('utf8'));
        ends.push(end);
      },
      chunkBytes,
    );
    return { ...r, got, ends };
  } finally {
    await fh.close();
  }
}

describe('spool records', () => {
  it('CRC-32 matches the IEEE check value and continues across chunks', () => {
    const data = Buffer.from('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32(data.subarray(4), crc32(data.subarray(0, 4)))).toBe(0xcbf43926);
    const z = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
    if (z) expect(crc32(Buffer.from('spool ü'))).toBe(z(Buffer.from('spool ü')));
  });

  it('round-trips lines with raw newlines and non-ASCII, each framed with its length and checksum', async () => {
    const input = [...lines('a', 5), '', 'x'.repeat(70_000)];
    const buf = encodeRecords(input);
    expect(buf[0]).toBe(MAGIC);
    const r = await readAll(buf, Infinity, 4096); // records larger than a chunk are read whole
    expect(r.got).toEqual(input);
    expect(r).toMatchObject({ records: input.length, skipped: 0, next: buf.length, validEnd: buf.length });
  });

  it('stops at maxItems and says where to continue', async () => {
    const buf = encodeRecords(lines('b', 10));
    const r = await readAll(buf, 4);
    expect(r.got).toEqual(lines('b', 4));
    expect(r.next).toBe(r.ends[3]);
  });

  it('detects a torn tail: a header whose record runs past the end is skipped, validEnd stops before it', async () => {
    const good = encodeRecords(lines('c', 3));
    const torn = encodeRecords(['this record was cut short by a crash']).subarray(0, HEADER_BYTES + 5);
    const r = await readAll(Buffer.concat([good, torn]));
    expect(r.got).toEqual(lines('c', 3));
    expect(r.validEnd).toBe(good.length);
    expect(r.skipped).toBe(torn.length);
  });

  it('skips a corrupted record and resynchronises on the next one', async () => {
    const parts = lines('d', 3).map((l) => encodeRecords([l]));
    parts[1]![HEADER_BYTES + 2]! ^= 0xff; // flip a payload byte: the checksum no longer holds
    const buf = Buffer.concat(parts);
    expect(parseRecord(buf, parts[0]!.length, buf.length).kind).toBe('bad');
    const r = await readAll(buf);
    expect(r.got).toEqual([lines('d', 3)[0], lines('d', 3)[2]]);
    expect(r.skipped).toBe(parts[1]!.length);
  });

  it('takes an absurd length for corruption, not for a record to wait for', () => {
    const buf = encodeRecords(['x']);
    buf.writeUInt32LE(0xffffffff, 1);
    expect(parseRecord(buf, 0, buf.length).kind).toBe('bad');
  });
});

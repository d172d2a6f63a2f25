/**
 * The spool's on-disk record format: one encoded line per record, framed so that a torn or
 * corrupted write is detected and skipped instead of replayed.
 *
 * `0xF5 | length: u32 LE | crc32(length bytes + payload): u32 LE | payload (UTF-8)`
 *
 * Lines are length-prefixed, not newline-separated: a line-protocol string field may hold a raw
 * newline. `0xF5` never occurs in UTF-8, which makes resynchronising after a bad record (scanning
 * for the next `0xF5` whose header and checksum hold) cheap and reliable.
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';

/** First byte of every record. */
export const MAGIC = 0xf5;
/** Bytes before the payload. */
export const HEADER_BYTES = 9;
/** A length above this is taken for corruption. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** CRC-32 (IEEE), continuing from `crc`: zlib's when Node has it (20.15+), else a table. */
export const crc32: (data: Uint8Array, crc?: number) => number =
  (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32 ??
  ((data, crc = 0) => {
    let c = ~crc;
    for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    return ~c >>> 0;
  });

/** Frames `lines` as consecutive records in one buffer. */
export function encodeRecords(lines: readonly string[]): Buffer {
  let total = 0;
  const lengths = lines.map((line) => {
    const n = Buffer.byteLength(line, 'utf8');
    total += HEADER_BYTES + n;
    return n;
  });
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  lines.forEach((line, i) => {
    const n = lengths[i]!;
    buf[pos] = MAGIC;
    buf.writeUInt32LE(n, pos + 1);
    buf.write(line, pos + HEADER_BYTES, n, 'utf8');
    const crc = crc32(buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + n), crc32(buf.subarray(pos + 1, pos + 5)));
    buf.writeUInt32LE(crc, pos + 5);
    pos += HEADER_BYTES + n;
  });
  return buf;
}

/** What {@link parseRecord} found at a position. */
export type Parsed =
  | { readonly kind: 'record'; readonly payloadStart: number; readonly end: number }
  /** A plausible header whose record ends past `end`: read more, or (at the end of the file) torn. */
  | { readonly kind: 'short' }
  | { readonly kind: 'bad' };

/** Parses the record starting at `pos` in `buf[0, end)`. */
export function parseRecord(buf: Buffer, pos: number, end: number): Parsed {
  if (end - pos < HEADER_BYTES) return buf[pos] === MAGIC ? { kind: 'short' } : { kind: 'bad' };
  if (buf[pos] !== MAGIC) return { kind: 'bad' };
  const length = buf.readUInt32LE(pos + 1);
  if (length > MAX_RECORD_BYTES) return { kind: 'bad' };
  const payloadStart = pos + HEADER_BYTES;
  if (payloadStart + length > end) return { kind: 'short' };
  const crc = crc32(buf.subarray(payloadStart, payloadStart + length), crc32(buf.subarray(pos + 1, pos + 5)));
  if (crc !== buf.readUInt32LE(pos + 5)) return { kind: 'bad' };
  return { kind: 'record', payloadStart, end: payloadStart + length };
}

/** Where {@link readRecords} stopped. */
export interface ReadResult {
  /** Position to continue from (past the last record read or the last bytes skipped). */
  readonly next: number;
  /** Position just past the last valid record (`from` when none). */
  readonly validEnd: number;
  readonly records: number;
  /** Bytes skipped as unreadable (torn or corrupted). */
  readonly skipped: number;
}

/**
 * Reads the records of `fh` in `[from, to)`, at most `maxItems`, calling `onRecord` with each
 * payload and the absolute position just past it. Unreadable bytes are skipped up to the next
 * valid record, or to `to` (a torn tail).
 */
export async function readRecords(
  fh: FileHandle,
  from: number,
  to: number,
  maxItems: number,
  onRecord: (payload: Buffer, end: number) => void,
  chunkBytes = 1 << 20,
): Promise<ReadResult> {
  let pos = from,
    validEnd = from,
    records = 0,
    skipped = 0,
    size = chunkBytes;
  while (pos < to && records < maxItems) {
    const want = Math.min(size, to - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) {
      // the file is shorter than expected: nothing more to read
      skipped += to - pos;
      pos = to;
      break;
    }
    const atEnd = pos + bytesRead >= to;
    let p = 0;
    while (p < bytesRead && records < maxItems) {
      const r = parseRecord(buf, p, bytesRead);
      if (r.kind === 'record') {
        onRecord(buf.subarray(r.payloadStart, r.end), pos + r.end);
        records++;
        p = r.end;
        validEnd = pos + p;
        continue;
      }
      if (r.kind === 'short' && !atEnd) break;
      const next = buf.indexOf(MAGIC, p + 1);
      const q = next < 0 ? bytesRead : next;
      skipped += q - p;
      p = q;
    }
    if (p === 0 && !atEnd) {
      size *= 2; // one record larger than the chunk
      continue;
    }
    pos += p;
    size = chunkBytes;
  }
  return { next: pos, validEnd, records, skipped };
}

/**
 * Small helpers the binary decoders share: failures, float32 text, timestamps as ISO 8601.
 * @packageDocumentation
 */
import type { DecodeResult } from '../../core/types.js';

/** A `decode_error` failure with `reason`. */
export function fail(reason: string): DecodeResult<never> {
  return { ok: false, failure: { code: 'decode_error', reason } };
}

/** Checks emptiness and size; returns the failure, or undefined when the payload may be decoded. */
export function checkSize(payload: Uint8Array, maxBytes: number): DecodeResult<never> | undefined {
  if (payload.length === 0) return fail('empty payload');
  if (payload.length > maxBytes) return fail(`payload of ${payload.length} bytes exceeds maxBytes ${maxBytes}`);
  return undefined;
}

/** The message of an unknown thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The shortest decimal that reads back as the same float32: a float32 `12.1` widens to
 * `12.100000381469727`, which is not what the device measured.
 */
export function float32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  for (let p = 1; p < 10; p++) {
    const shorter = Number(v.toPrecision(p));
    if (Math.fround(shorter) === v) return shorter;
  }
  return v;
}

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years a four-digit ISO 8601 year can write.
const MIN_SECONDS = -62_167_219_200;
const MAX_SECONDS = 253_402_300_799;

/**
 * UTC time as ISO 8601 with nine fraction digits (`2024-05-01T10:00:00.123456789Z`), a form
 * `toReadings` reads as the reading's time whatever its `timeUnit`.
 * @returns the text, or undefined when the time is not representable (years outside 0000–9999)
 */
export function isoTime(seconds: number, nanos: number): string | undefined {
  if (!Number.isSafeInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) return undefined;
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) return undefined;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}

/** {@link isoTime} of a count of milliseconds since the epoch. */
export function isoFromMs(ms: bigint): string | undefined {
  if (ms < -62_167_219_200_000n || ms > 253_402_300_799_999n) return undefined;
  const n = Number(ms);
  const seconds = Math.floor(n / 1000);
  return isoTime(seconds, (n - seconds * 1000) * 1_000_000);
}

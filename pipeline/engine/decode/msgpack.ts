import { Decoder as MsgpackDecoder, ExtData, ExtensionCodec, decodeTimestampToTimeSpec } from '@msgpack/msgpack';
import type { DecodedValue, Decoder, DecodeResult } from '../../core/types.js';
import { checkSize, fail, isoTime, messageOf } from './values.js';

/** Options of {@link msgpack}. */
export interface MsgpackOptions {
  /** Largest payload accepted, in bytes; larger ones are dead-lettered. @defaultValue 1048576 */
  readonly maxBytes?: number;
  /** Deepest nesting of maps and arrays accepted; deeper payloads are dead-lettered. @defaultValue 64 */
  readonly maxDepth?: number;
}

const EXT_TIMESTAMP = -1;
const MAX_SAFE = 9_007_199_254_740_991n;

/** Raised inside the extension and key hooks; turned into a failure by `decode`. */
class Rejected extends Error {}

/**
 * MessagePack decoder. Maps become objects (their keys must be strings), arrays arrays, `bin`
 * becomes `Uint8Array`; integers beyond ±(2^53−1) become `bigint`, smaller ones stay numbers
 * (as in {@link json}, so `toReadings`' `integers` decides the InfluxDB type). The timestamp
 * extension (type −1) becomes ISO 8601 text with nanoseconds, e.g. `2024-05-01T10:00:00.000000001Z`,
 * which `toReadings` takes as the reading's time when it sits under a time key. Other extension
 * types, truncated input and trailing bytes are failures.
 * @example
 * mqttSource({ ..., subscribe: [{ topic: 'fleet/+/+/telemetry', decode: msgpack() }] })
 */
export function msgpack(options: MsgpackOptions = {}): Decoder<DecodedValue> {
  const maxBytes = options.maxBytes ?? 1_048_576;
  const maxDepth = options.maxDepth ?? 64;
  const extensionCodec = new ExtensionCodec();
  extensionCodec.register({
    type: EXT_TIMESTAMP,
    encode: () => null,
    decode: (data: Uint8Array) => {
      const { sec, nsec } = decodeTimestampToTimeSpec(data);
      const iso = isoTime(sec, nsec);
      if (iso === undefined)
        throw new Rejected(
          `timestamp extension (${sec} s, ${nsec} ns) is outside years 0000–9999 or has nanoseconds ≥ 10^9`,
        );
      return iso;
    },
  });
  const decoder = new MsgpackDecoder({
    extensionCodec,
    useBigInt64: true,
    mapKeyConverter: (key: unknown) => {
      if (typeof key !== 'string') throw new Rejected(`map key is a ${describe(key)}, not a string`);
      return key;
    },
  });

  return {
    format: 'msgpack',
    decode(payload): DecodeResult {
      const bad = checkSize(payload, maxBytes);
      if (bad) return bad;
      let value: unknown;
      try {
        value = decoder.decode(payload);
      } catch (error) {
        return fail(error instanceof Rejected ? error.message : `invalid MessagePack: ${explain(messageOf(error))}`);
      }
      const normalised = normalise(value, 0, maxDepth);
      return normalised instanceof Problem ? fail(normalised.reason) : { ok: true, value: normalised };
    },
  };
}

/** Why a decoded tree is not a {@link DecodedValue}. */
class Problem {
  constructor(readonly reason: string) {}
}

/**
 * Makes a decoded tree a {@link DecodedValue} in place: safe-range bigints back to numbers,
 * unknown extensions rejected. Recursion is bounded by `maxDepth`.
 */
function normalise(v: unknown, depth: number, maxDepth: number): DecodedValue | Problem {
  if (typeof v === 'bigint') return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return v as DecodedValue;
  if (v instanceof ExtData) return new Problem(`unsupported MessagePack extension type ${v.type}`);
  if (depth >= maxDepth) return new Problem(`nesting deeper than maxDepth ${maxDepth}`);
  if (Array.isArray(v)) {
    const arr = v as DecodedValue[];
    for (let i = 0; i < arr.length; i++) {
      const x = normalise(arr[i], depth + 1, maxDepth);
      if (x instanceof Problem) return x;
      arr[i] = x;
    }
    return arr;
  }
  const obj = v as Record<string, DecodedValue>;
  for (const key in obj) {
    const x = normalise(obj[key], depth + 1, maxDepth);
    if (x instanceof Problem) return x;
    obj[key] = x;
  }
  return obj;
}

/** The library's messages, with what they mean in front. */
function explain(message: string): string {
  if (/outside the bounds|Insufficient data/i.test(message)) return `truncated (${message})`;
  if (/^Extra \d+ of/.test(message)) return `trailing bytes after the value (${message})`;
  return message;
}

function describe(v: unknown): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return 'binary';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'map' : typeof v;
}

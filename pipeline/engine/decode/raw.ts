import type { DecodedValue, Decoder, DecodeResult } from '../../core/types.js';
import { checkSize, fail } from './values.js';

/** Options of {@link raw}. */
export interface RawOptions {
  /**
   * Words read as booleans, matched case-insensitively after trimming; replaces the default.
   * @defaultValue `{ true: true, false: false, on: true, off: false }`
   */
  readonly booleans?: Readonly<Record<string, boolean>>;
  /** Largest payload accepted, in bytes; larger ones are dead-lettered. @defaultValue 65536 */
  readonly maxBytes?: number;
}

const DEFAULT_BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false, on: true, off: false };
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decoder for plain-text values, one per message, as ESPHome, Tasmota's `POWER` or many
 * sensors publish them: `23.5` and `-4` become numbers (integers beyond ±(2^53−1) exact as
 * `bigint`), `true`/`false`/`ON`/`OFF` booleans (see `booleans`), any other text a string,
 * trimmed. With `toReadings` a bare value becomes the field `value`; `measurementFromTopic`
 * names the reading after the topic.
 * @example
 * // sensor/001/temperature  23.5  →  temperature,sensor=001 value=23.5
 * definePipeline({ name: 'sensors' })
 *   .from(mqttSource({ ..., subscribe: [{ topic: 'sensor/+/+', decode: raw() }] }))
 *   .pipe(toReadings({ measurement: 'sensor' }))
 *   .pipe(measurementFromTopic('sensor/{sensor}/{measurement}'))
 */
export function raw(options: RawOptions = {}): Decoder<DecodedValue> {
  const maxBytes = options.maxBytes ?? 65_536;
  const booleans = new Map(
    Object.entries(options.booleans ?? DEFAULT_BOOLEANS).map(([k, v]) => [k.trim().toLowerCase(), v]),
  );
  return {
    format: 'raw',
    decode(payload): DecodeResult {
      const bad = checkSize(payload, maxBytes);
      if (bad) return bad;
      let text: string;
      try {
        text = utf8.decode(payload).trim();
      } catch {
        return fail('payload is not valid UTF-8 text');
      }
      if (text === '') return fail('payload is blank');
      if (NUMBER.test(text)) {
        const n = Number(text);
        if (INTEGER.test(text) && !Number.isSafeInteger(n)) return { ok: true, value: BigInt(text) };
        if (Number.isFinite(n)) return { ok: true, value: n };
      }
      const word = booleans.get(text.toLowerCase());
      return { ok: true, value: word ?? text };
    },
  };
}

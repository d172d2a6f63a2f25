import { ConfigError } from '../../core/errors.js';
import type { DecodedValue, Decoder, DecodeResult } from '../../core/types.js';

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

/** The media type of a content type, without parameters, lower case: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/**
 * Chooses the decoder by the MQTT 5 content type of each message: its media type, ignoring
 * parameters and case, is looked up in `map`; messages without a content type, or with one
 * not in the map, go to `fallback`. The chosen decoder sees the full content type (so
 * `protobuf({ typeFromContentType: true })` can read its `messageType` parameter), and a failure
 * names it: `msgpack (application/msgpack): invalid MessagePack: …`.
 * @throws ConfigError when a key of `map` is not a bare media type
 * @example
 * byContentType({ 'application/json': json(), 'application/msgpack': msgpack(),
 *   'application/x-protobuf': protobuf({ schema: 'schemas/fleet.proto', typeFromContentType: true }) }, json())
 */
export function byContentType(
  map: Readonly<Record<string, Decoder<DecodedValue>>>,
  fallback: Decoder<DecodedValue>,
): Decoder<DecodedValue> {
  const table = new Map<string, Decoder<DecodedValue>>();
  for (const [key, decoder] of Object.entries(map)) {
    const type = key.trim().toLowerCase();
    if (!MEDIA_TYPE.test(type))
      throw new ConfigError(
        `byContentType key ${JSON.stringify(key)}`,
        'a media type without parameters, such as application/json',
      );
    table.set(type, decoder);
  }
  const formats = [...new Set([...table.values(), fallback].map((d) => d.format))];
  return {
    format: `byContentType(${formats.join('|')})`,
    decode(payload, meta): DecodeResult {
      const type = meta.contentType === undefined ? undefined : mediaType(meta.contentType);
      const decoder = (type !== undefined && table.get(type)) || fallback;
      const result = decoder.decode(payload, meta);
      if (result.ok) return result;
      const reason = `${decoder.format} (${meta.contentType === undefined ? 'no content type' : type}): ${result.failure.reason}`;
      return { ok: false, failure: { code: result.failure.code, reason } };
    },
  };
}

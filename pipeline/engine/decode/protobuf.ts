import type pb from 'protobufjs';
import { ConfigError } from '../../core/errors.js';
import type { DecodedValue, Decoder, DecodeResult, MessageMeta } from '../../core/types.js';
import { checkWire, findType, hasAnyField, loadSchema, toPlain } from './protobuf-message.js';
import { checkSize, fail, messageOf } from './values.js';

/** Options of {@link protobuf}. */
export interface ProtobufOptions {
  /** Path of the `.proto` file; its imports resolve relative to it. Loaded once, when the factory runs. */
  readonly schema: string;
  /**
   * Full name of the message type, e.g. `fleet.Telemetry`. Required unless `typeFromContentType`;
   * with it, the type used when a message's content type names none.
   */
  readonly type?: string;
  /**
   * Take the message type from the MQTT 5 content type's `messageType` or `proto` parameter, as in
   * `application/x-protobuf; messageType=fleet.Telemetry` or `application/protobuf; proto=fleet.Telemetry`.
   * @defaultValue false
   */
  readonly typeFromContentType?: boolean;
  /** Largest payload accepted, in bytes; larger ones are dead-lettered. @defaultValue 1048576 */
  readonly maxBytes?: number;
}

/**
 * Protocol Buffers decoder over a `.proto` schema (protobufjs). The message becomes an object:
 * enums as names, int64/uint64 as exact `bigint`, bytes as base64, floats as their shortest
 * float32 decimal, repeated fields as arrays (with `toReadings({ split })` a repeated message
 * becomes one reading each), `google.protobuf.Timestamp` as ISO 8601 text. proto3 fields without
 * presence are always present, 0 when absent on the wire (proto3 does not send zeros).
 *
 * Failures: an empty payload, wrong wire types, truncated or overlong fields, missing proto2
 * `required` fields, and a message none of whose fields is set (protobufjs would read the empty
 * message out of nothing). A schema that does not load throws a `ConfigError` naming the file and line.
 * @example
 * protobuf({ schema: 'schemas/fleet.proto', type: 'fleet.Telemetry' })
 */
export function protobuf(options: ProtobufOptions): Decoder<DecodedValue> {
  const root = loadSchema(options.schema, 'protobuf.schema');
  const maxBytes = options.maxBytes ?? 1_048_576;
  const byContentType = options.typeFromContentType ?? false;
  const fixed = options.type === undefined ? undefined : findType(root, options.type);
  if (options.type !== undefined && !fixed) {
    throw new ConfigError(
      'protobuf.type',
      `a message type defined in ${options.schema} (${messageTypes(root).slice(0, 10).join(', ')})`,
      options.type,
    );
  }
  if (!fixed && !byContentType)
    throw new ConfigError('protobuf.type', 'a message type name, or typeFromContentType: true');
  const cache = new Map<string, pb.Type | undefined>();

  const typeFor = (meta: Omit<MessageMeta, 'format'>): pb.Type | string => {
    if (!byContentType) return fixed!;
    const name = meta.contentType === undefined ? undefined : typeParameter(meta.contentType);
    if (name === undefined)
      return (
        fixed ??
        `content type ${JSON.stringify(meta.contentType ?? null)} names no message type (messageType=… or proto=…)`
      );
    let type = cache.get(name);
    if (type === undefined && !cache.has(name)) {
      type = findType(root, name);
      if (cache.size < 1024) cache.set(name, type);
    }
    return type ?? `message type ${JSON.stringify(name.slice(0, 120))} is not defined in ${options.schema}`;
  };

  return {
    format: 'protobuf',
    decode(payload, meta): DecodeResult {
      const bad = checkSize(payload, maxBytes);
      if (bad) return bad;
      const type = typeFor(meta);
      if (typeof type === 'string') return fail(type);
      const wrong = checkWire(type, payload);
      if (wrong) return fail(`invalid protobuf ${type.fullName.slice(1)}: ${wrong}`);
      try {
        const message = type.decode(payload) as unknown as Record<string, unknown>;
        if (!hasAnyField(type, message)) return fail(`no field of ${type.fullName.slice(1)} is set`);
        return { ok: true, value: toPlain(type, message) };
      } catch (error) {
        return fail(`invalid protobuf ${type.fullName.slice(1)}: ${messageOf(error)}`);
      }
    },
  };
}

/** The `messageType` or `proto` parameter of a content type, if any. */
export function typeParameter(contentType: string): string | undefined {
  for (const part of contentType.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (key !== 'messagetype' && key !== 'proto') continue;
    const value = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    return value || undefined;
  }
  return undefined;
}

function messageTypes(root: pb.Root): string[] {
  const out: string[] = [];
  const visit = (ns: pb.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if ((child as pb.Type).fieldsArray !== undefined) out.push(child.fullName.slice(1));
      if ((child as pb.NamespaceBase).nestedArray !== undefined) visit(child as pb.NamespaceBase);
    }
  };
  visit(root);
  return out;
}

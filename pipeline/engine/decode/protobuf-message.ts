/**
 * protobufjs plumbing shared by the protobuf and Sparkplug decoders: loading a schema at start,
 * checking wire types before decoding, and turning a decoded message into a {@link DecodedValue}.
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { ConfigError } from '../../core/errors.js';
import type { DecodedValue } from '../../core/types.js';
import { float32, isoTime, messageOf } from './values.js';

const { Enum, Reader, Type, util } = protobuf;
type Field = protobuf.Field;
type Message = Record<string, unknown>;
type Plain = { [key: string]: DecodedValue };

/**
 * Loads and resolves a .proto file (and its imports) synchronously.
 * @throws ConfigError naming the file and, when known, the line of the problem
 */
export function loadSchema(path: string, option: string): protobuf.Root {
  try {
    // keepCase: fields keep their .proto names (`line_number`, not `lineNumber`).
    const root = new protobuf.Root().loadSync(path, { keepCase: true });
    root.resolveAll();
    return root;
  } catch (error) {
    throw new ConfigError(
      option,
      'a readable, valid .proto file',
      `${path}${lineOf(path, messageOf(error))}: ${messageOf(error)}`,
    );
  }
}

/** `:<line>` for an error message: the line protobufjs names, or where an unresolved name first appears. */
function lineOf(path: string, message: string): string {
  const named = /\bline (\d+)\b/.exec(message);
  if (named) return `:${named[1]}`;
  const missing = /no such (?:type|Type or Enum) '([^']+)'/i.exec(message);
  if (!missing) return '';
  try {
    const name = missing[1]!.split('.').at(-1)!;
    const at = readFileSync(path, 'utf8')
      .split('\n')
      .findIndex((l) => new RegExp(`\\b${name}\\b`).test(l.replace(/\/\/.*/, '')));
    return at < 0 ? '' : `:${at + 1}`;
  } catch {
    return '';
  }
}

/** Looks a message type up by its full name (`pkg.Msg`, a leading dot allowed); undefined when there is none. */
export function findType(root: protobuf.Root, name: string): protobuf.Type | undefined {
  if (!/^\.?[A-Za-z_][\w.]{0,510}$/.test(name)) return undefined;
  try {
    const full = name.replace(/^\.?/, '.');
    const found = root.lookup(full);
    return found instanceof Type && found.fullName === full ? found : undefined;
  } catch {
    return undefined;
  }
}

const WIRE: Readonly<Record<string, number>> = {
  double: 1,
  fixed64: 1,
  sfixed64: 1,
  float: 5,
  fixed32: 5,
  sfixed32: 5,
  int32: 0,
  uint32: 0,
  sint32: 0,
  int64: 0,
  uint64: 0,
  sint64: 0,
  bool: 0,
  string: 2,
  bytes: 2,
};

/**
 * Walks the wire format of `bytes` as `type` before protobufjs decodes it: every known field
 * must carry the wire type its declaration needs (packed repeated scalars may be length-delimited),
 * lengths must stay inside their message, wire types 6 and 7 do not exist.
 * @returns why the bytes are not a `type`, or undefined when they are
 */
export function checkWire(type: protobuf.Type, bytes: Uint8Array, maxDepth = 32): string | undefined {
  const reader = Reader.create(bytes);
  try {
    return walk(type, reader, bytes.length, 0, maxDepth);
  } catch (error) {
    const message = messageOf(error);
    return `${/index out of range/.test(message) ? `truncated (${message})` : message} in ${type.name}`;
  }
}

function walk(
  type: protobuf.Type,
  r: protobuf.Reader,
  end: number,
  depth: number,
  maxDepth: number,
): string | undefined {
  if (depth > maxDepth) return `nesting deeper than ${maxDepth} messages`;
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    if (id === 0) return `field number 0 at byte ${at}`;
    const field = type.fieldsById[id];
    if (field) {
      const sub = field.resolvedType instanceof Type && !field.map ? field.resolvedType : undefined;
      const want =
        field.map || sub ? (field.delimited ? 3 : 2) : field.resolvedType instanceof Enum ? 0 : WIRE[field.type];
      const packed = field.repeated && want !== undefined && want !== 2 && wire === 2;
      if (want !== undefined && wire !== want && !packed) {
        return `field ${type.name}.${field.name} (${id}) has wire type ${wire}, expected ${want}, at byte ${at}`;
      }
      if (sub && wire === 2) {
        const length = r.uint32();
        const stop = r.pos + length;
        if (stop > end)
          return `field ${type.name}.${field.name} (${id}) is truncated: ${length} bytes declared, ${end - r.pos} left`;
        const problem = walk(sub, r, stop, depth + 1, maxDepth);
        if (problem) return problem;
        continue;
      }
    } else if (wire === 4) {
      return `unexpected end-group marker at byte ${at}`;
    }
    r.skipType(wire);
    if (r.pos > end) return `field ${id} at byte ${at} runs past the end of its message (${type.name})`;
  }
  return r.pos === end ? undefined : `message ${type.name} is truncated`;
}

/** Whether the decoded message has any field present on the wire (a repeated or map field counts when non-empty). */
export function hasAnyField(type: protobuf.Type, message: Message): boolean {
  for (const field of type.fieldsArray) {
    const v = message[field.name];
    if (
      field.map
        ? v && Object.keys(v).length > 0
        : field.repeated
          ? Array.isArray(v) && v.length > 0
          : Object.hasOwn(message, field.name)
    )
      return true;
  }
  return false;
}

/**
 * A decoded message as plain values: enums as names (unknown numbers stay numbers), 64-bit
 * integers as exact `bigint`, bytes as base64 text, float fields as their shortest float32
 * decimal, repeated fields as arrays, `google.protobuf.Timestamp` as ISO 8601 text. Fields
 * without presence (proto3 scalars not marked `optional`) are written even when absent, with
 * their zero value: proto3 does not send zeros, so absent means 0.
 */
export function toPlain(type: protobuf.Type, message: Message): Plain {
  const out: Plain = {};
  for (const field of type.fieldsArray) {
    const name = field.name;
    const v = message[name];
    if (field.map) {
      const entries = v as Record<string, unknown> | undefined;
      if (!entries || Object.keys(entries).length === 0) continue;
      const map: Plain = {};
      for (const key in entries) map[mapKey(field, key)] = scalar(field, entries[key]);
      out[name] = map;
    } else if (field.repeated) {
      if (Array.isArray(v) && v.length > 0) out[name] = v.map((item) => scalar(field, item));
    } else if (Object.hasOwn(message, name)) {
      out[name] = scalar(field, v);
    } else if (!field.hasPresence && !(field.resolvedType instanceof Type)) {
      out[name] = scalar(field, field.typeDefault);
    }
  }
  return out;
}

function scalar(field: Field, v: unknown): DecodedValue {
  const resolved = field.resolvedType;
  if (resolved instanceof Type) {
    if (v === null || typeof v !== 'object') return null;
    if (resolved.fullName === '.google.protobuf.Timestamp') return timestamp(v as Message);
    return toPlain(resolved, v as Message);
  }
  if (resolved instanceof Enum) return resolved.valuesById[v as number] ?? (v as number);
  if (field.long) return toBigInt(v);
  if (field.type === 'float') return float32(v as number);
  if (field.type === 'bytes') {
    // a decoded value is a Uint8Array; a declared default may be an array or a string
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    return Buffer.from((v ?? []) as number[]).toString('base64');
  }
  return v as DecodedValue;
}

/** A protobufjs 64-bit value (a `Long`, or a number without the long library) as bigint. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'bigint') return v;
  const { low, high, unsigned } = v as { low: number; high: number; unsigned: boolean };
  if (high === 0) return BigInt(low >>> 0);
  const bits = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

function mapKey(field: Field, key: string): string {
  if (!/64$/.test((field as Field & { keyType: string }).keyType) || key.length !== 8) return key;
  return String(util.longFromHash(key, /^(uint|fixed)/.test((field as Field & { keyType: string }).keyType)));
}

function timestamp(m: Message): DecodedValue {
  const seconds = Number(toBigInt(m.seconds ?? 0));
  const nanos = Number(m.nanos ?? 0);
  return isoTime(seconds, nanos) ?? null;
}

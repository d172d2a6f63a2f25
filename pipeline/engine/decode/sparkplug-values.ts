/**
 * Sparkplug B metric values: the datatype decides how the wire value reads (two's complement
 * integers in unsigned fields, float32, ms DateTimes, little-endian packed arrays).
 * @packageDocumentation
 */
import type { DecodedValue } from '../../core/types.js';
import { toBigInt } from './protobuf-message.js';
import { float32 } from './values.js';

/** Sparkplug B datatype codes (the `DataType` enum of the payload schema). */
export const DataType = {
  Unknown: 0,
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
  DataSet: 16,
  Bytes: 17,
  File: 18,
  Template: 19,
  PropertySet: 20,
  PropertySetList: 21,
  Int8Array: 22,
  Int16Array: 23,
  Int32Array: 24,
  Int64Array: 25,
  UInt8Array: 26,
  UInt16Array: 27,
  UInt32Array: 28,
  UInt64Array: 29,
  FloatArray: 30,
  DoubleArray: 31,
  BooleanArray: 32,
  StringArray: 33,
  DateTimeArray: 34,
} as const;

/** A payload that breaks the Sparkplug rules; the decoder turns it into a failure. */
export class SparkplugError extends Error {}

/** A decoded protobuf message (protobufjs object, proto field names). */
export type Msg = Record<string, unknown>;

const has = (m: Msg, key: string): boolean => Object.hasOwn(m, key);

/**
 * A field of a decoded message when it was on the wire, else undefined. protobufjs answers
 * absent fields with the prototype's default (`alias` 0, `timestamp` 0), so presence must be own.
 */
export const own = (m: Msg, key: string): unknown => (Object.hasOwn(m, key) ? m[key] : undefined);
const utf8 = new TextDecoder('utf-8', { fatal: true });

// bits and signedness of the integer datatypes
const INTS: Readonly<Record<number, readonly [number, boolean]>> = {
  1: [8, true],
  2: [16, true],
  3: [32, true],
  4: [64, true],
  5: [8, false],
  6: [16, false],
  7: [32, false],
  8: [64, false],
};

/**
 * The value of a metric, read as `datatype` (from the metric, else from its BIRTH); `undefined`
 * for a null metric, one without value, or a kind that is not written (property sets,
 * extensions). Integer datatypes become `bigint` (written as InfluxDB integers), Float the
 * shortest float32 decimal, DateTime a `bigint` of ms, arrays arrays, DataSet JSON text.
 * Templates are handled by the caller.
 * @throws SparkplugError when the value cannot be read as its datatype
 */
export function metricValue(m: Msg, datatype: number | undefined, name: string): DecodedValue | undefined {
  if (m.is_null === true) return undefined;
  const int = INTS[datatype ?? -1];
  if (int) {
    const raw = has(m, 'int_value')
      ? BigInt(m.int_value as number)
      : has(m, 'long_value')
        ? toBigInt(m.long_value)
        : undefined;
    if (raw === undefined) return mismatch(m, datatype!, name);
    return int[1] ? BigInt.asIntN(int[0], raw) : BigInt.asUintN(int[0], raw);
  }
  switch (datatype) {
    case DataType.Float:
    case DataType.Double:
      if (has(m, 'float_value')) return float32(m.float_value as number);
      if (has(m, 'double_value')) return m.double_value as number;
      return mismatch(m, datatype, name);
    case DataType.Boolean:
      return has(m, 'boolean_value') ? (m.boolean_value as boolean) : mismatch(m, datatype, name);
    case DataType.String:
    case DataType.Text:
    case DataType.UUID:
      return has(m, 'string_value') ? (m.string_value as string) : mismatch(m, datatype, name);
    case DataType.DateTime:
      return has(m, 'long_value') ? toBigInt(m.long_value) : mismatch(m, datatype, name);
    case DataType.Bytes:
    case DataType.File:
      return has(m, 'bytes_value') ? view(m.bytes_value as Uint8Array) : mismatch(m, datatype, name);
    case DataType.DataSet:
      return has(m, 'dataset_value') ? dataSet(m.dataset_value as Msg) : mismatch(m, datatype, name);
    case DataType.PropertySet:
    case DataType.PropertySetList:
      return undefined;
    default:
      if (datatype !== undefined && datatype >= DataType.Int8Array && datatype <= DataType.DateTimeArray) {
        if (!has(m, 'bytes_value')) return mismatch(m, datatype, name);
        return array(m.bytes_value as Uint8Array, datatype, name);
      }
      return byMember(m);
  }
}

/** protobufjs gives Buffers; a plain Uint8Array over the same bytes is what DecodedValue promises. */
const view = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A value read by the oneof member present, for metrics whose datatype is unknown. */
function byMember(m: Msg): DecodedValue | undefined {
  if (has(m, 'int_value')) return BigInt(m.int_value as number);
  if (has(m, 'long_value')) return toBigInt(m.long_value);
  if (has(m, 'float_value')) return float32(m.float_value as number);
  if (has(m, 'double_value')) return m.double_value as number;
  if (has(m, 'boolean_value')) return m.boolean_value as boolean;
  if (has(m, 'string_value')) return m.string_value as string;
  if (has(m, 'bytes_value')) return view(m.bytes_value as Uint8Array);
  if (has(m, 'dataset_value')) return dataSet(m.dataset_value as Msg);
  return undefined;
}

function mismatch(m: Msg, datatype: number, name: string): DecodedValue | undefined {
  const member = [
    'int_value',
    'long_value',
    'float_value',
    'double_value',
    'boolean_value',
    'string_value',
    'bytes_value',
    'dataset_value',
    'template_value',
  ].find((k) => has(m, k));
  if (member === undefined) return undefined; // no value: nothing to write
  throw new SparkplugError(`metric "${name}": datatype ${datatype} cannot be read from ${member}`);
}

const WIDTH: Readonly<Record<number, number>> = {
  22: 1,
  23: 2,
  24: 4,
  25: 8,
  26: 1,
  27: 2,
  28: 4,
  29: 8,
  30: 4,
  31: 8,
  34: 8,
};

/** An array datatype's packed little-endian bytes as an array. */
function array(bytes: Uint8Array, datatype: number, name: string): DecodedValue[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (datatype === DataType.BooleanArray) {
    const count = bytes.length >= 4 ? view.getUint32(0, true) : -1;
    if (count < 0 || bytes.length !== 4 + Math.ceil(count / 8)) {
      throw new SparkplugError(
        `metric "${name}": BooleanArray of ${bytes.length} bytes does not hold a count and its bits`,
      );
    }
    return Array.from({ length: count }, (_, i) => ((bytes[4 + (i >> 3)]! >> (7 - (i & 7))) & 1) === 1);
  }
  if (datatype === DataType.StringArray) {
    if (bytes.length === 0) return [];
    if (bytes[bytes.length - 1] !== 0) throw new SparkplugError(`metric "${name}": StringArray does not end with NUL`);
    try {
      return utf8.decode(bytes.subarray(0, -1)).split('\0');
    } catch {
      throw new SparkplugError(`metric "${name}": StringArray is not valid UTF-8`);
    }
  }
  const width = WIDTH[datatype]!;
  if (bytes.length % width !== 0)
    throw new SparkplugError(`metric "${name}": ${bytes.length} bytes is not a whole number of ${width}-byte elements`);
  const out: DecodedValue[] = new Array<DecodedValue>(bytes.length / width);
  for (let i = 0, at = 0; at < bytes.length; i++, at += width) {
    switch (datatype) {
      case DataType.Int8Array:
        out[i] = BigInt(view.getInt8(at));
        break;
      case DataType.Int16Array:
        out[i] = BigInt(view.getInt16(at, true));
        break;
      case DataType.Int32Array:
        out[i] = BigInt(view.getInt32(at, true));
        break;
      case DataType.Int64Array:
        out[i] = view.getBigInt64(at, true);
        break;
      case DataType.UInt8Array:
        out[i] = BigInt(view.getUint8(at));
        break;
      case DataType.UInt16Array:
        out[i] = BigInt(view.getUint16(at, true));
        break;
      case DataType.UInt32Array:
        out[i] = BigInt(view.getUint32(at, true));
        break;
      case DataType.FloatArray:
        out[i] = float32(view.getFloat32(at, true));
        break;
      case DataType.DoubleArray:
        out[i] = view.getFloat64(at, true);
        break;
      default:
        out[i] = view.getBigUint64(at, true); // UInt64Array, DateTimeArray (ms)
    }
  }
  return out;
}

/** A DataSet as JSON text: `{"columns":[...],"rows":[[...],...]}`; 64-bit values beyond 2^53 as strings. */
function dataSet(ds: Msg): string {
  const columns = (ds.columns as string[] | undefined) ?? [];
  const types = (ds.types as number[] | undefined) ?? [];
  const rows = ((ds.rows as Msg[] | undefined) ?? []).map((row) =>
    ((row.elements as Msg[] | undefined) ?? []).map((cell, i) => {
      const int = INTS[types[i] ?? -1];
      let v = byMember(cell) ?? null;
      if (int && typeof v === 'bigint') v = int[1] ? BigInt.asIntN(int[0], v) : BigInt.asUintN(int[0], v);
      return typeof v === 'bigint'
        ? v >= -(2n ** 53n) && v <= 2n ** 53n
          ? Number(v)
          : String(v)
        : v instanceof Uint8Array
          ? Buffer.from(v).toString('base64')
          : v;
    }),
  );
  return JSON.stringify({ columns, rows });
}

import { reject } from '../pipeline/stage.js';
import type { DecodedValue, FieldValue, Reading, StageOutput, Transform } from '../pipeline/types.js';
import { toTimeNs, type TimeUnit } from './time.js';

/** Options of {@link toReadings}. */
export interface ToReadingsOptions {
  /** Measurement name. */
  readonly measurement: string;
  /**
   * Payload keys holding the time, tried in order; the first present wins. A nested value is
   * named by its flattened key (`params_ts`), and is used when no top-level key is present.
   * @defaultValue ['ts', 'time', 'timestamp']
   */
  readonly time?: readonly string[];
  /** Unit of numeric timestamps; `auto` guesses from the magnitude. @defaultValue 'auto' */
  readonly timeUnit?: TimeUnit | 'auto';
  /** Payload keys (after flattening) that become tags instead of fields. @defaultValue [] */
  readonly tags?: readonly string[];
  /**
   * Fields written as InfluxDB integers when whole. JSON does not tell 20 from 20.0, so numbers are
   * floats by default (a field that is sometimes 20 and sometimes 20.5 would otherwise conflict).
   * Integers beyond 2^53 are always integers. @defaultValue []
   */
  readonly integers?: readonly string[];
  /** Joins nested keys when flattening objects. @defaultValue '_' */
  readonly separator?: string;
  /** Key for a payload that is a bare value (`23.5`) rather than an object. @defaultValue 'value' */
  readonly valueField?: string;
  /**
   * Top-level key of an array in the payload whose elements become one reading each, with the
   * payload's other top-level keys (a shared time, device id) copied into every one; an element
   * that is not an object becomes the `valueField`. A payload without the key is one reading.
   * `{"ts":1,"items":[{"t":20},{"t":21}]}` with `split: 'items'` → two readings. @defaultValue undefined
   */
  readonly split?: string;
}

/**
 * Maps decoded payloads to readings: an object is one reading, an array of objects several;
 * nested objects are flattened (`{a:{b:1}}` → `a_b`), the time comes from the payload when it has
 * one and from the receive time otherwise.
 * @example
 * toReadings({ measurement: 'telemetry', integers: ['battery'] })
 */
export function toReadings(options: ToReadingsOptions): Transform<DecodedValue, Reading> {
  const timeKeys = options.time ?? ['ts', 'time', 'timestamp'];
  const unit = options.timeUnit ?? 'auto';
  const tagKeys = new Set(options.tags ?? []);
  const integers = new Set(options.integers ?? []);
  const sep = options.separator ?? '_';
  const valueField = options.valueField ?? 'value';
  const split = options.split;
  if (!options.measurement) throw new Error('toReadings: measurement must be a non-empty string');

  const one = (body: DecodedValue, receivedAtMs: number): Reading | string => {
    const fields: Record<string, FieldValue> = {};
    const tags: Record<string, string> = {};
    let timeNs: bigint | undefined;
    let timeError: string | undefined;
    if (body === null || typeof body !== 'object' || body instanceof Uint8Array || Array.isArray(body)) {
      addField(fields, valueField, body as DecodedValue, integers);
    } else {
      const obj = body as { readonly [k: string]: DecodedValue };
      for (const key of timeKeys) {
        if (obj[key] === undefined) continue;
        timeNs = toTimeNs(obj[key], unit);
        if (timeNs === undefined) return `field "${key}" is not a timestamp: ${String(obj[key])}`;
        break;
      }
      flatten(obj, '', sep, (key, value) => {
        if (timeKeys.includes(key)) {
          // A nested time key (flattened name), used when no top-level one was present.
          if (timeNs === undefined && timeError === undefined) {
            timeNs = toTimeNs(value, unit);
            if (timeNs === undefined) timeError = `field "${key}" is not a timestamp: ${String(value)}`;
          }
          return;
        }
        if (tagKeys.has(key)) {
          if (value !== null && typeof value !== 'object') tags[key] = String(value);
        } else {
          addField(fields, key, value, integers);
        }
      });
      if (timeError !== undefined) return timeError;
    }
    for (const _ in fields) return { measurement: options.measurement, tags, fields, timeNs: timeNs ?? BigInt(receivedAtMs) * 1_000_000n };
    return 'payload has no fields to write';
  };

  return {
    name: 'toReadings',
    apply(body, ctx): StageOutput<Reading> {
      let items = Array.isArray(body) ? (body as readonly DecodedValue[]) : [body];
      if (split !== undefined) items = items.flatMap((item) => splitItem(item, split, valueField));
      const out: Reading[] = [];
      for (const item of items) {
        const r = one(item, ctx.meta.receivedAtMs);
        if (typeof r === 'string') return reject(r, 'mapping_error');
        out.push(r);
      }
      return out;
    },
  };
}

/** With `split`: one object per element of `item[key]`, each with `item`'s other keys. */
function splitItem(item: DecodedValue, key: string, valueField: string): readonly DecodedValue[] {
  if (item === null || typeof item !== 'object' || Array.isArray(item) || item instanceof Uint8Array) return [item];
  const { [key]: list, ...rest } = item as { readonly [k: string]: DecodedValue };
  if (!Array.isArray(list)) return [item];
  return (list as readonly DecodedValue[]).map((el) =>
    el !== null && typeof el === 'object' && !Array.isArray(el) && !(el instanceof Uint8Array) ? { ...rest, ...el } : { ...rest, [valueField]: el });
}

function flatten(obj: { readonly [k: string]: DecodedValue }, prefix: string, sep: string, emit: (key: string, v: DecodedValue) => void): void {
  for (const k in obj) {
    const v = obj[k]!;
    const key = prefix ? prefix + sep + k : k;
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      if (Array.isArray(v)) (v as readonly DecodedValue[]).forEach((item, i) => emitNested(item, key + sep + i, sep, emit));
      else flatten(v as { readonly [k: string]: DecodedValue }, key, sep, emit);
    } else {
      emit(key, v);
    }
  }
}

function emitNested(v: DecodedValue, key: string, sep: string, emit: (key: string, v: DecodedValue) => void): void {
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) flatten({ [key]: v }, '', sep, emit);
  else emit(key, v);
}

function addField(fields: Record<string, FieldValue>, key: string, v: DecodedValue, integers: ReadonlySet<string>): void {
  switch (typeof v) {
    case 'number':
      if (Number.isFinite(v)) fields[key] = integers.has(key) && Number.isInteger(v) ? BigInt(v) : v;
      return;
    case 'bigint':
    case 'boolean':
    case 'string':
      fields[key] = v;
      return;
    default:
      if (v instanceof Uint8Array) fields[key] = Buffer.from(v).toString('base64');
  }
}

import { reject } from '../pipeline/stage.js';
import type { DecodedValue, FieldValue, Reading, StageOutput, Transform } from '../pipeline/types.js';
import { toTimeNs, type TimeUnit } from './time.js';

/** Options of {@link toReadings}. */
export interface ToReadingsOptions {
  /** Measurement name. */
  readonly measurement: string;
  /** Payload keys holding the time, tried in order; the first present wins. @defaultValue ['ts', 'time', 'timestamp'] */
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
  if (!options.measurement) throw new Error('toReadings: measurement must be a non-empty string');

  const one = (body: DecodedValue, receivedAtMs: number): Reading | string => {
    const fields: Record<string, FieldValue> = {};
    const tags: Record<string, string> = {};
    let timeNs: bigint | undefined;
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
        if (timeKeys.includes(key)) return;
        if (tagKeys.has(key)) {
          if (value !== null && typeof value !== 'object') tags[key] = String(value);
        } else {
          addField(fields, key, value, integers);
        }
      });
    }
    for (const _ in fields) return { measurement: options.measurement, tags, fields, timeNs: timeNs ?? BigInt(receivedAtMs) * 1_000_000n };
    return 'payload has no fields to write';
  };

  return {
    name: 'toReadings',
    apply(body, ctx): StageOutput<Reading> {
      const items = Array.isArray(body) ? (body as readonly DecodedValue[]) : [body];
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

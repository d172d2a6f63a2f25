import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { DecodedValue, FieldValue, MessageMeta, Reading, StageOutput, Transform } from '../pipeline/core/types.js';
import { convert, type FieldType } from './cast-fields.js';
import { compilePath, jsonText, valueAt, type CompiledPath, type Path } from './select-path.js';
import { toTimeNs, type TimeUnit } from './time.js';

export type { Path } from './select-path.js';

/** A field chosen by {@link Path}, converted to `type` when given (a float to `integer` truncates; an object or array to `string` is its JSON text). */
export interface FieldSelection {
  readonly path: Path;
  readonly type?: FieldType;
}

/**
 * What {@link ToReadingsOptions.select} takes from each message, by {@link Path}; everything else
 * is left out. A path the message does not have (or `null`) leaves its tag or field out.
 */
export interface Selection {
  /** Path of the measurement name; the `measurement` option when absent or missing from the message. */
  readonly measurement?: Path;
  /** Paths of the time, tried in order (first present wins). @defaultValue the `time` option's keys */
  readonly time?: Path | readonly Path[];
  /** Tag name → path of a scalar value (written as text). */
  readonly tags?: Readonly<Record<string, Path>>;
  /** Field name → path (or path and type). A path to an object or array without a type is flattened under the field name. */
  readonly fields?: Readonly<Record<string, Path | FieldSelection>>;
}

/** Options of {@link toReadings}. */
export interface ToReadingsOptions {
  /** Measurement name. */
  readonly measurement: string;
  /**
   * Payload keys holding the time, tried in order; the first present wins. A nested value is
   * named by its flattened key (`params_ts`), and is used when no top-level key is present. Keys
   * match in exact case (Tasmota's `Time` needs `['Time']`); a payload with none of them gets the
   * receive time, and its time-like key stays a field (`tributary check` warns about it).
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
  /**
   * Picks the tags, fields, time and measurement by path instead of flattening the whole payload;
   * paths reach into the payload, the topic and MQTT 5 user properties. With `split`, paths are
   * relative to each element (which holds the payload's other top-level keys too).
   * `{ fields: { temperature: 'sensors.0.temp' }, tags: { device: '$.meta.id', site: '$topic.1' }, time: 'meta.ts' }`
   * @defaultValue undefined
   */
  readonly select?: Selection;
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
  if (!options.measurement) throw new ConfigError('toReadings measurement', 'a non-empty string', options.measurement);
  const selection = options.select && compileSelection(options.select, timeKeys);

  /** One reading from what `select` picks, or why there is none. */
  const selected = (s: CompiledSelection, body: DecodedValue, meta: MessageMeta): Reading | string => {
    const fields: Record<string, FieldValue> = {};
    const tags: Record<string, string> = {};
    let timeNs: bigint | undefined;
    for (const p of s.time) {
      const v = valueAt(p, body, meta);
      if (v === undefined || v === null) continue;
      timeNs = toTimeNs(v, unit);
      if (timeNs === undefined) return `"${p.path}" is not a timestamp: ${String(v)}`;
      break;
    }
    for (const [name, p] of s.tags) {
      const v = valueAt(p, body, meta);
      if (v !== undefined && v !== null && typeof v !== 'object') tags[name] = String(v);
    }
    for (const [name, p, type] of s.fields) {
      const v = valueAt(p, body, meta);
      if (v === undefined || v === null) continue;
      const nested = typeof v === 'object' && !(v instanceof Uint8Array);
      if (type === undefined) {
        if (nested) flatten({ [name]: v }, '', sep, (key, x) => addField(fields, key, x, integers));
        else addField(fields, name, v, integers);
        continue;
      }
      const scalar =
        v instanceof Uint8Array ? Buffer.from(v).toString('base64') : nested ? jsonText(v) : (v as FieldValue);
      const cast = convert(scalar, type, Math.trunc);
      if (cast === undefined)
        return `field "${name}" ("${p.path}"): cannot convert ${JSON.stringify(String(scalar))} to ${type}`;
      fields[name] = cast;
    }
    const m = s.measurement && valueAt(s.measurement, body, meta);
    const measurement =
      m !== undefined && m !== null && typeof m !== 'object' && String(m) !== '' ? String(m) : options.measurement;
    for (const _ in fields)
      return { measurement, tags, fields, timeNs: timeNs ?? BigInt(meta.receivedAtMs) * 1_000_000n };
    return 'payload has no fields to write';
  };

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
    for (const _ in fields)
      return { measurement: options.measurement, tags, fields, timeNs: timeNs ?? BigInt(receivedAtMs) * 1_000_000n };
    return 'payload has no fields to write';
  };

  return {
    name: 'toReadings',
    apply(body, ctx): StageOutput<Reading> {
      let items = Array.isArray(body) ? (body as readonly DecodedValue[]) : [body];
      if (split !== undefined) items = items.flatMap((item) => splitItem(item, split, valueField));
      const out: Reading[] = [];
      for (const item of items) {
        const r = selection ? selected(selection, item, ctx.meta) : one(item, ctx.meta.receivedAtMs);
        if (typeof r === 'string') return reject(r, 'mapping_error');
        out.push(r);
      }
      return out;
    },
  };
}

interface CompiledSelection {
  readonly measurement?: CompiledPath;
  readonly time: readonly CompiledPath[];
  readonly tags: ReadonlyArray<readonly [string, CompiledPath]>;
  readonly fields: ReadonlyArray<readonly [string, CompiledPath, FieldType | undefined]>;
}

const FIELD_TYPES: readonly FieldType[] = ['number', 'integer', 'boolean', 'string'];

/** Parses a {@link Selection} when the stage is built: a bad path or type names its option. */
function compileSelection(s: Selection, timeKeys: readonly string[]): CompiledSelection {
  const times = s.time === undefined ? undefined : typeof s.time === 'string' ? [s.time] : s.time;
  const fields = Object.entries(s.fields ?? {}).map(([name, f]) => {
    const { path, type } = typeof f === 'string' ? { path: f, type: undefined } : f;
    if (type !== undefined && !FIELD_TYPES.includes(type))
      throw new ConfigError(`toReadings select.fields.${name}.type`, FIELD_TYPES.join(', '), type);
    return [name, compilePath(path, `toReadings select.fields.${name}`), type] as const;
  });
  if (fields.length === 0) throw new ConfigError('toReadings select.fields', 'at least one field');
  return {
    measurement: s.measurement === undefined ? undefined : compilePath(s.measurement, 'toReadings select.measurement'),
    time: times
      ? times.map((t, i) => compilePath(t, `toReadings select.time[${i}]`))
      : timeKeys.map((key) => ({ path: key, root: 'payload', steps: [key] })),
    tags: Object.entries(s.tags ?? {}).map(
      ([name, path]) => [name, compilePath(path, `toReadings select.tags.${name}`)] as const,
    ),
    fields,
  };
}

/** With `split`: one object per element of `item[key]`, each with `item`'s other keys. */
function splitItem(item: DecodedValue, key: string, valueField: string): readonly DecodedValue[] {
  if (item === null || typeof item !== 'object' || Array.isArray(item) || item instanceof Uint8Array) return [item];
  const { [key]: list, ...rest } = item as { readonly [k: string]: DecodedValue };
  if (!Array.isArray(list)) return [item];
  return (list as readonly DecodedValue[]).map((el) =>
    el !== null && typeof el === 'object' && !Array.isArray(el) && !(el instanceof Uint8Array)
      ? { ...rest, ...el }
      : { ...rest, [valueField]: el },
  );
}

function flatten(
  obj: { readonly [k: string]: DecodedValue },
  prefix: string,
  sep: string,
  emit: (key: string, v: DecodedValue) => void,
): void {
  for (const k in obj) {
    const v = obj[k]!;
    const key = prefix ? prefix + sep + k : k;
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      if (Array.isArray(v))
        (v as readonly DecodedValue[]).forEach((item, i) => emitNested(item, key + sep + i, sep, emit));
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

function addField(
  fields: Record<string, FieldValue>,
  key: string,
  v: DecodedValue,
  integers: ReadonlySet<string>,
): void {
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

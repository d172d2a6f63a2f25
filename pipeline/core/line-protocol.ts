/**
 * Hand-built InfluxDB line protocol for {@link Reading}s, checked against InfluxDB 1.6.7.
 * Golden cases and the rules' sources: `test/cases/line-protocol/README.md`.
 * @packageDocumentation
 */
import { flatString } from './flat-string.js';
import { SeriesCache } from './series-cache.js';
import type { Reading } from './types.js';

// Characters that make a name or a string field need escaping, checked with ASCII tables (faster
// than a regex on short strings). NUL is looked for only to be rejected: InfluxDB cannot store it.
const MEASUREMENT_SPECIAL = table(' ,\t\n\f\r\0');
const KEY_SPECIAL = table(' ,=\t\n\f\r\0');
const STRING_SPECIAL = table('"\\\0');
const MEASUREMENT_ESCAPE = /[ ,\t\n\f\r]/g;
const KEY_ESCAPE = /[ ,=\t\n\f\r]/g;
const STRING_ESCAPE = /["\\]/g;
const CONTROL: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };
const escapeChar = (c: string): string => CONTROL[c] ?? `\\${c}`;

/** InfluxDB's time range: int64 nanoseconds less the values it reserves. */
const MAX_TIME_NS = 9223372036854775806n;
const [MIN_INT, MAX_INT] = [-(2n ** 63n), 2n ** 63n - 1n];
const [MIN_SAFE, MAX_SAFE] = [BigInt(Number.MIN_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER)];
// Series repeat: a line's measurement and tags are escaped, sorted and checked once per series.
const prefixes = new SeriesCache<string>(50_000);

/**
 * Encodes one reading as one line of InfluxDB line protocol, time in nanoseconds, no trailing
 * newline.
 *
 * - Measurement: escapes comma and space (not `=`). Tag keys, tag values, field keys: escape comma,
 *   `=` and space. Other backslashes stay as they are (InfluxDB 1.x reads them literally), but
 *   trailing ones are trimmed: they would escape the separator that follows.
 * - Tab, newline, form feed and carriage return in those names become `\t`, `\n`, `\f`, `\r` (two
 *   characters, stored as such), as Telegraf writes them: a name never breaks the line.
 * - Tags are sorted by key; a tag whose key or value is empty (after trimming) is omitted.
 * - A number is a float, in the shortest form that round-trips, as Go's
 *   `strconv.FormatFloat(v, 'g', -1, 64)` writes it (`20`, `-0.64`, `6.632243e+06`); NaN and
 *   ±Infinity are skipped. A bigint is an integer (`42i`), skipped outside int64. A string is quoted,
 *   escaping `"` and `\` only (a newline stays raw, which InfluxDB accepts). `null`, `undefined`
 *   and empty field keys are skipped. Fields keep the object's order.
 *
 * @throws Error when no line can be written: empty measurement, measurement starting with `#`
 * (InfluxDB would take the line for a comment and drop it silently), no field left, time outside
 * ±9223372036854775806 ns, a NUL character anywhere (InfluxDB cuts the line there), or a field
 * value of another type. The runtime turns it into an `encode_error` dead letter.
 */
export function toLineProtocol(reading: Reading): string {
  const { measurement, tags, fields, timeNs } = reading;
  if (timeNs < -MAX_TIME_NS || timeNs > MAX_TIME_NS) {
    throw new Error(`line protocol: timestamp ${timeNs} ns is out of range (±${MAX_TIME_NS})`);
  }
  let line = prefixes.get(measurement, tags, seriesPrefix);

  let sep = ' ';
  for (const key in fields) {
    const value = fields[key];
    let text: string;
    switch (typeof value) {
      case 'number':
        if (value - value !== 0) continue; // NaN, ±Infinity
        text = formatFloat(value);
        break;
      case 'bigint':
        if (value >= MIN_SAFE && value <= MAX_SAFE)
          text = `${Number(value)}i`; // faster than a bigint's toString
        else if (value < MIN_INT || value > MAX_INT) continue;
        else text = `${value}i`;
        break;
      case 'boolean':
        text = value ? 'true' : 'false';
        break;
      case 'string':
        if (!has(value, STRING_SPECIAL)) text = `"${value}"`;
        else if (value.includes('\0')) throw nulError(`string field ${JSON.stringify(key)}`, value);
        else text = `"${value.replace(STRING_ESCAPE, '\\$&')}"`;
        break;
      default:
        if (value == null) continue;
        throw new Error(`line protocol: field ${JSON.stringify(key)} has unsupported type ${typeof value}`);
    }
    const k = fieldKeys.get(key) ?? fieldKey(key);
    if (k === undefined) continue; // empty once escaped
    line += sep === ' ' ? k[0] + text : k[1] + text;
    sep = ',';
  }
  if (sep === ' ')
    throw new Error(
      `line protocol: no writable field in reading of measurement ${JSON.stringify(measurement)}` +
        ' (NaN/Infinity, integers beyond int64, null values and empty keys are skipped)',
    );
  return flatString(`${line} ${timeNs}`); // it waits in a batch
}

/** `[" key=", ",key="]` per field key, escaped: one piece per field instead of three. */
const fieldKeys = new Map<string, readonly [string, string] | undefined>();

function fieldKey(key: string): readonly [string, string] | undefined {
  const k = escapeName(key, KEY_SPECIAL, KEY_ESCAPE, 'field key');
  const forms = k === '' ? undefined : ([` ${k}=`, `,${k}=`] as const);
  if (key.length <= 64) {
    if (fieldKeys.size >= 4096) fieldKeys.clear();
    fieldKeys.set(key, forms);
  }
  return forms;
}

/** Measurement and tag set of a line, escaped, tags sorted; checked once per series (see `prefixes`). */
function seriesPrefix(measurement: string, tags: Reading['tags']): string {
  const m = escapeName(measurement, MEASUREMENT_SPECIAL, MEASUREMENT_ESCAPE, 'measurement');
  if (m === '') throw new Error(`line protocol: measurement is empty (${JSON.stringify(measurement)})`);
  if (m.charCodeAt(0) === 35 /* # */) {
    throw new Error(
      `line protocol: measurement ${JSON.stringify(m)} starts with "#", which InfluxDB reads as a comment`,
    );
  }
  // Tags are usually in key order already: build, and start over sorted only if they are not.
  let prev = '';
  let tagSet = '';
  for (const key in tags) {
    if (key < prev) {
      tagSet = '';
      for (const k of sortedKeys(tags)) tagSet += tag(k, tags[k]);
      break;
    }
    prev = key;
    tagSet += tag(key, tags[key]);
  }
  return flatString(m + tagSet);
}

/** Keys in code-unit order, by insertion: tag sets are small, and Array#sort is slow on them. */
function sortedKeys(o: object): string[] {
  const keys = Object.keys(o);
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i;
    for (; j > 0 && (keys[j - 1] as string) > key; j--) keys[j] = keys[j - 1] as string;
    keys[j] = key;
  }
  return keys;
}

/** `,key=value`, or '' when key or value is empty. */
function tag(key: string, value: string | undefined): string {
  if (!value) return '';
  if (typeof value !== 'string')
    throw new Error(`line protocol: tag ${JSON.stringify(key)} is a ${typeof value}, not a string`);
  const v = escapeName(value, KEY_SPECIAL, KEY_ESCAPE, 'tag value');
  const k = escapeName(key, KEY_SPECIAL, KEY_ESCAPE, 'tag key');
  return v === '' || k === '' ? '' : `,${k}=${v}`;
}

function escapeName(s: string, special: Uint8Array, escape: RegExp, what: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 92 /* backslash */) end--;
  if (end < s.length) s = s.slice(0, end);
  if (!has(s, special)) return s;
  if (s.includes('\0')) throw nulError(what, s);
  return s.replace(escape, escapeChar);
}

const nulError = (what: string, s: string): Error =>
  new Error(`line protocol: ${what} ${JSON.stringify(s)} contains a NUL character, which InfluxDB cannot store`);

/**
 * As Go's `strconv.FormatFloat(v, 'g', -1, 64)`: plain from 1e-4 to 1e6 (as JavaScript), else
 * exponent form (`1e+06`, `5e-324`). Fast path, same digits: below 1e6 a double nearest to a whole
 * number of 1e-4ths (most sensor values) has no shorter decimal, so it is printed from integers.
 */
function formatFloat(v: number): string {
  const a = v < 0 ? -v : v;
  if (a >= 1e-4 && a < 1e6) {
    const n = Math.round(a * 1e4);
    if (n / 1e4 !== a) return `${v}`;
    const int = Math.floor(a);
    const frac = n - int * 1e4;
    const head = v < 0 ? `-${int}` : `${int}`;
    if (frac === 0) return head;
    const end = frac % 10 !== 0 ? 5 : frac % 100 !== 0 ? 4 : frac % 1000 !== 0 ? 3 : 2;
    return `${head}.${`${frac + 10000}`.slice(1, end)}`;
  }
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const s = v.toExponential();
  const e = s.indexOf('e');
  return s.length - e === 3 ? `${s.slice(0, e + 2)}0${s.slice(e + 2)}` : s;
}

function table(chars: string): Uint8Array {
  return Uint8Array.from({ length: 128 }, (_, c) => (chars.includes(String.fromCharCode(c)) ? 1 : 0));
}

function has(s: string, special: Uint8Array): boolean {
  for (let i = 0; i < s.length; i++) if (special[s.charCodeAt(i)] === 1) return true; // undefined beyond ASCII
  return false;
}

import type { FieldValue, Reading } from '../../pipeline/core/types.js';

/** PostgreSQL's identifier limit in bytes: a longer name would be truncated, silently merging columns. */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * The identity of a reading's series: the measurement and its tags sorted by key, escaped as
 * InfluxDB's line protocol escapes them (`telemetry,device=dev-1,site=a`), so that the text is
 * the same on every worker and for every redelivery, and two different tag sets never give the
 * same text.
 */
export function seriesKey(r: Reading): string {
  let key = escapeKey(r.measurement);
  for (const k of Object.keys(r.tags).sort()) key += `,${escapeKey(k)}=${escapeKey(r.tags[k]!)}`;
  return key;
}

function escapeKey(s: string): string {
  return /[\\, =]/.test(s) ? s.replace(/[\\, =]/g, (c) => `\\${c}`) : s;
}

/** The time of a reading as PostgreSQL `timestamptz` text: microseconds, the type's resolution. */
export function timestampUs(timeNs: bigint): string {
  const us = timeNs >= 0n ? timeNs / 1000n : -((-timeNs + 999n) / 1000n); // floor
  const ms = us >= 0n ? us / 1000n : -((-us + 999n) / 1000n);
  const micros = Number(us - ms * 1000n);
  const iso = new Date(Number(ms)).toISOString(); // throws RangeError beyond ±275760 years
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

/** The PostgreSQL column type a field value is stored in (wide tables). */
export type FieldColumnType = 'double precision' | 'bigint' | 'boolean' | 'text';

/** The column type for a field value: InfluxDB's four field types, one column type each. */
export function fieldColumnType(v: FieldValue): FieldColumnType {
  switch (typeof v) {
    case 'number':
      return 'double precision';
    case 'bigint':
      return 'bigint';
    case 'boolean':
      return 'boolean';
    default:
      return 'text';
  }
}

/** JSON text of a value, with bigints as exact numbers (jsonb keeps them exact); non-finite numbers as null. */
export function jsonValue(v: FieldValue | string): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return JSON.stringify(v);
}

/** A JSON object of tags or fields, bigints exact. */
export function jsonObject(values: Readonly<Record<string, FieldValue>>): string {
  let out = '{';
  for (const k in values) out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${jsonValue(values[k]!)}`;
  return `${out}}`;
}

/** The encoding the runtime sizes batches by and a dead letter shows: the reading as JSON, bigints exact. */
export function encodeReading(r: Reading): string {
  return `{"measurement":${JSON.stringify(r.measurement)},"tags":${jsonObject(r.tags)},"fields":${jsonObject(r.fields)},"timeNs":"${r.timeNs}"}`;
}

/** A reading ready to be a row: its series and time computed once; readings of one row merged. */
export interface Row {
  readonly series: string;
  readonly time: string;
  readonly reading: Reading;
  /** Fields of every reading of the batch with this series and time, the later ones winning (as InfluxDB merges). */
  fields: Record<string, FieldValue>;
}

/**
 * Merges the readings of a batch that fall on the same row (series + microsecond): one INSERT
 * cannot touch a row twice (`ON CONFLICT DO UPDATE command cannot affect row a second time`).
 */
export function toRows(readings: Iterable<{ reading: Reading; series: string; time: string }>): Row[] {
  const rows = new Map<string, Row>();
  for (const { reading, series, time } of readings) {
    const key = `${time}\u0000${series}`;
    const row = rows.get(key);
    if (row) Object.assign(row.fields, reading.fields);
    else rows.set(key, { series, time, reading, fields: { ...reading.fields } });
  }
  return [...rows.values()];
}

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Whether `name` fits PostgreSQL's identifier limit (and is not empty or holding NUL). */
export function validIdentifier(name: string): boolean {
  return name.length > 0 && !name.includes('\u0000') && Buffer.byteLength(name) <= MAX_IDENTIFIER_BYTES;
}

import { jsonObject, quoteIdent, type Row } from './rows.js';
import type { Column } from './schema.js';

/** A parameterised SQL statement. */
export interface Statement {
  readonly text: string;
  readonly values: unknown[];
}

/**
 * One multi-row upsert into a wide table: the rows as one typed array per column (`unnest`), so a
 * batch is one statement whatever its size (no 65,535-parameter limit). A row already there
 * (a redelivered message) gets the batch's fields, the others kept, as InfluxDB merges a point.
 */
export function wideUpsert(table: string, rows: readonly Row[], columns: ReadonlyMap<string, Column>): Statement {
  const tagNames = new Set<string>();
  const fieldNames = new Set<string>();
  for (const row of rows) {
    for (const k in row.reading.tags) tagNames.add(k);
    for (const k in row.fields) fieldNames.add(k);
  }
  const names = ['time', 'series', ...tagNames, ...fieldNames];
  const types = [
    'timestamptz',
    'text',
    ...[...tagNames].map(() => 'text'),
    ...[...fieldNames].map((f) => columns.get(f)!.type),
  ];
  const values: unknown[] = [rows.map((r) => r.time), rows.map((r) => r.series)];
  for (const t of tagNames) values.push(rows.map((r) => r.reading.tags[t] ?? null));
  for (const f of fieldNames) values.push(rows.map((r) => r.fields[f] ?? null));
  const updates = [...fieldNames].map(
    (f) => `${quoteIdent(f)} = COALESCE(EXCLUDED.${quoteIdent(f)}, t.${quoteIdent(f)})`,
  );
  return {
    text: `INSERT INTO ${table} AS t (${names.map(quoteIdent).join(', ')})
      SELECT * FROM unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})
      ON CONFLICT (time, series) DO UPDATE SET ${updates.join(', ')}`,
    values,
  };
}

/** One multi-row upsert into the narrow table; a row already there gets the batch's fields merged in (`||`). */
export function narrowUpsert(table: string, rows: readonly Row[]): Statement {
  return {
    text: `INSERT INTO ${table} AS t (time, series, measurement, tags, fields)
      SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[])
      ON CONFLICT (time, series) DO UPDATE SET fields = t.fields || EXCLUDED.fields`,
    values: [
      rows.map((r) => r.time),
      rows.map((r) => r.series),
      rows.map((r) => r.reading.measurement),
      rows.map((r) => jsonObject(r.reading.tags)),
      rows.map((r) => jsonObject(r.fields)),
    ],
  };
}

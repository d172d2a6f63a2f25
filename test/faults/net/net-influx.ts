// What the suite's InfluxDB holds and what it was asked to write.
import type { InfluxResult } from '../../support/services.js';
import { NET_INFLUX_URL } from './net-services.js';

async function query(q: string, db?: string): Promise<InfluxResult> {
  const params = new URLSearchParams({ q, ...(db ? { db } : {}) });
  const res = await fetch(`${NET_INFLUX_URL}/query?${params.toString()}`, {
    method: 'POST',
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`InfluxDB query failed (${res.status}): ${await res.text()}`);
  return (await res.json()) as InfluxResult;
}

/** Distinct points of the fleet's telemetry in `db` (a point written twice counts once). */
export async function distinctPoints(db: string): Promise<number> {
  const r = await query('SELECT count("temperature") FROM "telemetry"', db);
  return Number(r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

/**
 * Points InfluxDB accepted into `db`'s shards (`SHOW STATS`, shard `writePointsOk`), rewrites of a
 * point included: this minus the distinct points is how many writes were redelivered. In-memory
 * counters of this influxd process, so the suite keeps one process for the whole run.
 */
export async function pointsWrittenOk(db: string): Promise<number> {
  const r = await query('SHOW STATS');
  let sum = 0;
  for (const s of r.results[0]?.series ?? []) {
    if (s.name !== 'shard' || s.tags?.database !== db) continue;
    const column = s.columns.indexOf('writePointsOk');
    sum += Number(s.values[0]?.[column] ?? 0);
  }
  return sum;
}

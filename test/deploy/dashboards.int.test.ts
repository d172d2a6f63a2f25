// Every query of the provisioned Grafana dashboards, run against the real InfluxDB 1.6.7 on
// demo-shaped data: one test per panel, so a broken panel names itself.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internalReadings } from '../../pipeline/cli/metrics/internal.js';
import { RuntimeStats } from '../../pipeline/engine/runtime/stats.js';
import { toLineProtocol } from '../../pipeline/core/line-protocol.js';
import { escapeInfluxRegex, expandGrafanaMacros } from '../support/grafana-macros.js';
import { INFLUX_URL, influxQuery, uniqueName } from '../support/services.js';

interface Target { refId: string; query: string; rawQuery?: boolean; hide?: boolean }
interface Panel { id: number; type: string; title: string; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: string; allValue?: string }
interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: Variable[] } }

const load = (name: string) => JSON.parse(readFileSync(new URL(`../../deploy/grafana/dashboards/${name}.json`, import.meta.url), 'utf8')) as Dashboard;
const DASHBOARDS = [load('fleet-telemetry'), load('pipeline-health')];
const panelsOf = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

const db = uniqueName('dash');
const vars = new Map<string, Record<string, string>>(); // dashboard uid -> concrete variable values

async function write(lines: string[]): Promise<void> {
  const res = await fetch(`${INFLUX_URL}/write?db=${db}&precision=ns`, { method: 'POST', body: lines.join('\n') });
  if (res.status !== 204) throw new Error(`write failed (${res.status}): ${await res.text()}`);
}

async function run(query: string): Promise<{ error?: string; rows: number }> {
  const res = await influxQuery(db, query);
  const r = res.results[0];
  return { error: r?.error, rows: (r?.series ?? []).reduce((n, s) => n + s.values.length, 0) };
}

/**
 * Fleet data shaped like pipeline/cli/fleet-simulator.ts: 3 sites × 4 devices, a reading every 20 s for
 * 10 minutes. dev-0 (the first value of both variables) shows everything the panels look for:
 * every status, readings above 30 °C, and a battery that ends below 20 %.
 */
function telemetryLines(nowMs: number): string[] {
  const statuses = ['ok', 'warn', 'alarm', 'low_battery'];
  const lines: string[] = [];
  for (let s = 0; s < 3; s++) {
    for (let d = 0; d < 4; d++) {
      const device = s * 4 + d;
      for (let k = 0; k < 30; k++) {
        const ts = BigInt(nowMs - (30 - k) * 20_000) * 1_000_000n;
        const hot = device === 0 && k % 5 === 0 ? 15 : 0;
        const temperature = (18 + hot + device * 0.3 + Math.sin(k / 3)).toFixed(2);
        const humidity = (40 + device + Math.cos(k / 4) * 3).toFixed(1);
        const battery = device === 0 ? Math.max(0, 40 - k) : 90 - device * 2 - Math.floor(k / 10);
        const status = device === 0 ? statuses[k % 4]! : (device + k) % 7 === 0 ? 'warn' : 'ok';
        lines.push(`telemetry,device=dev-${device},site=site-${s} temperature=${temperature},humidity=${humidity},battery=${battery}i,status="${status}" ${ts}`);
      }
    }
  }
  return lines;
}

/** tributary_internal points as two workers' writers would have produced them, every 10 s for 3 minutes. */
function internalLines(nowMs: number): string[] {
  const lines: string[] = [];
  for (const worker of ['ingest-0', 'ingest-1']) {
    const stats = new RuntimeStats();
    const previous = new Map<string, { sum: number; count: number }>();
    for (let k = 0; k < 18; k++) {
      stats.received += 500; stats.decoded += 495; stats.settled += 490; stats.droppedQos0 += k % 2;
      stats.unsettled = k === 17 ? 100 : 10 + k;
      RuntimeStats.bump(stats.deadLetters, 'decode_error', 5);
      if (k % 3 === 0) RuntimeStats.bump(stats.deadLetters, 'write_rejected');
      stats.recordWrite('influxdb', 12 + k, 495);
      stats.recordWrite('dead-letters', 3, 5);
      RuntimeStats.bump(stats.retries, 'influxdb', k % 4 === 0 ? 1 : 0);
      const readings = internalReadings(stats, { worker, pipeline: 'fleet' }, nowMs - (18 - k) * 10_000, { window: 100, previous });
      lines.push(...readings.map(toLineProtocol));
    }
  }
  return lines;
}

/** Runs the dashboard's variable queries in order, each with the earlier ones set; takes the first value of each. */
async function resolveVariables(d: Dashboard): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const r = await influxQuery(db, expandGrafanaMacros(v.query, values));
    const first = r.results[0]?.series?.[0]?.values[0];
    // SHOW TAG VALUES answers [key, value]
    values[v.name] = String(first?.[1] ?? '');
  }
  return values;
}

beforeAll(async () => {
  await influxQuery(db, `CREATE DATABASE "${db}"`);
  const now = Date.now();
  await write(telemetryLines(now));
  await write(internalLines(now));
  for (const d of DASHBOARDS) vars.set(d.uid, await resolveVariables(d));
});

afterAll(async () => {
  await influxQuery(db, `DROP DATABASE "${db}"`);
});

describe('Grafana macro expansion', () => {
  it('escapes variables inside regex literals only and expands the time macros', () => {
    const q = 'SELECT mean("t") FROM "m" WHERE "site" =~ /^$site$/ AND "x" = \'$site\' AND $timeFilter GROUP BY time($__interval), "site"';
    expect(expandGrafanaMacros(q, { site: 'a.b/c(1)' })).toBe(
      'SELECT mean("t") FROM "m" WHERE "site" =~ /^a\\.b\\/c\\(1\\)$/ AND "x" = \'a.b/c(1)\' AND time > now() - 1h GROUP BY time(10s), "site"',
    );
    expect(escapeInfluxRegex('site-1')).toBe('site-1');
    expect(() => expandGrafanaMacros('SELECT 1 FROM m WHERE a =~ /$nope/', {})).toThrow(/unknown template variable \$nope/);
  });
});

describe.each(DASHBOARDS.map((d) => [d.title, d] as const))('dashboard %s against InfluxDB 1.6.7', (_title, d) => {
  it('has multi-value template variables with "All" = .* that resolve to values from the data', async () => {
    const values = vars.get(d.uid)!;
    const queryVars = d.templating.list.filter((v) => v.type === 'query');
    expect(queryVars.length).toBeGreaterThanOrEqual(2);
    for (const v of queryVars) {
      expect(v.allValue, `variable ${v.name}: the panels and tests expect allValue .*`).toBe('.*');
      const r = await run(expandGrafanaMacros(v.query, values));
      expect(r.error, `variable ${v.name}: ${v.query}`).toBeUndefined();
      expect(r.rows, `variable ${v.name} has no values: ${v.query}`).toBeGreaterThan(0);
      expect(values[v.name]).not.toBe('');
    }
  });

  it.each(panelsOf(d).map((p) => [p.title, p] as const))('panel "%s" returns rows for every query', async (_name, panel) => {
    const targets = (panel.targets ?? []).filter((t) => !t.hide);
    expect(targets.length, 'panel has no queries').toBeGreaterThan(0);
    for (const t of targets) {
      expect(t.rawQuery, `${t.refId}: raw InfluxQL expected`).toBe(true);
      // the variables set to one value from the data, then to "All" (allValue .*, not escaped)
      for (const q of [expandGrafanaMacros(t.query, vars.get(d.uid)!), expandGrafanaMacros(t.query, {}, { all: true })]) {
        const r = await run(q);
        expect(r.error, `${t.refId}: ${q}`).toBeUndefined();
        expect(r.rows, `${t.refId} returned no rows: ${q}`).toBeGreaterThan(0);
      }
    }
  });
});

describe('pipeline health panels compute what the counters imply', () => {
  const health = DASHBOARDS.find((d) => d.uid === 'tributary-pipeline-health')!;
  const valuesOf = async (title: string): Promise<number[]> => {
    const panel = panelsOf(health).find((p) => p.title === title);
    expect(panel, `panel ${title}`).toBeDefined();
    const res = await influxQuery(db, expandGrafanaMacros(panel!.targets![0]!.query, {}, { all: true }));
    return (res.results[0]?.series ?? []).flatMap((s) => s.values.map((v) => Number(v[1])));
  };

  it('received/s per worker is 500 messages per 10 s snapshot = 50/s', async () => {
    const rates = await valuesOf('Received / s');
    expect(rates.length).toBeGreaterThan(10);
    for (const r of rates) expect(r).toBeCloseTo(50, 6);
  });

  it('written/s sums the sinks over both workers (2 × 49.5/s to influxdb, 2 × 0.5/s dead letters)', async () => {
    const res = await influxQuery(db, expandGrafanaMacros(panelsOf(health).find((p) => p.title === 'Written / s')!.targets![0]!.query, {}, { all: true }));
    const bySink = Object.fromEntries((res.results[0]?.series ?? []).map((s) => [s.tags?.sink, s.values.map((v) => Number(v[1]))]));
    expect(Object.keys(bySink).sort()).toEqual(['dead-letters', 'influxdb']);
    for (const r of bySink.influxdb!) expect(r).toBeCloseTo(99, 6);
    for (const r of bySink['dead-letters']!) expect(r).toBeCloseTo(1, 6);
  });

  it('mean write latency is the per-snapshot mean, not the lifetime mean', async () => {
    const latencies = await valuesOf('Write latency (mean)');
    // influxdb writes took 12, 13, ... 29 ms, one per snapshot; dead-letter writes 3 ms
    expect(Math.max(...latencies)).toBe(29);
    expect(Math.min(...latencies)).toBe(3);
  });
});


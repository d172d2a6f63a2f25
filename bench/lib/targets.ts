// The performance targets (issue 16) as ratios of figures measured in the same bench run.
import { median } from './measure.js';
import type { E2eResult } from './tributary.js';

/** Figures of one bench run: Tributary's by `<mode> <format>[ ×N]`, the reference consumer's by format. */
export interface RunFigures {
  readonly results: ReadonlyMap<string, readonly E2eResult[]>;
  readonly references: ReadonlyMap<string, readonly E2eResult[]>;
  /** Broker drain to mosquitto_sub, msg/s. */
  readonly brokerDrain: number;
}

const cpu = (rs: readonly E2eResult[] | undefined) =>
  rs && rs.length > 0 ? median(rs.map((x) => x.cpuUsPerMsg)) : undefined;
const rate = (rs: readonly E2eResult[] | undefined) =>
  rs && rs.length > 0 ? median(rs.map((x) => x.rate)) : undefined;
const line = (what: string, ratio: number, limit: number, atMost: boolean) =>
  `target     ${what.padEnd(52)} ${ratio.toFixed(2)}× (${atMost ? '≤' : '≥'} ${limit}×) ${(atMost ? ratio <= limit : ratio >= limit) ? 'met' : 'NOT met'}`;

/** One line per target the run has the figures for, each saying whether it was met. */
export function targetLines(f: RunFigures): string[] {
  const out: string[] = [];
  const drainJson = f.results.get('drain json');
  const refCpu = cpu(f.references.get('json')),
    refRate = rate(f.references.get('json'));
  const drainCpu = cpu(drainJson),
    drainRate = rate(drainJson);
  if (drainCpu !== undefined && refCpu !== undefined)
    out.push(line('worker CPU/msg, drain json, vs the reference consumer', drainCpu / refCpu, 0.5, true));
  const liveCpu = cpu(f.results.get('live json'));
  if (liveCpu !== undefined && drainCpu !== undefined)
    out.push(line('worker CPU/msg, live vs drain (json)', liveCpu / drainCpu, 1.2, true));
  if (drainRate !== undefined) {
    const ofBroker = drainRate / f.brokerDrain;
    // Only binding where the broker outruns the worker; otherwise the broker is the ceiling.
    out.push(
      line('drain rate vs the broker drain', ofBroker, 0.8, false) +
        (ofBroker >= 1 ? ' (the broker is the ceiling in this run)' : ''),
    );
  }
  if (drainRate !== undefined && refRate !== undefined)
    out.push(line('drain rate vs the reference consumer', drainRate / refRate, 1.0, false));
  for (const format of ['msgpack', 'protobuf']) {
    const other = cpu(f.results.get(`drain ${format}`));
    if (other !== undefined && drainCpu !== undefined)
      out.push(line(`worker CPU/msg, drain ${format} vs json`, other / drainCpu, 1.2, true));
  }
  let peak = 0;
  for (const [key, rs] of f.results) {
    const workers = Number(/×(\d+)$/.exec(key)?.[1] ?? 1);
    for (const r of rs) peak = Math.max(peak, r.peakRssMb / workers);
  }
  if (peak > 0)
    out.push(
      `target     ${'peak RSS per worker'.padEnd(52)} ${Math.round(peak)} MB (≤ 150 MB) ${peak <= 150 ? 'met' : 'NOT met'}`,
    );
  return out;
}

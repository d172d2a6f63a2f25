// A/B of worker node flags in one sitting: drain (and optionally live) of the fleet pipeline, each
// variant in turn per round, so the machine's drift favours none.
//   npx tsx bench/ab-flags.ts --n 200000 --rounds 3 --mode drain "--max-semi-space-size=8" "--max-semi-space-size=32"
// A variant is a string of node flags ("" = the flags of bin/tributary.mjs's first line).
import { parseArgs } from 'node:util';
import { median } from './lib/measure.js';
import { measureTributary, type E2eResult } from './lib/tributary.js';

const { values: o, positionals: variants } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'drain' },
    format: { type: 'string', default: 'json' },
  },
});
const mqttPort = Number(process.env.TRIBUTARY_MQTT_PORT ?? 1884);
const influx = process.env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086';
const results = new Map<string, E2eResult[]>();
for (let r = 0; r < Number(o.rounds); r++) {
  for (const flags of variants) {
    process.env.BENCH_WORKER_NODE_ARGS = flags;
    const res = await measureTributary(
      { mqttPort, influx, n: Number(o.n), mode: o.mode as 'drain' | 'live', format: o.format as 'json', workers: 1 },
      r,
    );
    results.set(flags, [...(results.get(flags) ?? []), res]);
    console.log(
      `round ${r + 1} [${flags || 'default'}]: ${res.rate} msg/s, ${res.cpuUsPerMsg} µs/msg, RSS ${res.peakRssMb} MB`,
    );
  }
}
for (const [flags, rs] of results)
  console.log(
    `[${flags || 'default'}] median ${median(rs.map((x) => x.rate))} msg/s, ${median(rs.map((x) => x.cpuUsPerMsg))} µs/msg, RSS ${median(rs.map((x) => x.peakRssMb))} MB`,
  );

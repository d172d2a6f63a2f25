// `npm run bench`: the standard workload (1,000 devices, QoS 1, JSON) through a real Tributary worker
// into the real InfluxDB, next to the machine's limits measured in the same run.
//   npm run bench -- [--n 200000] [--runs 3] [--mode drain|live|both]
import { parseArgs } from 'node:util';
import { brokerDrainRate, influxIngestRate } from './lib/limits.js';
import { median } from './lib/measure.js';
import { measureTributary, type E2eResult } from './lib/tributary.js';

const { values: o } = parseArgs({
  options: {
    n: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
  },
});
const n = Number(o.n), runs = Number(o.runs);
const mqttPort = Number(process.env.TRIBUTARY_MQTT_PORT ?? 1884);
const influx = process.env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086';
const modes = o.mode === 'both' ? (['drain', 'live'] as const) : ([o.mode as 'drain' | 'live']);
const log = (s: string) => console.log(s);

log(`Tributary bench: N=${n} QoS 1 JSON messages, 1,000 devices, ${runs} run(s) per figure (medians)`);
const drainLimits: number[] = [], ingestLimits: number[] = [];
const results: Record<string, E2eResult[]> = { drain: [], live: [] };
for (let r = 0; r < runs; r++) {
  drainLimits.push(await brokerDrainRate(mqttPort, n, `benchlimit${process.pid}r${r}`));
  log(`  run ${r + 1}: broker drain to mosquitto_sub ${drainLimits.at(-1)} msg/s`);
  ingestLimits.push(await influxIngestRate(influx, n));
  log(`  run ${r + 1}: InfluxDB ingest (2 writers) ${ingestLimits.at(-1)} points/s`);
  for (const mode of modes) {
    const res = await measureTributary({ mqttPort, influx, n, mode }, r);
    results[mode]!.push(res);
    log(`  run ${r + 1}: tributary ${mode}: ${res.stored}/${n} points in ${res.seconds.toFixed(2)} s = ${res.rate} msg/s, peak RSS ${res.peakRssMb} MB, ${res.cpuUsPerMsg} µs CPU/msg`);
  }
}
const drainLimit = median(drainLimits), ingestLimit = median(ingestLimits);
log('');
log(`limit  broker drain (mosquitto_sub)   ${drainLimit} msg/s`);
log(`limit  InfluxDB ingest                ${ingestLimit} points/s`);
let lost = 0;
for (const mode of modes) {
  const rs = results[mode]!;
  const rate = median(rs.map((x) => x.rate));
  lost += rs.reduce((a, x) => a + (x.n - x.stored), 0);
  log(`tributary ${mode.padEnd(5)} ${String(rate).padStart(8)} msg/s  = ${(rate / drainLimit).toFixed(2)}× broker drain, ${(rate / ingestLimit).toFixed(2)}× InfluxDB ingest;`
    + ` peak RSS ${median(rs.map((x) => x.peakRssMb))} MB; ${median(rs.map((x) => x.cpuUsPerMsg))} µs CPU/msg; stored ${rs.map((x) => x.stored).join('/')} of ${n}`);
}
process.exit(lost === 0 ? 0 : 1);

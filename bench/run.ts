// `npm run bench`: the standard workload (1,000 devices, QoS 1) through a real Tributary worker into
// the real InfluxDB, next to the machine's limits measured in the same run, and optionally the
// Node-RED peer from ../shared/bench on the same workload. In drain mode each run also measures the
// minimal consumer with the same delivery guarantee (bench/reference-consumer.mjs): the full
// pipeline's rate as a ratio to what that guarantee alone costs on this machine, in the same run.
//   npm run bench -- [--n 200000] [--runs 3] [--mode drain|live|both] [--formats json,msgpack,protobuf] [--workers 1,2] [--peer]
// --workers: each count of workers in one share group is measured in every run; a row for N > 1 sums
// their peak RSS and CPU per message and compares them with one worker's (scaling on one host).
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { FleetFormat } from '../pipeline/cli/fleet-simulator.js';
import { brokerDrainRate, influxIngestRate } from './lib/limits.js';
import { median } from './lib/measure.js';
import { measurePeer, PEER_SCRIPT } from './lib/peer.js';
import { targetLines } from './lib/targets.js';
import { measureTributary, type E2eResult } from './lib/tributary.js';

const { values: o } = parseArgs({
  options: {
    n: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
    formats: { type: 'string', default: 'json' },
    peer: { type: 'boolean', default: false },
    workers: { type: 'string', default: '1,2' },
  },
});
const n = Number(o.n),
  runs = Number(o.runs),
  workerCounts = o.workers.split(',').map(Number);
const mqttPort = Number(process.env.TRIBUTARY_MQTT_PORT ?? 1884);
const influx = process.env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086';
const modes = o.mode === 'both' ? (['drain', 'live'] as const) : [o.mode as 'drain' | 'live'];
const formats = o.formats.split(',') as FleetFormat[];
const log = (s: string) => console.log(s);

log(
  `Tributary bench: N=${n} QoS 1 messages, 1,000 devices, formats ${formats.join('/')}, ${workerCounts.join(' and ')} worker(s), ${runs} run(s) per figure (medians)`,
);
const drainLimits: number[] = [],
  brokerCpu: number[] = [],
  ingestLimits: number[] = [];
const results = new Map<string, E2eResult[]>();
const references = new Map<string, E2eResult[]>();
for (let r = 0; r < runs; r++) {
  const drain = await brokerDrainRate(mqttPort, n, `benchlimit${process.pid}r${r}`);
  drainLimits.push(drain.rate);
  brokerCpu.push(drain.brokerUsPerMsg);
  log(
    `  run ${r + 1}: broker drain to mosquitto_sub ${drain.rate} msg/s (mosquitto ${drain.brokerUsPerMsg} µs CPU/msg)`,
  );
  ingestLimits.push(await influxIngestRate(influx, n));
  log(`  run ${r + 1}: InfluxDB ingest (2 writers) ${ingestLimits.at(-1)} points/s`);
  for (const format of formats) {
    for (const mode of modes) {
      // Drain mode: the reference consumer runs next to Tributary, first in every other run, so
      // that the machine's drift within a run favours neither.
      if (mode === 'drain' && r % 2 === 1) await measureReference(format, r);
      for (const workers of workerCounts) {
        const res = await measureTributary({ mqttPort, influx, n, mode, format, workers }, r);
        const key = `${mode} ${format}${workers > 1 ? ` ×${workers}` : ''}`;
        results.set(key, [...(results.get(key) ?? []), res]);
        log(
          `  run ${r + 1}: tributary ${key}: ${res.stored}/${n} points in ${res.seconds.toFixed(2)} s = ${res.rate} msg/s, peak RSS ${res.peakRssMb} MB, ${res.cpuUsPerMsg} µs CPU/msg` +
            (mode === 'drain'
              ? ` (meanwhile ${Object.entries(res.serviceCpuUsPerMsg)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(', ')} µs/msg)`
              : '') +
            (res.publishRate ? ` (publisher ${res.publishRate} msg/s)` : ''),
        );
      }
      if (mode === 'drain' && r % 2 === 0) await measureReference(format, r);
    }
  }
}

async function measureReference(format: FleetFormat, r: number): Promise<void> {
  const ref = await measureTributary(
    { mqttPort, influx, n, mode: 'drain', format, workers: 1, consumer: 'reference' },
    r,
  );
  references.set(format, [...(references.get(format) ?? []), ref]);
  log(
    `  run ${r + 1}: reference consumer drain ${format}: ${ref.stored}/${n} points in ${ref.seconds.toFixed(2)} s = ${ref.rate} msg/s, peak RSS ${ref.peakRssMb} MB, ${ref.cpuUsPerMsg} µs CPU/msg`,
  );
}
const peer = o.peer ? await measurePeer(n, runs, 'drain') : undefined;
if (o.peer)
  log(peer ? `  peer (median of ${runs}): ${peer.line}` : `  peer: not measured (${PEER_SCRIPT} missing or failed)`);

const drainLimit = median(drainLimits),
  ingestLimit = median(ingestLimits),
  brokerUs = median(brokerCpu);
const cores = availableParallelism();
log('');
log(
  `limit      broker drain (mosquitto_sub)  ${drainLimit} msg/s; the broker spent ${brokerUs} µs CPU per message, so even on a core of its own it delivers at most ${Math.round(1e6 / Math.max(1, brokerUs))} msg/s`,
);
log(`limit      InfluxDB ingest               ${ingestLimit} points/s`);
if (peer) log(`peer       Node-RED drain (acks on arrival) ${peer.rate} msg/s, rss ${peer.rssMb} MB`);
for (const [format, rs] of references) {
  log(
    `reference  drain ${format.padEnd(10)} ${String(median(rs.map((x) => x.rate))).padStart(7)} msg/s (minimal consumer, PUBACK after the 204, no alerts); peak RSS ${median(rs.map((x) => x.peakRssMb))} MB; ${median(rs.map((x) => x.cpuUsPerMsg))} µs CPU/msg`,
  );
}
let lost = 0;
for (const [key, rs] of results) {
  const rate = median(rs.map((x) => x.rate));
  const [mode, format, many] = key.split(' ') as ['drain' | 'live', FleetFormat, string | undefined];
  // The reference consumer is one process: it is compared with one worker.
  const reference = mode === 'drain' && many === undefined ? references.get(format) : undefined;
  const one = many === undefined ? undefined : results.get(`${mode} ${format}`);
  lost += [...rs, ...(reference ?? [])].reduce((a, x) => a + (x.n - x.stored), 0);
  const vsPeer = peer && mode === 'drain' ? `, ${(rate / peer.rate).toFixed(2)}× Node-RED` : '';
  const vsReference = reference
    ? `, ${(rate / median(reference.map((x) => x.rate))).toFixed(2)}× the reference consumer`
    : '';
  const publishRate = median(rs.map((x) => x.publishRate ?? 0));
  const pace = publishRate > 0 ? `, ${(rate / publishRate).toFixed(2)}× the publisher (${publishRate} msg/s)` : '';
  const rss = median(rs.map((x) => x.peakRssMb)),
    cpu = median(rs.map((x) => x.cpuUsPerMsg));
  // Peak RSS against the 150 MB target; in drain mode RSS and CPU also against the reference consumer's.
  const ofReference = (mine: number, pick: (x: E2eResult) => number) =>
    reference ? `${(mine / median(reference.map(pick))).toFixed(2)}× the reference's` : undefined;
  const cpuVsReference = ofReference(cpu, (x) => x.cpuUsPerMsg);
  // What the services cost per message in the same drains bounds any consumer: the broker runs on
  // one thread, and all of them share the cores with the consumer.
  const serviceUs = (name?: string) =>
    median(
      rs.map((x) =>
        Object.entries(x.serviceCpuUsPerMsg).reduce((a, [k, v]) => a + (name === undefined || k === name ? v : 0), 0),
      ),
    );
  const [brokerUsMeanwhile, servicesUs] = [serviceUs('mosquitto'), serviceUs()];
  const vsOne = one
    ? ` (${many?.slice(1)} workers: ${(rate / median(one.map((x) => x.rate))).toFixed(2)}× one worker's rate, ${(cpu / median(one.map((x) => x.cpuUsPerMsg))).toFixed(2)}× its CPU per message)`
    : '';
  const budget =
    mode === 'drain' && brokerUsMeanwhile > 0
      ? `; CPU budget: mosquitto ${brokerUsMeanwhile} µs/msg (one thread: at most ${Math.round(1e6 / brokerUsMeanwhile)} msg/s),` +
        ` mosquitto + influxd + redis ${servicesUs} µs/msg (${cores} cores: at most ${Math.round((cores * 1e6) / servicesUs)} msg/s for a consumer that cost nothing, ${Math.round((cores * 1e6) / (servicesUs + cpu))} with Tributary's)`
      : '';
  log(
    `tributary  ${key.padEnd(16)} ${String(rate).padStart(7)} msg/s = ${(rate / drainLimit).toFixed(2)}× broker drain, ${(rate / ingestLimit).toFixed(2)}× InfluxDB ingest${vsReference}${vsPeer}${pace}${vsOne};` +
      ` peak RSS ${rss} MB (${[`${(rss / Number(many?.slice(1) ?? 1) / 150).toFixed(2)}× the 150 MB target per worker`, ofReference(rss, (x) => x.peakRssMb)].filter(Boolean).join(', ')});` +
      ` ${cpu} µs CPU/msg${cpuVsReference ? ` (${cpuVsReference})` : ''}${budget}; stored ${rs.map((x) => x.stored).join('/')} of ${n}`,
  );
}
log('');
for (const l of targetLines({ results, references, brokerDrain: drainLimit })) log(l);
process.exit(lost === 0 ? 0 : 1);

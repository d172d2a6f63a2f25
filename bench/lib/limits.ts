// The machine's limits, measured in the same run as Tributary: the broker's drain rate to its own
// C client, and InfluxDB's line-protocol ingest rate.
import { simulateFleet } from '../../pipeline/cli/fleet-simulator.js';
import { cpuSeconds, influxStatement, run, servicePids } from './measure.js';

/** The broker's drain: msg/s to mosquitto_sub, and the broker's own CPU µs per message meanwhile. */
export interface BrokerDrain {
  readonly rate: number;
  readonly brokerUsPerMsg: number;
}

/** N QoS 1 messages queued for an offline persistent session, then drained by mosquitto_sub (output discarded). */
export async function brokerDrainRate(mqttPort: number, n: number, root: string): Promise<BrokerDrain> {
  const id = `bench-drain-${process.pid}`;
  const base = ['-h', '127.0.0.1', '-p', String(mqttPort), '-i', id, '-q', '1', '-t', `${root}/#`];
  await run('mosquitto_sub', [...base, '-c', '-E']);
  await simulateFleet({ url: `mqtt://127.0.0.1:${mqttPort}`, root, messages: n });
  const brokers = servicePids().filter((s) => s.name === 'mosquitto'); // the stock one idles meanwhile
  const brokerCpu = () => brokers.reduce((a, s) => a + cpuSeconds(s.pid), 0);
  const cpu0 = brokerCpu(),
    t0 = Date.now();
  await run('mosquitto_sub', [...base, '-c', '-C', String(n)], process.env, true);
  const rate = Math.round((n * 1000) / (Date.now() - t0));
  const brokerUsPerMsg = Math.round(((brokerCpu() - cpu0) * 1e6) / n);
  await run('mosquitto_sub', [...base, '-E']); // clean session: wipe it
  return { rate, brokerUsPerMsg };
}

/** Points per second InfluxDB ingests for the workload's lines, batches of 5,000, `concurrency` writers. */
export async function influxIngestRate(influx: string, n: number, concurrency = 2): Promise<number> {
  const db = `bench_ingest_${process.pid}`;
  await influxStatement(influx, `DROP DATABASE "${db}"`);
  await influxStatement(influx, `CREATE DATABASE "${db}"`);
  const base = Date.now() - n;
  const batches: string[] = [];
  for (let i = 0; i < n; i += 5000) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(n, i + 5000); j++) {
      const d = j % 1000;
      lines.push(
        `telemetry,device=dev-${d},site=site-${Math.floor(d / 100)} temperature=${(20 + (j % 70) / 10).toFixed(2)},humidity=47.6,battery=${j % 100}i,status="ok" ${(base + j) * 1e6}`,
      );
    }
    batches.push(lines.join('\n'));
  }
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches.length) {
        const body = batches[next++]!;
        const res = await fetch(`${influx}/write?db=${db}&precision=n`, { method: 'POST', body });
        if (res.status !== 204) throw new Error(`ingest write ${res.status}`);
      }
    }),
  );
  const rate = Math.round((n * 1000) / (Date.now() - t0));
  await influxStatement(influx, `DROP DATABASE "${db}"`);
  return rate;
}

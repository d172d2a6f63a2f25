// What a 10 s window per device costs: the fleet pipeline with and without `aggregateWindow` on
// shared state (Redis), msg/s and worker CPU µs per message.
//   npx tsx bench/window-cost.ts [--n 100000] [--rate 5000] [--runs 1] [--modes none,shared]
// Live: one worker runs while N messages (1,000 devices, each 5 msg/s at 5,000 msg/s) are published
// at `rate`; timed from the first publish until every message is acknowledged (points in InfluxDB
// for none, points in the windows' state for shared); the worker's CPU is counted over the same span
// plus, for shared, until the aggregates are written.
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { parseArgs } from 'node:util';
import { fleetMessage, offlineAggregates, publishFleet } from '../test/support/fleet-windows.js';
import { countPoints, cpuSeconds, influxStatement, median, sleep, startProcess } from './lib/measure.js';

const { values: o } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '5000' },
    runs: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'none,shared' },
  },
});
const N = Number(o.n);
const MQTT = process.env.TRIBUTARY_MQTT_URL ?? 'mqtt://127.0.0.1:1884';
const INFLUX = process.env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086';
const REDIS = process.env.TRIBUTARY_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Result {
  mode: string;
  rate: number;
  cpuUsPerMsg: number;
  seconds: number;
}

async function measure(mode: string, run: number): Promise<Result> {
  const name = `benchwin_${mode}_${process.pid}_${run}`;
  const prefix = `tributary-bench:${name}`;
  const env = {
    ...process.env,
    TRIBUTARY_MQTT_URL: MQTT,
    TRIBUTARY_INFLUX_URL: INFLUX,
    TRIBUTARY_REDIS_URL: REDIS,
    TRIBUTARY_INFLUX_DATABASE: name,
    TRIBUTARY_GROUP: name,
    TRIBUTARY_LOG_LEVEL: 'error',
    FLEET_TOPIC_ROOT: name,
    BENCH_WINDOW: mode,
    BENCH_STATE_PREFIX: prefix,
    DEAD_LETTER_STREAM: `${prefix}:dl`,
  };
  // BENCH_WORKER_NODE_ARGS: node flags for the worker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const start = () =>
    startProcess(process.execPath, [...nodeArgs, 'bin/tributary.mjs', 'run', 'bench/window-pipeline.ts'], env, /ready/);
  const worker = await start();
  await sleep(2000); // past start-up
  const rate = Number(o.rate);
  const t0 = Date.now();
  const messages = Array.from({ length: N }, (_, i) => fleetMessage(name, i, t0, rate, 1000));
  const windows = offlineAggregates(messages, 10_000).size;
  const redis = new Redis(REDIS);
  const inState = async () => {
    let total = 0;
    for (const k of await redis.keys(`${prefix}:*:w:*`)) total += await redis.hlen(k);
    return total;
  };
  const pid = worker.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const started = Date.now();
  await publishFleet(messages, rate, `${name}-pub`);
  const acked =
    mode === 'none' ? async () => (await countPoints(INFLUX, name)) >= N : async () => (await inState()) >= N;
  while (!(await acked())) await sleep(200);
  const seconds = (Date.now() - started) / 1000;
  if (mode !== 'none') while ((await countPoints(INFLUX, name, 'temperature_count')) < windows) await sleep(200);
  const cpu = cpuSeconds(pid) - cpu0;
  worker.child.kill('SIGTERM');
  await worker.exited;
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await influxStatement(INFLUX, `DROP DATABASE "${name}"`);
  const c = await mqtt.connectAsync(MQTT, {
    clientId: `${name}-0`,
    clean: true,
    protocolVersion: 5,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0 },
  });
  await c.endAsync();
  return { mode, rate: Math.round(N / seconds), cpuUsPerMsg: Math.round(((cpu * 1e6) / N) * 10) / 10, seconds };
}

const results: Result[] = [];
for (let r = 0; r < Number(o.runs); r++) for (const mode of o.modes.split(',')) results.push(await measure(mode, r));
for (const mode of o.modes.split(',')) {
  const rs = results.filter((x) => x.mode === mode);
  console.log(
    JSON.stringify({
      mode,
      n: N,
      rate: median(rs.map((x) => x.rate)),
      cpuUsPerMsg: median(rs.map((x) => x.cpuUsPerMsg)),
      runs: rs,
    }),
  );
}

// `npm run demo`: a simulated fleet of 1,000 devices → two pipeline workers in one share group →
// InfluxDB (and dead letters in Redis), with a live status line, then a summary read back from InfluxDB.
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { Queue } from 'bullmq';
import { createLogger, Runtime, workerEnv } from '../pipeline/index.js';
import { listDeadLetters } from '../sinks/index.js';
import { summarizeAlerts } from './fleet-alerts.js';
import { simulateFleet } from '../pipeline/cli/fleet-simulator.js';

const DURATION_S = Number(process.env.DEMO_SECONDS ?? 20);
const RATE = Number(process.env.DEMO_RATE ?? 2500);
const WORKERS = 2;
process.env.TRIBUTARY_INFLUX_DATABASE ??= 'fleet_demo';
process.env.TRIBUTARY_GROUP ??= 'demo';
process.env.TRIBUTARY_LOG_LEVEL ??= 'warn';
process.env.FLEET_ALERT_QUEUE ??= 'demo-alerts';
const alertQueueName = process.env.FLEET_ALERT_QUEUE;
const env = workerEnv();
const log = createLogger();
const startedAt = Date.now();

// Each worker loads the example pipeline with its own client id, as `tributary run --workers 2` would.
async function startWorker(index: number): Promise<Runtime> {
  process.env.TRIBUTARY_WORKER_INDEX = String(index);
  const mod = (await import(`./fleet.ts?worker=${index}`)) as typeof import('./fleet.js');
  const def = mod.default;
  const runtime = new Runtime({
    source: def.source,
    stages: def.stages,
    sinks: def.sinks,
    deadLetters: def.deadLetters!,
    log,
  });
  await runtime.start();
  return runtime;
}

/** Each demo run starts with no alert state or jobs in its own queue (never the production 'alerts'). */
async function resetAlerts(): Promise<void> {
  const redis = new Redis(env.redis.url, { maxRetriesPerRequest: null });
  await new Queue(alertQueueName, { connection: redis }).obliterate({ force: true });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `tributary:alerts:{${alertQueueName}}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

// The demo's workers use persistent sessions, as real workers do. Between demo runs those sessions
// would queue everything published on fleet/... for the next run, so the demo starts and ends
// with them discarded.
const clientIds = Array.from({ length: WORKERS }, (_, i) => `${env.mqtt.group}-${i}`);
async function discardSessions(): Promise<void> {
  for (const clientId of clientIds) {
    const c = await mqtt.connectAsync(env.mqtt.url, {
      clientId,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 0 },
    });
    await c.endAsync();
  }
}
await discardSessions();
await resetAlerts();
const workers: Runtime[] = [];
for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(i));
const sum = (f: (r: Runtime) => number) => workers.reduce((a, r) => a + f(r), 0);
const written = () => sum((r) => r.stats.delivered.get('influxdb') ?? 0);
const tty = process.stdout.isTTY === true;
let last = { t: Date.now(), received: 0, written: 0 };
const ticker = setInterval(() => {
  const now = Date.now(),
    dt = (now - last.t) / 1000,
    received = sum((r) => r.stats.received),
    w = written();
  const line =
    `[${Math.round((now - startedAt) / 1000)}s] received ${received} (${Math.round((received - last.received) / dt)}/s)` +
    `  written ${w} (${Math.round((w - last.written) / dt)}/s)  unacked ${sum((r) => r.stats.unsettled)}` +
    `  dead letters ${sum((r) => r.stats.deadLettered)}`;
  last = { t: now, received, written: w };
  process.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
}, 1000);

console.log(
  `Tributary demo: ${WORKERS} workers in share group "${env.mqtt.group}", 1,000 devices, ${RATE} msg/s for ${DURATION_S} s → InfluxDB database "${env.influx.database}"`,
);
// Three devices overheat for the middle of the run (alerts fire, then resolve); two run low on battery.
const sent = await simulateFleet({
  url: env.mqtt.url,
  messages: RATE * DURATION_S,
  ratePerS: RATE,
  malformedShare: 0.001,
  seed: Date.now() % 1000,
  hotDevices: [17, 342, 808],
  hotDuring: [0.2, 0.6],
  lowBatteryDevices: [123, 654],
});
const drained = await Promise.all(workers.map((w) => w.stop(15_000)));
await discardSessions();
clearInterval(ticker);
if (tty) process.stdout.write('\n');

const q = async (query: string) => {
  const url = `${env.influx.url}/query?${new URLSearchParams({ db: env.influx.database ?? '', q: query })}`;
  return (await (await fetch(url)).json()) as {
    results: Array<{ series?: Array<{ tags?: Record<string, string>; values: unknown[][] }> }>;
  };
};
const since = `time >= ${startedAt}ms`;
const perSite = await q(`SELECT count(temperature) FROM telemetry WHERE ${since} GROUP BY site`);
const stored = (perSite.results[0]?.series ?? []).map((s) => ({
  site: s.tags?.site ?? '?',
  points: Number(s.values[0]?.[1]),
}));
const total = stored.reduce((a, s) => a + s.points, 0);
const redis = new Redis(env.redis.url);
const letters = (await listDeadLetters(redis, 'tributary:dead-letters', 100_000)).filter(
  (l) => l.letter.receivedAtMs >= startedAt,
);
const alerts = await summarizeAlerts(redis, alertQueueName, { sinceMs: startedAt });
redis.disconnect();

console.log(
  `\nPublished ${sent.published} messages (${sent.malformed} malformed on purpose) in ${(sent.elapsedMs / 1000).toFixed(1)} s.`,
);
console.log(`Read back from InfluxDB: ${total} points in "${env.influx.database}".telemetry since the demo started:`);
for (const s of stored.sort((a, b) => a.site.localeCompare(b.site, undefined, { numeric: true })))
  console.log(`  ${s.site.padEnd(8)} ${s.points}`);
console.log(
  `Dead letters (Redis stream tributary:dead-letters): ${letters.length}${letters[0] ? `, e.g. ${letters[0].letter.code}: ${letters[0].letter.reason}` : ''}`,
);
const perRule = (c: { byRule: Readonly<Record<string, number>> }) =>
  Object.entries(c.byRule)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ') || 'none';
console.log(
  `Alerts (BullMQ queue "${alertQueueName}"): fired ${alerts.fired.total} (${perRule(alerts.fired)}), resolved ${alerts.resolved.total} (${perRule(alerts.resolved)}), still firing ${alerts.stillFiring.length}`,
);
for (const name of alerts.stillFiring.slice(0, 5)) console.log(`  still firing: ${name}`);
const ok = drained.every(Boolean) && total + letters.length === sent.published;
console.log(
  ok
    ? 'Every message is accounted for: stored as a point or kept as a dead letter.'
    : `MISMATCH: ${sent.published} published, ${total} stored, ${letters.length} dead letters`,
);
process.exit(ok ? 0 : 1);

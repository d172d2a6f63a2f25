// A real worker of examples/fleet-postgres.ts (InfluxDB and PostgreSQL at once) SIGKILLed
// mid-stream and restarted: every published message ends up as exactly one row in PostgreSQL
// and one point in InfluxDB.
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { simulateFleet } from '../../../pipeline/cli/fleet-simulator.js';
import { startCli, type CliProcess } from '../../support/cli-process.js';
import { fleetSetup, wipeSession } from '../../support/fleet-pipeline.js';
import { countPoints, INFLUX_URL, MQTT_URL, POSTGRES_URL, REDIS_URL, waitFor } from '../../support/services.js';

const N = 30_000;
const RATE = 5_000;
const setup = fleetSetup('pgkill');
const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
const env = {
  TRIBUTARY_MQTT_URL: MQTT_URL,
  TRIBUTARY_INFLUX_URL: INFLUX_URL,
  TRIBUTARY_REDIS_URL: REDIS_URL,
  TRIBUTARY_INFLUX_DATABASE: setup.db,
  TRIBUTARY_GROUP: setup.name,
  TRIBUTARY_POSTGRES_URL: POSTGRES_URL,
  TRIBUTARY_POSTGRES_SCHEMA: setup.name,
  FLEET_TOPIC_ROOT: setup.root,
  TRIBUTARY_LOG_LEVEL: 'warn',
};
let worker: CliProcess | undefined;

async function startWorker(): Promise<CliProcess> {
  const w = startCli(['run', 'examples/fleet-postgres.ts'], env);
  await w.waitForOutput(/ready/);
  return w;
}

async function pgCount(sql: string): Promise<number> {
  try {
    return Number(((await admin.query(sql)).rows[0] as { n: string }).n);
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return 0; // the table comes with the first reading
    throw error;
  }
}

afterAll(async () => {
  worker?.child.kill('SIGTERM');
  await worker?.exited;
  await wipeSession(setup.clientId);
  await admin.query(`DROP SCHEMA IF EXISTS "${setup.name}" CASCADE`);
  await admin.end();
});

it('loses and duplicates nothing when the worker is SIGKILLed three times mid-stream', async () => {
  worker = await startWorker();
  let sent = 0;
  const publishing = simulateFleet({
    url: MQTT_URL,
    root: setup.root,
    messages: N,
    ratePerS: RATE,
    onProgress: (n) => {
      sent = n;
    },
  });
  for (const share of [0.25, 0.5, 0.75]) {
    await waitFor(() => sent >= share * N, 60_000, 20);
    worker.child.kill('SIGKILL');
    await worker.exited;
    worker = await startWorker();
  }
  const { published } = await publishing;
  const table = `"${setup.name}".telemetry`;
  await waitFor(
    async () =>
      (await pgCount(`SELECT count(*) AS n FROM ${table}`)) >= published && (await countPoints(setup.db)) >= published,
    60_000,
    500,
  );

  const rows = await pgCount(`SELECT count(*) AS n FROM ${table}`);
  const distinct = await pgCount(`SELECT count(DISTINCT (series, time)) AS n FROM ${table}`);
  const perDevice = (await admin.query(`SELECT count(*)::int AS n FROM ${table} GROUP BY device`)).rows as Array<{
    n: number;
  }>;
  // A row whose xmax is set was written again by an upsert: a message redelivered after its COMMIT.
  const rewritten = await pgCount(`SELECT count(*) AS n FROM ${table} WHERE xmax <> 0`);
  const points = await countPoints(setup.db);
  console.log(
    `postgres kill test: published ${published} / rows ${rows} / duplicates ${rows - distinct} / rows rewritten by redelivery ${rewritten} / influx points ${points}`,
  );
  expect(published).toBe(N);
  expect(rows).toBe(published);
  expect(distinct).toBe(rows);
  expect(perDevice).toHaveLength(1000);
  expect(perDevice.every((d) => d.n === N / 1000)).toBe(true);
  expect(points).toBe(published);
}, 180_000);

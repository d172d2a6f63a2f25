// Orphaned share-group sessions: Mosquitto keeps giving an offline persistent member its share of
// the group's messages. A live worker drains such a session after the grace; operators can do it
// with `tributary sessions`. Real broker, InfluxDB and Redis; workers as real processes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { simulateFleet } from '../../../pipeline/cli/fleet-simulator.js';
import { statusTopic } from '../../../pipeline/engine/ingest/presence.js';
import { WorkerSessions } from '../../../pipeline/engine/ingest/worker-sessions.js';
import { fleetSetup, wipeSession, type FleetTestSetup } from '../../support/fleet-pipeline.js';
import { countPoints, INFLUX_URL, MQTT_URL, REDIS_URL, waitFor } from '../../support/services.js';
import { startFleetWorker, type WorkerProcess } from '../../support/worker-process.js';

const run = promisify(execFile);
const started: WorkerProcess[] = [];
afterAll(async () => {
  for (const w of started) w.child.kill('SIGTERM');
  await Promise.all(started.map((w) => w.exited));
});

function cliEnv(setup: FleetTestSetup): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TRIBUTARY_MQTT_URL: MQTT_URL,
    TRIBUTARY_INFLUX_URL: INFLUX_URL,
    TRIBUTARY_REDIS_URL: REDIS_URL,
    TRIBUTARY_INFLUX_DATABASE: setup.db,
    TRIBUTARY_GROUP: setup.name,
    FLEET_TOPIC_ROOT: setup.root,
    FLEET_ALERT_QUEUE: `${setup.name}-alerts`,
    TRIBUTARY_LOG_LEVEL: 'warn',
  };
}

/** A member of `setup`'s group that subscribed, went away and left its session queueing `n` messages. */
async function orphanWithQueue(setup: FleetTestSetup, clientId: string, n: number): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, {
    clientId,
    clean: false,
    protocolVersion: 5,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 3600 },
  });
  await c.subscribeAsync(`$share/${setup.name}/${setup.root}/+/+/telemetry`, { qos: 1 });
  await c.publishAsync(
    statusTopic(clientId),
    JSON.stringify({ state: 'offline', clientId, group: setup.name, graceful: false }),
    { qos: 1, retain: true },
  );
  await c.endAsync();
  await simulateFleet({ url: MQTT_URL, root: setup.root, messages: n, devices: 100, sites: 4 });
}

/** Whether the broker still has `clientId`'s session (looking ends it: call it once the drain is over). */
async function sessionPresent(clientId: string): Promise<boolean> {
  const c = mqtt.connect(MQTT_URL, {
    clientId,
    clean: false,
    protocolVersion: 5,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0 },
  });
  const present = await new Promise<boolean>((resolve, reject) => {
    c.once('connect', (connack) => resolve(connack.sessionPresent));
    c.once('error', reject);
  });
  await c.endAsync();
  return present;
}

/** Whether `clientId` still has a retained presence status (a drain clears it before ending the session). */
async function hasPresence(clientId: string): Promise<boolean> {
  const sessions = await WorkerSessions.open(MQTT_URL);
  try {
    return sessions.list().some((w) => w.clientId === clientId);
  } finally {
    await sessions.close();
  }
}

describe('orphaned share-group sessions', () => {
  it('3 workers, one SIGKILLed and never restarted during 200k messages: every message stored', async () => {
    const setup = fleetSetup('orphans');
    const graceS = 5;
    const env = { TRIBUTARY_ORPHAN_GRACE_S: String(graceS), TRIBUTARY_LOG_LEVEL: 'info' };
    const workers = await Promise.all([0, 1, 2].map((i) => startFleetWorker(setup, i, env)));
    started.push(...workers);
    let sent = 0;
    const publishing = simulateFleet({
      url: MQTT_URL,
      root: setup.root,
      messages: 200_000,
      ratePerS: 20_000,
      onProgress: (n) => {
        sent = n;
      },
    });
    await waitFor(() => sent >= 40_000, 60_000, 20);
    workers[2]!.child.kill('SIGKILL');
    const killedAt = Date.now();
    const { published } = await publishing;
    expect(await waitFor(async () => (await countPoints(setup.db)) >= published, 180_000, 1000)).toBe(true);
    const recoveredS = (Date.now() - killedAt) / 1000;
    const stored = await countPoints(setup.db);
    console.log(
      `orphaned member: published ${published} / stored ${stored} / lost ${published - stored} / all stored ${recoveredS.toFixed(1)} s after the kill (grace ${graceS} s)`,
    );
    expect(stored).toBe(published);
    // the drain ends once the orphan's queue was quiet for 2 s, after its last points were stored
    const output = () => workers[0]!.output() + workers[1]!.output();
    expect(await waitFor(() => /orphaned session drained and ended/.test(output()), 60_000, 200)).toBe(true);
    expect(output()).toContain(`${setup.name}-2`);
    // the drained session is gone, and so is its presence
    expect(await sessionPresent(`${setup.name}-2`)).toBe(false);
    for (const i of [0, 1]) await wipeSession(`${setup.name}-${i}`);
  }, 300_000);

  it('tributary sessions list shows the orphan, drain writes its queue and ends it', async () => {
    const setup = fleetSetup('sessions-cli');
    const orphan = `${setup.name}-7`;
    await orphanWithQueue(setup, orphan, 2_000);
    const env = cliEnv(setup);
    const list = await run(process.execPath, ['bin/tributary.mjs', 'sessions', 'list'], { env });
    expect(list.stdout).toMatch(new RegExp(`^${orphan}\\t${setup.name}\\toffline \\(lost\\)`, 'm'));
    const drain = await run(process.execPath, ['bin/tributary.mjs', 'sessions', 'drain', 'examples/fleet.ts', orphan], {
      env,
      timeout: 120_000,
    });
    expect(drain.stdout).toContain(`${orphan} drained and ended`);
    expect(await countPoints(setup.db)).toBe(2_000);
    expect(await sessionPresent(orphan)).toBe(false);
    const after = await run(process.execPath, ['bin/tributary.mjs', 'sessions', 'list'], { env });
    expect(after.stdout).not.toContain(orphan);
  }, 180_000);

  it('tributary sessions forget ends a session without writing its queue', async () => {
    const setup = fleetSetup('sessions-forget');
    const orphan = `${setup.name}-3`;
    await orphanWithQueue(setup, orphan, 100);
    const forget = await run(process.execPath, ['bin/tributary.mjs', 'sessions', 'forget', orphan], {
      env: cliEnv(setup),
    });
    expect(forget.stdout).toContain('dropped');
    expect(await sessionPresent(orphan)).toBe(false);
    expect(await countPoints(setup.db)).toBe(0);
  }, 60_000);

  it('run --workers 2 drains the sessions of members 2.. of a larger pool at once, without the grace', async () => {
    const setup = fleetSetup('shrink');
    await orphanWithQueue(setup, `${setup.name}-2`, 3_000);
    await orphanWithQueue(setup, `${setup.name}-3`, 0);
    const child = execFile(process.execPath, ['bin/tributary.mjs', 'run', 'examples/fleet.ts', '--workers', '2'], {
      env: { ...cliEnv(setup), TRIBUTARY_ORPHAN_GRACE_S: '3600' },
    });
    try {
      expect(await waitFor(async () => (await countPoints(setup.db)) === 3_000, 90_000, 500)).toBe(true);
      for (const i of [2, 3])
        expect(await waitFor(async () => !(await hasPresence(`${setup.name}-${i}`)), 60_000, 1000)).toBe(true);
      await new Promise((r) => setTimeout(r, 500)); // the session ends right after the presence is cleared
      for (const i of [2, 3]) expect(await sessionPresent(`${setup.name}-${i}`)).toBe(false);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
    for (const i of [0, 1]) await wipeSession(`${setup.name}-${i}`);
  }, 180_000);
});

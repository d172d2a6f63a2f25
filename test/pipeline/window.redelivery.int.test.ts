// aggregateWindow against the real broker and InfluxDB: a worker SIGKILLed with windows open loses
// nothing and writes nothing partial; its successor writes the same aggregates as a run without the kill.
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { PipelineDefinition } from '../../pipeline/engine/builder.js';
import { testPipeline } from '../../pipeline/testing.js';
import type { Reading } from '../../pipeline/core/types.js';
import { fleetSetup, wipeSession } from '../support/fleet-pipeline.js';
import { INFLUX_URL, influxQuery, MQTT_URL, REDIS_URL, waitFor } from '../support/services.js';

const EVERY_MS = 10_000;
const LATENESS_MS = 5_000;
const setup = fleetSetup('window');
const devices = ['site-1/dev-1', 'site-1/dev-2', 'site-2/dev-3', 'site-2/dev-4'];
const PER_WINDOW = 25;
// Two windows ten minutes back: closed by event time, so each stays open LATENESS_MS from its first reading.
const W0 = Math.floor((Date.now() - 600_000) / EVERY_MS) * EVERY_MS;

interface Msg {
  topic: string;
  payload: string;
  window: number;
  half: 0 | 1;
}
const messages: Msg[] = [];
for (const [d, device] of devices.entries()) {
  for (const window of [0, 1]) {
    for (let i = 0; i < PER_WINDOW; i++) {
      const ts = W0 + window * EVERY_MS + i * 397 + d; // distinct times, not in window order below
      const temperature = Math.round((15 + ((i * 37 + d * 11 + window * 5) % 200) / 10 + 0.013 * i) * 1000) / 1000;
      messages.push({
        topic: `${setup.root}/${device}/telemetry`,
        payload: JSON.stringify({ ts, temperature, battery: 100 - ((i * 7) % 50) }),
        window,
        half: i % 2 === 0 ? 0 : 1,
      });
    }
  }
}
messages.reverse(); // arrival order is not event-time order

const children: Array<ReturnType<typeof spawn>> = []; // killed in afterAll should a test fail midway

function startWorker(): Promise<{
  kill: (s: NodeJS.Signals) => void;
  exited: Promise<number | string>;
  output: () => string;
}> {
  const child = spawn(process.execPath, ['bin/tributary.mjs', 'run', 'test/examples/windowed-fleet.ts'], {
    env: {
      ...process.env,
      TRIBUTARY_MQTT_URL: MQTT_URL,
      TRIBUTARY_INFLUX_URL: INFLUX_URL,
      TRIBUTARY_REDIS_URL: REDIS_URL,
      TRIBUTARY_INFLUX_DATABASE: setup.db,
      TRIBUTARY_GROUP: setup.name,
      TRIBUTARY_WORKER_INDEX: '0',
      TRIBUTARY_LOG_LEVEL: 'warn',
      FLEET_TOPIC_ROOT: setup.root,
      WINDOW_EVERY_MS: String(EVERY_MS),
      WINDOW_LATENESS_MS: String(LATENESS_MS),
      DEAD_LETTER_STREAM: setup.stream,
      WINDOW_TAP: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready in 20 s:\n${out}`)), 20_000);
    child.stdout!.on('data', () => {
      if (/ready/.test(out)) {
        clearTimeout(timer);
        resolve({ kill: (s) => child.kill(s), exited, output: () => out });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before ready:\n${out}`));
    });
  });
}

async function publish(batch: readonly Msg[]): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, {
    clientId: `${setup.name}-pub`,
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  for (const m of batch) await c.publishAsync(m.topic, m.payload, { qos: 1 });
  await c.endAsync();
}

/** The aggregates in InfluxDB, as `device window-start` → fields. */
async function stored(): Promise<Map<string, Record<string, unknown>>> {
  const r = await influxQuery(setup.db, 'SELECT * FROM "telemetry" GROUP BY *');
  const out = new Map<string, Record<string, unknown>>();
  for (const s of r.results[0]?.series ?? []) {
    for (const row of s.values) {
      const fields = Object.fromEntries(
        s.columns.map((c, i) => [c, row[i]]).filter(([c, v]) => c !== 'time' && v !== null),
      );
      out.set(`${s.tags!.device} ${String(row[0])}`, fields);
    }
  }
  return out;
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await wipeSession(setup.clientId);
  await influxQuery(setup.db, `DROP DATABASE "${setup.db}"`).catch(() => undefined);
  const redis = new Redis(REDIS_URL);
  await redis.del(setup.stream);
  redis.disconnect();
});

describe('aggregateWindow: delivery across a worker kill', () => {
  it('a worker SIGKILLed with two windows open: messages redelivered, aggregates written once, exactly as without the kill', async () => {
    const before = messages.filter((m) => m.window === 0 || m.half === 0);
    const after = messages.filter((m) => m.window === 1 && m.half === 1);
    const first = await startWorker();
    await publish(before); // window 0 complete, window 1 half
    expect(await waitFor(() => first.output().includes(`tap: ${before.length} readings in`), 10_000, 20)).toBe(true);
    expect((await stored()).size).toBe(0); // held in open windows, nothing written, nothing acknowledged
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    expect((await stored()).size).toBe(0);

    const second = await startWorker();
    await publish(after); // the rest of window 1 arrives after the restart, behind the redelivered half
    expect(await waitFor(async () => (await stored()).size === devices.length * 2, 30_000, 250)).toBe(true);
    expect(second.output()).toContain(`tap: ${messages.length} readings in`); // everything the first worker held came back
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0); // graceful drain: nothing left unacknowledged

    // Without a kill: the same pipeline file in memory, all messages, windows closed by the fake clock.
    Object.assign(process.env, {
      FLEET_TOPIC_ROOT: setup.root,
      WINDOW_EVERY_MS: String(EVERY_MS),
      WINDOW_LATENESS_MS: String(LATENESS_MS),
    });
    const def = (await import('../examples/windowed-fleet.js')).default as PipelineDefinition;
    const t = await testPipeline(def, { clock: Date.now() });
    for (const m of messages) await t.push(m.topic, m.payload);
    const baseline = (await t.advance(EVERY_MS + LATENESS_MS)).readings;
    await t.close();
    expect(baseline).toHaveLength(devices.length * 2);

    const db = await stored();
    for (const r of baseline as Reading[]) {
      const fields = Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, Number(v)]));
      expect(db.get(`${r.tags.device} ${r.timeNs}`)).toEqual(fields);
    }
    // And by hand, for one series and window.
    const temps = messages
      .filter((m) => m.topic.includes('/dev-3/') && m.window === 1)
      .map((m) => JSON.parse(m.payload) as { ts: number; temperature: number })
      .sort((a, b) => a.ts - b.ts)
      .map((p) => p.temperature);
    const sum = temps.reduce((a, b) => a + b, 0);
    expect(db.get(`dev-3 ${BigInt(W0 + EVERY_MS) * 1_000_000n}`)).toMatchObject({
      temperature_count: PER_WINDOW,
      temperature_sum: sum,
      temperature_mean: sum / PER_WINDOW,
      temperature_min: Math.min(...temps),
      temperature_max: Math.max(...temps),
      temperature_first: temps[0],
      temperature_last: temps.at(-1),
    });
    const redis = new Redis(REDIS_URL);
    expect(await redis.xlen(setup.stream)).toBe(0); // nothing was late or dead-lettered
    redis.disconnect();
  });
});

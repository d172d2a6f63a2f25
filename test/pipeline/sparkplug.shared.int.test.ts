// Sparkplug B across a share group, on the real broker, Redis and InfluxDB: three workers of
// test/examples/shared-sparkplug.ts, 50 edge nodes (each with a device) publish BIRTHs, then DATA
// by alias only. Every metric is decoded whichever worker took the DATA; one node skips a seq: the
// gap is dead-lettered once, with its reason, and a rebirth requested on that node's NCMD topic.
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { findType, loadSchema } from '../../pipeline/engine/decode/protobuf-message.js';
import { listDeadLetters } from '../../sinks/index.js';
import { startCli, type CliProcess } from '../support/cli-process.js';
import { wipeSession } from '../support/fleet-pipeline.js';
import { INFLUX_URL, influxQuery, MQTT_URL, REDIS_URL, uniqueName, waitFor } from '../support/services.js';

const NODES = 50;
const ROUNDS = 20;
const GAP_NODE = 7;
const GAP_ROUND = 5; // node 7's NDATA of this round is never published
const Payload = findType(
  loadSchema(fileURLToPath(new URL('../../schemas/sparkplug_b.proto', import.meta.url)), 'test'),
  'org.eclipse.tahu.protobuf.Payload',
)!;
const encode = (o: Record<string, unknown>) => Buffer.from(Payload.encode(Payload.fromObject(o)).finish());

const name = uniqueName('spb');
const group = name;
const workers: CliProcess[] = [];
const stream = `tributary-test:${name}:dead-letters`;
const prefix = `tributary-test:${name}`;

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  for (let i = 0; i < 3; i++) await wipeSession(`${name}-${i}`);
  await influxQuery(name, `DROP DATABASE "${name}"`).catch(() => undefined);
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.del(stream);
  redis.disconnect();
});

describe('Sparkplug B on shared state across a share group', () => {
  it('3 workers, 50 edge nodes: every metric decoded, a seq gap reported once with a rebirth request', async () => {
    for (let i = 0; i < 3; i++) {
      workers.push(
        startCli(['run', 'test/examples/shared-sparkplug.ts'], {
          TRIBUTARY_MQTT_URL: MQTT_URL,
          TRIBUTARY_INFLUX_URL: INFLUX_URL,
          TRIBUTARY_REDIS_URL: REDIS_URL,
          TRIBUTARY_INFLUX_DATABASE: name,
          TRIBUTARY_GROUP: name,
          TRIBUTARY_WORKER_INDEX: String(i),
          TRIBUTARY_LOG_LEVEL: 'warn',
          SPARKPLUG_GROUP: group,
          SPARKPLUG_STATE_PREFIX: prefix,
          DEAD_LETTER_STREAM: stream,
        }),
      );
    }
    await Promise.all(workers.map((w) => w.waitForOutput(/ready/, 30_000)));
    const c = await mqtt.connectAsync(MQTT_URL, { clientId: `${name}-edge`, protocolVersion: 5, reconnectPeriod: 0 });
    const rebirths: string[] = [];
    c.on('message', (topic) => rebirths.push(topic));
    await c.subscribeAsync(`spBv1.0/${group}/NCMD/#`, { qos: 1 });
    const t0 = Date.now() - 3_600_000;
    const seq = new Array<number>(NODES).fill(0);
    const next = (n: number) => {
      const s = seq[n]!;
      seq[n] = (s + 1) % 256;
      return s;
    };
    for (let n = 0; n < NODES; n++) {
      await c.publishAsync(
        `spBv1.0/${group}/NBIRTH/node-${n}`,
        encode({
          timestamp: t0,
          seq: next(n),
          metrics: [
            { name: 'bdSeq', datatype: 8, long_value: 0 },
            { name: 'temperature', alias: 1, datatype: 10, double_value: 20 },
            { name: 'pressure', alias: 2, datatype: 3, int_value: 1000 },
            { name: 'status', alias: 3, datatype: 12, string_value: 'ok' },
          ],
        }),
        { qos: 1 },
      );
      await c.publishAsync(
        `spBv1.0/${group}/DBIRTH/node-${n}/pump`,
        encode({ timestamp: t0, seq: next(n), metrics: [{ name: 'level', alias: 10, datatype: 9, float_value: 0.5 }] }),
        { qos: 1 },
      );
    }
    await new Promise((r) => setTimeout(r, 1500)); // the BIRTHs are in Redis before the DATA: an edge node's session starts so
    for (let round = 1; round <= ROUNDS; round++) {
      // Each node publishes a round every 150 ms: seqTolerance (8) is then over a second of slack for
      // a node's messages to reach Redis out of order through different workers.
      await new Promise((r) => setTimeout(r, 150));
      for (let n = 0; n < NODES; n++) {
        const ts = t0 + round * 1000;
        const s = next(n);
        if (!(n === GAP_NODE && round === GAP_ROUND)) {
          await c.publishAsync(
            `spBv1.0/${group}/NDATA/node-${n}`,
            encode({
              timestamp: ts,
              seq: s,
              metrics: [
                { alias: 1, double_value: 20 + n + round / 10 },
                { alias: 2, int_value: -round >>> 0 },
                { alias: 3, string_value: `r${round}` },
              ],
            }),
            { qos: 1 },
          );
        }
        await c.publishAsync(
          `spBv1.0/${group}/DDATA/node-${n}/pump`,
          encode({ timestamp: ts, seq: next(n), metrics: [{ alias: 10, float_value: round / 4 }] }),
          { qos: 1 },
        );
      }
    }
    const expectedNode = NODES * ROUNDS - 1; // NBIRTH rows aside
    const count = async (q: string) =>
      Number((await influxQuery(name, q)).results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
    const decoded = async () =>
      (await count(`SELECT count("status") FROM "sparkplug" WHERE time > ${(t0 + 500) * 1e6} AND "device" = ''`)) ===
        expectedNode &&
      (await count(`SELECT count("level") FROM "sparkplug" WHERE time > ${(t0 + 500) * 1e6}`)) === NODES * ROUNDS;
    const ok = await waitFor(decoded, 60_000, 500);
    if (!ok) {
      const redis = new Redis(REDIS_URL);
      const letters = await listDeadLetters(redis, stream, 20);
      redis.disconnect();
      const counts = [
        await count(`SELECT count("status") FROM "sparkplug" WHERE time > ${(t0 + 500) * 1e6} AND "device" = ''`),
        await count(`SELECT count("level") FROM "sparkplug" WHERE time > ${(t0 + 500) * 1e6}`),
      ];
      throw new Error(
        `not all decoded: ${JSON.stringify(counts)} of ${expectedNode}, ${NODES * ROUNDS}; dead letters ${JSON.stringify(letters.map((l) => [l.letter.code, l.letter.reason]))}\n${workers.map((w) => w.output().slice(-1500)).join('\n')}`,
      );
    }
    // Every metric of every DATA decoded with its BIRTH's name and datatype.
    const r = await influxQuery(
      name,
      `SELECT "temperature", "pressure", "status" FROM "sparkplug" WHERE "node" = 'node-3' AND "device" = '' AND time > ${(t0 + 500) * 1e6}`,
    );
    expect(r.results[0]?.series?.[0]?.values.map((v) => v.slice(1))).toEqual(
      Array.from({ length: ROUNDS }, (_, i) => [23 + (i + 1) / 10, -(i + 1), `r${i + 1}`]),
    );
    const redis = new Redis(REDIS_URL);
    const letters = await listDeadLetters(redis, stream);
    redis.disconnect();
    expect(letters.map((l) => [l.letter.code, l.letter.reason])).toEqual([
      [
        'sparkplug_seq_gap',
        `seq gap on edge node ${group}/node-${GAP_NODE}: seq ${2 * GAP_ROUND} never arrived (its data is lost; a rebirth is needed)`,
      ],
    ]);
    expect(await waitFor(() => rebirths.length >= 1, 10_000, 100)).toBe(true);
    expect(rebirths).toEqual([`spBv1.0/${group}/NCMD/node-${GAP_NODE}`]);
    await c.endAsync();
    for (const w of workers) w.child.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0, 0]);
  }, 180_000);
});

// `tributary dead-letters list|replay` as users run it, against real Redis and the real broker.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeDeadLetter, listDeadLetters } from '../../../sinks/index.js';
import { fleetSetup, wipeSession } from '../../support/fleet-pipeline.js';
import { MQTT_URL, REDIS_URL, influxQuery, uniqueName, waitFor } from '../../support/services.js';
import { startFleetWorker } from '../../support/worker-process.js';

const STREAM = 'tributary:dead-letters'; // the default, shared by every pipeline

const run = promisify(execFile);
const redis = new Redis(REDIS_URL);
afterAll(() => redis.disconnect());

describe('tributary dead-letters', () => {
  it('lists dead letters with reason and payload, and replays them to their topics', async () => {
    const stream = `tributary-test:${uniqueName('cli')}`;
    const topic = `tributary-test/${uniqueName('replay')}/telemetry`;
    const payload = Buffer.from('{"ts":1700000000000,"temperature":');
    await redis.xadd(
      stream,
      '*',
      'letter',
      encodeDeadLetter({
        code: 'decode_error',
        reason: 'invalid JSON: Unexpected end of JSON input',
        stage: 'decode:json',
        topic,
        qos: 1,
        receivedAtMs: 1700000000000,
        payload,
      }),
    );
    await redis.xadd(stream, '*', 'letter', 'not a dead letter'); // written by something else
    const env = { ...process.env, TRIBUTARY_MQTT_URL: MQTT_URL, TRIBUTARY_REDIS_URL: REDIS_URL };
    const listed = await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', 'list', '--stream', stream], {
      env,
    });
    expect(listed.stdout).toContain(`decode_error [decode:json] ${topic}: invalid JSON`);
    expect(listed.stdout).toContain(JSON.stringify(payload.toString()));
    expect(listed.stdout).toMatch(/unreadable \[store\] : stream entry is not a Tributary dead letter/);
    expect(listed.stdout).toMatch(/2 dead letter\(s\) shown/);

    const sub = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('sub'), reconnectPeriod: 0 });
    const received: Buffer[] = [];
    sub.on('message', (_t, p) => received.push(p));
    await sub.subscribeAsync(topic, { qos: 1 });
    const replayed = await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', 'replay', '--stream', stream], {
      env,
    });
    expect(replayed.stdout).toContain('replayed 1 dead letter(s)');
    expect(await waitFor(() => received.length === 1, 5000, 20)).toBe(true);
    expect(received[0]!.equals(payload)).toBe(true);
    expect(await redis.xlen(stream)).toBe(1); // the foreign entry is left for a person to look at
    await redis.del(stream);
    await sub.endAsync();
  });

  it("finds one pipeline's letters in the shared stream: newest first, filtered by pipeline, topic, code and time; replays the same", async () => {
    const setup = fleetSetup('dl_filters');
    const worker = await startFleetWorker(setup);
    const env = { ...process.env, TRIBUTARY_MQTT_URL: MQTT_URL, TRIBUTARY_REDIS_URL: REDIS_URL };
    const cli = async (...args: string[]) =>
      (await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', ...args], { env })).stdout;
    const ours = ['--topic', `${setup.root}/#`];
    const ids = (out: string) => [...out.matchAll(/^(\d+-\d+) /gm)].map((m) => m[1]!);
    const stored = () =>
      listDeadLetters(redis, STREAM, 100, {
        match: (l) => l.pipeline === 'fleet' && l.topic.startsWith(`${setup.root}/site-`),
      });
    try {
      // a letter from before pipelines were recorded: no pipeline field
      await redis.xadd(
        STREAM,
        '*',
        'letter',
        encodeDeadLetter({
          code: 'decode_error',
          reason: 'old',
          stage: 'decode:json',
          topic: `${setup.root}/legacy/x/telemetry`,
          qos: 1,
          receivedAtMs: Date.now(),
          payload: Buffer.from('{'),
        }),
      );
      const pub = await mqtt.connectAsync(MQTT_URL, { clientId: `${setup.name}-pub`, reconnectPeriod: 0 });
      for (let i = 0; i < 3; i++) {
        await pub.publishAsync(`${setup.root}/site-1/dev-1/telemetry`, `{"temp${i}`, { qos: 1 }); // decode_error
        expect(await waitFor(async () => (await stored()).length === i + 1, 10_000, 50)).toBe(true); // one at a time: a known order
      }
      await pub.publishAsync(`${setup.root}/site-2/dev-2/telemetry`, '{"ts":"yesterday","temperature":1}', { qos: 1 }); // mapping_error
      expect(await waitFor(async () => (await stored()).length === 4, 10_000, 50)).toBe(true);
      await pub.endAsync();

      const newest = await cli('list', '--pipeline', 'fleet', ...ours);
      expect(newest).toMatch(
        new RegExp(
          `^\\d+-\\d+ \\S+ mapping_error \\[toReadings\\] ${setup.root}/site-2/dev-2/telemetry: field "ts" is not a timestamp: yesterday\\n    pipeline fleet\\n`,
        ),
      );
      expect(newest).toContain(
        `4 dead letter(s) shown, newest first, matching --pipeline fleet --topic ${setup.root}/# (stream ${STREAM}, `,
      );
      expect(newest).not.toContain('legacy');
      const oldest = await cli('list', '--pipeline', 'fleet', ...ours, '--oldest-first');
      expect(ids(oldest)).toEqual(ids(newest).reverse());
      expect(oldest).toMatch(
        /decode_error \[decode:json\] \S+: invalid JSON[^\n]*\n    pipeline fleet\n    payload "\{\\"temp0"/,
      );

      const all = await cli('list', ...ours); // no --pipeline: the old letter too
      expect(ids(all)).toHaveLength(5);
      expect(all.split('\n')[0]).toContain('mapping_error');
      expect(all).toMatch(/decode_error \[decode:json\] \S+\/legacy\/x\/telemetry: old\n    payload "\{"/);
      expect(ids(await cli('list', '--pipeline', 'fleet', ...ours, '--code', 'mapping_error'))).toHaveLength(1);
      expect(ids(await cli('list', '--pipeline', 'fleet', '--topic', `${setup.root}/site-1/+/telemetry`))).toHaveLength(
        3,
      );
      expect(ids(await cli('list', '--pipeline', 'not-fleet', ...ours))).toHaveLength(0);
      expect(ids(await cli('list', ...ours, '--since', '10m'))).toHaveLength(5);
      expect(ids(await cli('list', ...ours, '--since', new Date(Date.now() + 60_000).toISOString()))).toHaveLength(0);
      expect(ids(await cli('list', ...ours, '--count', '2'))).toEqual(ids(all).slice(0, 2));
      await expect(cli('list', '--since', 'yesterday')).rejects.toMatchObject({
        stderr: expect.stringContaining('--since: expected a duration (90s, 15m, 2h, 7d) or a date'),
      });

      worker.child.kill('SIGTERM');
      await worker.exited;
      const sub = await mqtt.connectAsync(MQTT_URL, { clientId: `${setup.name}-sub`, reconnectPeriod: 0 });
      const received: string[] = [];
      sub.on('message', (t, p) => received.push(`${t} ${p.toString()}`));
      await sub.subscribeAsync(`${setup.root}/#`, { qos: 1 });
      const replayed = await cli('replay', '--pipeline', 'fleet', '--topic', `${setup.root}/site-1/#`, '--count', '2');
      expect(replayed).toContain(`replayed 2 dead letter(s), matching --pipeline fleet --topic ${setup.root}/site-1/#`);
      expect(await waitFor(() => received.length === 2, 5000, 20)).toBe(true);
      expect(received).toEqual([
        `${setup.root}/site-1/dev-1/telemetry {"temp0`,
        `${setup.root}/site-1/dev-1/telemetry {"temp1`,
      ]); // oldest first
      await sub.endAsync();
      const left = await cli('list', '--pipeline', 'fleet', ...ours, '--oldest-first');
      expect(left).toMatch(/payload "\{\\"temp2"[^]*mapping_error/);
      expect(ids(left)).toHaveLength(2);
    } finally {
      worker.child.kill('SIGKILL');
      const left = await listDeadLetters(redis, STREAM, 100, { match: (l) => l.topic.startsWith(`${setup.root}/`) });
      if (left.length > 0) await redis.xdel(STREAM, ...left.map((e) => e.id));
      await wipeSession(`${setup.name}-0`);
      await influxQuery(setup.db, `DROP DATABASE "${setup.db}"`);
    }
  });

  it('--help explains each action; a wrong action fails naming what is expected', async () => {
    const help = await run(process.execPath, ['bin/tributary.mjs', 'dead-letters', '--help']);
    expect(help.stdout).toMatch(/list\s+prints the newest N dead letters/);
    expect(help.stdout).toMatch(/--count N\s+how many letters to show or replay \(default 100\)/);
    expect(help.stdout).toContain('--stream KEY       the Redis stream (default tributary:dead-letters');
    await expect(run(process.execPath, ['bin/tributary.mjs', 'dead-letters', 'purge'])).rejects.toMatchObject({
      stderr: expect.stringContaining('list or replay'),
    });
  });
});

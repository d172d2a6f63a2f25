// The InfluxDB sink against the real InfluxDB 1.6.7, through the real runtime: a batch with points
// InfluxDB refuses is split until the bad points are alone; they become dead letters, the rest is stored.
import { describe, expect, it } from 'vitest';
import { Runtime, silentLogger, type Reading } from '../../../pipeline/index.js';
import { influxdb } from '../../../sinks/index.js';
import { FakeSource, fakeDeadLetters } from '../../support/fakes.js';
import { countPoints, INFLUX_URL, influxQuery, uniqueName, waitFor } from '../../support/services.js';
import { toReadings } from '../../../transforms/index.js';

describe('influxdb sink on the real InfluxDB 1.6.7', () => {
  it('a field-type conflict inside a batch: the conflicting points are dead-lettered, the others stored', async () => {
    const db = uniqueName('conflict');
    const sink = influxdb({
      url: INFLUX_URL,
      api: 'v1',
      database: db,
      createDatabase: true,
      batch: { maxItems: 1000, maxWaitMs: 20 },
    });
    const source = new FakeSource(1000);
    const dead = fakeDeadLetters();
    const runtime = new Runtime({
      source,
      stages: [toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms' }) as never],
      sinks: [sink as never],
      deadLetters: dead,
      log: silentLogger,
      retry: { initialDelayMs: 10, maxDelayMs: 50, giveUpAfterMs: Infinity },
    });
    await runtime.start();
    // Establish `temperature` as a float field, then send 200 points of which 3 carry a string.
    source.send('{"ts":1700000000000,"temperature":20.5}');
    expect(await waitFor(async () => (await countPoints(db)) === 1, 10_000, 50)).toBe(true);
    const bad = new Set([17, 101, 188]);
    const ids: number[] = [];
    for (let i = 1; i <= 200; i++) {
      ids.push(source.send(`{"ts":${1700000000000 + i},"temperature":${bad.has(i) ? '"hot"' : 20 + i / 10}}`));
    }
    expect(await waitFor(() => ids.every((id) => source.settled(id) === 1), 20_000, 20)).toBe(true);
    await runtime.stop();
    expect(await countPoints(db)).toBe(1 + 200 - bad.size);
    expect(dead.delivered).toHaveLength(bad.size);
    for (const letter of dead.delivered) {
      expect(letter.code).toBe('write_rejected');
      expect(letter.stage).toBe('influxdb');
      expect(letter.reason).toMatch(/field type conflict/);
      expect(letter.item).toMatch(/temperature="hot"/);
    }
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });

  it('a database that does not exist fails at start with what to do', async () => {
    const db = uniqueName('missing');
    const sink = influxdb({ url: INFLUX_URL, api: 'v1', database: db });
    await expect(sink.open()).rejects.toThrow(new RegExp(`database "${db}" does not exist.*CREATE DATABASE`));
  });

  it('writes exact 64-bit integers and nanosecond timestamps', async () => {
    const db = uniqueName('exact');
    const sink = influxdb({ url: INFLUX_URL, api: 'v1', database: db, createDatabase: true });
    await sink.open();
    const reading: Reading = {
      measurement: 'm',
      tags: { device: 'd 1' },
      fields: { counter: 9007199254740993n, note: 'say "hi"\nbye' },
      timeNs: 1700000000123456789n,
    };
    expect(await sink.write({ items: [reading], encoded: [sink.encode(reading)] })).toEqual({ status: 'delivered' });
    // Read the raw JSON: JSON.parse would round the integer and the timestamp.
    const res = await fetch(
      `${INFLUX_URL}/query?${new URLSearchParams({ db, q: 'SELECT counter, note, device FROM m', epoch: 'ns' })}`,
    );
    const text = await res.text();
    expect(text).toContain('[1700000000123456789,9007199254740993,"say \\"hi\\"\\nbye","d 1"]');
    await influxQuery(db, `DROP DATABASE "${db}"`);
  });
});

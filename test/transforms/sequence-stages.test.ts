// dedupe, changed, derivative and rate in memory under tributary/testing: per series, by event
// time, acknowledged once their state was updated and what they passed on was written.
import { afterEach, describe, expect, it } from 'vitest';
import { definePipeline, json, mqttSource, type Reading, type Transform } from '../../pipeline/index.js';
import { testPipeline, type PipelineHarness } from '../../pipeline/testing.js';
import { influxdb } from '../../sinks/index.js';
import { changed, dedupe, derivative, memoryStageState, parseTopic, rate, toReadings } from '../../transforms/index.js';

const T0 = Date.UTC(2024, 0, 1);
const topic = (device: string) => `fleet/site-1/${device}/telemetry`;

function pipelineWith(stage: Transform<Reading, Reading>) {
  return definePipeline({ name: 'sequence' })
    .from(
      mqttSource({
        url: 'mqtt://127.0.0.1:1',
        clientId: 'never-connects',
        subscribe: [{ topic: 'fleet/+/+/telemetry', decode: json() }],
      }),
    )
    .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['bytes'] }))
    .pipe(parseTopic('fleet/{site}/{device}/telemetry'))
    .pipe(stage)
    .to(influxdb({ url: 'http://127.0.0.1:1', api: 'v1', database: 'never-written' }));
}

const harnesses: PipelineHarness[] = [];
afterEach(async () => {
  for (const t of harnesses.splice(0)) await t.close();
});
async function run(
  stage: Transform<Reading, Reading>,
  messages: Array<[string, Record<string, unknown>]>,
): Promise<string[][]> {
  const t = await testPipeline(pipelineWith(stage));
  harnesses.push(t);
  const out: string[][] = [];
  for (const [device, body] of messages) {
    const r = await t.push(topic(device), JSON.stringify(body));
    expect(r.settled).toBe(true);
    out.push([...r.lines]);
  }
  expect(t.stats.unsettled).toBe(0);
  return out;
}

describe('sequence stages', () => {
  it('changed: passes a reading on only when a watched field changed, per series', async () => {
    const stage = changed({ fields: ['status'] });
    const out = await run(stage, [
      ['d1', { ts: T0, status: 'ok', t: 1 }],
      ['d1', { ts: T0 + 1, status: 'ok', t: 2 }],
      ['d2', { ts: T0 + 1, status: 'ok', t: 3 }],
      ['d1', { ts: T0 + 2, status: 'alarm', t: 4 }],
      ['d1', { ts: T0 + 2, status: 'alarm', t: 4 }],
      ['d1', { ts: T0 + 3, t: 5 }],
    ]);
    expect(out.map((l) => l.length)).toEqual([1, 0, 1, 1, 1, 1]); // the redelivery gets its decision again; no status: passed on
    expect(out[3]).toEqual(['telemetry,device=d1,site=site-1 status="alarm",t=4 1704067200002000000']);
    expect([...stage.dropped]).toEqual([
      ['unchanged', 1],
      ['no_fields', 1],
    ]);
  });

  it('dedupe: drops repeats within the deadband, passes one on after withinMs', async () => {
    const stage = dedupe({
      fields: ['temperature'],
      deadband: { temperature: 0.5 },
      withinMs: 10_000,
      state: memoryStageState(),
    });
    const temps: Array<[number, number]> = [
      [0, 20],
      [1000, 20.3],
      [2000, 20.6],
      [3000, 20.2],
      [14_000, 20.6],
    ];
    const out = await run(
      stage,
      temps.map(([dt, temperature]) => ['d1', { ts: T0 + dt, temperature }]),
    );
    expect(out.map((l) => l.length)).toEqual([1, 0, 1, 0, 1]);
    expect(stage.dropped.get('duplicate')).toBe(2);
  });

  it('derivative per unit, and rate of a counter across a reset', async () => {
    const d = await run(derivative({ fields: ['temperature'], unitMs: 60_000 }), [
      ['d1', { ts: T0, temperature: 20 }],
      ['d1', { ts: T0 + 30_000, temperature: 21 }],
      ['d1', { ts: T0 + 60_000, temperature: 20.5 }],
    ]);
    expect(d).toEqual([
      [],
      ['telemetry,device=d1,site=site-1 temperature_derivative=2 1704067230000000000'],
      ['telemetry,device=d1,site=site-1 temperature_derivative=-1 1704067260000000000'],
    ]);
    const r = await run(rate({ fields: ['bytes'] }), [
      ['d1', { ts: T0, bytes: 1000 }],
      ['d1', { ts: T0 + 2000, bytes: 3000 }],
      ['d1', { ts: T0 + 4000, bytes: 400 }],
    ]);
    expect(r.flat()).toEqual([
      'telemetry,device=d1,site=site-1 bytes_rate=1000 1704067202000000000',
      'telemetry,device=d1,site=site-1 bytes_rate=200 1704067204000000000',
    ]);
  });

  it('two workers sharing one state decide as one', async () => {
    const state = memoryStageState();
    const [a, b] = [
      await testPipeline(pipelineWith(changed({ fields: ['status'], state }))),
      await testPipeline(pipelineWith(changed({ fields: ['status'], state }))),
    ];
    harnesses.push(a, b);
    const lines: string[] = [];
    for (const [i, status] of ['ok', 'ok', 'alarm', 'alarm', 'ok'].entries())
      lines.push(...(await (i % 2 ? a : b).push(topic('d1'), JSON.stringify({ ts: T0 + i, status }))).lines);
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['status="ok"', 'status="alarm"', 'status="ok"']);
  });

  it('refuses bad options, naming the option', () => {
    expect(() => changed({ fields: [] })).toThrow(/changed fields/);
    expect(() => dedupe({ fields: ['a'], deadband: { b: 1 } })).toThrow(/dedupe deadband.b/);
    expect(() => rate({ fields: ['a'], unitMs: 0 })).toThrow(/rate unitMs/);
    expect(() => derivative({ fields: ['a'], history: 0 })).toThrow(/derivative history/);
  });
});

// aggregateWindow on shared stage state, in memory under tributary/testing: acknowledged once the
// point is in the state, closed windows written once by whichever worker claims them.
import { afterEach, describe, expect, it } from 'vitest';
import { definePipeline, json, mqttSource } from '../../pipeline/index.js';
import { testPipeline, type PipelineHarness } from '../../pipeline/testing.js';
import { influxdb } from '../../sinks/index.js';
import { aggregateWindow, type AggregateWindowOptions } from '../../transforms/aggregate-window.js';
import { memoryStageState, parseTopic, toReadings, type StageState } from '../../transforms/index.js';

const T0 = Date.UTC(2024, 0, 1);
const topic = (device: string) => `fleet/site-1/${device}/telemetry`;
const msg = (ts: number, temperature: number | string, battery = 50) => JSON.stringify({ ts, temperature, battery });
const ALL = { temperature: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'], battery: ['last'] } as const;

function windowed(state: StageState | 'local', options: Partial<AggregateWindowOptions> = {}) {
  const stage = aggregateWindow({
    everyMs: 60_000,
    allowedLatenessMs: 5_000,
    fields: ALL,
    state,
    tickMs: 1000,
    ...options,
  });
  const pipeline = definePipeline({ name: 'windowed' })
    .from(
      mqttSource({
        url: 'mqtt://127.0.0.1:1',
        clientId: 'never-connects',
        subscribe: [{ topic: 'fleet/+/+/telemetry', decode: json() }],
      }),
    )
    .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
    .pipe(parseTopic('fleet/{site}/{device}/telemetry'))
    .pipe(stage)
    .to(influxdb({ url: 'http://127.0.0.1:1', api: 'v1', database: 'never-written' }));
  return { stage, pipeline };
}

const harnesses: PipelineHarness[] = [];
const open = async (...args: Parameters<typeof testPipeline>) => {
  const t = await testPipeline(...args);
  harnesses.push(t);
  return t;
};
afterEach(async () => {
  for (const t of harnesses.splice(0)) await t.close();
});

describe('aggregateWindow on shared state', () => {
  it('acknowledges each message once its point is in the state, and writes the same aggregates as local state', async () => {
    const inputs: Array<[string, number, number, number]> = [
      ['d1', 1_000, 20, 60],
      ['d1', 30_000, 24, 59],
      ['d1', 10_000, 22, 58],
      ['d2', 5_000, 30, 50],
    ];
    const { stage, pipeline } = windowed(memoryStageState());
    const t = await open(pipeline);
    for (const [d, dt, temp, bat] of inputs)
      expect(await t.push(topic(d), msg(T0 + dt, temp, bat))).toMatchObject({ settled: true, readings: [] });
    expect(t.stats.unsettled).toBe(0); // nothing held while the window is open
    expect((await t.advance(64_999)).lines).toEqual([]);
    const shared = (await t.advance(1_001)).lines;
    const { pipeline: localPipeline } = windowed('local');
    const l = await open(localPipeline);
    for (const [d, dt, temp, bat] of inputs) await l.push(topic(d), msg(T0 + dt, temp, bat));
    const local = (await l.advance(65_000)).lines;
    expect(shared).toEqual([
      'telemetry,device=d1,site=site-1 temperature_mean=22,temperature_min=20,temperature_max=24,temperature_sum=66,temperature_count=3i,temperature_first=20,temperature_last=24,battery_last=59i 1704067200000000000',
      'telemetry,device=d2,site=site-1 temperature_mean=30,temperature_min=30,temperature_max=30,temperature_sum=30,temperature_count=1i,temperature_first=30,temperature_last=30,battery_last=50i 1704067200000000000',
    ]);
    expect([...shared].sort()).toEqual([...local].sort());
    expect(stage.emitted).toBe(2);
    expect((await t.advance(120_000)).lines).toEqual([]); // written once
  });

  it('two workers on one state: each takes some messages of a series, the window is written once, whole', async () => {
    const state = memoryStageState();
    const a = windowed(state, { fields: { temperature: ['sum', 'count'] } });
    const b = windowed(state, { fields: { temperature: ['sum', 'count'] } });
    const wa = await open(a.pipeline);
    const wb = await open(b.pipeline);
    for (let i = 0; i < 10; i++) await (i % 2 ? wa : wb).push(topic('d1'), msg(T0 + i * 1000, i));
    const [ra, rb] = [await wa.advance(66_000), await wb.advance(66_000)];
    expect([...ra.lines, ...rb.lines]).toEqual([
      'telemetry,device=d1,site=site-1 temperature_sum=45,temperature_count=10i 1704067200000000000',
    ]);
    expect(a.stage.emitted + b.stage.emitted).toBe(1);
  });

  it('late readings are counted and dropped or dead-lettered; a redelivery of a written point is a duplicate, not late', async () => {
    const { stage, pipeline } = windowed(memoryStageState(), { fields: { temperature: ['count'] } });
    const t = await open(pipeline);
    await t.push(topic('d1'), msg(T0 + 1_000, 1));
    await t.advance(62_000);
    await t.push(topic('d1'), msg(T0 + 2_000, 2)); // within the lateness
    expect((await t.advance(4_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=2i 1704067200000000000',
    ]);
    expect(await t.push(topic('d1'), msg(T0 + 3_000, 3))).toMatchObject({
      settled: true,
      readings: [],
      deadLetters: [],
    });
    expect(await t.push(topic('d1'), msg(T0 + 1_000, 1))).toMatchObject({ settled: true, deadLetters: [] });
    expect([stage.dropped.get('late'), stage.dropped.get('duplicate')]).toEqual([1, 1]);
    const rejecting = windowed(memoryStageState(), {
      fields: { temperature: ['count'] },
      onLate: 'reject',
      allowedLatenessMs: 0,
    });
    const r = await open(rejecting.pipeline);
    await r.push(topic('d1'), msg(T0, 1));
    await r.advance(61_000);
    expect((await r.push(topic('d1'), msg(T0 + 1, 1))).deadLetters.map((d) => d.code)).toEqual(['late_reading']);
  });

  it('a claimed window whose writer vanished is claimed again after the lease, with the same point', async () => {
    const state = memoryStageState();
    const { pipeline } = windowed(state, { fields: { temperature: ['count'] }, leaseMs: 10_000 });
    const t = await open(pipeline);
    await t.push(topic('d1'), msg(T0 + 1_000, 1));
    // Another worker claims the window and dies before writing it.
    const lost = await state.claim('aggregateWindow', {
      nowMs: T0 + 65_000,
      leaseMs: 10_000,
      limit: 10,
      keepMs: 60_000,
    });
    expect(lost.map((w) => w.points.length)).toEqual([1]);
    expect((await t.advance(70_000)).lines).toEqual([]); // leased
    expect((await t.advance(6_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=1i 1704067200000000000',
    ]);
  });

  it('state unavailable: acknowledgements held and the update retried by the runtime, nothing dropped', async () => {
    const inner = memoryStageState();
    let down = true;
    const flaky: StageState = { ...inner, unavailable: () => (down ? 'redis connection is reconnecting' : undefined) };
    const { pipeline } = windowed(flaky, { fields: { temperature: ['count'] } });
    const t = await open(pipeline);
    expect((await t.push(topic('d1'), msg(T0 + 1_000, 1))).settled).toBe(false);
    expect(t.stats.retries.get('aggregateWindow:state') ?? 0).toBeGreaterThan(0);
    expect(t.stats.unsettled).toBe(1);
    down = false;
    const until = Date.now() + 2000;
    while (t.stats.unsettled > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect([t.stats.unsettled, t.stats.settled, t.deadLetters.length]).toEqual([0, 1, 0]);
    expect((await t.advance(66_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=1i 1704067200000000000',
    ]);
  });

  it('refuses a state that is not one', () => {
    expect(() => aggregateWindow({ everyMs: 1000, fields: { t: ['mean'] }, state: {} as StageState })).toThrow(
      /aggregateWindow state/,
    );
    expect(() => aggregateWindow({ everyMs: 1000, fields: { t: ['mean'] }, id: 'a b' })).toThrow(/aggregateWindow id/);
  });
});

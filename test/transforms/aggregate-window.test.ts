import { afterEach, describe, expect, it } from 'vitest';
import { definePipeline, json, mqttSource } from '../../pipeline/index.js';
import { testPipeline, type PipelineHarness } from '../../pipeline/testing.js';
import { influxdb } from '../../sinks/index.js';
import { aggregateWindow, type AggregateWindowOptions } from '../../transforms/aggregate-window.js';
import { parseTopic, toReadings } from '../../transforms/index.js';

const T0 = Date.UTC(2024, 0, 1); // the harness clock's default start, aligned to the minute
const topic = (device: string) => `fleet/site-1/${device}/telemetry`;
const msg = (ts: number, temperature: number | string, battery = 50) => JSON.stringify({ ts, temperature, battery });

function windowed(options: Partial<AggregateWindowOptions> = {}) {
  const stage = aggregateWindow({
    everyMs: 60_000,
    allowedLatenessMs: 5_000,
    fields: { temperature: ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'], battery: ['last'] },
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

let harness: PipelineHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('aggregateWindow', () => {
  it('aggregates a series per tumbling window by event time and emits when the clock passes end + lateness', async () => {
    const { stage, pipeline } = windowed();
    const t = (harness = await testPipeline(pipeline));
    const pushed = [
      await t.push(topic('d1'), msg(T0 + 1_000, 20, 60)),
      await t.push(topic('d1'), msg(T0 + 30_000, 24, 59)),
      await t.push(topic('d1'), msg(T0 + 10_000, 22, 58)), // out of order: first/last follow event time
      await t.push(topic('d2'), msg(T0 + 5_000, 30)),
    ];
    expect(pushed.map((p) => [p.settled, p.readings.length])).toEqual([
      [false, 0],
      [false, 0],
      [false, 0],
      [false, 0],
    ]);
    expect(stage.openWindows).toBe(2);
    expect((await t.advance(64_999)).readings).toEqual([]); // end + lateness not reached yet
    const closed = await t.advance(1);
    expect(closed.lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_mean=22,temperature_min=20,temperature_max=24,temperature_sum=66,temperature_count=3i,temperature_first=20,temperature_last=24,battery_last=59i 1704067200000000000',
      'telemetry,device=d2,site=site-1 temperature_mean=30,temperature_min=30,temperature_max=30,temperature_sum=30,temperature_count=1i,temperature_first=30,temperature_last=30,battery_last=50i 1704067200000000000',
    ]);
    expect(t.stats.settled).toBe(4); // the four messages were acknowledged once the aggregates were written
    expect(t.stats.unsettled).toBe(0);
    expect(stage.emitted).toBe(2);
  });

  it('holds each message until the window holding it was written, two windows open at once', async () => {
    const { pipeline } = windowed({ allowedLatenessMs: 10_000, fields: { temperature: ['count'] } });
    const t = (harness = await testPipeline(pipeline, { clock: T0 + 59_000 }));
    await t.push(topic('d1'), msg(T0 + 59_999, 1)); // window 1 closes at T0 + 70 s
    await t.advance(2_000);
    await t.push(topic('d1'), msg(T0 + 60_500, 2)); // window 2 closes at T0 + 130 s
    expect(t.stats.unsettled).toBe(2);
    expect((await t.advance(9_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=1i 1704067200000000000',
    ]);
    expect(t.stats.unsettled).toBe(1);
    expect((await t.advance(59_999)).lines).toEqual([]);
    expect((await t.advance(1)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=1i 1704067260000000000',
    ]);
    expect(t.stats.unsettled).toBe(0);
  });

  it('drops and counts late readings (window already written) but keeps those within the lateness', async () => {
    const { stage, pipeline } = windowed({ fields: { temperature: ['count'] } });
    const t = (harness = await testPipeline(pipeline));
    await t.push(topic('d1'), msg(T0 + 1_000, 1));
    await t.advance(62_000); // past the end, within the lateness
    const inTime = await t.push(topic('d1'), msg(T0 + 2_000, 2));
    expect(inTime.settled).toBe(false);
    expect((await t.advance(3_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=2i 1704067200000000000',
    ]);
    const late = await t.push(topic('d1'), msg(T0 + 3_000, 3));
    expect(late).toMatchObject({ settled: true, readings: [], deadLetters: [] });
    expect(stage.dropped.get('late')).toBe(1);
    const { pipeline: rejecting } = windowed({
      fields: { temperature: ['count'] },
      onLate: 'reject',
      allowedLatenessMs: 0,
    });
    const r = await testPipeline(rejecting);
    await r.push(topic('d1'), msg(T0, 1));
    await r.advance(60_000);
    expect((await r.push(topic('d1'), msg(T0 + 1, 1))).deadLetters.map((d) => d.code)).toEqual(['late_reading']);
    await r.close();
  });

  it('counts a redelivered reading (same series and time) once', async () => {
    const { stage, pipeline } = windowed({ fields: { temperature: ['sum', 'count'] } });
    const t = (harness = await testPipeline(pipeline));
    for (const v of [5, 7, 5]) await t.push(topic('d1'), msg(T0 + (v === 7 ? 2_000 : 1_000), v));
    expect((await t.advance(65_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_sum=12,temperature_count=2i 1704067200000000000',
    ]);
    expect(t.stats.settled).toBe(3);
    expect(stage.dropped.get('duplicate')).toBe(1);
  });

  it('closes a window first seen after its end allowedLateness after its first reading, and never later than every + lateness', async () => {
    const { pipeline } = windowed({ fields: { temperature: ['count'] } });
    const t = (harness = await testPipeline(pipeline, { clock: T0 + 3_600_000 }));
    await t.push(topic('d1'), msg(T0, 1)); // an hour old: a redelivery after a restart
    await t.push(topic('d2'), msg(T0 + 86_400_000, 1)); // a day ahead: a device clock gone wrong
    expect((await t.advance(4_999)).lines).toEqual([]);
    expect((await t.advance(1)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_count=1i 1704067200000000000',
    ]);
    expect((await t.advance(60_000)).lines).toEqual([
      'telemetry,device=d2,site=site-1 temperature_count=1i 1704153600000000000',
    ]);
    expect(t.stats.unsettled).toBe(0);
  });

  it('bounds open windows: flush-oldest writes the oldest early, reject dead-letters the newcomer', async () => {
    const { stage, pipeline } = windowed({ fields: { temperature: ['count'] }, maxSeries: 2 });
    const t = (harness = await testPipeline(pipeline));
    await t.push(topic('d1'), msg(T0, 1));
    await t.push(topic('d2'), msg(T0, 1));
    const third = await t.push(topic('d3'), msg(T0, 1));
    expect(third.lines).toEqual(['telemetry,device=d1,site=site-1 temperature_count=1i 1704067200000000000']);
    expect([stage.openWindows, stage.flushedEarly]).toEqual([2, 1]);
    expect((await t.push(topic('d1'), msg(T0 + 1, 1))).settled).toBe(true); // d1's window was written: late
    const { pipeline: rejecting } = windowed({
      fields: { temperature: ['count'] },
      maxSeries: 1,
      onTooManySeries: 'reject',
    });
    const r = await testPipeline(rejecting);
    await r.push(topic('d1'), msg(T0, 1));
    expect((await r.push(topic('d2'), msg(T0, 1))).deadLetters.map((d) => [d.code, d.reason])).toEqual([
      ['too_many_series', 'more than 1 windows open (maxSeries)'],
    ]);
    await r.close();
  });

  it('ignores readings without the aggregated fields and non-numeric values for numeric aggregates', async () => {
    const { stage, pipeline } = windowed({ fields: { temperature: ['mean', 'count', 'last'] } });
    const t = (harness = await testPipeline(pipeline));
    expect((await t.push(topic('d1'), JSON.stringify({ ts: T0, humidity: 1 }))).settled).toBe(true);
    await t.push(topic('d1'), msg(T0 + 1, 'n/a'));
    await t.push(topic('d1'), msg(T0 + 2, 4));
    expect((await t.advance(65_000)).lines).toEqual([
      'telemetry,device=d1,site=site-1 temperature_mean=4,temperature_count=2i,temperature_last=4 1704067200000000000',
    ]);
    expect(stage.dropped.get('no_fields')).toBe(1);
  });

  it('refuses bad options at construction, naming the option', () => {
    expect(() => aggregateWindow({ everyMs: 0, fields: { t: ['mean'] } })).toThrow(/everyMs/);
    expect(() => aggregateWindow({ everyMs: 1000, fields: {} })).toThrow(/fields/);
    // @ts-expect-error -- not an aggregate
    expect(() => aggregateWindow({ everyMs: 1000, fields: { t: ['median'] } })).toThrow(
      /fields.t: expected aggregates among mean/,
    );
    expect(() => aggregateWindow({ everyMs: 1000, fields: { t: ['mean'] }, maxSeries: 0 })).toThrow(/maxSeries/);
  });
});

// The "Test your pipeline" snippet of docs/transforms.md, verbatim (the pipeline is ./greenhouse.ts).
import { describe, expect, it } from 'vitest';
import { testPipeline } from 'tributary/testing';
import pipeline, { perMinute } from './greenhouse.js';

describe('greenhouse pipeline', () => {
  it('converts °F to °C, tags the zone and crop, adds the dew point', async () => {
    const t = await testPipeline(pipeline);
    const out = await t.push(
      'greenhouse/h1/dev-7/state',
      '{"ts":1704067200000,"temp_f":77,"humidity":"55","zone":"A"}',
    );
    expect(out.lines).toEqual([
      'climate,crop=tomato,device=dev-7,house=h1,site=north,zone=A humidity=55,temperature=25,dew_point=15.33 1704067200000000000',
    ]);
    await t.close();
  });

  it('dead-letters what it cannot use, with the reason', async () => {
    const t = await testPipeline(pipeline);
    const out = await t.push('greenhouse/h1/dev-7/state', '{"ts":1704067200000,"temp_f":77,"humidity":"wet"}');
    expect(out.deadLetters.map((d) => [d.code, d.reason])).toEqual([
      ['cast_error', 'field "humidity": cannot convert "wet" to number'],
    ]);
    await t.close();
  });

  it('writes one aggregate per device and minute once the minute is over', async () => {
    const t = await testPipeline(perMinute); // the fake clock starts at 2024-01-01T00:00:00Z
    await t.push('greenhouse/h1/dev-7/state', '{"ts":1704067201000,"temp_f":77,"humidity":55}');
    await t.push('greenhouse/h1/dev-7/state', '{"ts":1704067230000,"temp_f":79.7,"humidity":50}');
    expect(t.readings).toEqual([]); // held until the window closes: minute end + 5 s lateness
    const { lines } = await t.advance(65_000);
    expect(lines).toEqual([
      'climate,crop=tomato,device=dev-7,house=h1,site=north temperature_mean=25.75,temperature_max=26.5,humidity_min=50 1704067200000000000',
    ]);
    await t.close();
  });
});

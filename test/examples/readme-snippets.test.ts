// The README's "Write a transform" and "Test your pipeline" snippets, as written (the fleet example
// stands in for ./my-pipeline.js).
import { expect, it } from 'vitest';
import { map, reject, type Reading } from 'tributary';
import { testPipeline } from 'tributary/testing';
import pipeline from '../../examples/fleet.js';

/** Adds the dew point (°C, Magnus formula). */
export const addDewPoint = map<Reading, Reading>('addDewPoint', (r) => {
  const t = r.fields.temperature,
    rh = r.fields.humidity;
  if (typeof t !== 'number' || typeof rh !== 'number') return reject('needs temperature and humidity', 'missing_field');
  const g = Math.log(rh / 100) + (17.62 * t) / (243.12 + t);
  return { ...r, fields: { ...r.fields, dew_point: Math.round(((243.12 * g) / (17.62 - g)) * 100) / 100 } };
});

it('writes one point per message, tagged from the topic', async () => {
  const t = await testPipeline(pipeline);
  const out = await t.push(
    'fleet/site-3/dev-340/telemetry',
    '{"ts":1795315235165,"temperature":19.96,"humidity":47.6,"battery":49,"status":"ok"}',
  );
  expect(out.lines).toEqual([
    'telemetry,device=dev-340,site=site-3 temperature=19.96,humidity=47.6,battery=49i,status="ok" 1795315235165000000',
  ]);
  expect((await t.push('fleet/site-3/dev-340/telemetry', '{"temp')).deadLetters[0]?.code).toBe('decode_error');
  await t.close();
});

it('the dew point stage computes, and rejects readings it cannot use', () => {
  const ctx = {
    meta: { topic: 't', qos: 1 as const, retain: false, receivedAtMs: 0, format: 'json' },
    now: () => 0,
    retain: () => ({ release() {} }),
  };
  const reading: Reading = { measurement: 'm', tags: {}, fields: { temperature: 25, humidity: 55 }, timeNs: 0n };
  expect(addDewPoint.apply(reading, ctx)).toEqual([
    { ...reading, fields: { temperature: 25, humidity: 55, dew_point: 15.33 } },
  ]);
  expect(addDewPoint.apply({ ...reading, fields: { temperature: 25 } }, ctx)).toEqual({
    rejected: { code: 'missing_field', reason: 'needs temperature and humidity' },
  });
});

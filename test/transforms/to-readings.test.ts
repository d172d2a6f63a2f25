import { describe, expect, it } from 'vitest';
import type { DecodedValue, Reading, Rejection, StageContext, StageOutput } from '../../pipeline/core/types.js';
import { toReadings, type ToReadingsOptions } from '../../transforms/to-readings.js';

const RECEIVED_MS = 1_700_000_100_000;
const ctx: StageContext = {
  meta: { topic: 'fleet/s/d/telemetry', qos: 1, retain: false, receivedAtMs: RECEIVED_MS, format: 'json' },
  now: () => RECEIVED_MS,
  retain: () => {
    throw new Error('not used');
  },
};
const NS = 1_700_000_000n * 1_000_000_000n;

async function run(body: DecodedValue, opts: Partial<ToReadingsOptions> = {}): Promise<StageOutput<Reading>> {
  return toReadings({ measurement: 'telemetry', ...opts }).apply(body, ctx);
}
async function readings(body: DecodedValue, opts: Partial<ToReadingsOptions> = {}): Promise<readonly Reading[]> {
  const out = await run(body, opts);
  if (!Array.isArray(out)) throw new Error(`expected readings, got ${JSON.stringify(out)}`);
  return out as readonly Reading[];
}
async function rejection(body: DecodedValue, opts: Partial<ToReadingsOptions> = {}): Promise<Rejection['rejected']> {
  const out = await run(body, opts);
  expect(Array.isArray(out)).toBe(false);
  return (out as Rejection).rejected;
}

describe('toReadings', () => {
  it('maps an object to one reading with the payload time, removing the time from the fields', async () => {
    expect(await readings({ ts: 1_700_000_000, temp: 21.5, ok: true, state: 'on' })).toEqual([
      { measurement: 'telemetry', tags: {}, fields: { temp: 21.5, ok: true, state: 'on' }, timeNs: NS },
    ]);
  });

  it('uses the first time key present, in option order', async () => {
    const [r] = await readings({ at: '2023-11-14T22:13:20Z', time: 5, v: 1 }, { time: ['at', 'time'] });
    expect(r!.timeNs).toBe(NS);
    expect(r!.fields).toEqual({ v: 1 });
  });

  it('uses the receive time when the payload has none', async () => {
    const [r] = await readings({ v: 1 });
    expect(r!.timeNs).toBe(BigInt(RECEIVED_MS) * 1_000_000n);
  });

  it('honours timeUnit', async () => {
    const [r] = await readings({ ts: 1_700_000_000_000, v: 1 }, { timeUnit: 'ms' });
    expect(r!.timeNs).toBe(NS);
  });

  it('flattens nested objects with _ (or the separator given)', async () => {
    const body = { ts: 1_700_000_000, a: { b: 1, c: { d: 2 } }, e: 3 };
    expect((await readings(body))[0]!.fields).toEqual({ a_b: 1, a_c_d: 2, e: 3 });
    expect((await readings(body, { separator: '.' }))[0]!.fields).toEqual({ 'a.b': 1, 'a.c.d': 2, e: 3 });
  });

  it('indexes arrays inside objects', async () => {
    const [r] = await readings({ a: [10, 20], b: [{ x: 1 }, { x: 2 }], c: [[5, 6]] });
    expect(r!.fields).toEqual({ a_0: 10, a_1: 20, b_0_x: 1, b_1_x: 2, c_0_0: 5, c_0_1: 6 });
  });

  it('turns an array payload into one reading per entry', async () => {
    const out = await readings([
      { ts: 1_700_000_000, v: 1 },
      { ts: 1_700_000_001, v: 2 },
    ]);
    expect(out.map((r) => [r.timeNs, r.fields.v])).toEqual([
      [NS, 1],
      [NS + 1_000_000_000n, 2],
    ]);
  });

  it('rejects the whole array payload when one entry is bad', async () => {
    expect((await rejection([{ v: 1 }, { ts: 'yesterday', v: 2 }])).code).toBe('mapping_error');
  });

  it('writes a bare value payload as the field `value` (or valueField)', async () => {
    expect((await readings(23.5))[0]!.fields).toEqual({ value: 23.5 });
    expect((await readings('on'))[0]!.fields).toEqual({ value: 'on' });
    expect((await readings(7, { valueField: 'level' }))[0]!.fields).toEqual({ level: 7 });
  });

  it('moves the keys listed in tags to string tags, nested ones by flattened name', async () => {
    const [r] = await readings(
      { site: 's1', device: 42, meta: { zone: 'z' }, temp: 1, empty: null },
      { tags: ['site', 'device', 'meta_zone', 'empty'] },
    );
    expect(r!.tags).toEqual({ site: 's1', device: '42', meta_zone: 'z' });
    expect(r!.fields).toEqual({ temp: 1 });
  });

  it('writes listed whole numbers as bigint integers; non-whole values stay floats', async () => {
    const [r] = await readings(
      { battery: 87, level: 87.5, other: 20, nested: { n: 3 } },
      { integers: ['battery', 'level', 'nested_n'] },
    );
    expect(r!.fields).toEqual({ battery: 87n, level: 87.5, other: 20, nested_n: 3n });
    expect(typeof r!.fields.other).toBe('number');
  });

  it('keeps exact big integers as bigint even when not listed', async () => {
    const [r] = await readings({ counter: 9_007_199_254_740_993n });
    expect(r!.fields.counter).toBe(9_007_199_254_740_993n);
  });

  it('rejects an unparseable time with mapping_error naming the field', async () => {
    const failure = await rejection({ ts: 'not a time', v: 1 });
    expect(failure.code).toBe('mapping_error');
    expect(failure.reason).toContain('ts');
  });

  it('rejects a payload without fields', async () => {
    expect((await rejection({ ts: 1_700_000_000 })).code).toBe('mapping_error');
    expect((await rejection({})).code).toBe('mapping_error');
    expect((await rejection({ a: null, b: {} })).reason).toMatch(/no fields/);
    expect((await rejection(null)).code).toBe('mapping_error');
  });

  it('skips null fields and keeps the others', async () => {
    expect((await readings({ a: null, b: 1 }))[0]!.fields).toEqual({ b: 1 });
  });

  it('writes bytes as base64', async () => {
    expect((await readings({ raw: new Uint8Array([1, 2, 3, 255]) }))[0]!.fields).toEqual({ raw: 'AQID/w==' });
  });

  it('refuses an empty measurement at construction', () => {
    expect(() => toReadings({ measurement: '' })).toThrow(/measurement/);
  });
});

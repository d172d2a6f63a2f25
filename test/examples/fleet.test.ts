// How a user tests a pipeline file: the example fleet pipeline, in memory, no services.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pipeline from '../../examples/fleet.js';
import { encode } from '@msgpack/msgpack';
import protobufjs from 'protobufjs';
import { testPipeline, type PipelineHarness } from '../../pipeline/testing.js';

describe('examples/fleet.ts', () => {
  let t: PipelineHarness;
  beforeEach(async () => {
    t = await testPipeline(pipeline);
  });
  afterEach(async () => {
    await t.close();
  });

  it('turns a telemetry message into one reading tagged from the topic, as InfluxDB line protocol', async () => {
    const out = await t.push(
      'fleet/site-3/dev-340/telemetry',
      '{"ts":1795315235165,"temperature":19.96,"humidity":47.6,"battery":49,"status":"ok"}',
    );
    expect(out.settled).toBe(true);
    expect(out.readings).toEqual([
      {
        measurement: 'telemetry',
        tags: { site: 'site-3', device: 'dev-340' },
        fields: { temperature: 19.96, humidity: 47.6, battery: 49n, status: 'ok' },
        timeNs: 1795315235165000000n,
      },
    ]);
    expect(out.lines).toEqual([
      'telemetry,device=dev-340,site=site-3 temperature=19.96,humidity=47.6,battery=49i,status="ok" 1795315235165000000',
    ]);
    expect(out.deadLetters).toEqual([]);
  });

  it('writes the same line whether the body came as JSON, MessagePack or protobuf', async () => {
    const body = { ts: 1795315235165, temperature: 19.96, humidity: 47.6, battery: 49, status: 'ok' };
    const type = protobufjs.loadSync('schemas/fleet.proto').lookupType('fleet.Telemetry');
    const json = await t.push('fleet/site-3/dev-340/telemetry', JSON.stringify(body));
    const packed = await t.push('fleet/site-3/dev-340/packed', encode(body));
    const proto = await t.push('fleet/site-3/dev-340/proto', type.encode(type.fromObject(body)).finish());
    expect(json.lines).toHaveLength(1);
    expect(packed.lines).toEqual(json.lines);
    expect(proto.lines).toEqual(json.lines);
  });

  it('dead-letters what it cannot read, with the reason and the original bytes', async () => {
    const bad = await t.push('fleet/site-3/dev-340/telemetry', '{"temperature": 19.9');
    expect(bad.readings).toEqual([]);
    expect(bad.deadLetters).toHaveLength(1);
    expect(bad.deadLetters[0]).toMatchObject({
      code: 'decode_error',
      stage: 'decode:json',
      topic: 'fleet/site-3/dev-340/telemetry',
    });
    expect(Buffer.from(bad.deadLetters[0]!.payload).toString()).toBe('{"temperature": 19.9');
    const noTime = await t.push('fleet/site-3/dev-340/telemetry', '{"ts":"yesterday","temperature":1}');
    expect(noTime.deadLetters.map((d) => [d.code, d.reason])).toEqual([
      ['mapping_error', 'field "ts" is not a timestamp: yesterday'],
    ]);
    expect(t.deadLetters).toHaveLength(2);
    expect(t.stats.settled).toBe(2);
  });

  it('refuses a topic the pipeline does not subscribe to', async () => {
    await expect(t.push('other/site-3/dev-340/telemetry', '{}')).rejects.toThrow(
      /matches no subscription of the source \(fleet\/\+\/\+\/telemetry, fleet\/\+\/\+\/packed, fleet\/\+\/\+\/proto\)/,
    );
  });
});

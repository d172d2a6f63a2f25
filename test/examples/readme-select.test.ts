// The README's "Pick fields, tags and time by path" snippet, as written, in a pipeline run in memory.
import { expect, it } from 'vitest';
import { definePipeline, json, mqttSource } from 'tributary';
import { influxdb } from 'tributary/sinks';
import { toReadings } from 'tributary/transforms';
import { testPipeline } from 'tributary/testing';

const pipeline = definePipeline({ name: 'readme-select' })
  .from(
    mqttSource({
      url: 'mqtt://127.0.0.1:1884',
      clientId: 'readme-select',
      group: 'readme',
      subscribe: [{ topic: 'plant/+/+', decode: json() }],
    }),
  )
  .pipe(
    toReadings({
      measurement: 'climate',
      timeUnit: 'ms',
      select: {
        fields: { temperature: 'sensors.0.temp', humidity: { path: 'sensors.0.rh', type: 'number' } },
        tags: { device: '$.meta.id', site: '$topic.1', firmware: '$userProperties.fw' },
        time: 'meta.ts',
      },
    }),
  )
  .to(influxdb({ url: 'http://127.0.0.1:8086', api: 'v1', database: 'readme' }));

it('selects fields, tags and time by path, from the payload, the topic and the user properties', async () => {
  const t = await testPipeline(pipeline);
  const out = await t.push(
    'plant/north/th-7',
    '{"meta":{"id":"th-7","ts":1717243200000},"sensors":[{"temp":21.5,"rh":"48"}]}',
    { userProperties: { fw: '1.4.2' } },
  );
  expect(out.lines).toEqual([
    'climate,device=th-7,firmware=1.4.2,site=north temperature=21.5,humidity=48 1717243200000000000',
  ]);
  await t.close();
});

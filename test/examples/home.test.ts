// Branches per topic filter (examples/home.ts and inline pipelines), through tributary/testing on
// the real runtime: each message runs only its own branch's decoder and stages, the branches join
// before the shared stages and sinks, and what no branch takes is a dead letter.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  definePipeline,
  json,
  map,
  mapAsync,
  mqttSource,
  raw,
  type DecodedValue,
  type Reading,
} from '../../pipeline/index.js';
import { testPipeline } from '../../pipeline/testing.js';
import { influxdb } from '../../sinks/index.js';
import { aggregateWindow, parseTopic, toReadings } from '../../transforms/index.js';
import home from '../../examples/home.js';

const source = () =>
  mqttSource({
    url: 'mqtt://127.0.0.1:1',
    clientId: 'branches',
    subscribe: [
      { topic: 'json/#', decode: json() },
      { topic: 'raw/#', decode: raw() },
    ],
  });
const influx = () => influxdb({ url: 'http://127.0.0.1:1', api: 'v1', database: 'none' });

/** Code without comments, whitespace, trailing commas and the difference between package and relative imports. */
const bare = (code: string) =>
  code
    .replace(
      /'tributary(\/sinks|\/transforms)?'/g,
      (_m, sub: string | undefined) => `'../${sub ? sub.slice(1) : 'pipeline'}/index.js'`,
    )
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\s+/g, '')
    .replace(/,([)\]}])/g, '$1');

describe('examples/home.ts', () => {
  it("is the README's branch example, as written there", async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('### Several payload shapes in one pipeline'));
    const snippet = /```ts\n([^]*?)```/.exec(section)?.[1];
    expect(snippet).toBeDefined();
    const example = (await readFile('examples/home.ts', 'utf8'))
      .split('\n')
      .filter((l) => !l.startsWith('//'))
      .join('\n');
    expect(bare(snippet!)).toBe(bare(example));
  });

  it('gives Tasmota JSON and bare sensor values each their own stages, then the shared ones', async () => {
    const t = await testPipeline(home);
    const tasmota = await t.push(
      'tele/plug-1/SENSOR',
      '{"Time":"2024-05-01T12:00:00","DS18B20":{"Id":"01144A0CB2AA","Temperature":21.5},"TempUnit":"C"}',
    );
    expect(tasmota.lines).toEqual([
      'tasmota,DS18B20_Id=01144A0CB2AA,device=plug-1,site=home DS18B20_Temperature=21.5,TempUnit="C" 1714564800000000000',
    ]);
    const sensor = await t.push('sensor/001/temperature', '23.5');
    expect(sensor.lines).toEqual([`temperature,sensor=001,site=home value=23.5 ${BigInt(t.now()) * 1_000_000n}`]);
    // a stage of one branch rejects: the dead letter names the stage and its branch
    const bad = await t.push('tele/plug-1/SENSOR', '{"Time":"yesterday","Power":3}');
    expect(bad.deadLetters.map((d) => [d.code, d.stage])).toEqual([['mapping_error', 'toReadings@tele/+/SENSOR']]);
    expect(t.stats.settled).toBe(3);
    await t.close();
  });
});

describe('PipelineBuilder.branch', () => {
  it('routes each message to the first branch whose filter matches; one no branch takes is a dead letter', async () => {
    const tag = (name: string) => map(name, (r: Reading) => ({ ...r, tags: { ...r.tags, branch: name } }));
    const def = definePipeline({ name: 'routes' })
      .from(source())
      .branch('json/special/+', (b) => b.pipe(toReadings({ measurement: 'special' })).pipe(tag('first')))
      .branch('json/#', (b) => b.pipe(toReadings({ measurement: 'json' })).pipe(tag('second')))
      .branch('raw/+/+', (b) => b.pipe(toReadings({ measurement: 'raw' })).pipe(parseTopic('raw/{device}/+')))
      .join()
      .to(influx());
    const t = await testPipeline(def);
    expect((await t.push('json/special/x', '{"v":1,"ts":1}')).lines).toEqual(['special,branch=first v=1 1000000000']);
    expect((await t.push('json/other/x', '{"v":2,"ts":1}')).lines).toEqual(['json,branch=second v=2 1000000000']);
    expect((await t.push('raw/d1/v', '3')).lines).toEqual([`raw,device=d1 value=3 ${BigInt(t.now()) * 1_000_000n}`]);
    const none = await t.push('raw/d1', '4'); // subscribed (raw/#), but no branch takes raw/<one level>
    expect(none.lines).toEqual([]);
    expect(none.deadLetters.map((d) => [d.code, d.stage, d.reason])).toEqual([
      ['no_branch', 'join', 'topic raw/d1 matches no branch (json/special/+, json/#, raw/+/+)'],
    ]);
    expect(none.settled).toBe(true);
    await t.close();
  });

  it('keeps async stages and windows inside a branch on the runtime path: held, emitted later, acknowledged once written', async () => {
    const slow = mapAsync('slow', 4, async (r: Reading) => {
      await new Promise((res) => setTimeout(res, 5));
      return r;
    });
    const def = definePipeline({ name: 'windows' })
      .from(source())
      .branch('json/#', (b) =>
        b
          .pipe(toReadings({ measurement: 'm', time: ['ts'], timeUnit: 'ms' }))
          .pipe(aggregateWindow({ everyMs: 60_000, allowedLatenessMs: 0, fields: { v: ['mean'] } })),
      )
      .branch('raw/#', (b) => b.pipe(toReadings({ measurement: 'r' })).pipe(slow))
      .join()
      .to(influx());
    const t = await testPipeline(def);
    const start = t.now();
    const held = await t.push('json/a', `{"ts":${start + 1000},"v":1}`);
    await t.push('json/a', `{"ts":${start + 2000},"v":3}`);
    expect(held.settled).toBe(false);
    expect((await t.push('raw/a', '7')).lines).toEqual([`r value=7 ${BigInt(start) * 1_000_000n}`]);
    const closed = await t.advance(61_000);
    expect(closed.lines).toEqual([`m v_mean=2 ${BigInt(start) * 1_000_000n}`]);
    expect(t.stats.unsettled).toBe(0);
    await t.close();
  });

  it('type-checks each branch like the main chain, and the join as the union of the branches', () => {
    const b = definePipeline({ name: 'types' }).from(source());
    // @ts-expect-error parseTopic takes readings, a branch starts with the decoded body
    b.branch('json/#', (c) => c.pipe(parseTopic('json/{x}')));
    const joined = b
      .branch('json/#', (c) => c.pipe(toReadings({ measurement: 'm' })))
      .branch('raw/#', (c) => c.pipe(map('n', (v: DecodedValue) => Number(v))))
      .join();
    // @ts-expect-error the join is Reading | number: a stage taking readings only does not fit
    joined.pipe(parseTopic('json/{x}'));
    expect(
      joined
        .pipe(map('either', (x: Reading | number) => x))
        .to(influx())
        .stages.map((s) => s.name),
    ).toEqual(['toReadings@json/#', 'n@raw/#', 'join', 'either']);
  });

  it('refuses a filter that is not an MQTT filter, or one an earlier branch already has', () => {
    const b = definePipeline({ name: 'bad' }).from(source());
    expect(() => b.branch('a/#/b', (c) => c)).toThrow('branch("a/#/b"): expected an MQTT topic filter');
    expect(() => b.branch('a+/b', (c) => c)).toThrow('branch("a+/b"): expected an MQTT topic filter');
    expect(() => b.branch('', (c) => c)).toThrow('expected an MQTT topic filter');
    expect(() => b.branch('a/#', (c) => c).branch('a/#', (c) => c)).toThrow(
      'branch("a/#"): expected a topic filter no earlier branch has',
    );
  });
});

// trackSparkplugNodes: the golden Sparkplug cases give the same readings through sparkplugMessages()
// + trackSparkplugNodes (state in memory, seqTolerance 0) as through the stateful sparkplug()
// decoder; two workers sharing one state decode each other's DATA; gaps and unknown aliases are
// dead-lettered with their reason and ask for a rebirth.
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { definePipeline, mqttSource, sparkplug, sparkplugMessages, type Reading } from '../../pipeline/index.js';
import { testPipeline, type PipelineHarness } from '../../pipeline/testing.js';
import type { Decoder } from '../../pipeline/core/types.js';
import { influxdb } from '../../sinks/index.js';
import {
  memoryStageState,
  toReadings,
  trackSparkplugNodes,
  type StageState,
  type TrackSparkplugNodesOptions,
} from '../../transforms/index.js';

const DIR = 'test/cases/decoders/sparkplug';
interface Message {
  topic: string;
  payload?: string;
  payloadHex?: string;
}
interface Case extends Partial<Message> {
  decoder: { sparkplug?: Record<string, unknown> };
  messages?: Message[];
}
const mapping = () => toReadings({ measurement: 'sparkplug', tags: ['group', 'node', 'device', 'host'], time: ['ts'] });
const source = <B>(decode: Decoder<B>) =>
  mqttSource({ url: 'mqtt://127.0.0.1:1', clientId: 'never', subscribe: [{ topic: '#', decode }] });
const sink = () => influxdb({ url: 'http://127.0.0.1:1', api: 'v1', database: 'never' });
const local = () => definePipeline({ name: 'local' }).from(source(sparkplug())).pipe(mapping()).to(sink());
const shared = (o: TrackSparkplugNodesOptions) =>
  definePipeline({ name: 'shared' })
    .from(source(sparkplugMessages()))
    .pipe(trackSparkplugNodes(o))
    .pipe(mapping())
    .to(sink());
const hex = (h: string) => Buffer.from(h, 'hex');
const bytes = (m: Message) => (m.payloadHex !== undefined ? hex(m.payloadHex) : Buffer.from(m.payload ?? ''));
const read = (c: string) => JSON.parse(readFileSync(`${DIR}/${c}/input.json`, 'utf8')) as Case;

const harnesses: PipelineHarness[] = [];
afterEach(async () => {
  for (const t of harnesses.splice(0)) await t.close();
});
const open = async (d: Parameters<typeof testPipeline>[0]) => {
  const t = await testPipeline(d);
  harnesses.push(t);
  return t;
};

describe('trackSparkplugNodes', () => {
  // Every case but those with decoder options the shared path does not take (maxNodes).
  const cases = readdirSync(DIR).filter((c) => Object.keys(read(c).decoder.sparkplug ?? {}).length === 0);
  it.each(cases)('golden case %s: the same readings as the sparkplug() decoder', async (name) => {
    const input = read(name);
    const [a, b] = [await open(local()), await open(shared({ seqTolerance: 0 }))];
    for (const m of input.messages ?? [input as Message]) {
      const [x, y] = [await a.push(m.topic, bytes(m)), await b.push(m.topic, bytes(m))];
      expect(y.lines).toEqual(x.lines);
      const codes = (l: typeof x.deadLetters) =>
        l
          .map((d) => d.code)
          .filter((c) => c !== 'sparkplug_seq_gap')
          .map((c) => (c === 'sparkplug_unknown_alias' ? 'decode_error' : c));
      expect(codes(y.deadLetters)).toEqual(codes(x.deadLetters));
      expect(y.deadLetters.filter((d) => d.code === 'sparkplug_seq_gap').length).toBe(
        x.lines.some((l) => l.includes('seq_gap=true')) ? 1 : 0,
      );
    }
  });

  it('two workers on one state: a BIRTH on one, its DATA on the other; a gap reported once, with a rebirth request', async () => {
    const state: StageState = memoryStageState();
    const requests: string[] = [];
    const rebirth = (topic: string) => {
      requests.push(topic);
    };
    const [w1, w2] = [
      await open(shared({ state, rebirth, seqTolerance: 2 })),
      await open(shared({ state, rebirth, seqTolerance: 2 })),
    ];
    const input = JSON.parse(readFileSync(`${DIR}/spec-session-birth-data-death/input.json`, 'utf8')) as Case;
    const [nbirth, dbirth, ddata] = input.messages!;
    await w1.push(nbirth!.topic, bytes(nbirth!));
    await w1.push(dbirth!.topic, bytes(dbirth!));
    const data = await w2.push(ddata!.topic, bytes(ddata!));
    expect(data.readings.map((r: Reading) => Object.keys(r.fields))).toEqual([['Inputs/A', 'Inputs/C']]);
    expect(data.deadLetters).toEqual([]);
    // The same DDATA with seqs 3, 5, 6, 7: seq 4 is missing, confirmed (tolerance 2) by seq 6, once.
    const withSeq = (seq: number) => {
      const p = bytes(ddata!);
      p[p.length - 1] = seq;
      return p;
    };
    const out = [];
    for (const [i, seq] of [3, 5, 6, 7].entries()) out.push(await (i % 2 ? w1 : w2).push(ddata!.topic, withSeq(seq)));
    expect(out.map((o) => o.deadLetters.map((d) => [d.code, d.reason]))).toEqual([
      [],
      [],
      [
        [
          'sparkplug_seq_gap',
          'seq gap on edge node Sparkplug B Devices/Raspberry Pi: seq 4 never arrived (its data is lost; a rebirth is needed)',
        ],
      ],
      [],
    ]);
    expect(out.map((o) => o.readings.length)).toEqual([1, 1, 1, 1]); // the data that did arrive is written
    expect(requests).toEqual(['spBv1.0/Sparkplug B Devices/NCMD/Raspberry Pi']);
  });
});

/**
 * What decoding costs: µs per message for each decoder on the standard workload
 * (`{"ts":..,"temperature":19.96,"humidity":47.6,"battery":49,"status":"ok"}` as JSON, msgpack,
 * protobuf with schemas/fleet.proto, the same values as a Sparkplug B DDATA, one raw value),
 * plus toReadings on the decoded value. Single thread, no I/O: the CPU cost per message.
 *
 *   npx tsx bench/decode-cost.ts [iterations]
 */
import { fileURLToPath } from 'node:url';
import { encode } from '@msgpack/msgpack';
import pb from 'protobufjs';
import { byContentType, json, msgpack, protobuf, raw, sparkplug } from '../pipeline/engine/decode/index.js';
import type { DecodedValue, Decoder, StageContext } from '../pipeline/core/types.js';
import { parseTopic } from '../transforms/parse-topic.js';
import { toReadings } from '../transforms/to-readings.js';

const ITERATIONS = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;
const schema = (name: string) => fileURLToPath(new URL(`../schemas/${name}`, import.meta.url));

const workload = { ts: 1795315235165, temperature: 19.96, humidity: 47.6, battery: 49, status: 'ok' };
const topic = 'fleet/site-3/dev-340/telemetry';
const meta = { topic, qos: 1 as const, retain: false, receivedAtMs: 1_700_000_000_000 };

const fleet = new pb.Root().loadSync(schema('fleet.proto'), { keepCase: true }).lookupType('fleet.Telemetry');
const spb = new pb.Root()
  .loadSync(schema('sparkplug_b.proto'), { keepCase: true })
  .lookupType('org.eclipse.tahu.protobuf.Payload');
/** The workload as a Sparkplug DDATA with seq `seq`: four metrics by alias, datatypes from the DBIRTH. */
const sparkplugData = (seq: number) =>
  spb
    .encode(
      spb.fromObject({
        timestamp: workload.ts,
        seq,
        metrics: [
          { alias: 1, double_value: workload.temperature },
          { alias: 2, double_value: workload.humidity },
          { alias: 3, int_value: workload.battery },
          { alias: 4, string_value: workload.status },
        ],
      }),
    )
    .finish();
const sparkplugBirth = spb
  .encode(
    spb.fromObject({
      timestamp: workload.ts,
      seq: 0,
      metrics: [
        { name: 'temperature', alias: 1, datatype: 10, double_value: 0 },
        { name: 'humidity', alias: 2, datatype: 10, double_value: 0 },
        { name: 'battery', alias: 3, datatype: 5, int_value: 0 },
        { name: 'status', alias: 4, datatype: 12, string_value: '' },
      ],
    }),
  )
  .finish();

const payloads = {
  json: new TextEncoder().encode(JSON.stringify(workload)),
  msgpack: encode(workload),
  protobuf: fleet.encode(fleet.fromObject(workload)).finish(),
};

interface Case {
  name: string;
  bytes: number;
  decoder: Decoder<DecodedValue>;
  payload: Uint8Array;
  meta: typeof meta & { contentType?: string };
}

/** A Sparkplug decoder after the DBIRTH, fed DDATA messages whose seq runs on without gaps. */
function sparkplugCase(): Case {
  const d = sparkplug();
  const birth = d.decode(sparkplugBirth, { ...meta, topic: 'spBv1.0/fleet/DBIRTH/site-3/dev-340' });
  if (!birth.ok) throw new Error(birth.failure.reason);
  const bySeq = Array.from({ length: 256 }, (_, seq) => sparkplugData(seq));
  let seq = 0;
  const decoder: Decoder<DecodedValue> = {
    format: d.format,
    decode: (_payload, m) => d.decode(bySeq[(seq = (seq + 1) % 256)]!, m),
  };
  return {
    name: 'sparkplug DDATA (4 aliased metrics)',
    bytes: bySeq[1]!.length,
    decoder,
    payload: bySeq[1]!,
    meta: { ...meta, topic: 'spBv1.0/fleet/DDATA/site-3/dev-340' },
  };
}

const ct = byContentType(
  {
    'application/json': json(),
    'application/msgpack': msgpack(),
    'application/x-protobuf': protobuf({ schema: schema('fleet.proto'), typeFromContentType: true }),
  },
  json(),
);
const cases: Case[] = [
  { name: 'json', bytes: payloads.json.length, decoder: json(), payload: payloads.json, meta },
  { name: 'msgpack', bytes: payloads.msgpack.length, decoder: msgpack(), payload: payloads.msgpack, meta },
  {
    name: 'protobuf (fleet.Telemetry)',
    bytes: payloads.protobuf.length,
    decoder: protobuf({ schema: schema('fleet.proto'), type: 'fleet.Telemetry' }),
    payload: payloads.protobuf,
    meta,
  },
  sparkplugCase(),
  { name: 'raw ("19.96")', bytes: 5, decoder: raw(), payload: new TextEncoder().encode('19.96'), meta },
  {
    name: 'byContentType → msgpack',
    bytes: payloads.msgpack.length,
    decoder: ct,
    payload: payloads.msgpack,
    meta: { ...meta, contentType: 'application/msgpack' },
  },
  {
    name: 'byContentType → protobuf (type from content type)',
    bytes: payloads.protobuf.length,
    decoder: ct,
    payload: payloads.protobuf,
    meta: { ...meta, contentType: 'application/x-protobuf; messageType=fleet.Telemetry' },
  },
];

/** Median over rounds of the mean µs per call. */
function measure(fn: () => unknown): number {
  for (let i = 0; i < Math.min(ITERATIONS, 20_000); i++) fn(); // warm up the JIT
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) fn();
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

const fmt = (us: number) => us.toFixed(2).padStart(7);
console.log(`decode cost, ${ITERATIONS} messages × ${ROUNDS} rounds (median), Node ${process.version}\n`);
console.log(`${'decoder'.padEnd(52)} ${'bytes'.padStart(5)}  µs/msg   msg/s`);
for (const c of cases) {
  const first = c.decoder.decode(c.payload, c.meta);
  if (!first.ok) throw new Error(`${c.name}: ${first.failure.reason}`);
  const us = measure(() => c.decoder.decode(c.payload, c.meta));
  console.log(
    `${c.name.padEnd(52)} ${String(c.bytes).padStart(5)} ${fmt(us)} ${Math.round(1e6 / us)
      .toLocaleString('en')
      .padStart(10)}`,
  );
}

const ctx = { meta: { ...meta, format: 'json' }, now: () => 0 } as unknown as StageContext;
const mapping = toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] });
const topicTags = parseTopic('fleet/{site}/{device}/telemetry');
const decoded = json().decode(payloads.json, meta);
const decodedPb = cases[2]!.decoder.decode(payloads.protobuf, meta);
const rows = cases[3]!.decoder.decode(cases[3]!.payload, cases[3]!.meta);
if (!decoded.ok || !decodedPb.ok || !rows.ok) throw new Error('decode failed');
const sparkplugMapping = toReadings({ measurement: 'sparkplug', tags: ['group', 'node', 'device'], time: ['ts'] });
const spCtx = { ...ctx, meta: { ...ctx.meta, topic: 'spBv1.0/fleet/DDATA/site-3/dev-340' } } as StageContext;
console.log('\nmapping');
console.log(`${'toReadings (json body)'.padEnd(58)} ${fmt(measure(() => mapping.apply(decoded.value, ctx)))}`);
console.log(
  `${'toReadings (protobuf body: bigint ts)'.padEnd(58)} ${fmt(measure(() => mapping.apply(decodedPb.value, ctx)))}`,
);
console.log(
  `${'toReadings (sparkplug rows: ISO ts)'.padEnd(58)} ${fmt(measure(() => sparkplugMapping.apply(rows.value, spCtx)))}`,
);
const reading = (mapping.apply(decoded.value, ctx) as readonly unknown[])[0] as never;
console.log(`${'parseTopic'.padEnd(58)} ${fmt(measure(() => topicTags.apply(reading, ctx)))}`);

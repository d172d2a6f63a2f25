/**
 * Fuzzing the decoders with a fixed seed: mutated valid payloads (bit flips, byte changes,
 * truncation, splicing, insertions, deletions) and random bytes. No exception may escape
 * `decode`; every failure is a `decode_error` with a reason; every success a DecodedValue.
 * Then 10k random payloads through the real Runtime: it never crashes, every bad one is
 * dead-lettered with a reason, the counts match a direct run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pb from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { json, msgpack, protobuf, raw, sparkplug } from '../../../../pipeline/engine/decode/index.js';
import { silentLogger } from '../../../../pipeline/core/log.js';
import { Runtime } from '../../../../pipeline/engine/runtime/runtime.js';
import type {
  DeadLetter,
  DecodedValue,
  Decoder,
  MessageHandler,
  Reading,
  Sink,
  Source,
  SourceMessage,
  StageContext,
  Transform,
  WriteResult,
} from '../../../../pipeline/core/types.js';
import { toReadings } from '../../../../transforms/to-readings.js';
import { seededRandom } from '../../../../pipeline/cli/fleet-simulator.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CASES = join(ROOT, 'test/cases/decoders');
const ITERATIONS = 100_000;
const SEED = 0x7a1b_2c3d;

/** mulberry32: small, fast, deterministic (the simulator's). */
const rng = seededRandom;

interface Sample {
  topic: string;
  payload: Uint8Array;
  contentType?: string;
}

/** Valid payloads of one decoder kind, from the golden cases (those that decode). */
function samples(kind: string): Sample[] {
  const out: Sample[] = [];
  for (const area of readdirSync(CASES, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const c of readdirSync(join(CASES, area.name), { withFileTypes: true }).filter((d) => d.isDirectory())) {
      const input = JSON.parse(readFileSync(join(CASES, area.name, c.name, 'input.json'), 'utf8')) as {
        decoder: Record<string, { schema?: string; type?: string }>;
        messages?: Array<Record<string, string>>;
      } & Record<string, string>;
      const name = Object.keys(input.decoder)[0];
      if (name !== kind || (kind === 'protobuf' && input.decoder.protobuf!.schema !== 'schemas/fleet.proto')) continue;
      for (const m of input.messages ?? [input]) {
        const payload =
          m.payloadHex !== undefined ? Buffer.from(m.payloadHex, 'hex') : Buffer.from(m.payload ?? '', 'utf8');
        if (payload.length > 0)
          out.push({ topic: m.topic!, payload: new Uint8Array(payload), contentType: m.contentType });
      }
    }
  }
  return out;
}

/** One fuzzed payload: mostly a mutated sample, sometimes random bytes. */
function mutate(next: () => number, pool: readonly Sample[]): Sample {
  const int = (n: number) => Math.floor(next() * n);
  const pick = pool[int(pool.length)]!;
  const random = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  let b = pick.payload;
  switch (int(8)) {
    case 0:
      return { ...pick, payload: random(int(64)) };
    case 1: {
      // bit flips
      b = Uint8Array.from(b); // a copy (Buffer#slice would share memory)
      for (let k = 1 + int(8); k > 0 && b.length > 0; k--) b[int(b.length)]! ^= 1 << int(8);
      break;
    }
    case 2:
      b = b.subarray(0, int(b.length));
      break; // truncation
    case 3: {
      // splice two samples
      const other = pool[int(pool.length)]!.payload;
      b = concat(b.subarray(0, int(b.length + 1)), other.subarray(int(other.length + 1)));
      break;
    }
    case 4: {
      // insert random bytes
      const at = int(b.length + 1);
      b = concat(b.subarray(0, at), random(1 + int(8)), b.subarray(at));
      break;
    }
    case 5: {
      // delete a range
      const at = int(b.length + 1);
      b = concat(b.subarray(0, at), b.subarray(at + 1 + int(8)));
      break;
    }
    case 6: {
      // set bytes to boundary values
      b = Uint8Array.from(b);
      for (let k = 1 + int(4); k > 0 && b.length > 0; k--)
        b[int(b.length)] = [0, 0x7f, 0x80, 0xff, 0xc1, 0x0a][int(6)]!;
      break;
    }
    default: {
      // duplicate a chunk
      const at = int(b.length + 1);
      b = concat(b.subarray(0, at), b.subarray(int(b.length + 1)), b.subarray(at));
    }
  }
  return { ...pick, payload: b };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Whether `v` is a DecodedValue (no undefined, no class instances other than Uint8Array). */
function isDecodedValue(v: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint') return true;
  if (typeof v === 'number') return true;
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) return v.every((x) => isDecodedValue(x, depth + 1));
  if (typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(v as object).every((x) => isDecodedValue(x, depth + 1));
}

const meta = (s: Sample) => ({
  topic: s.topic,
  qos: 1 as const,
  retain: false,
  receivedAtMs: 1_700_000_000_000,
  contentType: s.contentType,
});
const fleetProtobuf = () => protobuf({ schema: join(ROOT, 'schemas/fleet.proto'), type: 'fleet.Telemetry' });

const KITCHEN_SINK = join(ROOT, 'test/pipeline/engine/decode/fixtures/kitchen-sink.proto');

/** Valid sink.Everything payloads: every field kind the protobuf decoder converts. */
function kitchenSinkSamples(): Sample[] {
  const type = new pb.Root().loadSync(KITCHEN_SINK, { keepCase: true }).lookupType('sink.Everything');
  const objects = [
    {
      signed64: '-9007199254740993',
      unsigned64: '18446744073709551615',
      zigzag: -5,
      fixed: '42',
      ratio: 12.1,
      exact: 0.1,
      flag: true,
      text: 'héllo',
      blob: Buffer.from([0xde, 0xad]),
      mode: 2,
      points: [{ name: 'a', value: 1.5 }, { name: 'b' }],
      packed: [1, -2, 3],
      counters: { x: '7', y: '-1' },
      at: { seconds: 1_700_000_000, nanos: 5 },
      maybe: 0,
      label: 'l',
      nested: { name: 'n' },
    },
    { text: 'only' },
    { number: 9, points: [{ value: 2 }], at: { seconds: -5 } },
  ];
  return objects.map((o) => ({ topic: 'sink', payload: new Uint8Array(type.encode(type.fromObject(o)).finish()) }));
}

const decoders: Array<[string, () => Decoder<DecodedValue>, () => Sample[]]> = [
  ['json', () => json(), () => samples('json')],
  ['msgpack', () => msgpack(), () => samples('msgpack')],
  ['protobuf', fleetProtobuf, () => samples('protobuf')],
  [
    'protobuf (every field kind)',
    () => protobuf({ schema: KITCHEN_SINK, type: 'sink.Everything' }),
    kitchenSinkSamples,
  ],
  ['sparkplug', () => sparkplug({ maxNodes: 64 }), () => samples('sparkplug')],
  ['raw', () => raw(), () => samples('raw')],
];

const timings: string[] = [];
afterAll(() => {
  console.log(`fuzz: ${timings.join(', ')}`);
});

describe(`decoder fuzzing (${ITERATIONS} payloads each, seed ${SEED})`, () => {
  for (const [kind, make, pool_] of decoders) {
    it(`${kind}: nothing escapes decode, every failure is a decode_error with a reason`, () => {
      const pool = pool_();
      expect(pool.length).toBeGreaterThan(2);
      const decoder = make();
      const next = rng(SEED ^ kind.length);
      let ok = 0;
      let failed = 0;
      const reasons = new Set<string>();
      const started = performance.now();
      for (let i = 0; i < ITERATIONS; i++) {
        const sample = mutate(next, pool);
        let result;
        try {
          result = decoder.decode(sample.payload, meta(sample));
        } catch (error) {
          throw new Error(
            `${kind} threw on ${Buffer.from(sample.payload).toString('hex')} (${sample.topic}): ${String(error)}`,
            { cause: error },
          );
        }
        if (result.ok) {
          ok++;
          if (!isDecodedValue(result.value))
            throw new Error(`${kind} returned a non-DecodedValue for ${Buffer.from(sample.payload).toString('hex')}`);
        } else {
          failed++;
          if (
            result.failure.code !== 'decode_error' ||
            typeof result.failure.reason !== 'string' ||
            result.failure.reason.length === 0
          ) {
            throw new Error(`${kind} failure without code/reason: ${JSON.stringify(result.failure)}`);
          }
          if (reasons.size < 1000) reasons.add(result.failure.reason.replace(/\d+/g, 'N'));
        }
      }
      timings.push(
        `${kind} ${ITERATIONS} in ${Math.round(performance.now() - started)} ms (${ok} ok, ${failed} failed, ${reasons.size} distinct reasons)`,
      );
      expect(ok + failed).toBe(ITERATIONS);
      expect(failed).toBeGreaterThan(ITERATIONS / 10); // the mutations do reach the error paths
      expect(ok).toBeGreaterThan(0);
    });
  }
});

// ---- through the real Runtime -------------------------------------------------------------

class MemorySource implements Source<unknown> {
  readonly name = 'memory';
  readonly window = 20_000;
  handler: MessageHandler | undefined;
  settles = 0;
  async open(handler: MessageHandler): Promise<void> {
    this.handler = handler;
  }
  async stopIntake(): Promise<void> {}
  async close(): Promise<void> {}
  send(s: Sample, decoder: Decoder<DecodedValue>): void {
    const message: SourceMessage = {
      ...meta(s),
      payload: s.payload,
      decoder,
      settle: () => {
        this.settles++;
      },
    };
    this.handler!(message);
  }
}

function memorySink<T>(name: string, accepts: (item: unknown) => item is T): Sink<T> & { items: T[] } {
  const items: T[] = [];
  return {
    name,
    items,
    accepts,
    batch: { maxItems: 500, maxBytes: 1 << 20, maxWaitMs: 2, maxConcurrency: 2 },
    encode: (item) => JSON.stringify(item, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    open: async () => {},
    close: async () => {},
    write: async (batch): Promise<WriteResult> => {
      items.push(...batch.items);
      return { status: 'delivered' };
    },
  };
}

const isReading = (x: unknown): x is Reading =>
  typeof x === 'object' && x !== null && 'measurement' in x && 'fields' in x;
const isLetter = (x: unknown): x is DeadLetter => typeof x === 'object' && x !== null && 'reason' in x;

describe('Runtime under 10k random payloads', () => {
  it('never crashes, dead-letters every bad payload with a reason, settles every message once', async () => {
    const pools = Object.fromEntries(decoders.map(([kind, , pool]) => [kind, pool()]));
    const mapping = () => toReadings({ measurement: 'fuzz', tags: ['group', 'node', 'device', 'host'], time: ['ts'] });
    // The same messages through fresh decoders and the mapping, directly, for the expected counts.
    const direct = Object.fromEntries(decoders.map(([kind, make]) => [kind, make()]));
    const directMapping = mapping();
    const live = Object.fromEntries(decoders.map(([kind, make]) => [kind, make()]));
    const next = rng(SEED);
    const expected = { readings: 0, decodeErrors: 0, mappingErrors: 0 };
    const messages: Array<[Sample, string]> = [];
    for (let i = 0; i < 10_000; i++) {
      const kind = decoders[Math.floor(next() * decoders.length)]![0];
      const sample =
        next() < 0.3 ? pools[kind]![Math.floor(next() * pools[kind]!.length)]! : mutate(next, pools[kind]!);
      messages.push([sample, kind]);
      const r = direct[kind]!.decode(sample.payload, meta(sample));
      if (!r.ok) {
        expected.decodeErrors++;
        continue;
      }
      const ctx = { meta: { ...meta(sample), format: kind }, now: () => 0 } as unknown as StageContext;
      const out = directMapping.apply(r.value, ctx) as ReturnType<Transform<DecodedValue, Reading>['apply']>;
      if ('rejected' in out) expected.mappingErrors++;
      else expected.readings += (out as Reading[]).length;
    }

    const source = new MemorySource();
    const readings = memorySink('readings', isReading);
    const deadLetters = memorySink('dead-letters', isLetter);
    const runtime = new Runtime({
      source,
      deadLetters,
      log: silentLogger,
      sinks: [readings as Sink<unknown>],
      stages: [mapping() as unknown as Transform<unknown, unknown>],
      retry: { initialDelayMs: 1, maxDelayMs: 5, giveUpAfterMs: 10_000 },
    });
    await runtime.start();
    for (const [sample, kind] of messages) source.send(sample, live[kind]!);
    expect(await runtime.stop(20_000)).toBe(true);

    expect(source.settles).toBe(10_000);
    expect(expected.decodeErrors).toBeGreaterThan(1000);
    expect(readings.items.length).toBe(expected.readings);
    const byCode = (code: string) => deadLetters.items.filter((l) => l.code === code);
    expect(byCode('decode_error').length).toBe(expected.decodeErrors);
    expect(byCode('mapping_error').length).toBe(expected.mappingErrors);
    expect(deadLetters.items.length).toBe(expected.decodeErrors + expected.mappingErrors);
    for (const letter of deadLetters.items) {
      expect(letter.reason.length).toBeGreaterThan(0);
      if (letter.code === 'decode_error')
        expect(letter.stage).toMatch(/^decode:(json|msgpack|protobuf|sparkplug|raw)$/);
    }
  });
});

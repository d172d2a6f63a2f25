/**
 * Golden decoder cases (test/cases/decoders/<area>/<case>/, format in the README there): each
 * case's messages go through the named decoder and mapping stages, and the readings (or the
 * first failure) must match expected.json (or expected.err).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { byContentType, json, msgpack, protobuf, raw, sparkplug } from '../../../../pipeline/engine/decode/index.js';
import type {
  DecodedValue,
  Decoder,
  FieldValue,
  MessageMeta,
  Reading,
  StageContext,
  Transform,
} from '../../../../pipeline/core/types.js';
import { parseTopic } from '../../../../transforms/parse-topic.js';
import { measurementFromTopic } from '../../../../transforms/topic-measurement.js';
import { toReadings } from '../../../../transforms/to-readings.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CASES = join(ROOT, 'test/cases/decoders');
const RECEIVED_AT_MS = 1_700_000_000_000;

type Spec = Record<string, Record<string, unknown>>;
interface Message {
  topic: string;
  payload?: string;
  payloadHex?: string;
  contentType?: string;
  retain?: boolean;
  receivedAtMs?: number;
}
interface Input extends Partial<Message> {
  decoder: Spec;
  mapping: Spec[];
  messages?: Message[];
}
type Json = number | string | boolean | { $bigint: string };
interface Expected {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, Json>;
  timeNs: string | null;
}

function only(spec: Spec, what: string): [string, Record<string, unknown>] {
  const entries = Object.entries(spec);
  if (entries.length !== 1) throw new Error(`${what} must have exactly one key, got ${Object.keys(spec).join(', ')}`);
  return entries[0]!;
}

/** Decoder from its spec; file paths are repo-relative, or case-relative when they start with ./ */
function makeDecoder(spec: Spec, dir: string): Decoder<DecodedValue> {
  const [name, o] = only(spec, 'decoder');
  switch (name) {
    case 'json':
      return json(o);
    case 'msgpack':
      return msgpack(o);
    case 'raw':
      return raw(o);
    case 'sparkplug':
      return sparkplug(o);
    case 'protobuf': {
      const schema = String(o.schema);
      return protobuf({
        ...o,
        schema: schema.startsWith('./') ? join(dir, schema) : isAbsolute(schema) ? schema : join(ROOT, schema),
      });
    }
    case 'byContentType': {
      const map = Object.fromEntries(
        Object.entries(o.map as Record<string, Spec>).map(([k, s]) => [k, makeDecoder(s, dir)]),
      );
      return byContentType(map, makeDecoder(o.fallback as Spec, dir));
    }
    default:
      throw new Error(`unknown decoder ${name}`);
  }
}

/** Protobuf failures name the schema as configured: report it repo-relative, as the cases are written. */
const relative = (reason: string): string => reason.split(ROOT).join('');

function makeStage(spec: Spec): Transform<never, unknown> {
  const [name, o] = only(spec, 'mapping stage');
  switch (name) {
    case 'toReadings':
      return toReadings(o as never) as Transform<never, unknown>;
    case 'parseTopic':
      return parseTopic(String(o.pattern), o as never) as Transform<never, unknown>;
    case 'measurementFromTopic':
      return measurementFromTopic(String(o.pattern), o as never) as Transform<never, unknown>;
    default:
      throw new Error(`unknown mapping stage ${name}`);
  }
}

interface Outcome {
  readings: Reading[];
  failures: string[];
}

async function run(input: Input, dir: string): Promise<Outcome> {
  const decoder = makeDecoder(input.decoder, dir);
  const stages = input.mapping.map(makeStage);
  const messages = input.messages ?? [input as Message];
  const readings: Reading[] = [];
  const failures: string[] = [];
  for (const m of messages) {
    const payload =
      m.payloadHex !== undefined ? Buffer.from(m.payloadHex, 'hex') : Buffer.from(m.payload ?? '', 'utf8');
    const base = {
      topic: m.topic,
      qos: 1 as const,
      retain: m.retain ?? false,
      receivedAtMs: m.receivedAtMs ?? RECEIVED_AT_MS,
      contentType: m.contentType,
    };
    const decoded = decoder.decode(new Uint8Array(payload), base);
    if (!decoded.ok) {
      expect(decoded.failure.reason.length).toBeGreaterThan(0);
      failures.push(`${decoded.failure.code}: ${relative(decoded.failure.reason)}`);
      continue;
    }
    const meta: MessageMeta = { ...base, format: decoder.format };
    const ctx = { meta, now: () => RECEIVED_AT_MS } as StageContext;
    let items: unknown[] = [decoded.value];
    for (const stage of stages) {
      const next: unknown[] = [];
      for (const item of items) {
        const out = await stage.apply(item as never, ctx);
        if ('rejected' in out) failures.push(`${out.rejected.code}: ${out.rejected.reason}`);
        else next.push(...out);
      }
      items = next;
    }
    readings.push(...(items as Reading[]));
  }
  return { readings, failures };
}

function fromJson(e: Expected): Reading | (Omit<Reading, 'timeNs'> & { timeNs: bigint | null }) {
  const fields: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(e.fields)) fields[k] = typeof v === 'object' ? BigInt(v.$bigint) : v;
  return { measurement: e.measurement, tags: e.tags, fields, timeNs: e.timeNs === null ? null : BigInt(e.timeNs) };
}

const areas = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('golden decoder cases (test/cases/decoders)', () => {
  it('finds the cases of every area', () => {
    expect(areas).toEqual([
      'broken',
      'devices',
      'formats',
      'sparkplug',
      'telegraf-binary',
      'telegraf-json-v1',
      'telegraf-json-v2',
      'telegraf-mqtt-topic',
    ]);
  });

  for (const area of areas) {
    describe(area, () => {
      const names = readdirSync(join(CASES, area), { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort();
      for (const name of names) {
        it(name, async () => {
          const dir = join(CASES, area, name);
          const input = JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8')) as Input;
          const { readings, failures } = await run(input, dir);
          if (existsSync(join(dir, 'expected.err'))) {
            const err = readFileSync(join(dir, 'expected.err'), 'utf8').trim();
            expect(failures.length, 'expected a failure').toBeGreaterThan(0);
            expect(failures[0]).toContain(err);
            return;
          }
          expect(failures).toEqual([]);
          const expected = (JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected[]).map(fromJson);
          const actual = readings.map((r, i) => ({ ...r, timeNs: expected[i]?.timeNs === null ? null : r.timeNs }));
          expect(actual).toEqual(expected);
        });
      }
    });
  }
});

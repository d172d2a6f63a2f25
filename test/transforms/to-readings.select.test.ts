/**
 * `toReadings({ select })`: the golden cases of test/cases/select/<case>/ (derived from the
 * Telegraf json_v2 and mqtt_consumer cases of the shared corpus; format as in
 * test/cases/decoders/README.md, plus `userProperties` on a message), then the edges of paths.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { json, raw } from '../../pipeline/engine/decode/index.js';
import type { DecodedValue, FieldValue, MessageMeta, Reading, StageContext } from '../../pipeline/core/types.js';
import { toReadings, type ToReadingsOptions } from '../../transforms/to-readings.js';

const CASES = fileURLToPath(new URL('../cases/select/', import.meta.url));
const RECEIVED_AT_MS = 1_700_000_000_000;

interface Message {
  topic: string;
  payload: string;
  userProperties?: Record<string, string | string[]>;
}
interface Input extends Partial<Message> {
  decoder: { json?: object; raw?: object };
  mapping: Array<{ toReadings: ToReadingsOptions }>;
  messages?: Message[];
}
type Json = number | string | boolean | { $bigint: string };
interface Expected {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, Json>;
  timeNs: string | null;
}

const meta = (m: Partial<MessageMeta>): MessageMeta => ({
  topic: 't',
  qos: 1,
  retain: false,
  receivedAtMs: RECEIVED_AT_MS,
  format: 'json',
  ...m,
});
const ctx = (m: Partial<MessageMeta> = {}) => ({ meta: meta(m), now: () => RECEIVED_AT_MS }) as StageContext;

async function run(input: Input): Promise<{ readings: Reading[]; failures: string[] }> {
  const decoder = input.decoder.raw ? raw(input.decoder.raw) : json();
  const stage = toReadings(input.mapping[0]!.toReadings);
  const readings: Reading[] = [];
  const failures: string[] = [];
  for (const m of input.messages ?? [input as Message]) {
    const base = {
      topic: m.topic,
      qos: 1 as const,
      retain: false,
      receivedAtMs: RECEIVED_AT_MS,
      userProperties: m.userProperties,
    };
    const decoded = decoder.decode(new Uint8Array(Buffer.from(m.payload, 'utf8')), base);
    if (!decoded.ok) throw new Error(decoded.failure.reason);
    const out = await stage.apply(decoded.value, ctx({ ...base, format: decoder.format }));
    if ('rejected' in out) failures.push(`${out.rejected.code}: ${out.rejected.reason}`);
    else readings.push(...out);
  }
  return { readings, failures };
}

function fromJson(e: Expected): Omit<Reading, 'timeNs'> & { timeNs: bigint | null } {
  const fields: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(e.fields)) fields[k] = typeof v === 'object' ? BigInt(v.$bigint) : v;
  return { measurement: e.measurement, tags: e.tags, fields, timeNs: e.timeNs === null ? null : BigInt(e.timeNs) };
}

describe('golden select cases (test/cases/select)', () => {
  const names = readdirSync(CASES, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  it('finds them', () => expect(names.length).toBeGreaterThanOrEqual(16));
  for (const name of names) {
    it(name, async () => {
      const input = JSON.parse(readFileSync(join(CASES, name, 'input.json'), 'utf8')) as Input;
      const expected = (JSON.parse(readFileSync(join(CASES, name, 'expected.json'), 'utf8')) as Expected[]).map(
        fromJson,
      );
      const { readings, failures } = await run(input);
      expect(failures).toEqual([]);
      expect(readings.map((r, i) => ({ ...r, timeNs: expected[i]?.timeNs === null ? null : r.timeNs }))).toEqual(
        expected,
      );
    });
  }
});

describe('toReadings select', () => {
  const apply = async (
    options: Omit<ToReadingsOptions, 'measurement'>,
    body: DecodedValue,
    m: Partial<MessageMeta> = {},
  ) => toReadings({ measurement: 'm', ...options }).apply(body, ctx(m));

  it('reads keys with dots and quotes, negative indexes, and nothing from a path the message lacks', async () => {
    const body = { 'a.b': { list: [1, 2, 3] }, "it's": 'yes' } as DecodedValue;
    expect(
      await apply(
        {
          select: {
            fields: {
              last: "$['a.b'].list[-1]",
              first: '$["a.b"].list.0',
              quote: `$["it's"]`,
              none: 'x.y.z',
              past: "$['a.b'].list[7]",
            },
          },
        },
        body,
      ),
    ).toEqual([
      {
        measurement: 'm',
        tags: {},
        fields: { last: 3, first: 1, quote: 'yes' },
        timeNs: BigInt(RECEIVED_AT_MS) * 1_000_000n,
      },
    ]);
  });

  it('flattens an object selected without a type under the field name, integers as listed', async () => {
    expect(
      await apply(
        { integers: ['env_count'], select: { fields: { env: 'sensors.0' } } },
        { sensors: [{ t: 20.5, count: 3, tags: ['a'] }] },
      ),
    ).toEqual([expect.objectContaining({ fields: { env_t: 20.5, env_count: 3n, env_tags_0: 'a' } })]);
  });

  it('dead-letters a value that does not convert, and a time that is not one', async () => {
    expect(await apply({ select: { fields: { n: { path: 'n', type: 'integer' } } } }, { n: 'n/a' })).toEqual({
      rejected: { code: 'mapping_error', reason: 'field "n" ("n"): cannot convert "n/a" to integer' },
    });
    expect(await apply({ select: { time: 'meta.at', fields: { n: 'n' } } }, { n: 1, meta: { at: 'soon' } })).toEqual({
      rejected: { code: 'mapping_error', reason: '"meta.at" is not a timestamp: soon' },
    });
    expect(await apply({ select: { fields: { n: 'missing' } } }, { n: 1 })).toEqual({
      rejected: { code: 'mapping_error', reason: 'payload has no fields to write' },
    });
  });

  it('leaves out a tag whose value is not a scalar or a user property the message lacks', async () => {
    expect(
      await apply(
        { select: { tags: { obj: 'o', prop: '$userProperties.nope', topic: '$topic.-1' }, fields: { n: 'n' } } },
        { n: 1, o: { a: 1 } },
        { topic: 'a/b' },
      ),
    ).toEqual([expect.objectContaining({ tags: { topic: 'b' } })]);
  });

  it('refuses malformed paths and types when the stage is built, naming the option', () => {
    const build = (select: ToReadingsOptions['select']) => () => toReadings({ measurement: 'm', select });
    expect(build({ fields: { a: 'a..b' } })).toThrow(/toReadings select.fields.a: .*empty name/);
    expect(build({ fields: { a: 'a[x]' } })).toThrow(/toReadings select.fields.a: .*\[<index>\]/);
    expect(build({ fields: { a: "a['b" } })).toThrow(/unclosed/);
    expect(build({ fields: { a: '$topic.name' } })).toThrow(/\$topic takes at most one level index/);
    expect(build({ fields: { a: '$userProperties' } })).toThrow(/needs a property name/);
    expect(build({ fields: { a: { path: 'a', type: 'float' as 'number' } } })).toThrow(
      /select.fields.a.type: expected number, integer, boolean, string/,
    );
    expect(build({ tags: { a: 'a' } })).toThrow(/select.fields: expected at least one field/);
    expect(build({ fields: { a: 'a' }, time: ['ok', ''] })).toThrow(/select.time\[1\]/);
  });
});

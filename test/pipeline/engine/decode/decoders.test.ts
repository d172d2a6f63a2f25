import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode, ExtData } from '@msgpack/msgpack';
import pb from 'protobufjs';
import { describe, expect, it } from 'vitest';
import {
  byContentType,
  json,
  mediaType,
  msgpack,
  protobuf,
  raw,
  sparkplug,
} from '../../../../pipeline/engine/decode/index.js';
import { ConfigError } from '../../../../pipeline/core/errors.js';
import type {
  DecodedValue,
  DecodeResult,
  Decoder,
  Reading,
  StageContext,
  StageOutput,
} from '../../../../pipeline/core/types.js';
import { measurementFromTopic } from '../../../../transforms/topic-measurement.js';
import { toReadings, type ToReadingsOptions } from '../../../../transforms/to-readings.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const meta = (over: { topic?: string; contentType?: string } = {}) => ({
  topic: 't',
  qos: 1 as const,
  retain: false,
  receivedAtMs: 1_700_000_000_000,
  ...over,
});
const bytes = (s: string) => new TextEncoder().encode(s);

function value(result: DecodeResult): DecodedValue {
  if (!result.ok) throw new Error(`expected a value, got: ${result.failure.reason}`);
  return result.value;
}
function reason(result: DecodeResult): string {
  if (result.ok)
    throw new Error(
      `expected a failure, got ${JSON.stringify(result.value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`,
    );
  expect(result.failure.code).toBe('decode_error');
  expect(result.failure.reason.length).toBeGreaterThan(0);
  return result.failure.reason;
}
function readings(body: DecodedValue, options: ToReadingsOptions, topic = 't'): Reading[] | string {
  const ctx = { meta: { ...meta({ topic }), format: 'x' }, now: () => 0 } as unknown as StageContext;
  const out = toReadings(options).apply(body, ctx) as StageOutput<Reading>;
  return 'rejected' in out ? out.rejected.reason : [...out];
}

/** The 64-bit and 96-bit timestamp extension bodies. */
function ts64(sec: number, nsec: number): ExtData {
  const d = new DataView(new ArrayBuffer(8));
  d.setUint32(0, nsec * 4 + Math.floor(sec / 2 ** 32));
  d.setUint32(4, sec >>> 0);
  return new ExtData(-1, new Uint8Array(d.buffer));
}
function ts96(sec: bigint, nsec: number): ExtData {
  const d = new DataView(new ArrayBuffer(12));
  d.setUint32(0, nsec);
  d.setBigInt64(4, sec);
  return new ExtData(-1, new Uint8Array(d.buffer));
}

describe('msgpack', () => {
  const d = msgpack();
  const dec = (v: unknown) => d.decode(encode(v, { useBigInt64: true }), meta());

  it('decodes maps, arrays, bin and scalars', () => {
    expect(value(dec({ a: [1, -2.5, true, null, 'x'], b: { c: new Uint8Array([1, 2]) } }))).toEqual({
      a: [1, -2.5, true, null, 'x'],
      b: { c: new Uint8Array([1, 2]) },
    });
    expect(value(dec(23.5))).toBe(23.5);
  });

  it('keeps 64-bit integers exact: bigint beyond ±(2^53−1), numbers below', () => {
    const v = value(
      dec({
        max: 9007199254740991n,
        over: 9007199254740992n,
        min: -9223372036854775808n,
        u64: 18446744073709551615n,
        small: 5n,
      }),
    ) as Record<string, unknown>;
    expect(v).toEqual({
      max: 9007199254740991,
      over: 9007199254740992n,
      min: -9223372036854775808n,
      u64: 18446744073709551615n,
      small: 5,
    });
    expect(typeof v.small).toBe('number');
  });

  it('reads the timestamp extension in all three forms as ISO 8601 with ns', () => {
    expect(value(d.decode(Uint8Array.from([0xd6, 0xff, 0x65, 0x53, 0xf1, 0x00]), meta()))).toBe(
      '2023-11-14T22:13:20.000000000Z',
    );
    expect(value(dec(ts64(1_700_000_000, 123_456_789)))).toBe('2023-11-14T22:13:20.123456789Z');
    expect(value(dec(ts96(-1n, 500_000_000)))).toBe('1969-12-31T23:59:59.500000000Z');
  });

  it('makes the timestamp the reading time, whatever timeUnit says', () => {
    const body = value(dec({ ts: ts64(1_700_000_000, 1), t: 20 }));
    expect(readings(body, { measurement: 'm', timeUnit: 's' })).toEqual([
      { measurement: 'm', tags: {}, fields: { t: 20 }, timeNs: 1_700_000_000_000_000_001n },
    ]);
    expect(readings(value(dec({ ts: ts96(-1n, 500_000_000), t: 1 })), { measurement: 'm' })).toMatchObject([
      { timeNs: -500_000_000n },
    ]);
  });

  it('rejects timestamps outside years 0000–9999 and nanoseconds ≥ 10^9', () => {
    expect(reason(dec(ts96(300_000_000_000n, 0)))).toMatch(/timestamp extension .* outside years 0000–9999/);
    expect(reason(dec(ts64(0, 1_000_000_000)))).toMatch(/timestamp extension/);
    expect(reason(d.decode(Uint8Array.from([0xc7, 3, 0xff, 1, 2, 3]), meta()))).toMatch(
      /invalid MessagePack: .*timestamp/i,
    );
  });

  it('fails on non-string keys, unknown extensions, truncation, trailing bytes, depth and size', () => {
    expect(reason(d.decode(Uint8Array.from([0x81, 0xc0, 0x01]), meta()))).toBe('map key is a nil, not a string');
    expect(reason(d.decode(Uint8Array.from([0x81, 0x91, 0x01, 0x01]), meta()))).toBe(
      'map key is a array, not a string',
    );
    expect(reason(dec(new ExtData(7, new Uint8Array([1]))))).toBe('unsupported MessagePack extension type 7');
    const ok = encode({ a: 'hello' });
    expect(reason(d.decode(ok.subarray(0, ok.length - 2), meta()))).toMatch(/^invalid MessagePack: truncated/);
    expect(reason(d.decode(Uint8Array.from([...ok, 0x01]), meta()))).toMatch(/^invalid MessagePack: trailing bytes/);
    expect(reason(d.decode(Uint8Array.from([0x81, 0xa9, ...bytes('__proto__'), 1]), meta()))).toMatch(/__proto__/);
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(reason(dec(deep))).toBe('nesting deeper than maxDepth 64');
    expect(reason(msgpack({ maxBytes: 4 }).decode(encode('hello'), meta()))).toBe(
      'payload of 6 bytes exceeds maxBytes 4',
    );
    expect(reason(d.decode(new Uint8Array(0), meta()))).toBe('empty payload');
  });

  it('stays usable after a failure', () => {
    expect(dec({ a: 1 }).ok).toBe(true);
    reason(d.decode(Uint8Array.from([0x92, 0x01]), meta()));
    expect(value(dec({ a: 2 }))).toEqual({ a: 2 });
  });
});

describe('protobuf', () => {
  const root = new pb.Root().loadSync(join(FIXTURES, 'kitchen-sink.proto'), { keepCase: true });
  const Everything = root.lookupType('sink.Everything');
  const d = protobuf({ schema: join(FIXTURES, 'kitchen-sink.proto'), type: 'sink.Everything' });
  const enc = (o: Record<string, unknown>) => Everything.encode(Everything.fromObject(o)).finish();

  it('converts every field kind, writing absent proto3 scalars as zero', () => {
    const v = value(
      d.decode(
        enc({
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
          counters: { x: '7' },
          at: { seconds: 1_700_000_000, nanos: 5 },
          maybe: 0,
          number: 9,
          nested: { name: 'n' },
        }),
        meta(),
      ),
    );
    expect(v).toEqual({
      signed64: -9007199254740993n,
      unsigned64: 18446744073709551615n,
      zigzag: -5,
      fixed: 42n,
      ratio: 12.1,
      exact: 0.1,
      flag: true,
      text: 'héllo',
      blob: '3q0=',
      mode: 'MODE_MANUAL',
      points: [
        { name: 'a', value: 1.5 },
        { name: 'b', value: 0 },
      ],
      packed: [1, -2, 3],
      counters: { x: 7n },
      at: '2023-11-14T22:13:20.000000005Z',
      maybe: 0,
      number: 9,
      nested: { name: 'n', value: 0 },
    });
    const sparse = value(d.decode(enc({ text: 'only' }), meta()));
    expect(sparse).toEqual({
      signed64: 0n,
      unsigned64: 0n,
      zigzag: 0,
      fixed: 0n,
      ratio: 0,
      exact: 0,
      flag: false,
      text: 'only',
      blob: '',
      mode: 'MODE_UNSPECIFIED',
    });
  });

  it('keeps an enum number it does not know', () => {
    expect(value(d.decode(Uint8Array.from([0x50, 0x09]), meta()))).toMatchObject({ mode: 9 });
  });

  it('detects wrong wire types, also inside nested messages, and truncation', () => {
    expect(reason(d.decode(Uint8Array.from([0x0a, 0x01, 0x41]), meta()))).toMatch(
      /field Everything.signed64 \(1\) has wire type 2, expected 0/,
    );
    expect(reason(d.decode(Uint8Array.from([0x5a, 0x02, 0x10, 0x01]), meta()))).toMatch(
      /field Point.value \(2\) has wire type 0, expected 5/,
    );
    expect(reason(d.decode(Uint8Array.from([0x42, 0x05, 0x61]), meta()))).toMatch(
      /invalid protobuf sink.Everything: .*(truncated|past the end)/,
    );
    expect(reason(d.decode(Uint8Array.from([0x08]), meta()))).toMatch(/truncated/);
    expect(reason(d.decode(Uint8Array.from([0x00, 0x01]), meta()))).toMatch(/field number 0/);
  });

  it('accepts packed and unpacked repeated scalars', () => {
    expect(value(d.decode(Uint8Array.from([0x60, 0x01, 0x60, 0x02]), meta()))).toMatchObject({ packed: [1, 2] });
    expect(value(d.decode(Uint8Array.from([0x62, 0x02, 0x01, 0x02]), meta()))).toMatchObject({ packed: [1, 2] });
  });

  it('rejects an empty payload and a message with no field set', () => {
    expect(reason(d.decode(new Uint8Array(0), meta()))).toBe('empty payload');
    expect(reason(d.decode(Uint8Array.from([0xf8, 0x07, 0x01]), meta()))).toBe('no field of sink.Everything is set');
  });

  it('honours proto2 presence and required fields', () => {
    const legacy = protobuf({ schema: join(FIXTURES, 'legacy.proto'), type: 'legacy.Reading' });
    expect(value(legacy.decode(Uint8Array.from([0x0a, 0x01, 0x73]), meta()))).toEqual({ sensor: 's' });
    expect(reason(legacy.decode(Uint8Array.from([0x18, 0x00]), meta()))).toMatch(/missing required 'sensor'/);
  });

  it('takes the type from the content type when asked', () => {
    const byType = protobuf({ schema: join(FIXTURES, 'kitchen-sink.proto'), typeFromContentType: true });
    const point = root.lookupType('sink.Point');
    const body = point.encode({ name: 'p', value: 2 }).finish();
    expect(value(byType.decode(body, meta({ contentType: 'application/x-protobuf; messageType=sink.Point' })))).toEqual(
      { name: 'p', value: 2 },
    );
    expect(value(byType.decode(body, meta({ contentType: 'application/protobuf;proto="sink.Point"' })))).toEqual({
      name: 'p',
      value: 2,
    });
    expect(
      value(byType.decode(body, meta({ contentType: 'application/protobuf; charset=x; PROTO=.sink.Point' }))),
    ).toEqual({ name: 'p', value: 2 });
    expect(reason(byType.decode(body, meta({ contentType: 'application/protobuf' })))).toMatch(/names no message type/);
    expect(reason(byType.decode(body, meta()))).toMatch(/content type null names no message type/);
    expect(reason(byType.decode(body, meta({ contentType: 'application/protobuf; proto=sink.Mode' })))).toMatch(
      /message type "sink.Mode" is not defined/,
    );
    expect(reason(byType.decode(body, meta({ contentType: 'application/protobuf; proto=Point' })))).toMatch(
      /message type "Point" is not defined/,
    );
    expect(reason(byType.decode(body, meta({ contentType: 'application/protobuf; proto=__proto__' })))).toMatch(
      /is not defined/,
    );
    const withDefault = protobuf({
      schema: join(FIXTURES, 'kitchen-sink.proto'),
      type: 'sink.Point',
      typeFromContentType: true,
    });
    expect(value(withDefault.decode(body, meta()))).toEqual({ name: 'p', value: 2 });
  });

  it('throws a ConfigError naming the file and line of a bad schema', () => {
    const attempt =
      (schema: string, type = 'broken.M') =>
      () =>
        protobuf({ schema: join(FIXTURES, schema), type });
    expect(attempt('syntax-error.proto')).toThrow(ConfigError);
    expect(attempt('syntax-error.proto')).toThrow(/syntax-error\.proto:6: illegal token 'int32'/);
    expect(attempt('unresolved.proto')).toThrow(/unresolved\.proto:6: no such Type or Enum 'Missing'/);
    expect(attempt('nope.proto')).toThrow(/nope\.proto: ENOENT/);
    expect(attempt('kitchen-sink.proto', 'sink.Nope')).toThrow(
      /protobuf.type: expected a message type defined in .*sink.Everything.*got "sink.Nope"/,
    );
    expect(() => protobuf({ schema: join(FIXTURES, 'kitchen-sink.proto') })).toThrow(/typeFromContentType/);
  });

  it('decodes the fleet schema the bench uses', () => {
    const fleet = protobuf({ schema: join(ROOT, 'schemas/fleet.proto'), type: 'fleet.Telemetry' });
    const T = new pb.Root()
      .loadSync(join(ROOT, 'schemas/fleet.proto'), { keepCase: true })
      .lookupType('fleet.Telemetry');
    const body = T.encode(
      T.fromObject({ ts: 1795315235165, temperature: 19.96, humidity: 47.6, battery: 49, status: 'ok' }),
    ).finish();
    expect(value(fleet.decode(body, meta()))).toEqual({
      ts: 1795315235165n,
      temperature: 19.96,
      humidity: 47.6,
      battery: 49,
      status: 'ok',
    });
  });
});

describe('raw', () => {
  const d = raw();
  const dec = (s: string) => value(d.decode(bytes(s), meta()));

  it('reads numbers, exact big integers, booleans and text', () => {
    expect([dec('23.5'), dec('-4'), dec(' 1e3 \n'), dec('+.5'), dec('007')]).toEqual([23.5, -4, 1000, 0.5, 7]);
    expect(dec('12345678901234567890')).toBe(12345678901234567890n);
    expect([dec('true'), dec('FALSE'), dec('ON'), dec('Off')]).toEqual([true, false, true, false]);
    expect([dec('nan'), dec('Infinity'), dec('1e400'), dec('0x10'), dec('None'), dec('"quoted"')]).toEqual([
      'nan',
      'Infinity',
      '1e400',
      '0x10',
      'None',
      '"quoted"',
    ]);
  });

  it('takes its own boolean words, replacing the defaults', () => {
    const words = raw({ booleans: { Online: true, OFFLINE: false } });
    expect(value(words.decode(bytes('online'), meta()))).toBe(true);
    expect(value(words.decode(bytes('Offline'), meta()))).toBe(false);
    expect(value(words.decode(bytes('ON'), meta()))).toBe('ON');
  });

  it('fails on empty, blank, non-UTF-8 and oversized payloads', () => {
    expect(reason(d.decode(new Uint8Array(0), meta()))).toBe('empty payload');
    expect(reason(d.decode(bytes(' \t'), meta()))).toBe('payload is blank');
    expect(reason(d.decode(Uint8Array.from([0xc3, 0x28]), meta()))).toBe('payload is not valid UTF-8 text');
    expect(reason(raw({ maxBytes: 2 }).decode(bytes('123'), meta()))).toBe('payload of 3 bytes exceeds maxBytes 2');
  });
});

describe('byContentType', () => {
  const tag = (format: string): Decoder<DecodedValue> => ({
    format,
    decode: (p) =>
      p.length > 0 ? { ok: true, value: format } : { ok: false, failure: { code: 'decode_error', reason: 'nothing' } },
  });
  const d = byContentType({ 'application/json': tag('json'), 'Application/MsgPack': tag('msgpack') }, tag('fallback'));
  const pick = (contentType?: string) =>
    value(d.decode(bytes('x'), meta(contentType === undefined ? {} : { contentType })));

  it('matches the media type ignoring case and parameters, else falls back', () => {
    expect(pick('application/json')).toBe('json');
    expect(pick(' APPLICATION/JSON ; charset=utf-8')).toBe('json');
    expect(pick('application/msgpack')).toBe('msgpack');
    expect(pick('text/plain')).toBe('fallback');
    expect(pick('')).toBe('fallback');
    expect(pick()).toBe('fallback');
    expect(mediaType('Application/X-Protobuf; messageType=a.B')).toBe('application/x-protobuf');
  });

  it('names the chosen decoder and content type in failures', () => {
    const r = d.decode(new Uint8Array(0), meta({ contentType: 'application/json; charset=utf-8' }));
    expect(reason(r)).toBe('json (application/json): nothing');
    expect(reason(d.decode(new Uint8Array(0), meta()))).toBe('fallback (no content type): nothing');
    expect(d.format).toBe('byContentType(json|msgpack|fallback)');
  });

  it('refuses keys that are not bare media types', () => {
    expect(() => byContentType({ 'application/json; charset=utf-8': json() }, json())).toThrow(ConfigError);
    expect(() => byContentType({ json: json() }, json())).toThrow(/media type without parameters/);
  });
});

describe('measurementFromTopic', () => {
  const apply = (pattern: string | undefined, topic: string, onMismatch?: 'keep' | 'reject') => {
    const stage = measurementFromTopic(pattern, onMismatch ? { onMismatch } : {});
    const reading: Reading = { measurement: 'm', tags: { a: '1' }, fields: { value: 1 }, timeNs: 0n };
    const out = stage.apply(reading, {
      meta: { ...meta({ topic }), format: 'raw' },
      now: () => 0,
    } as unknown as StageContext) as StageOutput<Reading>;
    return 'rejected' in out ? out.rejected : out[0];
  };

  it('names the reading after {measurement} and tags the named levels', () => {
    expect(apply('sensor/{sensor}/{measurement}', 'sensor/001/temperature')).toEqual({
      measurement: 'temperature',
      tags: { a: '1', sensor: '001' },
      fields: { value: 1 },
      timeNs: 0n,
    });
    expect(apply('{measurement}/+/{site}/#', 'power/x/north/a/b')).toMatchObject({
      measurement: 'power',
      tags: { site: 'north' },
    });
  });

  it('uses the last level when the pattern has no {measurement}', () => {
    expect(apply(undefined, 'a/b/humidity')).toMatchObject({ measurement: 'humidity', tags: { a: '1' } });
    expect(apply('home/{room}/+', 'home/kitchen/co2')).toMatchObject({ measurement: 'co2', tags: { room: 'kitchen' } });
  });

  it('keeps or rejects what does not fit, including an empty measurement level', () => {
    expect(apply('sensor/{sensor}/{measurement}', 'other/001/t')).toMatchObject({ measurement: 'm' });
    expect(apply('sensor/{sensor}/{measurement}', 'sensor/001')).toMatchObject({ measurement: 'm' });
    expect(apply('sensor/{sensor}/{measurement}', 'sensor/001/', 'reject')).toEqual({
      code: 'topic_mismatch',
      reason: 'topic sensor/001/ does not match sensor/{sensor}/{measurement}',
    });
  });

  it('refuses malformed patterns', () => {
    expect(() => measurementFromTopic('a/#/b')).toThrow(ConfigError);
    expect(() => measurementFromTopic('{x}/{x}')).toThrow(/each \{name\} at most once/);
    expect(() => measurementFromTopic('a{b}/c')).toThrow(/levels written/);
  });
});

describe('toReadings additions: split and nested time keys', () => {
  it('splits an array into readings sharing the other top-level keys', () => {
    const body: DecodedValue = { ts: 1_700_000_000, device: 'd1', items: [{ t: 20 }, { t: 21, device: 'd2' }, 5] };
    expect(readings(body, { measurement: 'm', split: 'items', tags: ['device'] })).toEqual([
      { measurement: 'm', tags: { device: 'd1' }, fields: { t: 20 }, timeNs: 1_700_000_000_000_000_000n },
      { measurement: 'm', tags: { device: 'd2' }, fields: { t: 21 }, timeNs: 1_700_000_000_000_000_000n },
      { measurement: 'm', tags: { device: 'd1' }, fields: { value: 5 }, timeNs: 1_700_000_000_000_000_000n },
    ]);
    expect(readings({ items: [] }, { measurement: 'm', split: 'items' })).toEqual([]);
    expect(readings({ items: 3, x: 1 }, { measurement: 'm', split: 'items' })).toMatchObject([
      { fields: { items: 3, x: 1 } },
    ]);
    expect(
      readings([{ items: [{ a: 1 }] }, { items: [{ a: 2 }, { a: 3 }] }], { measurement: 'm', split: 'items' }),
    ).toHaveLength(3);
  });

  it('finds a nested time key by its flattened name; a top-level one wins', () => {
    expect(readings({ params: { ts: 1_700_000_000, x: 1 } }, { measurement: 'm', time: ['params_ts'] })).toEqual([
      { measurement: 'm', tags: {}, fields: { params_x: 1 }, timeNs: 1_700_000_000_000_000_000n },
    ]);
    expect(
      readings({ params: { ts: 1 }, ts: 1_700_000_000, x: 1 }, { measurement: 'm', time: ['ts', 'params_ts'] }),
    ).toMatchObject([{ fields: { x: 1 }, timeNs: 1_700_000_000_000_000_000n }]);
    expect(readings({ params: { ts: 'soon' }, x: 1 }, { measurement: 'm', time: ['params_ts'] })).toBe(
      'field "params_ts" is not a timestamp: soon',
    );
  });
});

describe('sparkplug state', () => {
  const Payload = new pb.Root()
    .loadSync(join(ROOT, 'schemas/sparkplug_b.proto'), { keepCase: true })
    .lookupType('org.eclipse.tahu.protobuf.Payload');
  const enc = (o: Record<string, unknown>) => Payload.encode(Payload.fromObject(o)).finish();
  const birth = (alias: number, name: string, seq = 0) =>
    enc({ timestamp: 1_700_000_000_000, seq, metrics: [{ name, alias, datatype: 10, double_value: 1 }] });
  const data = (alias: number, seq = 1) =>
    enc({ timestamp: 1_700_000_000_001, seq, metrics: [{ alias, double_value: 2 }] });
  const at = (topic: string) => meta({ topic: `spBv1.0/G/${topic}` });
  const fields = (r: DecodeResult) =>
    (value(r) as Array<Record<string, DecodedValue>>).map(
      ({ ts: _ts, group: _g, node: _n, device: _d, ...rest }) => rest,
    );

  it('keeps the aliases of at most maxNodes edge nodes, dropping the least recently heard', () => {
    const d = sparkplug({ maxNodes: 2 });
    for (const n of ['A', 'B', 'C']) value(d.decode(birth(0, `${n} temp`), at(`NBIRTH/${n}`)));
    expect(reason(d.decode(data(0), at('NDATA/A')))).toBe(
      'unknown alias 0 for G/A: no BIRTH defined it (a rebirth is needed)',
    );
    expect(fields(d.decode(data(0), at('NDATA/C')))).toEqual([{ 'C temp': 2 }]);
    expect(fields(d.decode(data(0), at('NDATA/B')))).toEqual([{ 'B temp': 2 }]);
  });

  it("replaces a device's aliases on DBIRTH and forgets them on DDEATH and NDEATH", () => {
    const d = sparkplug();
    value(d.decode(birth(1, 'node metric'), at('NBIRTH/N')));
    value(d.decode(birth(5, 'old', 1), at('DBIRTH/N/D')));
    value(d.decode(birth(6, 'new', 2), at('DBIRTH/N/D')));
    expect(reason(d.decode(data(5, 3), at('DDATA/N/D')))).toMatch(/unknown alias 5/);
    expect(fields(d.decode(data(6, 4), at('DDATA/N/D')))).toEqual([{ new: 2 }]);
    expect(fields(d.decode(enc({ timestamp: 1, seq: 5 }), at('DDEATH/N/D')))).toEqual([{ online: false }]);
    expect(reason(d.decode(data(6, 6), at('DDATA/N/D')))).toMatch(/unknown alias 6/);
    expect(fields(d.decode(data(1, 7), at('NDATA/N')))).toEqual([{ 'node metric': 2 }]);
    expect(fields(d.decode(enc({ timestamp: 1 }), at('NDEATH/N')))).toEqual([{ online: false }]);
    expect(reason(d.decode(data(1, 8), at('NDATA/N')))).toMatch(/unknown alias 1/);
  });

  it('takes a DBIRTH without an NBIRTH (a worker that joined late), and keeps unknown nodes out of the state', () => {
    const d = sparkplug({ maxNodes: 1 });
    value(d.decode(birth(9, 'dev temp', 4), at('DBIRTH/N/D')));
    expect(fields(d.decode(data(9, 5), at('DDATA/N/D')))).toEqual([{ 'dev temp': 2 }]);
    expect(fields(d.decode(enc({ seq: 7, metrics: [{ name: 'x', double_value: 1 }] }), at('NDATA/Other')))).toEqual([
      { x: 1 },
    ]);
    expect(fields(d.decode(data(9, 6), at('DDATA/N/D')))).toEqual([{ 'dev temp': 2 }]);
    expect(fields(d.decode(data(9, 9), at('DDATA/N/D')))).toEqual([{ 'dev temp': 2, seq_gap: true }]);
  });

  it('rejects BIRTH metrics without a name and DATA metrics without name or alias', () => {
    const d = sparkplug();
    expect(
      reason(d.decode(enc({ seq: 0, metrics: [{ alias: 3, datatype: 10, double_value: 1 }] }), at('NBIRTH/N'))),
    ).toBe('BIRTH metric with alias 3 has no name');
    expect(reason(d.decode(enc({ seq: 1, metrics: [{ double_value: 1 }] }), at('NDATA/N')))).toBe(
      'metric has neither name nor alias',
    );
  });

  it('reads datatypes as the spec says, whichever value field carries them', () => {
    const d = sparkplug();
    const v = fields(
      d.decode(
        enc({
          metrics: [
            { name: 'i8', datatype: 1, long_value: '18446744073709551488' },
            { name: 'u32', datatype: 7, int_value: 4294967295 },
            { name: 'f', datatype: 9, float_value: 0.1 },
            { name: 'b', datatype: 17, bytes_value: Buffer.from([1, 2]) },
            { name: 'dt', datatype: 13, long_value: '1700000000000' },
            { name: 'unknown', int_value: 3 },
            { name: 'noValue', datatype: 10 },
          ],
        }),
        at('NDATA/T'),
      ),
    );
    expect(v).toEqual([
      { i8: -128n, u32: 4294967295n, f: 0.1, b: new Uint8Array([1, 2]), dt: 1700000000000n, unknown: 3n },
    ]);
    expect(reason(d.decode(enc({ metrics: [{ name: 'x', datatype: 3, string_value: 'seven' }] }), at('NDATA/T')))).toBe(
      'metric "x": datatype 3 cannot be read from string_value',
    );
  });
});

describe('sparkplug schema', () => {
  it('matches the field table of the specification, field for field', () => {
    const table = JSON.parse(readFileSync(join(ROOT, 'test/cases/decoders/sparkplug-field-table.json'), 'utf8')) as {
      fields: Array<{ message: string; field: string; number: number; type: string; label: string }>;
      enums: Array<{ enum: string; values: Record<string, number> }>;
      extension_ranges: Array<{ message: string; extension_ranges: number[][] }>;
    };
    const root = new pb.Root().loadSync(join(ROOT, 'schemas/sparkplug_b.proto'), { keepCase: true });
    root.resolveAll();
    const ns = 'org.eclipse.tahu.protobuf.';
    const ours: string[] = [];
    const visit = (n: pb.NamespaceBase): void => {
      for (const child of n.nestedArray) {
        if (child instanceof pb.Type) {
          for (const f of child.fieldsArray) {
            const label = f.partOf ? `oneof ${f.partOf.name}` : f.repeated ? 'repeated' : 'optional';
            ours.push(`${child.fullName.slice(ns.length + 1)}.${f.name} ${f.id} ${f.type} ${label}`);
          }
        }
        if (child instanceof pb.Namespace || child instanceof pb.Type) visit(child);
      }
    };
    visit(root.lookup(ns.slice(0, -1)) as pb.Namespace);
    expect(ours.sort()).toEqual(
      table.fields.map((f) => `${f.message}.${f.field} ${f.number} ${f.type} ${f.label}`).sort(),
    );
    expect(root.lookupEnum(`${ns}DataType`).values).toEqual(table.enums[0]!.values);
    for (const r of table.extension_ranges)
      expect(root.lookupType(ns + r.message).extensions).toEqual(r.extension_ranges);
  });
});

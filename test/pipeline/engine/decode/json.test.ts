import { describe, expect, it } from 'vitest';
import { json } from '../../../../pipeline/engine/decode/json.js';
import type { DecodeResult } from '../../../../pipeline/core/types.js';

const meta = { topic: 't', qos: 1 as const, retain: false, receivedAtMs: 0 };
const bytes = (s: string) => new TextEncoder().encode(s);
const decode = (payload: Uint8Array | string, maxBytes?: number): DecodeResult =>
  json({ maxBytes }).decode(typeof payload === 'string' ? bytes(payload) : payload, meta);

function failure(result: DecodeResult) {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('expected a failure');
  expect(result.failure.code).toBe('decode_error');
  return result.failure.reason;
}

describe('json decoder', () => {
  it('is named json', () => {
    expect(json().format).toBe('json');
  });

  it('decodes valid JSON of every kind', () => {
    expect(decode('{"a":1,"b":[true,null,"x"],"c":{"d":-2.5e3}}')).toEqual({
      ok: true,
      value: { a: 1, b: [true, null, 'x'], c: { d: -2500 } },
    });
    expect(decode('23.5')).toEqual({ ok: true, value: 23.5 });
    expect(decode('"on"')).toEqual({ ok: true, value: 'on' });
    expect(decode('  [1, 2]  ')).toEqual({ ok: true, value: [1, 2] });
  });

  it('keeps integers beyond 2^53 exact as bigint, other numbers as numbers', () => {
    const r = decode(
      '{"big":9007199254740993,"ns":1700000000123456789,"neg":-9007199254740993,"temp":21.5,"n":42,"max":9007199254740991}',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({
      big: 9007199254740993n,
      ns: 1700000000123456789n,
      neg: -9007199254740993n,
      temp: 21.5,
      n: 42,
      max: 9007199254740991,
    });
    const v = r.value as Record<string, unknown>;
    expect(typeof v.temp).toBe('number');
    expect(typeof v.n).toBe('number');
    expect(typeof v.max).toBe('number');
  });

  it('decodes a bare big integer and big integers inside arrays', () => {
    expect(decode('12345678901234567890')).toEqual({ ok: true, value: 12345678901234567890n });
    expect(decode('[1700000000123456789, 1.5]')).toEqual({ ok: true, value: [1700000000123456789n, 1.5] });
  });

  it('does not turn long digit strings or long fractions into bigint', () => {
    expect(decode('{"id":"12345678901234567890","x":0.12345678901234567}')).toEqual({
      ok: true,
      value: { id: '12345678901234567890', x: 0.12345678901234567 },
    });
  });

  it('fails on an empty payload', () => {
    expect(failure(decode(''))).toMatch(/empty/);
  });

  it('fails on invalid UTF-8', () => {
    expect(failure(decode(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])))).toMatch(/UTF-8/);
  });

  it('fails on truncated or malformed JSON, on both parsing paths', () => {
    expect(failure(decode('{"temp": 21.5'))).toMatch(/invalid JSON/);
    expect(failure(decode('{"ns": 1700000000123456789'))).toMatch(/invalid JSON/);
    expect(failure(decode('{temp: 1}'))).toMatch(/invalid JSON/);
    expect(failure(decode('NaN'))).toMatch(/invalid JSON/);
  });

  it('fails on a payload larger than maxBytes, naming both sizes', () => {
    const reason = failure(decode('{"a":"0123456789"}', 10));
    expect(reason).toContain('18');
    expect(reason).toContain('10');
    expect(decode('[1]', 3).ok).toBe(true);
  });

  it('never throws, whatever the bytes', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const alphabet = '{}[]":,0123456789.eE-+ truefalsnl\\u';
    for (let i = 0; i < 2000; i++) {
      const len = Math.floor(rand() * 40);
      const payload =
        rand() < 0.3
          ? Uint8Array.from({ length: len }, () => Math.floor(rand() * 256))
          : bytes(
              Array.from({ length: len }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('') +
                '12345678901234567',
            );
      const r = decode(payload);
      if (!r.ok) expect(r.failure.code).toBe('decode_error');
    }
  });
});

import { describe, expect, it } from 'vitest';
import { TopicNames } from '../../../../pipeline/engine/ingest/topic-names.js';

/** `topic` inside a larger buffer, as a PUBLISH carries it. */
function framed(topic: string): { buf: Buffer; start: number; end: number } {
  const body = Buffer.from(topic, 'utf8');
  const buf = Buffer.concat([Buffer.from([0x30, 0x00]), body, Buffer.from('payload')]);
  return { buf, start: 2, end: 2 + body.length };
}

/** FNV-1a as TopicNames computes it, to find two topics that share a hash. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s)) h = Math.imul(h ^ b, 16777619);
  return h;
}

describe('TopicNames', () => {
  it('gives the same string for the same bytes, and the topic as UTF-8', () => {
    const names = new TopicNames();
    const a = framed('fleet/site-1/dev-7/télémetry');
    const first = names.get(a.buf, a.start, a.end);
    expect(first).toBe('fleet/site-1/dev-7/télémetry');
    const again = framed('fleet/site-1/dev-7/télémetry');
    expect(names.get(again.buf, again.start, again.end)).toBe(first);
    const other = framed('fleet/site-1/dev-8/télémetry');
    expect(names.get(other.buf, other.start, other.end)).toBe('fleet/site-1/dev-8/télémetry');
    const empty = framed('');
    expect(names.get(empty.buf, empty.start, empty.end)).toBe('');
  });

  it('tells apart topics whose hashes collide', () => {
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const t = `t/${i.toString(36)}`;
      const h = fnv(t);
      const earlier = seen.get(h);
      if (earlier !== undefined) pair = [earlier, t];
      seen.set(h, t);
    }
    const names = new TopicNames();
    for (const t of [...pair, ...pair]) {
      const f = framed(t);
      expect(names.get(f.buf, f.start, f.end)).toBe(t);
    }
  });

  it('starts over past its limit and still answers right', () => {
    const names = new TopicNames(3);
    for (let i = 0; i < 10; i++) {
      const f = framed(`dev/${i % 5}`);
      expect(names.get(f.buf, f.start, f.end)).toBe(`dev/${i % 5}`);
    }
  });
});

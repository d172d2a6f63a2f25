// The dead-letter stream on the real Redis: the sink records the pipeline it serves, and the store
// reads one pipeline's letters back from a shared stream, either way round, page after page.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeDeadLetter, listDeadLetters, redisDeadLetters, replayDeadLetters } from '../../../sinks/index.js';
import type { DeadLetter } from '../../../pipeline/core/types.js';
import { REDIS_URL, uniqueName } from '../../support/services.js';

const redis = new Redis(REDIS_URL);
const streams: string[] = [];
afterAll(async () => {
  if (streams.length > 0) await redis.del(...streams);
  redis.disconnect();
});

const letter = (topic: string, code = 'decode_error'): DeadLetter => ({
  code,
  reason: 'r',
  stage: 'decode:json',
  topic,
  qos: 1,
  receivedAtMs: 1_700_000_000_000,
  payload: Buffer.from(topic),
});

describe('redisDeadLetters', () => {
  it('records the pipeline the worker names, unless its options name one', async () => {
    const stream = uniqueName('tributary-test:dl');
    streams.push(stream);
    const plain = redisDeadLetters({ url: REDIS_URL, stream });
    const named = redisDeadLetters({ url: REDIS_URL, stream, pipeline: 'mine' });
    const sinks = [plain, plain.forPipeline('fleet'), named.forPipeline('fleet')];
    const encoded = sinks.map((s) => s.encode(letter('a/b')));
    expect(encoded.map((e) => (JSON.parse(e) as { pipeline?: string }).pipeline)).toEqual([undefined, 'fleet', 'mine']);
    const sink = sinks[1]!;
    await sink.open();
    expect(await sink.write({ items: [], encoded: [encoded[1]!] })).toEqual({ status: 'delivered' });
    await sink.close();
    const [entry] = await listDeadLetters(redis, stream);
    expect(entry?.letter).toMatchObject({
      pipeline: 'fleet',
      topic: 'a/b',
      payloadBase64: Buffer.from('a/b').toString('base64'),
    });
  });
});

describe('listDeadLetters / replayDeadLetters', () => {
  it('finds matches past the first page, newest or oldest first, from a time on; replays oldest first', async () => {
    const stream = uniqueName('tributary-test:dl');
    streams.push(stream);
    // 1,300 letters of another pipeline around three of ours (ids 1000-0 ... in stream order)
    const multi = redis.multi();
    for (let i = 1; i <= 1300; i++) {
      const ours = i === 10 || i === 700 || i === 1290;
      multi.xadd(
        stream,
        `${1000 + i}-0`,
        'letter',
        encodeDeadLetter(letter(ours ? `ours/${i}` : `theirs/${i}`), ours ? 'ours' : 'theirs'),
      );
    }
    multi.xadd(stream, '2400-0', 'letter', encodeDeadLetter(letter('ours/legacy'))); // no pipeline field
    await multi.exec();
    const match = (l: { pipeline?: string }) => l.pipeline === 'ours';
    const topics = async (
      ...args: Parameters<typeof listDeadLetters> extends [unknown, unknown, ...infer R] ? R : never
    ) => (await listDeadLetters(redis, stream, ...args)).map((e) => e.letter.topic);

    expect(await topics(100, { match })).toEqual(['ours/10', 'ours/700', 'ours/1290']);
    expect(await topics(2, { match, order: 'newest-first' })).toEqual(['ours/1290', 'ours/700']);
    expect(await topics(100, { match, sinceMs: 1700 })).toEqual(['ours/700', 'ours/1290']);
    expect(await topics(100, { match, sinceMs: 1700, order: 'newest-first' })).toEqual(['ours/1290', 'ours/700']);
    expect(await topics(2, { order: 'newest-first' })).toEqual(['ours/legacy', 'theirs/1300']); // no filter: every letter
    expect(await topics(3)).toEqual(['theirs/1', 'theirs/2', 'theirs/3']);

    const published: string[] = [];
    expect(
      await replayDeadLetters(
        redis,
        stream,
        async (topic) => {
          published.push(topic);
        },
        2,
        { match },
      ),
    ).toBe(2);
    expect(published).toEqual(['ours/10', 'ours/700']);
    expect(await topics(100, { match })).toEqual(['ours/1290']);
    expect(await redis.xlen(stream)).toBe(1299);
  });
});

import type { Redis } from 'ioredis';
import type { StoredDeadLetter } from './index.js';

/** A stored dead letter with its stream id. */
export interface DeadLetterEntry {
  readonly id: string;
  readonly letter: StoredDeadLetter;
}

/** Reads up to `count` dead letters, oldest first, from `stream`. */
export async function listDeadLetters(redis: Redis, stream: string, count = 100): Promise<DeadLetterEntry[]> {
  const rows = await redis.xrange(stream, '-', '+', 'COUNT', count);
  return rows.map(([id, fields]) => ({ id, letter: JSON.parse(fields[1] ?? '{}') as StoredDeadLetter }));
}

/**
 * Replays dead letters: hands each to `publish` (which republishes the original payload to its
 * topic and resolves once the broker acknowledged it), then deletes it. Stops at the first failure.
 * @returns how many were replayed
 */
export async function replayDeadLetters(
  redis: Redis,
  stream: string,
  publish: (topic: string, payload: Buffer, letter: StoredDeadLetter) => Promise<void>,
  count = 100,
): Promise<number> {
  let replayed = 0;
  for (const { id, letter } of await listDeadLetters(redis, stream, count)) {
    await publish(letter.topic, Buffer.from(letter.payloadBase64, 'base64'), letter);
    await redis.xdel(stream, id);
    replayed++;
  }
  return replayed;
}

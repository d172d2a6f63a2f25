import type { Redis } from 'ioredis';
import type { StoredDeadLetter } from './index.js';

/** A stored dead letter with its stream id. */
export interface DeadLetterEntry {
  readonly id: string;
  readonly letter: StoredDeadLetter;
}

/**
 * Reads up to `count` dead letters, oldest first, from `stream`. An entry that is not a stored dead
 * letter (written there by something else) is listed with code `unreadable` rather than failing.
 */
export async function listDeadLetters(redis: Redis, stream: string, count = 100): Promise<DeadLetterEntry[]> {
  const rows = await redis.xrange(stream, '-', '+', 'COUNT', count);
  return rows.map(([id, fields]) => ({ id, letter: parseLetter(fields) }));
}

function parseLetter(fields: readonly string[]): StoredDeadLetter {
  const raw = fields[fields.indexOf('letter') + 1] ?? '';
  try {
    const letter = JSON.parse(raw) as Partial<StoredDeadLetter>;
    if (typeof letter.code === 'string' && typeof letter.topic === 'string' && typeof letter.payloadBase64 === 'string') return letter as StoredDeadLetter;
  } catch { /* not JSON: reported below */ }
  return {
    code: 'unreadable', reason: 'stream entry is not a Tributary dead letter', stage: 'store', topic: '', qos: 0, receivedAtMs: 0,
    payloadBase64: Buffer.from(raw).toString('base64'),
  };
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
    if (letter.code === 'unreadable') continue; // nothing to replay it to; list shows it
    await publish(letter.topic, Buffer.from(letter.payloadBase64, 'base64'), letter);
    await redis.xdel(stream, id);
    replayed++;
  }
  return replayed;
}

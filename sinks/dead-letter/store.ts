import type { Redis } from 'ioredis';
import type { StoredDeadLetter } from './index.js';

/** A stored dead letter with its stream id. */
export interface DeadLetterEntry {
  readonly id: string;
  readonly letter: StoredDeadLetter;
}

/** Which dead letters to read, and in which order. */
export interface DeadLetterQuery {
  /** Only letters this returns true for (e.g. of one pipeline, topic or code). @defaultValue all */
  readonly match?: (letter: StoredDeadLetter) => boolean;
  /** Only letters added to the stream at or after this time (ms since the epoch; the stream id's time). */
  readonly sinceMs?: number;
  /** @defaultValue 'oldest-first' */
  readonly order?: 'oldest-first' | 'newest-first';
}

/** Entries read from the stream per round trip while looking for matches. */
const PAGE = 500;

/**
 * Reads up to `count` dead letters from `stream` that fit `query`, oldest first unless it says
 * otherwise; a filter reads the stream page by page until `count` letters matched or the stream
 * ends. An entry that is not a stored dead letter (written there by something else) is listed
 * with code `unreadable` rather than failing.
 */
export async function listDeadLetters(
  redis: Redis,
  stream: string,
  count = 100,
  query: DeadLetterQuery = {},
): Promise<DeadLetterEntry[]> {
  const newestFirst = query.order === 'newest-first';
  const oldest = query.sinceMs === undefined ? '-' : `${Math.max(0, Math.floor(query.sinceMs))}-0`;
  const found: DeadLetterEntry[] = [];
  let from = newestFirst ? '+' : oldest; // the next page starts after the last id read
  while (found.length < count) {
    const page = query.match ? Math.max(PAGE, count - found.length) : count - found.length;
    const rows = newestFirst
      ? await redis.xrevrange(stream, from, oldest, 'COUNT', page)
      : await redis.xrange(stream, from, '+', 'COUNT', page);
    for (const [id, fields] of rows) {
      const letter = parseLetter(fields);
      if (query.match && !query.match(letter)) continue;
      found.push({ id, letter });
      if (found.length === count) break;
    }
    if (rows.length < page) break;
    from = `(${rows.at(-1)![0]}`;
  }
  return found;
}

function parseLetter(fields: readonly string[]): StoredDeadLetter {
  const raw = fields[fields.indexOf('letter') + 1] ?? '';
  try {
    const letter = JSON.parse(raw) as Partial<StoredDeadLetter>;
    if (typeof letter.code === 'string' && typeof letter.topic === 'string' && typeof letter.payloadBase64 === 'string')
      return letter as StoredDeadLetter;
  } catch {
    /* not JSON: reported below */
  }
  return {
    code: 'unreadable',
    reason: 'stream entry is not a Tributary dead letter',
    stage: 'store',
    topic: '',
    qos: 0,
    receivedAtMs: 0,
    payloadBase64: Buffer.from(raw).toString('base64'),
  };
}

/**
 * Replays dead letters: hands each of the first `count` that fit `query` (oldest first unless it
 * says otherwise) to `publish` (which republishes the original payload to its topic and resolves
 * once the broker acknowledged it), then deletes it. Stops at the first failure.
 * @returns how many were replayed
 */
export async function replayDeadLetters(
  redis: Redis,
  stream: string,
  publish: (topic: string, payload: Buffer, letter: StoredDeadLetter) => Promise<void>,
  count = 100,
  query: DeadLetterQuery = {},
): Promise<number> {
  let replayed = 0;
  for (const { id, letter } of await listDeadLetters(redis, stream, count, query)) {
    if (letter.code === 'unreadable') continue; // nothing to replay it to; list shows it
    await publish(letter.topic, Buffer.from(letter.payloadBase64, 'base64'), letter);
    await redis.xdel(stream, id);
    replayed++;
  }
  return replayed;
}

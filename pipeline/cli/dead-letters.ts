import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { workerEnv } from './config/env.js';
import { ConfigError } from '../core/errors.js';
import { topicMatcher } from '../engine/ingest/topic-filter.js';
import { listDeadLetters, replayDeadLetters, type DeadLetterQuery } from '../../sinks/dead-letter/store.js';
import type { StoredDeadLetter } from '../../sinks/dead-letter/index.js';

const STREAM = 'tributary:dead-letters';

const HELP = `Usage: tributary dead-letters list|replay [--count N] [--pipeline NAME] [--topic FILTER]
                                  [--code CODE]... [--since TIME] [--oldest-first] [--stream KEY]

list     prints the newest N dead letters (--oldest-first: the oldest): time, code, the stage that
         gave up, topic, reason, pipeline and the payload (text or base64)
replay   republishes the oldest N matching dead letters to their original topics, in the order they
         arrived (QoS 1, same content type and user properties), on TRIBUTARY_MQTT_URL, and deletes
         each once the broker acknowledged it

--count N          how many letters to show or replay (default 100)
--pipeline NAME    only letters of this pipeline (definePipeline's name; letters written before
                   pipelines were recorded have none and are shown only without --pipeline)
--topic FILTER     only letters whose topic matches this MQTT filter (+ and # allowed)
--code CODE        only letters with this code (decode_error, mapping_error, write_rejected, ...);
                   repeat for several
--since TIME       only letters dead-lettered since TIME: a duration back from now (90s, 15m, 2h,
                   7d) or a date (2026-12-04T10:00:00Z)
--stream KEY       the Redis stream (default ${STREAM}: redisDeadLetters' default, shared by every
                   pipeline and group that does not name its own)`;

/** `tributary dead-letters`. */
export async function deadLettersCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '100' },
      stream: { type: 'string', default: STREAM },
      pipeline: { type: 'string' },
      topic: { type: 'string' },
      code: { type: 'string', multiple: true, default: [] },
      since: { type: 'string' },
      'oldest-first': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const action = positionals[0];
  if (values.help || !action) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  if (action !== 'list' && action !== 'replay')
    throw new ConfigError('dead-letters <action>', 'list or replay', action);
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new ConfigError('--count', 'an integer ≥ 1', values.count);
  const filters = { pipeline: values.pipeline, topic: values.topic, code: values.code, since: values.since };
  const query = {
    ...queryOf(filters, Date.now()),
    order: action === 'list' && !values['oldest-first'] ? 'newest-first' : 'oldest-first',
  } as const;
  const env = workerEnv();
  const redis = new Redis(env.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    if (action === 'list') {
      const entries = await listDeadLetters(redis, values.stream, count, query);
      for (const { id, letter } of entries) console.log(describe(id, letter));
      const matching = describeFilters(filters);
      console.log(
        `${entries.length} dead letter(s) shown, ${query.order.replace('-', ' ')}${matching} (stream ${values.stream}, ${await redis.xlen(values.stream)} in all)`,
      );
      return 0;
    }
    const client = await mqtt.connectAsync(env.mqtt.url, {
      clientId: `tributary-replay-${process.pid}`,
      username: env.mqtt.username,
      password: env.mqtt.password,
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      const n = await replayDeadLetters(
        redis,
        values.stream,
        async (topic, payload, letter) => {
          await client.publishAsync(topic, payload, {
            qos: 1,
            properties: {
              contentType: letter.contentType,
              userProperties: letter.userProperties as Record<string, string | string[]> | undefined,
            },
          });
        },
        count,
        query,
      );
      console.log(`replayed ${n} dead letter(s)${describeFilters(filters)}`);
    } finally {
      await client.endAsync();
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

interface Filters {
  readonly pipeline?: string;
  readonly topic?: string;
  readonly code: readonly string[];
  readonly since?: string;
}

/** The store query of the command line's filters. */
function queryOf(filters: Filters, nowMs: number): Omit<DeadLetterQuery, 'order'> {
  const topicMatches = filters.topic === undefined ? undefined : topicMatcher(filters.topic);
  const codes = new Set(filters.code);
  const tests: Array<(l: StoredDeadLetter) => boolean> = [];
  if (filters.pipeline !== undefined) tests.push((l) => l.pipeline === filters.pipeline);
  if (topicMatches) tests.push((l) => topicMatches(l.topic));
  if (codes.size > 0) tests.push((l) => codes.has(l.code));
  return {
    match: tests.length === 0 ? undefined : (l) => tests.every((t) => t(l)),
    sinceMs: filters.since === undefined ? undefined : sinceMs(filters.since, nowMs),
  };
}

/** `90s`, `15m`, `2h`, `7d` back from `nowMs`, or a date. */
function sinceMs(text: string, nowMs: number): number {
  const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const ago = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (ago) return nowMs - Number(ago[1]) * UNIT_MS[ago[2]!]!;
  const date = Date.parse(text);
  if (Number.isNaN(date))
    throw new ConfigError('--since', 'a duration (90s, 15m, 2h, 7d) or a date (2026-12-04T10:00:00Z)', text);
  return date;
}

function describeFilters(f: Filters): string {
  const parts = [
    f.pipeline === undefined ? '' : ` --pipeline ${f.pipeline}`,
    f.topic === undefined ? '' : ` --topic ${f.topic}`,
    ...f.code.map((c) => ` --code ${c}`),
    f.since === undefined ? '' : ` --since ${f.since}`,
  ].join('');
  return parts ? `, matching${parts}` : '';
}

function describe(id: string, letter: StoredDeadLetter): string {
  const bytes = Buffer.from(letter.payloadBase64, 'base64');
  const text = bytes.toString('utf8');
  const payload = Buffer.from(text, 'utf8').equals(bytes) ? JSON.stringify(text) : `base64:${letter.payloadBase64}`;
  const pipeline = letter.pipeline === undefined ? '' : `\n    pipeline ${letter.pipeline}`;
  return `${id} ${new Date(letter.receivedAtMs).toISOString()} ${letter.code} [${letter.stage}] ${letter.topic}: ${letter.reason}${pipeline}\n    payload ${payload}`;
}

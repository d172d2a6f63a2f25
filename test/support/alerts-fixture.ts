// The real Redis for an alert test file: one connection, and the queues and sinks it made,
// cleaned up (with every key containing `marker`) after the file.
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { cleanup } from './alerts.js';
import { REDIS_URL } from './services.js';

/** Registers the file's beforeAll/afterAll; `redis` is connected inside tests. */
export function alertRedisFixture(marker: string): {
  readonly redis: Redis;
  readonly queues: Queue[];
  readonly sinks: Array<{ close(): Promise<void> }>;
} {
  let redis: Redis | undefined;
  const queues: Queue[] = [];
  const sinks: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    for (const s of sinks) await s.close();
    if (redis) await cleanup(redis, queues, marker);
    redis?.disconnect();
  });
  return {
    get redis() {
      if (!redis) throw new Error('alertRedisFixture: redis is connected in beforeAll');
      return redis;
    },
    queues,
    sinks,
  };
}

// The shared-state cases against the Redis script on the real Redis, and the twin property: the
// memory state and the script agree on random sequences of updates.
import { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import { memoryStageState } from '../../../transforms/shared-state/memory.js';
import { redisStageState } from '../../../transforms/shared-state/redis.js';
import type { StageState } from '../../../transforms/shared-state/types.js';
import { REDIS_URL, uniqueName } from '../../support/services.js';
import { nodeCases, stateCases, twinProperty } from '../../support/shared-state-cases.js';

const prefix = uniqueName('state');
const states: StageState[] = [];
let n = 0;
const fresh = async () => {
  const state = redisStageState({ url: REDIS_URL, keyPrefix: prefix, shards: 4 });
  await state.open();
  states.push(state);
  return { state, ns: `ns${n++}` };
};

afterAll(async () => {
  for (const s of states) await s.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('redis stage state (single instance)', () => {
  nodeCases(fresh);
  stateCases(fresh);
  twinProperty(async () => ({ state: memoryStageState({ shards: 4 }), ns: 'twin' }), fresh);
});

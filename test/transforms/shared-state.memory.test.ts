// The shared-state cases against the memory state (the Redis script runs the same cases in
// test/transforms/shared-state/shared-state.redis.int.test.ts).
import { describe } from 'vitest';
import { memoryStageState } from '../../transforms/shared-state/memory.js';
import { nodeCases, stateCases } from '../support/shared-state-cases.js';

describe('memory stage state', () => {
  nodeCases(async () => ({ state: memoryStageState(), ns: 'nodes' }));
  stateCases(async () => ({ state: memoryStageState(), ns: 'cases' }));
});

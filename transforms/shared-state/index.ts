/** Shared stage state: where stateful stages keep per-series state (see docs/transforms.md). */
export { memoryStageState, type MemoryStageStateOptions } from './memory.js';
export { redisStageState, type RedisStageStateOptions } from './redis.js';
export type { StageState, StateOp, OpResult, ClaimedWindow, ClaimOptions, SequenceRule } from './types.js';

// The shared-state cases and the twin property on a real Redis Cluster (three masters started by
// the test): every script call touches one shard, one hash slot, whichever master holds it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStageState } from '../../../transforms/shared-state/memory.js';
import { shardKeys } from '../../../transforms/shared-state/keys.js';
import { redisStageState } from '../../../transforms/shared-state/redis.js';
import type { StageState } from '../../../transforms/shared-state/types.js';
import { clusterClient, startRedisCluster, type RedisClusterHandle } from '../../support/redis-cluster.js';
import { nodeCases, stateCases, twinProperty } from '../../support/shared-state-cases.js';

let cluster: RedisClusterHandle;
const states: StageState[] = [];
let n = 0;
const fresh = async () => {
  const state = redisStageState({ cluster: cluster.nodes, keyPrefix: 'test', shards: 16 });
  await state.open();
  expect(await waitReady(state)).toBe(true);
  states.push(state);
  return { state, ns: `ns${n++}` };
};
const waitReady = async (s: StageState) => {
  for (let i = 0; i < 100 && s.unavailable(); i++) await new Promise((r) => setTimeout(r, 50));
  return s.unavailable() === undefined;
};

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  for (const s of states) await s.close();
  await cluster?.stop();
});

describe('redis stage state (Redis Cluster, 3 masters)', () => {
  nodeCases(fresh);
  stateCases(fresh);
  twinProperty(async () => ({ state: memoryStageState({ shards: 16 }), ns: 'twin' }), fresh);

  it('spreads a stage over the masters: its 16 shards sit in slots of all three', async () => {
    const { state, ns } = await fresh();
    const ops = Array.from({ length: 200 }, (_, i) => ({
      kind: 'window' as const,
      series: JSON.stringify(['m', 'device', `d${i}`]),
      startMs: 0,
      endMs: 1000,
      closeAtMs: 1000,
      t: String(i).padStart(20, '0'),
      data: '{}',
    }));
    expect(await state.apply(ns, ops, 0)).toEqual(ops.map(() => 'ok'));
    const client = clusterClient(cluster.nodes);
    const owners = new Set<string>();
    for (let shard = 0; shard < 16; shard++) {
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', shardKeys('test', ns, shard).due));
      const node = client.slots[slot]?.[0];
      if (node && (await client.exists(shardKeys('test', ns, shard).due)) === 1) owners.add(node);
    }
    client.disconnect();
    expect(owners.size).toBe(3);
    expect(
      (await state.claim(ns, { nowMs: 1000, leaseMs: 1000, limit: 1000, keepMs: 1000 })).reduce(
        (a, w) => a + w.points.length,
        0,
      ),
    ).toBe(200);
  });
});

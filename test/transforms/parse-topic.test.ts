import { describe, expect, it } from 'vitest';
import type { Reading, StageContext, StageOutput } from '../../pipeline/core/types.js';
import { parseTopic, type ParseTopicOptions } from '../../transforms/parse-topic.js';

const reading: Reading = { measurement: 'm', tags: { unit: 'c' }, fields: { v: 1 }, timeNs: 1n };
const ctxFor = (topic: string): StageContext => ({
  meta: { topic, qos: 1, retain: false, receivedAtMs: 0, format: 'json' },
  now: () => 0,
  retain: () => {
    throw new Error('not used');
  },
});

function apply(
  pattern: string,
  topic: string,
  options?: ParseTopicOptions,
  stage = parseTopic(pattern, options),
): StageOutput<Reading> {
  return stage.apply(reading, ctxFor(topic)) as StageOutput<Reading>;
}
const tagsOf = (out: StageOutput<Reading>) => (Array.isArray(out) ? (out as Reading[])[0]!.tags : undefined);

describe('parseTopic', () => {
  it('adds tags from named levels and keeps existing tags', () => {
    const out = apply('fleet/{site}/{device}/telemetry', 'fleet/site-3/dev-340/telemetry');
    expect(out).toEqual([{ ...reading, tags: { unit: 'c', site: 'site-3', device: 'dev-340' } }]);
    expect(reading.tags).toEqual({ unit: 'c' });
  });

  it('matches an unnamed level with +', () => {
    expect(tagsOf(apply('fleet/+/{device}/telemetry', 'fleet/x/d1/telemetry'))).toEqual({ unit: 'c', device: 'd1' });
  });

  it('matches the rest with a trailing #', () => {
    const pattern = 'fleet/{site}/#';
    expect(tagsOf(apply(pattern, 'fleet/s1/a/b/c'))).toEqual({ unit: 'c', site: 's1' });
    expect(tagsOf(apply(pattern, 'fleet/s1'))).toEqual({ unit: 'c', site: 's1' });
    expect(apply(pattern, 'fleet', { onMismatch: 'reject' })).toHaveProperty('rejected');
    expect(apply(pattern, 'other/s1/x', { onMismatch: 'reject' })).toHaveProperty('rejected');
  });

  it('keeps a mismatching reading unchanged by default', () => {
    const pattern = 'fleet/{site}/{device}/telemetry';
    for (const topic of ['fleet/s/d/status', 'fleet/s/d', 'fleet/s/d/telemetry/extra', 'other/s/d/telemetry']) {
      expect(apply(pattern, topic)).toEqual([reading]);
    }
  });

  it('rejects a mismatching reading with topic_mismatch when asked', () => {
    const out = apply('fleet/{site}/{device}/telemetry', 'fleet/s/d/status', { onMismatch: 'reject' });
    expect(out).toEqual({ rejected: { code: 'topic_mismatch', reason: expect.stringContaining('fleet/s/d/status') } });
  });

  it('gives each topic its own tags when topics alternate (no stale cache)', () => {
    const stage = parseTopic('fleet/{site}/{device}/telemetry', { onMismatch: 'reject' });
    expect(tagsOf(apply('', 'fleet/a/1/telemetry', undefined, stage))).toEqual({ unit: 'c', site: 'a', device: '1' });
    expect(tagsOf(apply('', 'fleet/a/1/telemetry', undefined, stage))).toEqual({ unit: 'c', site: 'a', device: '1' });
    expect(tagsOf(apply('', 'fleet/b/2/telemetry', undefined, stage))).toEqual({ unit: 'c', site: 'b', device: '2' });
    expect(apply('', 'fleet/b/2/status', undefined, stage)).toHaveProperty('rejected');
    expect(tagsOf(apply('', 'fleet/a/1/telemetry', undefined, stage))).toEqual({ unit: 'c', site: 'a', device: '1' });
  });
});

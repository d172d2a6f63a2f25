import { describe, expect, it } from 'vitest';
import { stripShare, topicMatcher } from '../../../../pipeline/engine/ingest/topic-filter.js';

const matches = (filter: string, topic: string) => topicMatcher(filter)(topic);

describe('topicMatcher', () => {
  it('matches exact filters level by level', () => {
    expect(matches('a/b/c', 'a/b/c')).toBe(true);
    expect(matches('a/b/c', 'a/b')).toBe(false);
    expect(matches('a/b/c', 'a/b/c/d')).toBe(false);
    expect(matches('a/b/c', 'a/x/c')).toBe(false);
  });

  it('matches exactly one level with +', () => {
    expect(matches('a/+/c', 'a/b/c')).toBe(true);
    expect(matches('a/+/c', 'a//c')).toBe(true);
    expect(matches('a/+/c', 'a/b/x/c')).toBe(false);
    expect(matches('a/+', 'a')).toBe(false);
    expect(matches('+/+', 'a/b')).toBe(true);
    expect(matches('+', 'a/b')).toBe(false);
  });

  it('matches the parent and any number of levels with a trailing #', () => {
    expect(matches('a/#', 'a')).toBe(true);
    expect(matches('a/#', 'a/b')).toBe(true);
    expect(matches('a/#', 'a/b/c/d')).toBe(true);
    expect(matches('a/#', 'b/a')).toBe(false);
    expect(matches('#', 'anything/at/all')).toBe(true);
  });

  it('does not match $-topics with a first-level # or +', () => {
    expect(matches('#', '$SYS/broker/uptime')).toBe(false);
    expect(matches('+/broker/uptime', '$SYS/broker/uptime')).toBe(false);
    expect(matches('+/#', '$SYS/broker')).toBe(false);
    expect(matches('$SYS/#', '$SYS/broker/uptime')).toBe(true);
    expect(matches('$SYS/+/uptime', '$SYS/broker/uptime')).toBe(true);
  });

  it('strips $share/<group>/ before matching', () => {
    expect(matches('$share/ingest/fleet/+/+/telemetry', 'fleet/s/d/telemetry')).toBe(true);
    expect(matches('$share/ingest/fleet/#', 'fleet/s')).toBe(true);
    expect(matches('$share/ingest/fleet/#', '$share/ingest/fleet/s')).toBe(false);
  });
});

describe('stripShare', () => {
  it('removes $share/<group>/ and leaves other filters unchanged', () => {
    expect(stripShare('$share/g/a/b')).toBe('a/b');
    expect(stripShare('$share/g/#')).toBe('#');
    expect(stripShare('a/b')).toBe('a/b');
    expect(stripShare('$SYS/#')).toBe('$SYS/#');
    expect(stripShare('x/$share/g/a')).toBe('x/$share/g/a');
  });
});

import { reject } from '../pipeline/core/stage.js';
import { perKeyCache } from '../pipeline/core/cache.js';
import type { Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/** Options of {@link parseTopic}. */
export interface ParseTopicOptions {
  /** What to do with a message whose topic does not fit the pattern. @defaultValue 'keep' */
  readonly onMismatch?: 'keep' | 'reject';
}

/**
 * Adds tags from named topic levels: with `fleet/{site}/{device}/telemetry`, the topic
 * `fleet/site-3/dev-340/telemetry` adds `site=site-3,device=dev-340`. `+` matches a level without
 * naming it, a final `#` matches the rest.
 * @example
 * parseTopic('fleet/{site}/{device}/telemetry')
 */
export function parseTopic(pattern: string, options: ParseTopicOptions = {}): Transform<Reading, Reading> {
  const levels = pattern.split('/');
  const names = levels.map((l) => (/^\{[^{}]+\}$/.test(l) ? l.slice(1, -1) : undefined));
  const multi = levels.at(-1) === '#';
  const fixed = multi ? levels.length - 1 : levels.length;
  const onMismatch = options.onMismatch ?? 'keep';
  // One parse per topic: a fleet sends from a bounded set of topics (bounded again by the cache).
  const tagsOf = perKeyCache((topic: string): Record<string, string> | undefined => {
    const parts = topic.split('/');
    let tags: Record<string, string> | undefined = {};
    if (multi ? parts.length < fixed : parts.length !== fixed) tags = undefined;
    for (let i = 0; tags && i < fixed; i++) {
      const name = names[i];
      if (name !== undefined) tags[name] = parts[i]!;
      else if (levels[i] !== '+' && levels[i] !== parts[i]) tags = undefined;
    }
    return tags;
  }, 50_000);

  return {
    name: 'parseTopic',
    apply(reading, ctx): StageOutput<Reading> {
      const tags = tagsOf(ctx.meta.topic);
      if (!tags)
        return onMismatch === 'reject'
          ? reject(`topic ${ctx.meta.topic} does not match ${pattern}`, 'topic_mismatch')
          : [reading];
      return [{ ...reading, tags: { ...reading.tags, ...tags } }];
    },
  };
}

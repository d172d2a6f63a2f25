import { ConfigError } from '../pipeline/core/errors.js';
import type { Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/** Options of {@link addTags}. */
export interface AddTagsOptions {
  /** When a reading already has one of the tags: `keep` its value, or `replace` it. @defaultValue 'keep' */
  readonly onConflict?: 'keep' | 'replace';
}

/**
 * Adds static tags to every reading (region, environment, pipeline version).
 * @example
 * addTags({ region: 'eu-west', env: 'prod' })
 */
export function addTags(
  tags: Readonly<Record<string, string>>,
  options: AddTagsOptions = {},
): Transform<Reading, Reading> {
  for (const [k, v] of Object.entries(tags)) {
    if (!k || typeof v !== 'string' || !v)
      throw new ConfigError(`addTags ${k || '(empty key)'}`, 'a non-empty tag key and string value', v);
  }
  const replace = (options.onConflict ?? 'keep') === 'replace';
  if (!replace && options.onConflict !== undefined && options.onConflict !== 'keep')
    throw new ConfigError('addTags onConflict', "'keep' or 'replace'", options.onConflict);
  const fixed = { ...tags };
  return {
    name: 'addTags',
    apply(reading): StageOutput<Reading> {
      return [{ ...reading, tags: replace ? { ...reading.tags, ...fixed } : { ...fixed, ...reading.tags } }];
    },
  };
}

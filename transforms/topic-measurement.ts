import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/** Options of {@link measurementFromTopic}. */
export interface MeasurementFromTopicOptions {
  /** What to do with a reading whose topic does not fit the pattern. @defaultValue 'keep' */
  readonly onMismatch?: 'keep' | 'reject';
}

interface Match {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Names each reading after its topic. In the pattern, `{measurement}` marks the level that becomes
 * the measurement (without it, the topic's last level does), other `{name}` levels become tags,
 * `+` matches a level without naming it, a final `#` matches the rest; other levels must match
 * exactly. A topic that does not fit (or whose measurement level is empty) keeps the reading as
 * it is, or rejects it with `onMismatch: 'reject'`.
 * @example
 * // sensor/001/temperature with payload 23.5 (raw() + toReadings) → temperature,sensor=001 value=23.5
 * measurementFromTopic('sensor/{sensor}/{measurement}')
 */
export function measurementFromTopic(
  pattern = '#',
  options: MeasurementFromTopicOptions = {},
): Transform<Reading, Reading> {
  const levels = pattern.split('/');
  const names = levels.map((l) => (/^\{[^{}/]+\}$/.test(l) ? l.slice(1, -1) : undefined));
  const multi = levels.at(-1) === '#';
  const fixed = multi ? levels.length - 1 : levels.length;
  const at = names.indexOf('measurement');
  validate(pattern, levels, names);
  const onMismatch = options.onMismatch ?? 'keep';
  let lastTopic: string | undefined;
  let last: Match | undefined;

  const matchOf = (topic: string): Match | undefined => {
    const parts = topic.split('/');
    if (multi ? parts.length < fixed : parts.length !== fixed) return undefined;
    const tags: Record<string, string> = {};
    for (let i = 0; i < fixed; i++) {
      const name = names[i];
      if (name !== undefined) {
        if (name !== 'measurement') tags[name] = parts[i]!;
      } else if (levels[i] !== '+' && levels[i] !== parts[i]) {
        return undefined;
      }
    }
    const measurement = at >= 0 ? parts[at]! : parts.at(-1)!;
    return measurement === '' ? undefined : { measurement, tags };
  };

  return {
    name: 'measurementFromTopic',
    apply(reading, ctx): StageOutput<Reading> {
      const topic = ctx.meta.topic;
      if (topic !== lastTopic) {
        lastTopic = topic;
        last = matchOf(topic);
      }
      if (!last)
        return onMismatch === 'reject'
          ? reject(`topic ${topic} does not match ${pattern}`, 'topic_mismatch')
          : [reading];
      return [{ ...reading, measurement: last.measurement, tags: { ...reading.tags, ...last.tags } }];
    },
  };
}

function validate(pattern: string, levels: readonly string[], names: ReadonlyArray<string | undefined>): void {
  const option = `measurementFromTopic(${JSON.stringify(pattern)})`;
  if (levels.slice(0, -1).includes('#')) throw new ConfigError(option, "'#' only as the last level");
  if (levels.some((l, i) => names[i] === undefined && /[{}]/.test(l)))
    throw new ConfigError(option, 'levels written {name}, +, # or plain text');
  const named = names.filter((n): n is string => n !== undefined);
  if (new Set(named).size !== named.length) throw new ConfigError(option, 'each {name} at most once');
}

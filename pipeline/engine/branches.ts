// Per-topic branches, laid out as one flat list of stages for the runtime: each branch's stages are
// wrapped so that they act only on the messages routed to that branch and hand every other body on
// unchanged, and a join stage after the last branch dead-letters a message no branch took. The
// runtime's single path (acknowledgements, retries, windows that emit later) stays as it is.
import { perKeyCache } from '../core/cache.js';
import { ConfigError } from '../core/errors.js';
import { topicMatcher } from './ingest/topic-filter.js';
import { reject } from '../core/stage.js';
import type { Transform } from '../core/types.js';

/** One branch: a topic filter and the stages of the messages it takes. */
export interface BranchSpec {
  readonly topicFilter: string;
  readonly stages: ReadonlyArray<Transform<unknown, unknown>>;
}

type AnyTransform = Transform<unknown, unknown>;

/**
 * The flat stage list of `branches` followed by their join. A message belongs to the first branch
 * whose filter matches its topic (the way the first matching subscription picks its decoder).
 */
export function layOutBranches(branches: readonly BranchSpec[]): AnyTransform[] {
  const matchers = branches.map((b) => topicMatcher(b.topicFilter));
  const branchOf = perKeyCache((topic: string) => matchers.findIndex((m) => m(topic)), 50_000);
  const filters = branches.map((b) => b.topicFilter).join(', ');
  const stages = branches.flatMap((b, index) => b.stages.map((s) => onlyFor(s, index, b.topicFilter, branchOf)));
  stages.push({
    name: 'join',
    apply: (body, ctx) =>
      branchOf(ctx.meta.topic) >= 0
        ? [body]
        : reject(`topic ${ctx.meta.topic} matches no branch (${filters})`, 'no_branch'),
  });
  return stages;
}

/** `stage`, acting only on the bodies of branch `index`; it is named after the branch in logs and dead letters. */
function onlyFor(
  stage: AnyTransform,
  index: number,
  topicFilter: string,
  branchOf: (topic: string) => number,
): AnyTransform {
  const wrapped: AnyTransform = {
    name: `${stage.name}@${topicFilter}`,
    apply: (body, ctx) => (branchOf(ctx.meta.topic) === index ? stage.apply(body, ctx) : [body]),
  };
  if (stage.open) wrapped.open = (emit) => stage.open!(emit);
  if (stage.close) wrapped.close = () => stage.close!();
  return wrapped;
}

/** Throws a {@link ConfigError} naming the branch when `topicFilter` is not an MQTT filter, or repeats an earlier one. */
export function validateBranchFilter(topicFilter: string, earlier: readonly string[]): void {
  const option = `branch(${JSON.stringify(topicFilter)})`;
  const levels = topicFilter.split('/');
  if (
    topicFilter === '' ||
    levels.some((l, i) => (l.includes('#') && (l !== '#' || i !== levels.length - 1)) || (l.includes('+') && l !== '+'))
  ) {
    throw new ConfigError(
      option,
      "an MQTT topic filter: levels of text, '+' for one level, '#' only as the whole last level",
    );
  }
  if (earlier.includes(topicFilter))
    throw new ConfigError(option, 'a topic filter no earlier branch has (the first matching branch takes a message)');
}

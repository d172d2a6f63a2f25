import { ConfigError } from '../core/errors.js';
import { layOutBranches, validateBranchFilter, type BranchSpec } from './branches.js';
import type { DeadLetterSink, Sink, Source, Transform } from '../core/types.js';

/** A complete pipeline, ready for `tributary run` or {@link testPipeline}. */
export interface PipelineDefinition<Out = unknown> {
  readonly name: string;
  readonly source: Source<unknown>;
  readonly stages: ReadonlyArray<Transform<unknown, unknown>>;
  readonly sinks: ReadonlyArray<Sink<unknown>>;
  /** Where undeliverable messages go; `tributary run` uses Redis from the environment when omitted. */
  readonly deadLetters?: DeadLetterSink;
  /** Phantom marker for the output type; never set. */
  readonly outputType?: Out;
}

/** A pipeline under construction whose last stage produces `T`. */
export class PipelineBuilder<T> {
  /** @internal */
  constructor(
    private readonly name: string,
    private readonly source: Source<unknown>,
    private readonly stages: ReadonlyArray<Transform<unknown, unknown>>,
  ) {}

  /** Appends a stage; its input type must be this pipeline's output type. */
  pipe<Out>(stage: Transform<T, Out>): PipelineBuilder<Out> {
    return new PipelineBuilder<Out>(this.name, this.source, [
      ...this.stages,
      stage as unknown as Transform<unknown, unknown>,
    ]);
  }

  /**
   * Starts per-topic branches: a message whose topic matches `topicFilter` runs through the stages
   * `build` appends, a message on another topic through another branch's; add more with
   * `.branch(...)`, then `.join()` to go on with every branch's outputs. The first branch whose
   * filter matches a topic takes the message; a message no branch takes is dead-lettered as
   * `no_branch` (end with `.branch('#', ...)` to take the rest). The decoder stays the
   * subscription's (`decode:`), so a branch per subscription gives each its decoder and stages.
   * @example
   * .branch('tele/+/SENSOR', (b) => b.pipe(toReadings({ measurement: 'tasmota', time: ['Time'] })).pipe(parseTopic('tele/{device}/SENSOR')))
   * .branch('sensor/+/+', (b) => b.pipe(toReadings({ measurement: 'sensor' })).pipe(measurementFromTopic('sensor/{sensor}/{measurement}')))
   * .join()
   */
  branch<Out>(topicFilter: string, build: (chain: StageChain<T>) => StageChain<Out>): PipelineBranches<T, Out> {
    return new PipelineBranches<T, never>(this.name, this.source, this.stages, []).branch(topicFilter, build);
  }

  /** Ends the pipeline: each output goes to every sink that accepts it. */
  to(
    ...sinks: ReadonlyArray<Sink<T>>
  ): PipelineDefinition<T> & { deadLettersTo(sink: DeadLetterSink): PipelineDefinition<T> } {
    const def: PipelineDefinition<T> = {
      name: this.name,
      source: this.source,
      stages: this.stages,
      sinks: sinks as ReadonlyArray<Sink<unknown>>,
    };
    return { ...def, deadLettersTo: (deadLetters) => ({ ...def, deadLetters }) };
  }
}

/** The stages of one branch (see {@link PipelineBuilder.branch}), whose last stage produces `T`. */
export class StageChain<T> {
  /** @internal */
  constructor(readonly stages: ReadonlyArray<Transform<unknown, unknown>>) {}

  /** Appends a stage; its input type must be this chain's output type. */
  pipe<Out>(stage: Transform<T, Out>): StageChain<Out> {
    return new StageChain<Out>([...this.stages, stage as unknown as Transform<unknown, unknown>]);
  }
}

/** Branches over bodies of type `In` whose outputs so far are of type `Out`. */
export class PipelineBranches<In, Out> {
  /** @internal */
  constructor(
    private readonly name: string,
    private readonly source: Source<unknown>,
    private readonly before: ReadonlyArray<Transform<unknown, unknown>>,
    private readonly branches: readonly BranchSpec[],
  ) {}

  /** Adds a branch for the messages whose topic matches `topicFilter` and no earlier branch's. */
  branch<Next>(
    topicFilter: string,
    build: (chain: StageChain<In>) => StageChain<Next>,
  ): PipelineBranches<In, Out | Next> {
    validateBranchFilter(
      topicFilter,
      this.branches.map((b) => b.topicFilter),
    );
    const chain = build(new StageChain<In>([]));
    return new PipelineBranches<In, Out | Next>(this.name, this.source, this.before, [
      ...this.branches,
      { topicFilter, stages: chain.stages },
    ]);
  }

  /** Joins the branches: the stages after this take the output of every branch. */
  join(): PipelineBuilder<Out> {
    return new PipelineBuilder<Out>(this.name, this.source, [...this.before, ...layOutBranches(this.branches)]);
  }
}

/** Options of {@link definePipeline}. */
export interface PipelineOptions {
  /** Name used in logs, metrics and the worker's client ids. */
  readonly name: string;
}

/**
 * Starts a typed pipeline: `.from(source)`, then `.pipe(stage)` any number of times (or
 * `.branch(...)`es per topic, then `.join()`), then `.to(sinks)`. A stage that does not fit the
 * previous one is a compile error.
 * @example
 * export default definePipeline({ name: 'fleet' })
 *   .from(mqttSource({ url, clientId, group: 'ingest', subscribe: [{ topic: 'fleet/+/+/telemetry', decode: json() }] }))
 *   .pipe(toReadings({ measurement: 'telemetry' }))
 *   .pipe(parseTopic('fleet/{site}/{device}/telemetry'))
 *   .to(influxdb({ url, api: 'v1', database: 'fleet' }));
 */
export function definePipeline(options: PipelineOptions): { from<B>(source: Source<B>): PipelineBuilder<B> } {
  if (!options.name) throw new ConfigError('definePipeline name', 'a non-empty string', options.name);
  return { from: <B>(source: Source<B>) => new PipelineBuilder<B>(options.name, source as Source<unknown>, []) };
}

import type { DeadLetterSink, Sink, Source, Transform } from './types.js';

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
    return new PipelineBuilder<Out>(this.name, this.source, [...this.stages, stage as unknown as Transform<unknown, unknown>]);
  }

  /** Ends the pipeline: each output goes to every sink that accepts it. */
  to(...sinks: ReadonlyArray<Sink<T>>): PipelineDefinition<T> & { deadLettersTo(sink: DeadLetterSink): PipelineDefinition<T> } {
    const def: PipelineDefinition<T> = { name: this.name, source: this.source, stages: this.stages, sinks: sinks as ReadonlyArray<Sink<unknown>> };
    return { ...def, deadLettersTo: (deadLetters) => ({ ...def, deadLetters }) };
  }
}

/** Options of {@link definePipeline}. */
export interface PipelineOptions {
  /** Name used in logs, metrics and the worker's client ids. */
  readonly name: string;
}

/**
 * Starts a typed pipeline: `.from(source)`, then `.pipe(stage)` any number of times, then `.to(sinks)`.
 * A stage that does not fit the previous one is a compile error.
 * @example
 * export default definePipeline({ name: 'fleet' })
 *   .from(mqttSource({ url, clientId, group: 'ingest', subscribe: [{ topic: 'fleet/+/+/telemetry', decode: json() }] }))
 *   .pipe(toReadings({ measurement: 'telemetry' }))
 *   .pipe(parseTopic('fleet/{site}/{device}/telemetry'))
 *   .to(influxdb({ url, api: 'v1', database: 'fleet' }));
 */
export function definePipeline(options: PipelineOptions): { from<B>(source: Source<B>): PipelineBuilder<B> } {
  if (!options.name) throw new Error('definePipeline: name must be non-empty');
  return { from: <B>(source: Source<B>) => new PipelineBuilder<B>(options.name, source as Source<unknown>, []) };
}

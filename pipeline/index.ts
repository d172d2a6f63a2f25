/**
 * Tributary's public API: build a pipeline with {@link definePipeline}, feed it with
 * {@link mqttSource}, shape it with stages, end it in sinks.
 * @packageDocumentation
 */
export type {
  AlertCondition, AlertEvent, AlertRule, Batch, BatchPolicy, DeadLetter, DeadLetterSink, DecodedValue, DecodeResult, Decoder, Failure, FieldValue, Logger,
  MessageHandler, MessageMeta, Reading, Rejection, Sink, Source, SourceMessage, StageContext, StageOutput, Transform, WriteResult,
} from './types.js';
export { definePipeline, PipelineBranches, PipelineBuilder, StageChain, type PipelineDefinition, type PipelineOptions } from './builder.js';
export { map, filter, flatMap, mapAsync, reject, isReading } from './stage.js';
export { mqttSource, type MqttSource, type MqttSourceOptions, type Subscription } from './ingest/mqtt-source.js';
export {
  json, msgpack, protobuf, sparkplug, sparkplugMessages, raw, byContentType, mediaType,
  type JsonOptions, type MsgpackOptions, type ProtobufOptions, type SparkplugOptions, type SparkplugRow, type SparkplugInput, type RawOptions,
} from './decode/index.js';
export { workerEnv, ENV_DEFAULTS, type WorkerEnv } from './config/env.js';
export { createLogger, silentLogger } from './log.js';
export { ConfigError, ConnectError } from './errors.js';
export { Runtime, type RuntimeOptions } from './runtime/runtime.js';
export { RuntimeStats } from './runtime/stats.js';
export { defaultRetryPolicy, type RetryPolicy } from './runtime/retry.js';
export { startWorker, type WorkerOptions } from './worker.js';

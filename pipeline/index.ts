/**
 * Tributary's public API: build a pipeline with {@link definePipeline}, feed it with
 * {@link mqttSource}, shape it with stages, end it in sinks.
 * @packageDocumentation
 */
export type {
  AlertCondition,
  AlertEvent,
  AlertRule,
  Batch,
  BatchPolicy,
  DeadLetter,
  DeadLetterSink,
  DecodedValue,
  DecodeResult,
  Decoder,
  Failure,
  FieldValue,
  Logger,
  MessageHandler,
  MessageMeta,
  Reading,
  Rejection,
  Sink,
  Source,
  SourceMessage,
  StageContext,
  StageOutput,
  Transform,
  WriteResult,
} from './core/types.js';
export {
  definePipeline,
  PipelineBranches,
  PipelineBuilder,
  StageChain,
  type PipelineDefinition,
  type PipelineOptions,
} from './engine/builder.js';
export { map, filter, flatMap, mapAsync, reject, isReading } from './core/stage.js';
export { mqttSource, type MqttSource, type MqttSourceOptions, type Subscription } from './engine/ingest/mqtt-source.js';
export {
  json,
  msgpack,
  protobuf,
  sparkplug,
  sparkplugMessages,
  raw,
  byContentType,
  mediaType,
  type JsonOptions,
  type MsgpackOptions,
  type ProtobufOptions,
  type SparkplugOptions,
  type SparkplugRow,
  type SparkplugInput,
  type RawOptions,
} from './engine/decode/index.js';
export { workerEnv, ENV_DEFAULTS, type WorkerEnv } from './cli/config/env.js';
export { createLogger, silentLogger } from './core/log.js';
export { ConfigError, ConnectError } from './core/errors.js';
export { Runtime, type RuntimeOptions } from './engine/runtime/runtime.js';
export { RuntimeStats } from './engine/runtime/stats.js';
export { defaultRetryPolicy, type RetryPolicy } from './core/retry.js';
export { startWorker, type WorkerOptions } from './cli/worker.js';

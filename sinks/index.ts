/** Destinations: InfluxDB for readings, BullMQ for alerts, Redis for dead letters. */
export { influxdb, isReading, type InfluxdbOptions } from './influxdb/index.js';
export { v1WriteTransport, type V1Target } from './influxdb/v1-transport.js';
export { toLineProtocol } from '../pipeline/core/line-protocol.js';
export type { FieldTypesOptions, InfluxFieldType } from './influxdb/field-types.js';
export {
  redisDeadLetters,
  encodeDeadLetter,
  type PipelineAwareDeadLetterSink,
  type RedisDeadLettersOptions,
  type StoredDeadLetter,
} from './dead-letter/index.js';
export { listDeadLetters, replayDeadLetters, type DeadLetterEntry, type DeadLetterQuery } from './dead-letter/store.js';
export {
  alertQueue,
  defaultAlertJobOptions,
  toAlertEvent,
  type AlertQueueOptions,
  type AlertQueueSink,
  type SweepResult,
  type AlertJobOptions,
} from './alert-queue/index.js';
export {
  startAlertWorker,
  type AlertWorker,
  type AlertWorkerOptions,
  type AlertHandler,
  type AlertJobContext,
} from './alert-queue/worker.js';
export { logHandler, webhookHandler, mqttHandler, alertTopic } from './alert-queue/handlers.js';
export { spooled, type SpoolOptions, type SpoolStats, type SpooledSink, type ReplayableSink } from './spool/index.js';
export {
  postgres,
  seriesKey,
  type PostgresOptions,
  type PostgresSink,
  type PgPool,
  type PgClient,
} from './postgres/index.js';
export { postgresEnv, type PostgresEnv } from './postgres/env.js';

/**
 * Operating a worker: Prometheus `/metrics`, `/healthz`, `/readyz`, and `tributary_internal`
 * points in InfluxDB for Grafana. Everything reads {@link RuntimeStats}; nothing is on the hot path.
 * @packageDocumentation
 */
export {
  createRuntimeRegistry,
  METRIC_NAMES,
  type RuntimeRegistryOptions,
  type StatsInput,
  type WindowInput,
} from './registry.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './server.js';
export { readiness, mqttConnected, httpPing, redisPing, type Readiness, type ReadyCheck } from './readiness.js';
export {
  startInternalMetrics,
  internalReadings,
  INTERNAL_MEASUREMENT,
  type InternalMetrics,
  type InternalMetricsOptions,
  type InternalTags,
} from './internal.js';
export { influxLineWriter, type InfluxWriteTarget } from './influx-writer.js';
export { metricsEnv, METRICS_ENV_DEFAULTS, type MetricsEnv } from './env.js';
export { startWorkerTelemetry, type WorkerTelemetry, type WorkerTelemetryOptions } from './worker-telemetry.js';

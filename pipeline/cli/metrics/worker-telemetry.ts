import type { WorkerEnv } from '../config/env.js';
import type { Logger } from '../../core/types.js';
import { metricsEnv, type MetricsEnv } from './env.js';
import { influxLineWriter } from './influx-writer.js';
import { startInternalMetrics, type InternalMetrics } from './internal.js';
import { httpPing, mqttConnected, readiness, redisPing, type ReadyCheck } from './readiness.js';
import type { StatsInput } from './registry.js';
import { startMetricsServer, type MetricsServer } from './server.js';

/** Options of {@link startWorkerTelemetry}. */
export interface WorkerTelemetryOptions {
  /** The runtime's counters (`() => runtime.stats`). */
  readonly stats: StatsInput;
  /** The pipeline's source: its window feeds the backpressure gauge; an MQTT source's `client` feeds the broker check. */
  readonly source: { readonly window: number; readonly client?: { readonly connected: boolean } | undefined };
  /** Pipeline name (label / tag `pipeline`). */
  readonly pipeline: string;
  /** Endpoints and client id (label / tag `worker`). */
  readonly env: WorkerEnv;
  readonly log?: Logger;
  /** @defaultValue metricsEnv() */
  readonly metrics?: MetricsEnv;
  /** Replaces the default readiness checks (broker, influxdb, redis). */
  readonly checks?: Readonly<Record<string, ReadyCheck>>;
}

/** What {@link startWorkerTelemetry} started. */
export interface WorkerTelemetry {
  readonly server?: MetricsServer;
  readonly internal?: InternalMetrics;
  /** Writes a last internal snapshot and closes the endpoint; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts what TRIBUTARY_METRICS_PORT / TRIBUTARY_INTERNAL_METRICS_S ask for: the `/metrics`,
 * `/healthz`, `/readyz` endpoint (ready = broker connected, InfluxDB `/ping` and Redis `PING`
 * answer) and the `tributary_internal` writer into the worker's InfluxDB database or bucket.
 */
export async function startWorkerTelemetry(o: WorkerTelemetryOptions): Promise<WorkerTelemetry> {
  const m = o.metrics ?? metricsEnv();
  const labels = { worker: o.env.mqtt.clientId, pipeline: o.pipeline };
  const window = o.source.window;
  const checks: Record<string, ReadyCheck> = {
    ...(o.checks ?? {
      ...('client' in o.source ? { broker: mqttConnected(o.source) } : {}),
      influxdb: () => httpPing(o.env.influx.url),
      redis: () => redisPing(o.env.redis.url),
    }),
  };
  const server =
    m.port === undefined
      ? undefined
      : await startMetricsServer({
          port: m.port,
          host: m.host,
          stats: o.stats,
          window,
          labels,
          ready: readiness(checks),
          log: o.log,
        });
  const internal =
    m.internalEveryMs === undefined
      ? undefined
      : startInternalMetrics({
          stats: o.stats,
          window,
          tags: labels,
          everyMs: m.internalEveryMs,
          log: o.log,
          write: influxLineWriter(o.env.influx),
        });
  return {
    server,
    internal,
    async stop() {
      await internal?.stop();
      await server?.close();
    },
  };
}

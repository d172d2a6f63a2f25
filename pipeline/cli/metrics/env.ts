import { ConfigError } from '../../core/errors.js';

/**
 * The environment variables of the metrics endpoint and the internal-metrics writer, with their
 * defaults ('' = off). Documented in docs/operations.md.
 */
export const METRICS_ENV_DEFAULTS = {
  /** Base port of `/metrics`, `/healthz`, `/readyz`; worker i listens on base + i. '' = no endpoint. */
  TRIBUTARY_METRICS_PORT: '',
  /** Interface the endpoint binds; set 0.0.0.0 only in a container or behind a firewall. */
  TRIBUTARY_METRICS_HOST: '127.0.0.1',
  /** Seconds between `tributary_internal` points written to InfluxDB; '' or 0 = off. */
  TRIBUTARY_INTERNAL_METRICS_S: '',
} as const;

/** What {@link metricsEnv} read. */
export interface MetricsEnv {
  /** Port for this worker (base + TRIBUTARY_WORKER_INDEX), or undefined when the endpoint is off. */
  readonly port?: number;
  readonly host: string;
  /** Interval of the internal-metrics writer in ms, or undefined when it is off. */
  readonly internalEveryMs?: number;
}

/** Reads the metrics settings; a bad value throws a {@link ConfigError} naming the variable. */
export function metricsEnv(env: NodeJS.ProcessEnv = process.env): MetricsEnv {
  const get = (name: keyof typeof METRICS_ENV_DEFAULTS) => env[name] || METRICS_ENV_DEFAULTS[name];
  const host = get('TRIBUTARY_METRICS_HOST');
  const index = Number(env.TRIBUTARY_WORKER_INDEX ?? 0);
  if (!Number.isInteger(index) || index < 0)
    throw new ConfigError('TRIBUTARY_WORKER_INDEX', 'an integer >= 0', env.TRIBUTARY_WORKER_INDEX);
  let port: number | undefined;
  const rawPort = get('TRIBUTARY_METRICS_PORT');
  if (rawPort !== '') {
    const base = Number(rawPort);
    // 0 = any free port (tests); otherwise worker i of a machine takes base + i.
    if (!Number.isInteger(base) || base < 0 || base > 65_535)
      throw new ConfigError('TRIBUTARY_METRICS_PORT', 'a TCP port 0..65535', rawPort);
    port = base === 0 ? 0 : base + index;
    if (port > 65_535)
      throw new ConfigError('TRIBUTARY_METRICS_PORT', `a base port that leaves room for worker ${index}`, rawPort);
  }
  let internalEveryMs: number | undefined;
  const rawInternal = get('TRIBUTARY_INTERNAL_METRICS_S');
  if (rawInternal !== '') {
    const s = Number(rawInternal);
    if (!Number.isFinite(s) || s < 0 || s > 86_400)
      throw new ConfigError('TRIBUTARY_INTERNAL_METRICS_S', 'seconds 0..86400 (0 = off)', rawInternal);
    if (s > 0) internalEveryMs = Math.max(1000, Math.round(s * 1000));
  }
  return { port, host, internalEveryMs };
}

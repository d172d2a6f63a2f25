import { hostname } from 'node:os';
import { ConfigError, redact } from '../../core/errors.js';
import type { MqttSecurityInput } from '../../engine/ingest/mqtt-security.js';
import { mqttSecurityEnv } from './security-env.js';

/** The endpoints and identity of one worker, read from the environment. */
export interface WorkerEnv {
  readonly mqtt: {
    readonly url: string;
    readonly clientId: string;
    readonly group: string;
    readonly username?: string;
    readonly password?: string;
    readonly inflightWindow: number;
    readonly keepaliveS: number;
    readonly protocolVersion: 4 | 5;
    readonly security: MqttSecurityInput;
    readonly drainSession: boolean;
  };
  readonly influx: {
    readonly url: string;
    readonly api: 'v1' | 'v2';
    readonly database?: string;
    readonly bucket?: string;
    readonly org?: string;
    readonly token?: string;
    readonly username?: string;
    readonly password?: string;
    readonly createDatabase: boolean;
  };
  readonly redis: { readonly url: string };
  /** Orphaned share-group sessions: how long a member may be offline before a live worker drains its session. */
  readonly orphans: { readonly graceMs: number; readonly adopt: boolean };
  /** The local durable spool for long outages; undefined when TRIBUTARY_SPOOL_DIR is not set. */
  readonly spool?: { readonly dir: string; readonly maxBytes: number; readonly fsync: 'batch' | 'none' };
}

/**
 * The environment variables a worker reads, with their defaults. Documented in the README.
 * `TRIBUTARY_WORKER_INDEX` is set by `tributary run --workers N`.
 */
export const ENV_DEFAULTS = {
  TRIBUTARY_MQTT_URL: 'mqtt://127.0.0.1:1884',
  TRIBUTARY_GROUP: 'ingest',
  TRIBUTARY_MQTT_PROTOCOL: '5',
  TRIBUTARY_MQTT_INFLIGHT: '10000',
  TRIBUTARY_MQTT_KEEPALIVE: '30',
  TRIBUTARY_INFLUX_URL: 'http://127.0.0.1:8086',
  TRIBUTARY_INFLUX_API: 'v1',
  TRIBUTARY_INFLUX_DATABASE: 'telemetry',
  TRIBUTARY_INFLUX_CREATE_DATABASE: 'true',
  TRIBUTARY_REDIS_URL: 'redis://127.0.0.1:6379',
  TRIBUTARY_WORKER_INDEX: '0',
  TRIBUTARY_SPOOL_MAX_BYTES: '1073741824',
  TRIBUTARY_SPOOL_FSYNC: 'batch',
  TRIBUTARY_ORPHAN_GRACE_S: '180',
  TRIBUTARY_ADOPT_ORPHANS: 'true',
  TRIBUTARY_DRAIN_SESSION: 'false',
} as const;

/**
 * Reads a worker's configuration from `env`; a bad value throws a {@link ConfigError} naming the
 * variable and what is expected.
 */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  const get = (name: keyof typeof ENV_DEFAULTS) => env[name] ?? ENV_DEFAULTS[name];
  const opt = (name: string) => (env[name] === '' ? undefined : env[name]);
  const oneOf = <T extends string>(name: keyof typeof ENV_DEFAULTS, values: readonly T[]): T => {
    const v = get(name);
    if (!values.includes(v as T)) throw new ConfigError(name, `one of ${values.join(', ')}`, v);
    return v as T;
  };
  const int = (name: keyof typeof ENV_DEFAULTS, min: number, max: number): number => {
    const v = Number(get(name));
    if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(name, `an integer ${min}..${max}`, get(name));
    return v;
  };
  const url = (name: keyof typeof ENV_DEFAULTS, schemes: RegExp, example: string): string => {
    const v = get(name);
    if (!schemes.test(v)) throw new ConfigError(name, `a URL like ${example}`, redact(v));
    return v;
  };
  const group = get('TRIBUTARY_GROUP');
  if (!/^[^/+#]+$/.test(group)) throw new ConfigError('TRIBUTARY_GROUP', 'a share group name without / + #', group);
  const index = int('TRIBUTARY_WORKER_INDEX', 0, 10_000);
  const api = oneOf('TRIBUTARY_INFLUX_API', ['v1', 'v2'] as const);
  return {
    mqtt: {
      url: url('TRIBUTARY_MQTT_URL', /^(mqtts?|wss?|tcp|tls):\/\//, 'mqtt://127.0.0.1:1884'),
      // `{hostname}` lets replicas of one container image each keep a stable id of their own.
      clientId: (opt('TRIBUTARY_CLIENT_ID') ?? `${group}-${index}`)
        .replace('{hostname}', hostname())
        .replace('{index}', String(index)),
      group,
      username: opt('TRIBUTARY_MQTT_USERNAME'),
      password: opt('TRIBUTARY_MQTT_PASSWORD'),
      inflightWindow: int('TRIBUTARY_MQTT_INFLIGHT', 1, 65_535),
      keepaliveS: int('TRIBUTARY_MQTT_KEEPALIVE', 1, 65_535),
      protocolVersion: Number(oneOf('TRIBUTARY_MQTT_PROTOCOL', ['4', '5'] as const)) as 4 | 5,
      // TRIBUTARY_MQTT_CA_FILE, _CERT_FILE, _KEY_FILE, _TLS_INSECURE, _TOKEN_COMMAND, … (config/security-env.ts)
      security: mqttSecurityEnv(env),
      // set by `tributary sessions drain` and by a worker adopting an orphaned session
      drainSession: oneOf('TRIBUTARY_DRAIN_SESSION', ['true', 'false'] as const) === 'true',
    },
    influx: {
      url: url('TRIBUTARY_INFLUX_URL', /^https?:\/\//, 'http://127.0.0.1:8086'),
      api,
      database: api === 'v1' ? get('TRIBUTARY_INFLUX_DATABASE') : undefined,
      bucket: opt('TRIBUTARY_INFLUX_BUCKET'),
      org: opt('TRIBUTARY_INFLUX_ORG'),
      token: opt('TRIBUTARY_INFLUX_TOKEN'),
      username: opt('TRIBUTARY_INFLUX_USERNAME'),
      password: opt('TRIBUTARY_INFLUX_PASSWORD'),
      createDatabase: oneOf('TRIBUTARY_INFLUX_CREATE_DATABASE', ['true', 'false'] as const) === 'true',
    },
    redis: { url: url('TRIBUTARY_REDIS_URL', /^rediss?:\/\//, 'redis://127.0.0.1:6379') },
    orphans: {
      graceMs: int('TRIBUTARY_ORPHAN_GRACE_S', 0, 30 * 86_400) * 1000,
      adopt: oneOf('TRIBUTARY_ADOPT_ORPHANS', ['true', 'false'] as const) === 'true',
    },
    spool:
      opt('TRIBUTARY_SPOOL_DIR') === undefined
        ? undefined
        : {
            dir: opt('TRIBUTARY_SPOOL_DIR')!.replace('{hostname}', hostname()).replace('{index}', String(index)),
            maxBytes: int('TRIBUTARY_SPOOL_MAX_BYTES', 1_048_576, Number.MAX_SAFE_INTEGER),
            fsync: oneOf('TRIBUTARY_SPOOL_FSYNC', ['batch', 'none'] as const),
          },
  };
}

import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ENV_DEFAULTS, workerEnv } from '../../../../pipeline/cli/config/env.js';
import { ConfigError } from '../../../../pipeline/core/errors.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    workerEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`workerEnv accepted ${JSON.stringify(env)}`);
}

describe('workerEnv', () => {
  it('uses the documented defaults for an empty environment', () => {
    const env = workerEnv({});
    expect(env.mqtt).toEqual({
      url: ENV_DEFAULTS.TRIBUTARY_MQTT_URL,
      clientId: 'ingest-0',
      group: 'ingest',
      username: undefined,
      password: undefined,
      inflightWindow: 10_000,
      keepaliveS: 30,
      protocolVersion: 5,
      drainSession: false,
      security: expect.objectContaining({ rejectUnauthorized: true, caFile: undefined, passwordProvider: undefined }),
    });
    expect(env.influx).toMatchObject({
      url: 'http://127.0.0.1:8086',
      api: 'v1',
      database: 'telemetry',
      createDatabase: true,
    });
    expect(env.influx.token).toBeUndefined();
    expect(env.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it('reads every variable that is set', () => {
    const env = workerEnv({
      TRIBUTARY_MQTT_URL: 'mqtts://broker:8883',
      TRIBUTARY_GROUP: 'g1',
      TRIBUTARY_WORKER_INDEX: '3',
      TRIBUTARY_MQTT_PROTOCOL: '4',
      TRIBUTARY_MQTT_INFLIGHT: '500',
      TRIBUTARY_MQTT_KEEPALIVE: '10',
      TRIBUTARY_MQTT_USERNAME: 'u',
      TRIBUTARY_MQTT_PASSWORD: 'p',
      TRIBUTARY_INFLUX_API: 'v2',
      TRIBUTARY_INFLUX_URL: 'https://influx:8086',
      TRIBUTARY_INFLUX_BUCKET: 'b',
      TRIBUTARY_INFLUX_ORG: 'o',
      TRIBUTARY_INFLUX_TOKEN: 't',
      TRIBUTARY_INFLUX_CREATE_DATABASE: 'false',
      TRIBUTARY_REDIS_URL: 'rediss://r:6380',
      TRIBUTARY_CLIENT_ID: '',
      TRIBUTARY_DRAIN_SESSION: 'true',
      TRIBUTARY_ORPHAN_GRACE_S: '60',
      TRIBUTARY_ADOPT_ORPHANS: 'false',
    });
    expect(env.mqtt).toEqual({
      url: 'mqtts://broker:8883',
      clientId: 'g1-3',
      group: 'g1',
      username: 'u',
      password: 'p',
      inflightWindow: 500,
      keepaliveS: 10,
      protocolVersion: 4,
      drainSession: true,
      security: expect.any(Object),
    });
    expect(env.orphans).toEqual({ graceMs: 60_000, adopt: false });
    expect(env.influx).toMatchObject({
      url: 'https://influx:8086',
      api: 'v2',
      database: undefined,
      bucket: 'b',
      org: 'o',
      token: 't',
      createDatabase: false,
    });
    expect(env.redis.url).toBe('rediss://r:6380');
  });

  it('fills {hostname} and {index} in TRIBUTARY_CLIENT_ID', () => {
    expect(workerEnv({ TRIBUTARY_CLIENT_ID: 'w-{hostname}-{index}', TRIBUTARY_WORKER_INDEX: '2' }).mqtt.clientId).toBe(
      `w-${hostname()}-2`,
    );
  });

  it.each([
    ['TRIBUTARY_MQTT_INFLIGHT', '0'],
    ['TRIBUTARY_MQTT_INFLIGHT', '65536'],
    ['TRIBUTARY_MQTT_INFLIGHT', 'lots'],
    ['TRIBUTARY_MQTT_INFLIGHT', '1.5'],
    ['TRIBUTARY_INFLUX_API', 'v3'],
    ['TRIBUTARY_MQTT_URL', 'http://x'],
    ['TRIBUTARY_MQTT_URL', 'broker:1883'],
    ['TRIBUTARY_INFLUX_URL', 'influx:8086'],
    ['TRIBUTARY_REDIS_URL', 'http://redis'],
    ['TRIBUTARY_GROUP', 'a/b'],
    ['TRIBUTARY_GROUP', 'a+'],
    ['TRIBUTARY_GROUP', '#'],
    ['TRIBUTARY_GROUP', ''],
    ['TRIBUTARY_MQTT_PROTOCOL', '3'],
    ['TRIBUTARY_WORKER_INDEX', '-1'],
    ['TRIBUTARY_INFLUX_CREATE_DATABASE', 'yes'],
  ])('%s=%j throws a ConfigError naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).toContain('expected');
    expect(error.code).toBe('TRIBUTARY_CONFIG');
  });

  it.each([
    ['TRIBUTARY_MQTT_URL', 'http://user:s3cr3t-pw@broker:1883'],
    ['TRIBUTARY_MQTT_URL', 'user:s3cr3t-pw@broker:1883'],
    ['TRIBUTARY_MQTT_URL', 'mqtt:/user:s3cr3t-pw@broker'],
    ['TRIBUTARY_MQTT_URL', 'http://user:s3cr3t/pw@broker'],
    ['TRIBUTARY_MQTT_URL', 'http://user:pw@s3cr3t@broker'],
    ['TRIBUTARY_INFLUX_URL', 'ftp://admin:s3cr3t-pw@influx:8086/x'],
    ['TRIBUTARY_REDIS_URL', 'http://:s3cr3t-pw@redis:6379'],
  ])('%s=%j: the password never appears in the error', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
    expect(error.message).not.toContain('s3cr3t');
  });

  it('still shows the host of a bad URL, to say what is wrong', () => {
    expect(configError({ TRIBUTARY_MQTT_URL: 'http://user:pw@broker.example:1883' }).message).toContain(
      'broker.example:1883',
    );
    expect(configError({ TRIBUTARY_MQTT_URL: 'http://broker.example' }).message).toContain('http://broker.example');
  });
});

describe('workerEnv: the local spool', () => {
  it('is off unless TRIBUTARY_SPOOL_DIR is set; {index} names one directory per worker', () => {
    expect(workerEnv({}).spool).toBeUndefined();
    expect(
      workerEnv({ TRIBUTARY_SPOOL_DIR: '/var/lib/tributary/spool-{index}', TRIBUTARY_WORKER_INDEX: '3' }).spool,
    ).toEqual({ dir: '/var/lib/tributary/spool-3', maxBytes: 1073741824, fsync: 'batch' });
  });

  it('rejects a bad fsync mode or size, naming the variable', () => {
    expect(configError({ TRIBUTARY_SPOOL_DIR: '/tmp/s', TRIBUTARY_SPOOL_FSYNC: 'always' }).message).toMatch(
      /TRIBUTARY_SPOOL_FSYNC.*batch, none/,
    );
    expect(configError({ TRIBUTARY_SPOOL_DIR: '/tmp/s', TRIBUTARY_SPOOL_MAX_BYTES: '10' }).message).toMatch(
      /TRIBUTARY_SPOOL_MAX_BYTES/,
    );
  });
});

// Transport security of the MQTT connection against private Mosquitto brokers on 127.0.0.1 (TLS
// with a CA, mutual TLS, passwords, rotated tokens), and secrets kept out of errors and logs.
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mqttSecurityEnv } from '../../pipeline/cli/config/security-env.js';
import { ConnectError } from '../../pipeline/core/errors.js';
import { finalConnectError, reconnectPolicy } from '../../pipeline/engine/ingest/connect-errors.js';
import { mqttSecurityOptions, type MqttSecurityInput } from '../../pipeline/engine/ingest/mqtt-security.js';
import { json, mqttSource } from '../../pipeline/index.js';
import type { Logger } from '../../pipeline/core/types.js';
import { influxdb } from '../../sinks/influxdb/index.js';
import { uniqueName, waitFor } from '../support/services.js';
import {
  KEY_PASSPHRASE,
  listeningSockets,
  makePki,
  signJwt,
  startBroker,
  startRedis,
  until,
  type Broker,
  type Pki,
} from '../support/tls-broker.js';

/** Every log call as a JSON line (to assert on messages and scan for secrets). */
function recordingLogger(): Logger & { lines: string[]; text: () => string } {
  const lines: string[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    lines.push(JSON.stringify({ level, msg, ...fields }));
  };
  return {
    lines,
    text: () => lines.join('\n'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

interface Connection {
  readonly client: () => MqttClient | undefined;
  close(): Promise<void>;
}
type Connect = (
  url: string,
  security: MqttSecurityInput,
  log?: Logger,
  delays?: { minDelayMs: number; maxDelayMs: number },
) => Promise<Connection>;
const opened: Connection[] = [];
const track = (c: Connection) => {
  opened.push(c);
  return c;
};

/**
 * The client exactly as mqttSource builds it with the wiring proposed in the report: the security
 * options (with a fresh token) spread into the client options, `beforeConnect` before each
 * `reconnect()`, the reconnect policy on error/connect/close, final first-connect errors rejecting.
 */
const connectLikeSource: Connect = async (
  url,
  input,
  log = recordingLogger(),
  delays = { minDelayMs: 250, maxDelayMs: 30_000 },
) => {
  const security = mqttSecurityOptions(input);
  const clientId = uniqueName('security');
  const c = mqtt.connect(url, {
    clientId,
    clean: false,
    protocolVersion: 5,
    reconnectPeriod: 0,
    resubscribe: false,
    log: () => {},
    ...(await security.connectOptions()),
  });
  const policy = reconnectPolicy({ url, clientId, ...delays, log });
  let [closing, connects, timer] = [false, 0, undefined as NodeJS.Timeout | undefined];
  const attempt = () => {
    if (!closing)
      security.beforeConnect(c).then(
        () => {
          if (!closing) c.reconnect();
        },
        (error: unknown) => {
          policy.error(error);
          schedule();
        },
      );
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(attempt, policy.closed());
  };
  c.on('connect', () => {
    connects++;
    policy.connected();
  });
  c.on('error', (error) => policy.error(error));
  c.on('close', () => {
    if (!closing && !(connects === 0 && policy.last?.final)) schedule();
  });
  const close = async () => {
    closing = true;
    clearTimeout(timer);
    await c.endAsync(true);
  };
  const first = new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.on('error', (error) => {
      const final = connects === 0 ? finalConnectError(error, url) : undefined;
      if (final) reject(final);
    });
  });
  await first.catch(async (error: unknown) => {
    await close();
    throw error;
  });
  return track({ client: () => c, close });
};

/** The same through mqttSource. */
const connectMqttSource: Connect = async (url, security, log, reconnect) => {
  const s = mqttSource({
    url,
    clientId: uniqueName('security-src'),
    subscribe: [{ topic: 'security/test', decode: json() }],
    log,
    reconnect,
    security,
  });
  await s
    .open(() => {})
    .catch(async (error: unknown) => {
      await s.close();
      throw error;
    });
  return track({ client: () => s.client, close: () => s.close() });
};

let pki: Pki;
const brokers: Broker[] = [];
beforeAll(() => {
  pki = makePki();
});
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close().catch(() => undefined);
});
afterAll(async () => {
  for (const b of brokers.splice(0)) await b.stop();
  rmSync(pki.dir, { recursive: true, force: true });
});
const broker = async (...args: Parameters<typeof startBroker>) => {
  const b = await startBroker(...args);
  brokers.push(b);
  return b;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('connected');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(ConnectError);
      return (error as Error).message;
    },
  );
const warnings = (log: { lines: string[] }, text: string) =>
  log.lines.filter((l) => l.includes('"level":"warn"') && l.includes(text));

describe.each([
  ['a client built like mqttSource (connectLikeSource)', connectLikeSource],
  ['mqttSource', connectMqttSource],
] as const)('through %s', (_name, connect) => {
  it('mqtts: connects with the right CA; a broker certificate from another CA, or for another host, fails at once', async () => {
    const b = await broker({ pki });
    expect(b.config).toMatch(new RegExp(`^listener ${b.port} 127\\.0\\.0\\.1$`, 'm'));
    expect(b.config.match(/^listener /gm)).toHaveLength(1); // loopback only
    expect((await connect(b.url, { caFile: pki.ca })).client()?.connected).toBe(true);
    const before = b.connections();
    expect(await failure(connect(b.url, { caFile: pki.otherCa }))).toMatch(
      new RegExp(`^MQTT broker ${b.url}: TLS verification failed: the broker's certificate .*(CA|self-signed)`),
    );
    expect(await failure(connect(b.url, { caFile: pki.ca, servername: 'elsewhere.example' }))).toMatch(
      /does not name this host.*ERR_TLS_CERT_ALTNAME_INVALID/,
    );
    await sleep(1000);
    expect(b.connections() - before).toBe(2); // one attempt each
  });

  it('mutual TLS: a valid client certificate (also with an encrypted key) connects; expired, foreign and missing ones are refused clearly', async () => {
    const b = await broker({ pki, requireCertificate: true });
    await connect(b.url, { caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey });
    await connect(b.url, {
      caFile: pki.ca,
      certFile: pki.encryptedClientCert,
      keyFile: pki.encryptedClientKey,
      keyPassphrase: KEY_PASSPHRASE,
    });
    const before = b.connections();
    expect(
      await failure(connect(b.url, { caFile: pki.ca, certFile: pki.expiredCert, keyFile: pki.clientKey })),
    ).toMatch(/TLS handshake refused: the broker refused the client certificate: it has expired/);
    expect(
      await failure(connect(b.url, { caFile: pki.ca, certFile: pki.otherClientCert, keyFile: pki.otherClientKey })),
    ).toMatch(/client certificate: it is not issued by a CA the broker trusts/);
    expect(await failure(connect(b.url, { caFile: pki.ca }))).toMatch(/requires a client certificate/);
    await sleep(500);
    expect(b.connections() - before).toBe(3);
  });

  it('password: the right one connects; a wrong one fails at start after one attempt, without echoing it', async () => {
    const b = await broker({ pki, users: { ingest: 'right-password-1' } });
    await connect(b.url, { caFile: pki.ca, username: 'ingest', password: 'right-password-1' });
    const before = b.connections();
    const message = await failure(connect(b.url, { caFile: pki.ca, username: 'ingest', password: 'wrong-password-2' }));
    // Mosquitto answers "not authorized" (135) for a wrong password
    expect(message).toBe(
      `MQTT broker ${b.url}: the broker refused the connection: not authorized: wrong username, password or token, or no permission (CONNACK 135)`,
    );
    await sleep(2000);
    expect(b.connections() - before).toBe(1);
  });

  it('tokens: a new one (TRIBUTARY_MQTT_TOKEN_COMMAND) before reconnecting once it expires; a refused one retried at the maximum delay, logged once', async () => {
    const now = Math.floor(Date.now() / 1000);
    const [tokenA, tokenB] = [signJwt({ sub: 'ingest', exp: now + 2 }), signJwt({ sub: 'ingest', exp: now + 3600 })];
    const b = await broker({ pki, users: { ingest: tokenA } });
    const tokenFile = join(pki.dir, `token-${uniqueName('t')}`);
    writeFileSync(tokenFile, `${tokenA}\n`);
    const env = {
      TRIBUTARY_MQTT_URL: b.url,
      TRIBUTARY_MQTT_CA_FILE: pki.ca,
      TRIBUTARY_MQTT_TOKEN_COMMAND: `cat '${tokenFile}'`,
      TRIBUTARY_MQTT_TOKEN_REFRESH_S: '0.5',
    };
    const log = recordingLogger();
    const h = await connect(b.url, { ...mqttSecurityEnv(env), username: 'ingest' }, log, {
      minDelayMs: 100,
      maxDelayMs: 20_000,
    });
    expect(h.client()?.options.password).toBe(tokenA);
    await sleep(Math.max(0, (now + 2) * 1000 - 500 - Date.now()) + 100); // token A is now within the margin
    writeFileSync(tokenFile, `${tokenB}\n`); // the issuer hands out B
    let before = b.connections();
    await b.setUsers({ ingest: tokenB }); // the broker accepts only B now (and drops the client holding A)
    if (h.client()?.connected) h.client()?.stream.destroy();
    await until(
      () => h.client()?.connected === true && h.client()?.options.password === tokenB,
      8_000,
      () => `no reconnect with B:\n${log.text()}`,
    );
    expect(b.connections() - before).toBe(1); // refreshed before reconnecting, not after a refusal
    expect(log.text()).not.toMatch(/not authorized/);

    before = b.connections();
    await b.setUsers({ someone: 'else' }); // token B revoked
    if (h.client()?.connected) h.client()?.stream.destroy();
    await sleep(4000);
    expect(b.connections() - before).toBe(1); // then 16–20 s to the next attempt
    expect(warnings(log, 'not authorized')).toHaveLength(1);
    expect(JSON.parse(warnings(log, 'not authorized')[0]!)).toMatchObject({
      final: true,
      broker: b.url,
      delayMs: expect.any(Number),
    });
    expect(log.text()).not.toMatch(new RegExp(`${tokenA}|${tokenB}`));
  });
});

/** A stand-in InfluxDB on 127.0.0.1 recording Authorization headers: 401 to everything, or OK to queries and writes. */
async function fakeInflux(mode: 'ok' | 'unauthorized') {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    if (mode === 'unauthorized')
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"authorization failed"}');
    else if (req.url?.startsWith('/query'))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0}]}');
    else res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((r) => server.close(r)),
  };
}

describe('secrets stay out of errors and logs', () => {
  it('InfluxDB: v1 sends Basic auth, v2 the token; a 401 says what to fix without either', async () => {
    const influx = await fakeInflux('unauthorized');
    try {
      const v1 = await failure(
        influxdb({
          url: influx.url,
          api: 'v1',
          database: 'db',
          username: 'writer',
          password: 'influx-pass-5',
          createDatabase: true,
        }).open(),
      );
      expect(influx.seen[0]).toBe(`Basic ${Buffer.from('writer:influx-pass-5').toString('base64')}`);
      expect(v1).toMatch(/refused the credentials \(401\): check the InfluxDB username and password$/);
      const v2 = await influxdb({ url: influx.url, api: 'v2', org: 'o', bucket: 'b', token: 'influx-token-6' }).write({
        items: [],
        encoded: ['m f=1 1'],
      });
      expect(influx.seen[1]).toBe('Token influx-token-6');
      expect(v2).toMatchObject({ status: 'retry', failure: { code: 'write_unauthorized' } });
      expect(`${v1}${JSON.stringify(v2)}`).not.toMatch(/influx-pass-5|influx-token-6|d3JpdGVy/);
    } finally {
      await influx.close();
    }
  });

  it('a worker process with MQTT, InfluxDB and Redis secrets prints none of them, even on errors, and listens on no socket', async () => {
    const secrets = { mqtt: 'mqtt-secret-8f2a', influx: 'influx-secret-4c1d', redis: 'redis-secret-9e7b' };
    // Once wired: mutual TLS with an encrypted key from TRIBUTARY_MQTT_*; before, the CA comes from NODE_EXTRA_CA_CERTS.
    const b = await broker({
      pki,
      requireCertificate: true,
      users: { worker: secrets.mqtt, publisher: 'publisher-pass' },
    });
    const [redis, influx] = [await startRedis(secrets.redis), await fakeInflux('ok')];
    const name = uniqueName('security');
    const run = (password: string) =>
      startWorkerProcess({
        TRIBUTARY_MQTT_CA_FILE: pki.ca,
        TRIBUTARY_MQTT_CERT_FILE: pki.encryptedClientCert,
        TRIBUTARY_MQTT_KEY_FILE: pki.encryptedClientKey,
        TRIBUTARY_MQTT_KEY_PASSPHRASE: KEY_PASSPHRASE,
        TRIBUTARY_MQTT_URL: b.url,
        TRIBUTARY_MQTT_USERNAME: 'worker',
        TRIBUTARY_MQTT_PASSWORD: password,
        TRIBUTARY_INFLUX_URL: influx.url,
        TRIBUTARY_INFLUX_DATABASE: name,
        TRIBUTARY_INFLUX_USERNAME: 'writer',
        TRIBUTARY_INFLUX_PASSWORD: secrets.influx,
        TRIBUTARY_REDIS_URL: `redis://:${secrets.redis}@127.0.0.1:${redis.port}`,
        TRIBUTARY_GROUP: name,
        FLEET_TOPIC_ROOT: name,
        TRIBUTARY_LOG_LEVEL: 'debug',
      });
    try {
      const worker = run(secrets.mqtt);
      await until(
        () => /ready/.test(worker.output()),
        20_000,
        () => `worker not ready:\n${worker.output()}`,
      );
      expect(listeningSockets(worker.child.pid!)).toEqual([]); // no listening socket unless configured
      expect(influx.seen).toContain(`Basic ${Buffer.from(`writer:${secrets.influx}`).toString('base64')}`); // the secret was used
      const pub = await mqtt.connectAsync(b.url, {
        ca: readFileSync(pki.ca),
        cert: readFileSync(pki.clientCert),
        key: readFileSync(pki.clientKey),
        username: 'publisher',
        password: 'publisher-pass',
        reconnectPeriod: 0,
      });
      await pub.publishAsync(`${name}/s1/d1/telemetry`, 'not json', { qos: 1 }); // → a dead letter in our Redis, with its password
      await pub.endAsync();
      const check = new Redis(redis.port, '127.0.0.1', { password: secrets.redis, lazyConnect: true });
      expect(await waitFor(async () => (await check.xlen('tributary:dead-letters').catch(() => 0)) === 1, 10_000)).toBe(
        true,
      );
      check.disconnect();
      await b.setUsers({ publisher: 'publisher-pass' }); // the worker's password is revoked: reconnects are refused
      await redis.stop(); // and Redis goes away
      await sleep(1500);
      worker.child.kill('SIGTERM');
      await worker.exited;
      const refusedAtStart = run('wrong-secret-3a1f');
      expect(await refusedAtStart.exited).not.toBe(0);
      const output = worker.output() + refusedAtStart.output();
      expect(output).toMatch(/not authorized/i);
      expect(worker.output().match(/"level":40[^\n]*not authorized/g)).toHaveLength(1); // not once per attempt
      for (const secret of [
        ...Object.values(secrets),
        KEY_PASSPHRASE,
        'wrong-secret-3a1f',
        Buffer.from(`writer:${secrets.influx}`).toString('base64'),
      ]) {
        expect(output).not.toContain(secret);
      }
    } finally {
      await redis.stop();
      await influx.close();
    }
  });
});

/** `tributary run examples/fleet.ts` with `env`, its stdout and stderr collected. */
function startWorkerProcess(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ['bin/tributary.mjs', 'run', 'examples/fleet.ts', '--drain-timeout-ms', '2000'],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  for (const stream of [child.stdout!, child.stderr!])
    stream.on('data', (d: Buffer) => {
      out += d.toString();
    });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  return { child, output: () => out, exited };
}

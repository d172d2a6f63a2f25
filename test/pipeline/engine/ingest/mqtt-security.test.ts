import type { MqttClient } from 'mqtt';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../pipeline/core/errors.js';
import {
  commandTokenProvider,
  jwtExpiresAtMs,
  mqttSecurityOptions,
  type MqttSecurityInput,
} from '../../../../pipeline/engine/ingest/mqtt-security.js';
import { KEY_PASSPHRASE, makePki, signJwt, type Pki } from '../../../support/tls-broker.js';

describe('jwtExpiresAtMs', () => {
  it('reads exp (seconds) as ms, without verifying the signature', () => {
    expect(jwtExpiresAtMs(signJwt({ sub: 'a', exp: 1_900_000_000 }))).toBe(1_900_000_000_000);
    expect(jwtExpiresAtMs(signJwt({ exp: 1_900_000_000.5 }, 'another-key'))).toBe(1_900_000_000_500);
  });

  it.each([
    ['no exp', signJwt({ sub: 'a' })],
    ['exp as a string', signJwt({ exp: '1900000000' })],
    [
      'claims that are not an object',
      `${Buffer.from('{}').toString('base64url')}.${Buffer.from('null').toString('base64url')}.sig`,
    ],
    ['claims that are not JSON', 'aaa.bbb.ccc'],
    ['two parts', 'aaa.bbb'],
    ['an opaque token', 'opaque-token-123'],
    ['empty', ''],
  ])('is undefined for %s', (_what, token) => {
    expect(jwtExpiresAtMs(token)).toBeUndefined();
  });
});

/** Just what beforeConnect touches: options and the error event. */
function fakeClient(): MqttClient {
  return Object.assign(new EventEmitter(), { options: {} }) as unknown as MqttClient;
}

describe('beforeConnect token refresh', () => {
  const setup = (tokens: () => string, extra: Partial<MqttSecurityInput> = {}) => {
    let now = 1_000_000;
    let calls = 0;
    const security = mqttSecurityOptions({
      username: 'svc',
      refreshMarginMs: 10_000,
      now: () => now,
      ...extra,
      passwordProvider: async () => {
        calls++;
        return tokens();
      },
    });
    return {
      security,
      calls: () => calls,
      advance: (ms: number) => {
        now += ms;
      },
    };
  };
  const jwt = (expMs: number) => signJwt({ exp: expMs / 1000 });

  it('fetches for the first connect, then before a reconnect only once the token expires within the margin', async () => {
    let token = jwt(1_060_000); // expires 60 s after "now"
    const { security, calls, advance } = setup(() => token);
    const c = fakeClient();
    expect(security.clientOptions).toEqual({ username: 'svc' });
    expect(security.summary).toEqual({ ca: undefined, clientCert: undefined, insecure: false, auth: 'token' });
    expect(await security.connectOptions()).toEqual({ username: 'svc', password: token });
    await security.beforeConnect(c);
    expect(c.options.password).toBe(token);
    advance(45_000); // 15 s left > 10 s margin
    await security.beforeConnect(c);
    expect(calls()).toBe(1);
    const old = token;
    token = jwt(2_000_000);
    advance(6_000); // 9 s left: refresh
    await security.beforeConnect(c);
    expect(calls()).toBe(2);
    expect(c.options.password).toBe(token);
    expect(c.options.password).not.toBe(old);
  });

  it('fetches anew after the broker refused the credentials, or on invalidate()', async () => {
    const { security, calls } = setup(() => jwt(9_000_000));
    const c = fakeClient();
    await security.beforeConnect(c);
    c.emit('error', Object.assign(new Error('Connection refused: Server busy'), { code: 137 }));
    await security.beforeConnect(c);
    expect(calls()).toBe(1);
    c.emit('error', Object.assign(new Error('Connection refused: Not authorized'), { code: 135 }));
    await security.beforeConnect(c);
    expect(calls()).toBe(2);
    security.invalidate();
    await security.beforeConnect(c);
    expect(calls()).toBe(3);
  });

  it('fetches an opaque token (no exp) before every connect, once for concurrent calls', async () => {
    const { security, calls } = setup(() => ' opaque-token \n');
    const c = fakeClient();
    await Promise.all([security.beforeConnect(c), security.beforeConnect(c)]);
    expect(calls()).toBe(1);
    expect(c.options.password).toBe('opaque-token');
    await security.beforeConnect(c);
    expect(calls()).toBe(2);
  });

  it('rejects an empty token or a failing provider; leaves a static password alone', async () => {
    await expect(setup(() => '  ').security.beforeConnect(fakeClient())).rejects.toThrow(ConfigError);
    await expect(
      setup(() => {
        throw new Error('issuer down');
      }).security.connectOptions(),
    ).rejects.toThrow('issuer down');
    const s = mqttSecurityOptions({ username: 'u', password: 'static-pass' });
    const c = fakeClient();
    await s.beforeConnect(c);
    expect(c.options.password).toBeUndefined();
    expect(s.clientOptions).toEqual({ username: 'u', password: 'static-pass' });
    expect(await s.connectOptions()).toBe(s.clientOptions);
    expect(s.summary.auth).toBe('password');
  });

  it('refuses a password together with a provider, and a margin below 0', () => {
    expect(() => mqttSecurityOptions({ password: 'p', passwordProvider: () => 't' })).toThrow(
      /either a password or a password provider/,
    );
    expect(() => mqttSecurityOptions({ refreshMarginMs: -1 })).toThrow(ConfigError);
  });
});

describe('commandTokenProvider', () => {
  it('returns the trimmed standard output', async () => {
    expect(await commandTokenProvider("printf '  tok-123\\n'")()).toBe('tok-123');
  });

  it('fails naming the variable, the status and stderr, never the output', async () => {
    const e = (await commandTokenProvider('echo leaked-token-value; echo "issuer unreachable" >&2; exit 3')().catch(
      (error: unknown) => error,
    )) as Error;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe(
      'TRIBUTARY_MQTT_TOKEN_COMMAND: expected a command that exits 0 and prints a token, got "exit status 3: issuer unreachable"',
    );
    await expect(commandTokenProvider('true', 'MY_VAR')()).rejects.toThrow(/^MY_VAR: .*"empty output"/);
    await expect(commandTokenProvider('sleep 5', 'MY_VAR', 100)()).rejects.toThrow(/timed out after 100 ms/);
  });
});

describe('certificate and key files', () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));
  const error = (input: MqttSecurityInput) => {
    try {
      mqttSecurityOptions(input);
    } catch (e) {
      return e as Error;
    }
    throw new Error('accepted');
  };

  it('reads CA, certificate and key once, as buffers', () => {
    const s = mqttSecurityOptions({
      caFile: pki.ca,
      certFile: pki.encryptedClientCert,
      keyFile: pki.encryptedClientKey,
      keyPassphrase: KEY_PASSPHRASE,
      rejectUnauthorized: false,
      servername: 'broker',
    });
    expect(
      Buffer.isBuffer(s.clientOptions.ca) &&
        Buffer.isBuffer(s.clientOptions.cert) &&
        Buffer.isBuffer(s.clientOptions.key),
    ).toBe(true);
    expect(s.clientOptions).toMatchObject({
      passphrase: KEY_PASSPHRASE,
      rejectUnauthorized: false,
      servername: 'broker',
    });
    expect(s.summary).toEqual({ ca: pki.ca, clientCert: pki.encryptedClientCert, insecure: true, auth: 'none' });
  });

  it('names the file that is missing, not PEM, or does not fit', () => {
    const missing = join(pki.dir, 'nope.pem');
    expect(error({ caFile: missing }).message).toBe(
      `mqtt CA file ${missing}: expected a readable PEM file of CA certificates, got "no such file"`,
    );
    expect(error({ caFile: pki.dir }).message).toMatch(/got "EISDIR"/);
    const text = join(pki.dir, 'not-pem.txt');
    writeFileSync(text, 'hello');
    expect(error({ caFile: text }).message).toContain(`mqtt CA file ${text}: expected a PEM file of CA certificates`);
    expect(error({ certFile: pki.clientCert, keyFile: pki.ca }).message).toContain('mqtt client key file');
    expect(error({ certFile: pki.clientCert }).message).toMatch(/both a certificate file and a key file/);
    expect(error({ certFile: pki.clientCert, keyFile: pki.otherClientKey }).message).toMatch(
      /does not belong to the certificate/,
    );
  });

  it('reports a wrong or missing passphrase without echoing it', () => {
    const wrong = error({
      certFile: pki.encryptedClientCert,
      keyFile: pki.encryptedClientKey,
      keyPassphrase: 'wrong-secret-77',
    });
    expect(wrong).toBeInstanceOf(ConfigError);
    expect(wrong.message).toMatch(/wrong or missing passphrase/);
    expect(wrong.message).not.toContain('wrong-secret-77');
    expect(error({ certFile: pki.encryptedClientCert, keyFile: pki.encryptedClientKey }).message).toMatch(
      /wrong or missing passphrase/,
    );
  });

  it('reports a wrong passphrase that decrypts to garbage (no "bad decrypt" from OpenSSL) the same way', () => {
    // About one key in 150 passes the padding check with a wrong passphrase and fails to decode.
    let garbled: string | undefined;
    for (let i = 0; i < 5000 && garbled === undefined; i++) {
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        format: 'pem',
        type: 'pkcs8',
        cipher: 'aes-256-cbc',
        passphrase: KEY_PASSPHRASE,
      }) as string;
      try {
        createPrivateKey({ key: pem, passphrase: 'wrong-secret-77' });
      } catch (e) {
        if (!/bad decrypt/.test((e as Error).message)) garbled = pem;
      }
    }
    expect(garbled).toBeDefined();
    const keyFile = join(pki.dir, 'garbled.key');
    writeFileSync(keyFile, garbled ?? '');
    const wrong = error({ certFile: pki.encryptedClientCert, keyFile, keyPassphrase: 'wrong-secret-77' });
    expect(wrong.message).toMatch(/wrong or missing passphrase/);
    expect(wrong.message).not.toContain('wrong-secret-77');
  });
});

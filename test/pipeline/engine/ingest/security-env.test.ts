import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mqttSecurityEnv } from '../../../../pipeline/cli/config/security-env.js';
import { ConfigError } from '../../../../pipeline/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tributary-security-env-'));
const file = (name: string) => {
  const p = join(dir, name);
  writeFileSync(p, '-----BEGIN CERTIFICATE-----\n');
  return p;
};
const [ca, cert, key] = [file('ca.pem'), file('cert.pem'), file('key.pem')];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(env: Record<string, string>): ConfigError {
  try {
    mqttSecurityEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`mqttSecurityEnv accepted ${JSON.stringify(env)}`);
}

describe('mqttSecurityEnv', () => {
  it('sets nothing by default: verification on, no files, no token', () => {
    expect(mqttSecurityEnv({})).toEqual({
      caFile: undefined,
      certFile: undefined,
      keyFile: undefined,
      keyPassphrase: undefined,
      servername: undefined,
      rejectUnauthorized: true,
      passwordProvider: undefined,
      refreshMarginMs: 60_000,
    });
  });

  it('reads every variable that is set', async () => {
    const s = mqttSecurityEnv({
      TRIBUTARY_MQTT_URL: 'mqtts://broker:8883',
      TRIBUTARY_MQTT_CA_FILE: ca,
      TRIBUTARY_MQTT_CERT_FILE: cert,
      TRIBUTARY_MQTT_KEY_FILE: key,
      TRIBUTARY_MQTT_KEY_PASSPHRASE: 'pp',
      TRIBUTARY_MQTT_TLS_INSECURE: 'true',
      TRIBUTARY_MQTT_TLS_SERVERNAME: 'broker.internal',
      TRIBUTARY_MQTT_TOKEN_COMMAND: 'echo tok-1',
      TRIBUTARY_MQTT_TOKEN_REFRESH_S: '30',
    });
    expect(s).toMatchObject({
      caFile: ca,
      certFile: cert,
      keyFile: key,
      keyPassphrase: 'pp',
      servername: 'broker.internal',
      rejectUnauthorized: false,
      refreshMarginMs: 30_000,
    });
    expect(await s.passwordProvider?.()).toBe('tok-1');
  });

  it.each([
    [
      { TRIBUTARY_MQTT_URL: 'mqtts://b:8883', TRIBUTARY_MQTT_CA_FILE: join(dir, 'missing.pem') },
      /^TRIBUTARY_MQTT_CA_FILE: expected a readable PEM file, got ".*missing\.pem \(no such file\)"$/,
    ],
    [
      { TRIBUTARY_MQTT_URL: 'mqtts://b:8883', TRIBUTARY_MQTT_CERT_FILE: dir, TRIBUTARY_MQTT_KEY_FILE: key },
      /^TRIBUTARY_MQTT_CERT_FILE: .*not a regular file/,
    ],
    [
      { TRIBUTARY_MQTT_URL: 'mqtts://b:8883', TRIBUTARY_MQTT_CERT_FILE: cert },
      /^TRIBUTARY_MQTT_KEY_FILE: expected the private key of TRIBUTARY_MQTT_CERT_FILE/,
    ],
    [{ TRIBUTARY_MQTT_URL: 'mqtts://b:8883', TRIBUTARY_MQTT_KEY_FILE: key }, /^TRIBUTARY_MQTT_CERT_FILE: /],
    [
      { TRIBUTARY_MQTT_KEY_PASSPHRASE: 'pp' },
      /^TRIBUTARY_MQTT_KEY_PASSPHRASE: expected set only with TRIBUTARY_MQTT_KEY_FILE$/,
    ],
    [{ TRIBUTARY_MQTT_TLS_INSECURE: 'yes' }, /^TRIBUTARY_MQTT_TLS_INSECURE: expected true or false, got "yes"$/],
    [
      { TRIBUTARY_MQTT_CA_FILE: ca },
      /^TRIBUTARY_MQTT_CA_FILE: expected TLS settings with an mqtts:\/\/ or wss:\/\/ TRIBUTARY_MQTT_URL, got "mqtt:\/\/127\.0\.0\.1:1884"$/,
    ],
    [
      { TRIBUTARY_MQTT_URL: 'mqtt://user:hunter2@b:1883', TRIBUTARY_MQTT_TLS_INSECURE: 'true' },
      /^TRIBUTARY_MQTT_TLS_INSECURE: .*got "mqtt:\/\/\*\*\*@b:1883"$/,
    ],
    [
      { TRIBUTARY_MQTT_TOKEN_COMMAND: 'echo t', TRIBUTARY_MQTT_PASSWORD: 'p' },
      /^TRIBUTARY_MQTT_TOKEN_COMMAND: expected either TRIBUTARY_MQTT_TOKEN_COMMAND or TRIBUTARY_MQTT_PASSWORD, not both$/,
    ],
    [{ TRIBUTARY_MQTT_TOKEN_REFRESH_S: '-1' }, /^TRIBUTARY_MQTT_TOKEN_REFRESH_S: expected seconds 0\.\.86400/],
  ])('%j fails naming the variable', (env, message) => {
    const e = configError(env);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain('hunter2');
  });

  it('accepts wss:// and treats empty variables as unset', () => {
    expect(
      mqttSecurityEnv({
        TRIBUTARY_MQTT_URL: 'wss://b/mqtt',
        TRIBUTARY_MQTT_CA_FILE: ca,
        TRIBUTARY_MQTT_CERT_FILE: '',
        TRIBUTARY_MQTT_TLS_INSECURE: '',
      }),
    ).toMatchObject({ caFile: ca, certFile: undefined, rejectUnauthorized: true });
  });
});

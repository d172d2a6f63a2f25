import { accessSync, constants, statSync } from 'node:fs';
import { ConfigError, redact } from '../../core/errors.js';
import { commandTokenProvider, type MqttSecurityInput } from '../../engine/ingest/mqtt-security.js';

/**
 * The transport-security variables of the MQTT connection, with their defaults ('' = not set).
 * Documented in the README, "Configuration".
 */
export const SECURITY_ENV_DEFAULTS = {
  /** PEM CA certificate(s) the broker's certificate must chain to; needs an `mqtts://` URL. */
  TRIBUTARY_MQTT_CA_FILE: '',
  /** PEM client certificate for mutual TLS; needs TRIBUTARY_MQTT_KEY_FILE. */
  TRIBUTARY_MQTT_CERT_FILE: '',
  /** PEM private key of the client certificate. */
  TRIBUTARY_MQTT_KEY_FILE: '',
  /** Passphrase of an encrypted key file (never logged). */
  TRIBUTARY_MQTT_KEY_PASSPHRASE: '',
  /** `true` accepts any broker certificate: tests only. */
  TRIBUTARY_MQTT_TLS_INSECURE: 'false',
  /** TLS server name when it differs from the URL host. */
  TRIBUTARY_MQTT_TLS_SERVERNAME: '',
  /** Command whose standard output is the token sent as password; run before a (re)connect when the token expires. */
  TRIBUTARY_MQTT_TOKEN_COMMAND: '',
  /** Seconds before the token's `exp` at which it is fetched anew. */
  TRIBUTARY_MQTT_TOKEN_REFRESH_S: '60',
} as const;

type Name = keyof typeof SECURITY_ENV_DEFAULTS;

/**
 * Reads the MQTT transport-security settings from `env`, for `mqttSecurityOptions` (together
 * with TRIBUTARY_MQTT_USERNAME / TRIBUTARY_MQTT_PASSWORD). A bad value throws a
 * {@link ConfigError} naming the variable: a file that is missing or unreadable, a certificate
 * without its key, TLS settings with a URL that is not `mqtts://`/`wss://`, a token command
 * together with a password.
 * @example
 * mqttSecurityOptions({ ...mqttSecurityEnv(), username: env.mqtt.username, password: env.mqtt.password })
 */
export function mqttSecurityEnv(env: NodeJS.ProcessEnv = process.env): MqttSecurityInput {
  const get = (name: Name): string => env[name] || SECURITY_ENV_DEFAULTS[name];
  const file = (name: Name): string | undefined => {
    const path = get(name);
    if (path === '') return undefined;
    try {
      accessSync(path, constants.R_OK);
      if (!statSync(path).isFile()) throw Object.assign(new Error('not a file'), { code: 'not a regular file' });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new ConfigError(
        name,
        'a readable PEM file',
        `${path} (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')})`,
      );
    }
    return path;
  };
  const caFile = file('TRIBUTARY_MQTT_CA_FILE');
  const certFile = file('TRIBUTARY_MQTT_CERT_FILE');
  const keyFile = file('TRIBUTARY_MQTT_KEY_FILE');
  if (certFile && !keyFile)
    throw new ConfigError('TRIBUTARY_MQTT_KEY_FILE', 'the private key of TRIBUTARY_MQTT_CERT_FILE', 'not set');
  if (keyFile && !certFile)
    throw new ConfigError('TRIBUTARY_MQTT_CERT_FILE', 'the certificate of TRIBUTARY_MQTT_KEY_FILE', 'not set');
  const insecure = get('TRIBUTARY_MQTT_TLS_INSECURE');
  if (insecure !== 'true' && insecure !== 'false')
    throw new ConfigError('TRIBUTARY_MQTT_TLS_INSECURE', 'true or false', insecure);
  const passphrase = get('TRIBUTARY_MQTT_KEY_PASSPHRASE') || undefined;
  if (passphrase && !keyFile)
    throw new ConfigError('TRIBUTARY_MQTT_KEY_PASSPHRASE', 'set only with TRIBUTARY_MQTT_KEY_FILE');
  const servername = get('TRIBUTARY_MQTT_TLS_SERVERNAME') || undefined;

  const tlsVar = caFile
    ? 'TRIBUTARY_MQTT_CA_FILE'
    : certFile
      ? 'TRIBUTARY_MQTT_CERT_FILE'
      : insecure === 'true'
        ? 'TRIBUTARY_MQTT_TLS_INSECURE'
        : servername
          ? 'TRIBUTARY_MQTT_TLS_SERVERNAME'
          : undefined;
  const url = env.TRIBUTARY_MQTT_URL || 'mqtt://127.0.0.1:1884';
  if (tlsVar && !/^(mqtts|wss|tls|ssl):\/\//.test(url)) {
    throw new ConfigError(tlsVar, 'TLS settings with an mqtts:// or wss:// TRIBUTARY_MQTT_URL', redact(url));
  }

  const command = get('TRIBUTARY_MQTT_TOKEN_COMMAND');
  if (command !== '' && env.TRIBUTARY_MQTT_PASSWORD) {
    throw new ConfigError(
      'TRIBUTARY_MQTT_TOKEN_COMMAND',
      'either TRIBUTARY_MQTT_TOKEN_COMMAND or TRIBUTARY_MQTT_PASSWORD, not both',
    );
  }
  const marginS = Number(get('TRIBUTARY_MQTT_TOKEN_REFRESH_S'));
  if (!Number.isFinite(marginS) || marginS < 0 || marginS > 86_400) {
    throw new ConfigError('TRIBUTARY_MQTT_TOKEN_REFRESH_S', 'seconds 0..86400', get('TRIBUTARY_MQTT_TOKEN_REFRESH_S'));
  }
  return {
    caFile,
    certFile,
    keyFile,
    keyPassphrase: passphrase,
    servername,
    rejectUnauthorized: insecure !== 'true',
    passwordProvider: command === '' ? undefined : commandTokenProvider(command, 'TRIBUTARY_MQTT_TOKEN_COMMAND'),
    refreshMarginMs: marginS * 1000,
  };
}

import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { IClientOptions, MqttClient } from 'mqtt';
import { ConfigError } from '../../core/errors.js';

/** Options of {@link mqttSecurityOptions}. */
export interface MqttSecurityInput {
  /** PEM file of the CA certificate(s) the broker's certificate must chain to (instead of the system CAs). */
  readonly caFile?: string;
  /** PEM client certificate for mutual TLS; needs `keyFile`. */
  readonly certFile?: string;
  /** PEM private key of `certFile`. */
  readonly keyFile?: string;
  /** Passphrase of an encrypted `keyFile`. */
  readonly keyPassphrase?: string;
  /** False accepts any broker certificate: for tests only. @defaultValue true */
  readonly rejectUnauthorized?: boolean;
  /** TLS server name (SNI and certificate check) when it differs from the URL host. */
  readonly servername?: string;
  readonly username?: string;
  /** A static password; excludes `passwordProvider`. */
  readonly password?: string;
  /**
   * Fetches a token (e.g. a JWT) sent as the password. Called for the first connect and before
   * a reconnect when the token expires within `refreshMarginMs` (JWT `exp`, read without
   * verification), was refused by the broker, or has no readable `exp` (then before every connect).
   */
  readonly passwordProvider?: () => string | Promise<string>;
  /** @defaultValue 60000 */
  readonly refreshMarginMs?: number;
  /** Clock for token expiry. @defaultValue Date.now */
  readonly now?: () => number;
}

/** The TLS and credential fields of mqtt.js client options built by {@link mqttSecurityOptions}. */
export type MqttSecurityClientOptions = Pick<
  IClientOptions,
  'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername' | 'username' | 'password'
> & {
  /** Passed through to `tls.connect` by mqtt.js. */
  readonly passphrase?: string;
};

/** What {@link mqttSecurityOptions} built. */
export interface MqttSecurity {
  /** The TLS fields and static credentials; the file contents were read once, at start. */
  readonly clientOptions: MqttSecurityClientOptions;
  /**
   * What to spread into the options of `mqtt.connect` for the first connect: `clientOptions`, and
   * the token as password when there is a provider. Rejects when the provider fails.
   */
  connectOptions(): Promise<MqttSecurityClientOptions>;
  /**
   * Call before each `client.reconnect()`: puts a fresh token into `client.options.password` when
   * the current one expires within the margin (mqtt.js sends `client.options.password` on every
   * reconnect). Rejects when the provider fails. From the first call on, a CONNACK refusing the
   * credentials on this client forces a refresh before the next attempt.
   */
  beforeConnect(client: MqttClient): Promise<void>;
  /** Forces a token refresh before the next connect. */
  invalidate(): void;
  /** Safe to log: what is configured, without contents or secrets. */
  readonly summary: {
    readonly ca?: string;
    readonly clientCert?: string;
    readonly insecure: boolean;
    readonly auth: 'none' | 'password' | 'token';
  };
}

/** CONNACK codes after which a token is fetched anew (3.1.1 and MQTT 5 bad credentials / not authorised). */
const CREDENTIAL_REFUSALS = new Set([4, 5, 134, 135]);

/**
 * The expiry of a JWT in ms since the epoch, from its `exp` claim, decoded without verifying the
 * signature (the broker verifies). Undefined when `token` is not a JWT or has no numeric `exp`.
 */
export function jwtExpiresAtMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function readPem(label: string, file: string, marker: RegExp, what: string): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${label} ${file}`, `a readable ${what}`, code === 'ENOENT' ? 'no such file' : code);
  }
  if (!marker.test(content.toString('latin1')))
    throw new ConfigError(`${label} ${file}`, `a ${what}`, 'no PEM block of that kind');
  return content;
}

/**
 * Builds the TLS and credential options of an MQTT connection: CA, client certificate and key are
 * read and checked now (a missing or unreadable file, a key that does not fit the certificate or a
 * wrong passphrase throws a {@link ConfigError} naming the file), and a hook refreshes a token
 * before each (re)connect.
 * @example
 * const security = mqttSecurityOptions({ caFile: 'ca.pem', username: 'ingest', passwordProvider: fetchJwt });
 * const client = mqtt.connect('mqtts://broker:8883', { ...options, ...(await security.connectOptions()) });
 * // on 'close', after a delay:
 * await security.beforeConnect(client);
 * client.reconnect();
 */
export function mqttSecurityOptions(input: MqttSecurityInput): MqttSecurity {
  if (input.password !== undefined && input.passwordProvider)
    throw new ConfigError('mqtt password', 'either a password or a password provider, not both');
  if ((input.certFile === undefined) !== (input.keyFile === undefined)) {
    throw new ConfigError(
      'mqtt client certificate',
      'both a certificate file and a key file',
      input.certFile === undefined ? 'a key file only' : 'a certificate file only',
    );
  }
  const margin = input.refreshMarginMs ?? 60_000;
  if (!Number.isFinite(margin) || margin < 0)
    throw new ConfigError('mqtt refreshMarginMs', 'a number of ms >= 0', margin);
  const ca =
    input.caFile === undefined
      ? undefined
      : readPem('mqtt CA file', input.caFile, /-----BEGIN CERTIFICATE-----/, 'PEM file of CA certificates');
  const cert =
    input.certFile === undefined
      ? undefined
      : readPem('mqtt client certificate file', input.certFile, /-----BEGIN CERTIFICATE-----/, 'PEM certificate file');
  const key =
    input.keyFile === undefined
      ? undefined
      : readPem('mqtt client key file', input.keyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'PEM private key file');
  if (cert && key) {
    try {
      createSecureContext({ cert, key, passphrase: input.keyPassphrase });
    } catch (error) {
      const m = (error as Error).message;
      // A wrong passphrase usually fails OpenSSL's padding check ("bad decrypt"), but about one
      // key in 150 decrypts to garbage that fails later with a decoder error: classify by the file.
      const got =
        undecryptable(key, input.keyPassphrase) || /bad decrypt|passphrase|interrupted or cancelled/i.test(m)
          ? 'a wrong or missing passphrase'
          : /mismatch/i.test(m)
            ? 'a key that does not belong to the certificate'
            : 'a key or certificate OpenSSL cannot use';
      throw new ConfigError(`mqtt client key file ${input.keyFile}`, `the private key of ${input.certFile}`, got);
    }
  }
  const clientOptions: MqttSecurityClientOptions = {
    ...(ca && { ca }),
    ...(cert && { cert }),
    ...(key && { key }),
    ...(input.keyPassphrase !== undefined && { passphrase: input.keyPassphrase }),
    ...(input.rejectUnauthorized === false && { rejectUnauthorized: false }),
    ...(input.servername !== undefined && { servername: input.servername }),
    ...(input.username !== undefined && { username: input.username }),
    ...(input.password !== undefined && { password: input.password }),
  };
  const provider = input.passwordProvider;
  const now = input.now ?? Date.now;
  const watched = new WeakSet<MqttClient>();
  let current: { token: string; expiresAtMs: number | undefined } | undefined;
  let stale = false;
  let inflight: Promise<string> | undefined;

  const fresh = () =>
    current !== undefined && !stale && current.expiresAtMs !== undefined && current.expiresAtMs - margin > now();
  const fetchToken = async (): Promise<string> => {
    const token = (await provider!()).trim();
    if (!token) throw new ConfigError('mqtt passwordProvider', 'a non-empty token');
    current = { token, expiresAtMs: jwtExpiresAtMs(token) };
    stale = false;
    return token;
  };
  const token = (): Promise<string> => {
    if (fresh()) return Promise.resolve(current!.token);
    inflight ??= fetchToken().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  return {
    clientOptions,
    summary: {
      ca: input.caFile,
      clientCert: input.certFile,
      insecure: input.rejectUnauthorized === false,
      auth: provider ? 'token' : input.password !== undefined ? 'password' : 'none',
    },
    invalidate() {
      stale = true;
    },
    async connectOptions() {
      return provider ? { ...clientOptions, password: await token() } : clientOptions;
    },
    async beforeConnect(client) {
      if (!provider) return;
      if (!watched.has(client)) {
        watched.add(client);
        client.on('error', (error: Error & { code?: unknown }) => {
          if (typeof error.code === 'number' && CREDENTIAL_REFUSALS.has(error.code)) stale = true;
        });
      }
      client.options.password = await token();
    },
  };
}

/**
 * A password provider that runs `command` with `/bin/sh -c` and returns its standard output,
 * trimmed. A failure throws a {@link ConfigError} naming `variable` with the exit status and the
 * first line of standard error; the output (the token) never appears in it.
 */
export function commandTokenProvider(
  command: string,
  variable = 'TRIBUTARY_MQTT_TOKEN_COMMAND',
  timeoutMs = 10_000,
): () => Promise<string> {
  return () =>
    new Promise((resolve, reject) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        { timeout: timeoutMs, maxBuffer: 64 * 1024, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const line = stderr
            .split('\n')
            .find((l) => l.trim() !== '')
            ?.trim()
            .slice(0, 120);
          if (error) {
            const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
            const status = e.killed
              ? `timed out after ${timeoutMs} ms`
              : typeof e.code === 'number'
                ? `exit status ${e.code}`
                : e.signal
                  ? `signal ${e.signal}`
                  : String(e.code ?? 'failed');
            reject(
              new ConfigError(
                variable,
                'a command that exits 0 and prints a token',
                status + (line ? `: ${line}` : ''),
              ),
            );
            return;
          }
          const token = stdout.trim();
          if (!token)
            reject(new ConfigError(variable, 'a command that prints a token on standard output', 'empty output'));
          else resolve(token);
        },
      );
    });
}

/** True when `key` is an encrypted PEM that `passphrase` (or its absence) cannot decrypt. */
function undecryptable(key: Buffer, passphrase: string | undefined): boolean {
  if (!/ENCRYPTED/.test(key.toString('latin1'))) return false;
  try {
    createPrivateKey({ key, passphrase: passphrase ?? '' });
    return false;
  } catch {
    return true;
  }
}

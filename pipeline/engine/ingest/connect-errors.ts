import { ConnectError, redact } from '../../core/errors.js';
import type { Logger } from '../../core/types.js';

/** What {@link classifyConnectError} decided about one connection error. */
export interface ConnectErrorClass {
  /**
   * True when retrying cannot fix it (certificate not trusted, client certificate refused, bad
   * credentials): the first connect fails; later reconnects wait the maximum delay.
   */
  readonly final: boolean;
  /** Which check failed, for an operator: never contains a secret. */
  readonly reason: string;
}

/** Node / OpenSSL codes of a failed verification of the broker's certificate, with what they mean. */
const VERIFY: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'is not signed by a trusted CA (check the CA file)',
  UNABLE_TO_GET_ISSUER_CERT: 'is not signed by a trusted CA (check the CA file)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'is not signed by a trusted CA (check the CA file)',
  SELF_SIGNED_CERT_IN_CHAIN: 'chains to a CA that is not trusted (check the CA file)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'is self-signed and not trusted (check the CA file)',
  CERT_HAS_EXPIRED: 'has expired',
  CERT_NOT_YET_VALID: 'is not valid yet (check the clocks)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'does not name this host (check the URL host or the TLS servername)',
  HOSTNAME_MISMATCH: 'does not name this host (check the URL host or the TLS servername)',
  CERT_REVOKED: 'has been revoked',
  CERT_SIGNATURE_FAILURE: 'has an invalid signature',
  CERT_UNTRUSTED: 'is not trusted',
  CERT_REJECTED: 'is rejected for this purpose',
  INVALID_CA: 'chains through an invalid CA certificate',
  INVALID_PURPOSE: 'may not be used by a TLS server',
  CERT_CHAIN_TOO_LONG: 'has a chain that is too long',
  PATH_LENGTH_EXCEEDED: 'has a chain that is too long',
};

/** TLS alerts by which a broker refuses the handshake, keyed by their text in OpenSSL messages. */
const ALERTS: Record<string, string> = {
  'certificate expired': 'the broker refused the client certificate: it has expired',
  'bad certificate': 'the broker refused the client certificate (bad certificate)',
  'certificate unknown': 'the broker refused the client certificate (certificate unknown)',
  'unknown ca': 'the broker refused the client certificate: it is not issued by a CA the broker trusts',
  'certificate revoked': 'the broker refused the client certificate: it has been revoked',
  'unsupported certificate': 'the broker refused the client certificate (unsupported certificate)',
  'certificate required': 'the broker requires a client certificate (set the certificate and key files)',
  'access denied': 'the broker denied access during the TLS handshake',
  'handshake failure': 'the TLS handshake failed (no common TLS version or cipher?)',
  'protocol version': 'the broker does not accept this TLS version',
};

/** CONNACK codes (3.1.1: 1–5, MQTT 5: 128+) that retrying with the same settings cannot fix. */
const FINAL_CONNACK: Record<number, string> = {
  1: 'unacceptable protocol version (check the MQTT protocol version)',
  2: 'client identifier rejected',
  4: 'bad username or password',
  5: 'not authorized: wrong username, password or token, or no permission',
  129: 'malformed packet',
  130: 'protocol error',
  132: 'unsupported protocol version (check the MQTT protocol version)',
  133: 'client identifier not valid',
  134: 'bad username or password',
  135: 'not authorized: wrong username, password or token, or no permission',
  138: 'banned',
  140: 'bad authentication method',
};

const TRANSIENT: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the broker running and listening on that port?)',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while writing',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
};

/** Hides user info in URLs and cuts long messages. */
function clean(message: string): string {
  return redact(message).replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * Classifies an error of an MQTT connection attempt: TLS verification of the broker's
 * certificate, a TLS alert by which the broker refused our client certificate, and CONNACK refusals
 * for credentials or authorisation are final; network errors, timeouts and "server busy" are not.
 * The reason names the failed check and never contains a password, token or key.
 * @example
 * classifyConnectError(Object.assign(new Error('x'), { code: 134 }))
 * // { final: true, reason: 'the broker refused the connection: bad username or password (CONNACK 134)' }
 */
export function classifyConnectError(error: unknown): ConnectErrorClass {
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = e.code;
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (typeof code === 'number') {
    const known = FINAL_CONNACK[code];
    if (known) return { final: true, reason: `the broker refused the connection: ${known} (CONNACK ${code})` };
    return {
      final: false,
      reason: `the broker refused the connection: ${clean(message.replace(/^Connection refused: /, '')) || 'unknown reason'} (CONNACK ${code})`,
    };
  }
  const c = typeof code === 'string' ? code : '';
  const verify = VERIFY[c];
  if (verify) return { final: true, reason: `TLS verification failed: the broker's certificate ${verify} [${c}]` };
  if (message === 'TLS not authorized')
    return { final: true, reason: "TLS verification failed: the broker's certificate is not trusted" };
  const tls = c.startsWith('ERR_SSL_') || /SSL routines|ssl3_|tlsv1/i.test(message);
  const alert = !tls
    ? undefined
    : (/alert ([a-z ]+?)(?::|$)/i.exec(message)?.[1]?.toLowerCase() ??
      /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(\w+)$/.exec(c)?.[1]?.replace(/_/g, ' ').toLowerCase());
  if (alert !== undefined) {
    const known = ALERTS[alert];
    return known
      ? { final: true, reason: `TLS handshake refused: ${known} [alert: ${alert}]` }
      : { final: false, reason: `TLS handshake failed [alert: ${alert}]` };
  }
  if (c === 'ERR_SSL_WRONG_VERSION_NUMBER' || c === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return {
      final: true,
      reason: `TLS handshake failed: the port did not answer with TLS (is it a TLS listener?) [${c}]`,
    };
  }
  const transient = TRANSIENT[c];
  if (transient) return { final: false, reason: transient };
  return { final: false, reason: clean(message) + (c ? ` [${c}]` : '') };
}

/**
 * A {@link ConnectError} for a final connection error (see {@link classifyConnectError}), naming the
 * broker (without credentials); undefined when the error is worth retrying.
 */
export function finalConnectError(error: unknown, url: string): ConnectError | undefined {
  const k = classifyConnectError(error);
  return k.final ? new ConnectError(`MQTT broker ${redact(url)}: ${k.reason}`, { cause: error }) : undefined;
}

/** Options of {@link reconnectPolicy}. */
export interface ReconnectPolicyOptions {
  /** Broker URL for log lines (credentials are removed). */
  readonly url: string;
  readonly clientId?: string;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly log: Logger;
  /** @defaultValue Math.random */
  readonly random?: () => number;
}

/** Reconnect state of one client: feed it the client's events, ask it for the next delay. */
export interface ReconnectPolicy {
  /** The client's `error` event (and failures of the pre-connect hook). */
  error(error: unknown): void;
  /** The client's `connect` event. */
  connected(): void;
  /**
   * The client's `close` event (unless closing on purpose): returns the delay before the next
   * attempt. Exponential with jitter; the maximum delay after a final error. Logs a warning only
   * when the reason differs from the last one logged, so a broker that keeps refusing us does not
   * flood the log; every attempt is logged at debug.
   */
  closed(): number;
  /** The classification of the last error since the last connect, if any. */
  readonly last: ConnectErrorClass | undefined;
}

/**
 * The reconnect backoff and error logging of an MQTT source: see {@link ReconnectPolicy}.
 * @example
 * const policy = reconnectPolicy({ url, clientId, minDelayMs: 250, maxDelayMs: 30_000, log });
 * c.on('error', (e) => policy.error(e)); c.on('connect', () => policy.connected());
 * c.on('close', () => { timer = setTimeout(() => c.reconnect(), policy.closed()); });
 */
export function reconnectPolicy(o: ReconnectPolicyOptions): ReconnectPolicy {
  const broker = redact(o.url);
  const random = o.random ?? Math.random;
  let up = false;
  let failures = 0;
  let last: ConnectErrorClass | undefined;
  let logged: string | undefined;
  return {
    get last() {
      return last;
    },
    error(error) {
      const k = classifyConnectError(error);
      // While connected, an error is news (it may not even close the connection): log it now.
      if (up) o.log.warn({ broker, clientId: o.clientId, reason: k.reason }, 'broker connection error');
      else last = k;
    },
    connected() {
      if (failures > 0) o.log.info({ broker, clientId: o.clientId, attempts: failures }, 'reconnected to broker');
      up = true;
      failures = 0;
      last = undefined;
      logged = undefined;
    },
    closed() {
      const k = last ?? {
        final: false,
        reason: up ? 'connection lost' : 'connection closed before the broker accepted it',
      };
      up = false;
      last = undefined;
      const ceiling = k.final ? o.maxDelayMs : Math.min(o.maxDelayMs, o.minDelayMs * 2 ** Math.min(failures, 20));
      const delayMs = Math.round(k.final ? ceiling * (0.8 + 0.2 * random()) : ceiling / 2 + (random() * ceiling) / 2);
      failures++;
      const fields = { broker, clientId: o.clientId, reason: k.reason, final: k.final, delayMs, attempt: failures };
      if (k.reason !== logged) {
        logged = k.reason;
        o.log.warn(
          fields,
          k.final
            ? 'broker refused the connection; retrying at the maximum delay'
            : 'broker connection closed, reconnecting',
        );
      } else {
        o.log.debug(fields, 'reconnecting to broker');
      }
      return delayMs;
    },
  };
}

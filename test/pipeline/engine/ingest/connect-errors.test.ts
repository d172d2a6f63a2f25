import { describe, expect, it } from 'vitest';
import { ConnectError } from '../../../../pipeline/core/errors.js';
import {
  classifyConnectError,
  finalConnectError,
  reconnectPolicy,
} from '../../../../pipeline/engine/ingest/connect-errors.js';
import type { Logger } from '../../../../pipeline/core/types.js';

const err = (message: string, code?: string | number) =>
  Object.assign(new Error(message), code === undefined ? {} : { code });
// As Node reports them (OpenSSL 3), captured against Mosquitto 2.0.
const alert = (what: string, code: string) =>
  err(
    `80FC6F15E77F0000:error:0A000415:SSL routines:ssl3_read_bytes:sslv3 alert ${what}:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 45\n`,
    code,
  );

describe('classifyConnectError', () => {
  it.each([
    [
      err('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
      /broker's certificate is not signed by a trusted CA \(check the CA file\) \[UNABLE_TO_VERIFY_LEAF_SIGNATURE\]/,
    ],
    [
      err('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'),
      /chains to a CA that is not trusted/,
    ],
    [err('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), /is self-signed and not trusted/],
    [
      err('certificate has expired', 'CERT_HAS_EXPIRED'),
      /^TLS verification failed: the broker's certificate has expired/,
    ],
    [
      err("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'),
      /does not name this host/,
    ],
    [err('TLS not authorized'), /broker's certificate is not trusted/],
    [
      alert('certificate expired', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED'),
      /^TLS handshake refused: the broker refused the client certificate: it has expired \[alert: certificate expired\]$/,
    ],
    [
      alert('bad certificate', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'),
      /refused the client certificate \(bad certificate\)/,
    ],
    [
      alert('certificate unknown', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN'),
      /refused the client certificate \(certificate unknown\)/,
    ],
    [err('...:tlsv1 alert unknown ca:...', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), /not issued by a CA the broker trusts/],
    [
      err('...:tlsv13 alert certificate required:...', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'),
      /requires a client certificate/,
    ],
    [err('', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED'), /client certificate: it has expired/], // code only
    [err('error:0A000415:SSL routines::sslv3 alert bad certificate'), /bad certificate/], // message only
    [err('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER'), /did not answer with TLS/],
    [
      err('Connection refused: Bad User Name or Password', 134),
      /^the broker refused the connection: bad username or password \(CONNACK 134\)$/,
    ],
    [err('Connection refused: Not authorized', 135), /not authorized: wrong username, password or token/],
    [err('Connection refused: Bad username or password', 4), /bad username or password \(CONNACK 4\)/],
    [err('Connection refused: Not authorized', 5), /not authorized/],
    [err('Connection refused: Banned', 138), /banned/],
    [err('Connection refused: Unsupported Protocol Version', 132), /unsupported protocol version/],
  ])('%s is final', (error, reason) => {
    const k = classifyConnectError(error);
    expect(k.final).toBe(true);
    expect(k.reason).toMatch(reason);
  });

  it.each([
    [err('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), /connection refused \(is the broker running/],
    [err('read ECONNRESET', 'ECONNRESET'), /connection reset/],
    [err('connack timeout'), /connack timeout/],
    [err('Keepalive timeout'), /Keepalive timeout/],
    [err('Connection refused: Server unavailable', 3), /Server unavailable \(CONNACK 3\)/],
    [err('Connection refused: Server busy', 137), /Server busy \(CONNACK 137\)/],
    [err('Connection refused: Connection rate exceeded', 159), /rate exceeded/],
    [
      err('...:tlsv1 alert internal error:...', 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR'),
      /TLS handshake failed \[alert: internal error\]/,
    ],
    [err('an alert of an unrelated kind'), /an alert of an unrelated kind/],
    ['a string', /a string/],
    [undefined, /undefined/],
  ])('%s is not final', (error, reason) => {
    const k = classifyConnectError(error);
    expect(k.final).toBe(false);
    expect(k.reason).toMatch(reason);
  });

  it('never repeats credentials of a URL in a message and keeps reasons short', () => {
    const k = classifyConnectError(err(`getaddrinfo failed for mqtts://user:hunter2@broker:8883 ${'x'.repeat(500)}`));
    expect(k.reason).not.toContain('hunter2');
    expect(k.reason.length).toBeLessThanOrEqual(220);
  });

  it('finalConnectError names the broker without credentials, and only for final errors', () => {
    const e = finalConnectError(err('x', 134), 'mqtts://svc:hunter2@broker:8883');
    expect(e).toBeInstanceOf(ConnectError);
    expect(e?.message).toBe(
      'MQTT broker mqtts://***@broker:8883: the broker refused the connection: bad username or password (CONNACK 134)',
    );
    expect(finalConnectError(err('x', 'ECONNREFUSED'), 'mqtt://b:1')).toBeUndefined();
  });
});

function recorder(): Logger & { lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    lines.push({ level, msg, fields });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('reconnectPolicy', () => {
  const make = () => {
    const log = recorder();
    const policy = reconnectPolicy({
      url: 'mqtts://u:secret@broker:8883',
      clientId: 'c',
      minDelayMs: 100,
      maxDelayMs: 10_000,
      log,
      random: () => 1,
    });
    return { log, policy, warns: () => log.lines.filter((l) => l.level === 'warn') };
  };

  it('backs off exponentially for transient errors, logging each distinct reason once', () => {
    const { policy, warns, log } = make();
    const delays = [];
    for (let i = 0; i < 9; i++) {
      policy.error(err('connect ECONNREFUSED', 'ECONNREFUSED'));
      delays.push(policy.closed());
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    expect(warns()).toHaveLength(1);
    expect(warns()[0]!.fields).toMatchObject({
      broker: 'mqtts://***@broker:8883',
      reason: expect.stringMatching(/connection refused/),
      final: false,
      attempt: 1,
    });
    expect(log.lines.filter((l) => l.level === 'debug')).toHaveLength(8);
  });

  it('waits the maximum delay after a final error, logs it once, and starts over after a connect', () => {
    const { policy, warns, log } = make();
    policy.connected();
    expect(policy.closed()).toBe(100); // connection lost: retry soon
    for (let i = 0; i < 5; i++) {
      policy.error(err('Connection refused: Not authorized', 135));
      policy.error(err('Connection refused: Not authorized', 135));
      expect(policy.last?.final).toBe(true);
      expect(policy.closed()).toBe(10_000);
    }
    expect(warns().map((w) => w.fields.reason)).toEqual(['connection lost', expect.stringMatching(/not authorized/)]);
    policy.connected();
    expect(log.lines.at(-1)).toMatchObject({ level: 'info', msg: 'reconnected to broker', fields: { attempts: 6 } });
    expect(policy.last).toBeUndefined();
    policy.error(err('Connection refused: Not authorized', 135)); // while connected: logged at once, not a connect error
    expect(warns().at(-1)?.msg).toBe('broker connection error');
    expect(policy.closed()).toBe(100);
    expect(JSON.stringify(log.lines)).not.toContain('secret');
  });

  it('reports a close without an error before the broker accepted the connection', () => {
    const { policy, warns } = make();
    policy.closed();
    expect(warns()[0]!.fields.reason).toBe('connection closed before the broker accepted it');
  });
});

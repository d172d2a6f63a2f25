import type { SendOptions, Transport } from '@influxdata/influxdb-client';

/** Where and how to write on an InfluxDB 1.x server older than 1.8 (no `/api/v2/write`). */
export interface V1Target {
  readonly database: string;
  /** Retention policy; the database default when omitted. */
  readonly retentionPolicy?: string;
  readonly username?: string;
  readonly password?: string;
}

const PRECISION_V1: Record<string, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

/**
 * Wraps the client's transport so that v2 write requests go to InfluxDB 1.x's `/write`
 * (`db`, `rp`, precision ns→n, us→u; Basic auth instead of a token). Everything else —
 * timeouts, gzip, HTTP errors with Retry-After — stays the client's.
 */
export function v1WriteTransport(inner: Transport, target: V1Target): Transport {
  const auth =
    target.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`;
  const rewrite = (path: string, options: SendOptions): [string, SendOptions] => {
    if (!path.startsWith('/api/v2/write')) return [path, withAuth(options)];
    const query = new URLSearchParams(path.slice(path.indexOf('?') + 1));
    const params = new URLSearchParams({
      db: target.database,
      precision: PRECISION_V1[query.get('precision') ?? 'ns'] ?? 'n',
    });
    if (target.retentionPolicy) params.set('rp', target.retentionPolicy);
    return [`/write?${params.toString()}`, withAuth(options)];
  };
  const withAuth = (options: SendOptions): SendOptions =>
    auth ? { ...options, headers: { ...options.headers, authorization: auth } } : options;
  return {
    send: (path, body, options, callbacks) => {
      const [p, o] = rewrite(path, options);
      inner.send(p, body, o, callbacks);
    },
    request: (path, body, options, responseStarted) => {
      const [p, o] = rewrite(path, options);
      return inner.request(p, body, o, responseStarted);
    },
    iterate: (path, body, options) => {
      const [p, o] = rewrite(path, options);
      return inner.iterate(p, body, o);
    },
    chunkCombiner: inner.chunkCombiner,
  };
}

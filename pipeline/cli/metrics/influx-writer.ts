import { ConfigError } from '../../core/errors.js';
/** Where {@link influxLineWriter} writes: the shape of `workerEnv().influx`. */
export interface InfluxWriteTarget {
  readonly url: string;
  /** `v1`: `/write?db=` (InfluxDB 1.x); `v2`: `/api/v2/write` with org, bucket and token. @defaultValue 'v1' */
  readonly api?: 'v1' | 'v2';
  readonly database?: string;
  readonly retentionPolicy?: string;
  readonly username?: string;
  readonly password?: string;
  readonly bucket?: string;
  readonly org?: string;
  readonly token?: string;
  /** @defaultValue 5000 */
  readonly timeoutMs?: number;
}

/**
 * A plain line-protocol writer (nanosecond timestamps) for small, unbatched writes such as the
 * internal metrics: one request per call, an error when InfluxDB does not answer 204.
 * @example
 * startInternalMetrics({ stats, tags, write: influxLineWriter(workerEnv().influx) })
 */
export function influxLineWriter(target: InfluxWriteTarget): (lines: string[]) => Promise<void> {
  const api = target.api ?? 'v1';
  const base = target.url.endsWith('/') ? target.url : `${target.url}/`;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  let url: URL;
  if (api === 'v1') {
    if (!target.database) throw new ConfigError('influxLineWriter database', 'a database name with api v1');
    url = new URL('write', base);
    url.searchParams.set('db', target.database);
    if (target.retentionPolicy) url.searchParams.set('rp', target.retentionPolicy);
    if (target.username)
      headers.authorization = `Basic ${Buffer.from(`${target.username}:${target.password ?? ''}`).toString('base64')}`;
  } else {
    if (!target.bucket || !target.org) throw new ConfigError('influxLineWriter org and bucket', 'both with api v2');
    url = new URL('api/v2/write', base);
    url.searchParams.set('org', target.org);
    url.searchParams.set('bucket', target.bucket);
    if (target.token) headers.authorization = `Token ${target.token}`;
  }
  url.searchParams.set('precision', 'ns');
  const where = `${url.origin}${url.pathname}`;
  return async (lines) => {
    if (lines.length === 0) return;
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body: lines.join('\n'),
      signal: AbortSignal.timeout(target.timeoutMs ?? 5000),
    });
    const text = await res.text();
    if (res.status !== 204) throw new Error(`InfluxDB write to ${where} answered ${res.status}: ${text.slice(0, 300)}`);
  };
}

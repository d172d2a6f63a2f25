import { HttpError, InfluxDB, type Transport } from '@influxdata/influxdb-client';
import { ConfigError, ConnectError, redact } from '../../pipeline/core/errors.js';
import type { Batch, BatchPolicy, Logger, Reading, Sink, WriteResult } from '../../pipeline/core/types.js';
import { classifyWriteError, type FixHints } from './classify.js';
import { FieldTypeRegistry, type FieldTypesOptions } from './field-types.js';
import { toLineProtocol } from '../../pipeline/core/line-protocol.js';
import { learnServerFieldTypes, typedWrite } from './typed-write.js';
import { v1WriteTransport } from './v1-transport.js';
import { isReading } from '../../pipeline/core/stage.js';
export { isReading };

/** Options of {@link influxdb}. */
export interface InfluxdbOptions {
  /** Server URL, e.g. `http://127.0.0.1:8086`. */
  readonly url: string;
  /**
   * `v2`: `/api/v2/write` with token, org and bucket (InfluxDB 2.x, 3.x, Cloud, and 1.8+ where the
   * bucket is `db/rp`). `v1`: `/write` with database and Basic auth, for 1.x older than 1.8.
   * @defaultValue 'v2'
   */
  readonly api?: 'v1' | 'v2';
  readonly token?: string;
  readonly org?: string;
  readonly bucket?: string;
  readonly database?: string;
  readonly retentionPolicy?: string;
  /** v1: Basic auth. v2 without a token: Basic auth too (VictoriaMetrics `-httpAuth.*`, an authenticating proxy). */
  readonly username?: string;
  readonly password?: string;
  /** v1 only: `CREATE DATABASE` at start (idempotent). @defaultValue false */
  readonly createDatabase?: boolean;
  /** @defaultValue `{ maxItems: 5000, maxBytes: 4 MiB, maxWaitMs: 50, maxConcurrency: 2 }` */
  readonly batch?: Partial<BatchPolicy>;
  /** Gzip request bodies; costs more CPU than it saves on a local network. @defaultValue false */
  readonly gzip?: boolean;
  /** Per-request timeout. @defaultValue 10000 */
  readonly timeoutMs?: number;
  /**
   * Hold each field's type steady: `'learn'` (per process) or `{ mode: 'learn', redisUrl }` (shared
   * by the workers). Types come from `SHOW FIELD KEYS` at start (v1) or the first value seen; a value
   * of another type is coerced when lossless (`20i` → `20` for a float field), else dead-lettered as
   * `field_type_conflict` while the rest of its batch is written. Off by default.
   */
  readonly fieldTypes?: 'learn' | FieldTypesOptions;
  readonly log?: Logger;
}

/**
 * InfluxDB sink: hand-built line protocol, one HTTP request per batch, each batch acknowledged
 * exactly (the runtime retries; the client's own batching and retries are not used).
 * @example
 * influxdb({ url: 'http://127.0.0.1:8086', api: 'v1', database: 'telemetry', createDatabase: true })
 */
export function influxdb(
  options: InfluxdbOptions,
): Sink<Reading> & { writeEncoded(encoded: readonly string[]): Promise<WriteResult> } {
  const api = options.api ?? 'v2';
  const target = validate(options, api);
  const batch: BatchPolicy = {
    maxItems: 5000,
    maxBytes: 4 * 1024 * 1024,
    maxWaitMs: 50,
    maxConcurrency: 2,
    ...options.batch,
  };
  const client = new InfluxDB({
    url: options.url,
    token: api === 'v2' ? options.token : undefined,
    timeout: options.timeoutMs ?? 10_000,
  });
  const transport: Transport =
    api === 'v1'
      ? v1WriteTransport(client.transport, {
          database: target,
          retentionPolicy: options.retentionPolicy,
          username: options.username,
          password: options.password,
        })
      : client.transport;
  const [org, bucket] = api === 'v1' ? ['', target] : [options.org ?? '', target];
  const writePath = `/api/v2/write?${new URLSearchParams({ org, bucket, precision: 'ns' }).toString()}`;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (api === 'v2' && options.token === undefined && options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  const sendOptions = { method: 'POST', headers, gzipThreshold: options.gzip ? 1000 : Infinity };
  const hints: FixHints =
    api === 'v1'
      ? {
          unauthorized: 'check the InfluxDB username and password',
          notFound: `database "${target}" does not exist (CREATE DATABASE "${target}", or set createDatabase)`,
        }
      : {
          unauthorized: headers.authorization
            ? 'check the username and password'
            : 'check the token and that it may write to the bucket',
          notFound: `bucket "${target}" or org "${org}" does not exist`,
        };
  const send = async (encoded: readonly string[]): Promise<WriteResult> => {
    try {
      await transport.request(writePath, encoded.join('\n'), sendOptions);
      return { status: 'delivered' };
    } catch (error) {
      return classifyWriteError(error, hints);
    }
  };
  const fieldTypes =
    options.fieldTypes === undefined
      ? undefined
      : new FieldTypeRegistry(
          options.fieldTypes === 'learn' ? { mode: 'learn' } : options.fieldTypes,
          api === 'v1' ? `${target}/${options.retentionPolicy ?? ''}` : target,
        );
  const write = fieldTypes ? typedWrite(fieldTypes, send) : ({ encoded }: Batch<Reading>) => send(encoded);

  return {
    name: 'influxdb',
    batch,
    accepts: isReading,
    encode: toLineProtocol,
    needsItems: fieldTypes !== undefined,
    async open() {
      await fieldTypes?.open();
      if (api !== 'v1') return;
      const q = options.createDatabase ? `CREATE DATABASE "${target.replace(/"/g, '\\"')}"` : 'SHOW DATABASES';
      try {
        const res = (await transport.request(`/query?${new URLSearchParams({ q }).toString()}`, '', {
          method: 'POST',
        })) as V1QueryResponse;
        const names = res.results?.[0]?.series?.[0]?.values?.map((v) => v[0]) ?? [];
        if (!options.createDatabase && !names.includes(target))
          throw new ConnectError(`InfluxDB at ${redact(options.url)}: ${hints.notFound}`);
      } catch (error) {
        if (error instanceof ConnectError) throw error;
        if (error instanceof HttpError && (error.statusCode === 401 || error.statusCode === 403)) {
          throw new ConnectError(
            `InfluxDB at ${redact(options.url)} refused the credentials (${error.statusCode}): ${hints.unauthorized}`,
          );
        }
        // Unreachable at start: writes will retry and hold acknowledgements until it answers.
        options.log?.warn(
          { url: redact(options.url), error: (error as Error).message },
          'InfluxDB not reachable at start; writes will retry',
        );
      }
      if (fieldTypes) await learnServerFieldTypes(transport, target, fieldTypes, options.log);
    },
    write,
    /** Writes lines already encoded (a spool's replay): the same request and classification as `write`. */
    writeEncoded: send,
    async close() {
      fieldTypes?.close();
    },
  };
}

interface V1QueryResponse {
  results?: Array<{ series?: Array<{ values?: string[][] }> }>;
}

function validate(o: InfluxdbOptions, api: 'v1' | 'v2'): string {
  if (!/^https?:\/\/[^/]+/.test(o.url)) throw new ConfigError('influxdb url', 'http(s)://host:port', redact(o.url));
  if (api === 'v1') {
    if (!o.database) throw new ConfigError('influxdb database', 'a database name for the v1 API');
    return o.database;
  }
  if (!o.bucket) throw new ConfigError('influxdb bucket', 'a bucket name for the v2 API (db/rp on InfluxDB 1.8+)');
  if (!o.org && !o.bucket.includes('/')) throw new ConfigError('influxdb org', 'an organisation name for the v2 API');
  return o.bucket;
}

import { HttpError } from '@influxdata/influxdb-client';
import type { WriteResult } from '../../pipeline/core/types.js';

/** What to tell an operator for a status that retrying cannot fix by itself. */
export interface FixHints {
  readonly unauthorized: string;
  readonly notFound: string;
}

/**
 * Classifies a failed write (the runtime retries and splits; this only decides):
 * 400, 422 and 413 → rejected (the runtime bisects to isolate bad lines / fit the size limit; InfluxDB 2.x
 * answers a field-type conflict or a point outside retention with 422, 1.x with 400);
 * 429, 5xx, network errors, timeouts → retry, honouring Retry-After;
 * 401/403/404 → retry with a message saying what to fix (nothing is dropped while it is fixed).
 */
export function classifyWriteError(error: unknown, hints: FixHints): WriteResult {
  if (error instanceof HttpError) {
    const body = (error.body ?? error.message).slice(0, 500);
    const status = error.statusCode;
    if (status === 400 || status === 422)
      return {
        status: 'rejected',
        failure: { code: 'write_rejected', reason: `InfluxDB rejected the write (${status}): ${body}` },
      };
    if (status === 413)
      return {
        status: 'rejected',
        failure: { code: 'write_too_large', reason: `InfluxDB refused the request size (413): ${body}` },
      };
    if (status === 401 || status === 403)
      return {
        status: 'retry',
        failure: {
          code: 'write_unauthorized',
          reason: `InfluxDB refused the credentials (${status}): ${hints.unauthorized}`,
        },
      };
    if (status === 404)
      return {
        status: 'retry',
        failure: { code: 'write_not_found', reason: `InfluxDB answered 404: ${hints.notFound}; ${body}` },
      };
    return {
      status: 'retry',
      failure: { code: `http_${status}`, reason: `InfluxDB answered ${status}: ${body}` },
      retryAfterMs: retryAfterMs(error),
    };
  }
  const e = (error ?? {}) as { code?: string; message?: string; name?: string };
  return { status: 'retry', failure: { code: e.code ?? e.name ?? 'write_error', reason: e.message ?? String(error) } };
}

/** Retry-After in ms: delta-seconds or an HTTP date. */
function retryAfterMs(error: HttpError): number | undefined {
  const raw = error.headers?.['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

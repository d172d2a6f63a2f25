import { HttpError } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../../pipeline/core/types.js';
import { classifyWriteError, type FixHints } from '../../../sinks/influxdb/classify.js';

const hints: FixHints = { unauthorized: 'check the token', notFound: 'bucket "b" does not exist' };
const http = (status: number, body = '', headers?: Record<string, string>) =>
  new HttpError(status, 'status text', body, undefined, 'application/json', undefined, headers);
const classify = (error: unknown) => classifyWriteError(error, hints);

function retry(result: WriteResult) {
  expect(result.status).toBe('retry');
  if (result.status !== 'retry') throw new Error('expected retry');
  return result;
}
function rejected(result: WriteResult) {
  expect(result.status).toBe('rejected');
  if (result.status !== 'rejected') throw new Error('expected rejected');
  return result.failure;
}

describe('classifyWriteError', () => {
  it('400 → rejected with the server body (the runtime bisects)', () => {
    const failure = rejected(classify(http(400, '{"error":"partial write: field type conflict"}')));
    expect(failure.code).toBe('write_rejected');
    expect(failure.reason).toContain('field type conflict');
  });

  it('422 (InfluxDB 2.x: field-type conflict, outside retention) → rejected like 400, not retried', () => {
    const failure = rejected(
      classify(
        http(
          422,
          '{"code":"unprocessable entity","message":"failure writing points to database: partial write: field type conflict"}',
        ),
      ),
    );
    expect(failure.code).toBe('write_rejected');
    expect(failure.reason).toMatch(/^InfluxDB rejected the write \(422\): .*field type conflict/);
  });

  it('413 → rejected as too large', () => {
    expect(rejected(classify(http(413, 'too big'))).code).toBe('write_too_large');
  });

  it('cuts a huge body to 500 characters', () => {
    expect(rejected(classify(http(400, 'x'.repeat(5000)))).reason.length).toBeLessThan(600);
  });

  it.each([401, 403])('%i → retry with the credentials hint', (status) => {
    const r = retry(classify(http(status, 'unauthorized access')));
    expect(r.failure.code).toBe('write_unauthorized');
    expect(r.failure.reason).toContain('check the token');
    expect(r.failure.reason).toContain(String(status));
  });

  it('404 → retry with the not-found hint', () => {
    const r = retry(classify(http(404, 'database not found: "x"')));
    expect(r.failure.code).toBe('write_not_found');
    expect(r.failure.reason).toContain('bucket "b" does not exist');
  });

  it('429 with Retry-After seconds → retry after that long', () => {
    const r = retry(classify(http(429, 'slow down', { 'retry-after': '2' })));
    expect(r.failure.code).toBe('http_429');
    expect(r.retryAfterMs).toBe(2000);
  });

  it('Retry-After as an HTTP date → the time until then', () => {
    const at = new Date(Date.now() + 60_000).toUTCString();
    const r = retry(classify(http(503, '', { 'retry-after': at })));
    expect(r.retryAfterMs).toBeGreaterThan(55_000);
    expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('5xx → retry without Retry-After when the server sent none', () => {
    for (const status of [500, 502, 503, 504]) {
      const r = retry(classify(http(status, 'overloaded')));
      expect(r.failure.code).toBe(`http_${status}`);
      expect(r.failure.reason).toContain('overloaded');
      expect(r.retryAfterMs).toBeUndefined();
    }
  });

  it('a network error → retry with its code', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8086'), { code: 'ECONNREFUSED' });
    const r = retry(classify(error));
    expect(r.failure.code).toBe('ECONNREFUSED');
    expect(r.failure.reason).toContain('127.0.0.1:8086');
  });

  it('anything else thrown → retry, never rejected', () => {
    expect(retry(classify(new TypeError('oops'))).failure.code).toBe('TypeError');
    expect(retry(classify('a string')).failure).toEqual({ code: 'write_error', reason: 'a string' });
    expect(retry(classify(undefined)).failure.code).toBe('write_error');
    expect(retry(classify(null)).failure.code).toBe('write_error');
  });
});

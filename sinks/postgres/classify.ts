import type { Failure, WriteResult } from '../../pipeline/core/types.js';

/**
 * SQLSTATE classes that say the rows themselves are wrong, so retrying cannot help: 22 data
 * exception (a value out of range, bad text encoding), 23 integrity constraint violation, and the
 * type mismatches of class 42 (42804 datatype mismatch, 42703 undefined column, 42P18 indeterminate type).
 */
const ROW_ERRORS = /^(22|23)|^(42804|42703|42P18)$/;

/** SQLSTATEs an operator must fix (the writes retry meanwhile, holding the acknowledgements). */
const FIX_HINTS: Record<string, string> = {
  '28P01': 'check the PostgreSQL user and password',
  '28000': 'the server refused this user or host (pg_hba.conf)',
  '3D000': 'the database does not exist',
  '42501': 'the user may not create or write the tables (grant it, or create them beforehand)',
  '42P01': 'a table is missing (dropped while the worker ran?)',
  '3F000': 'the schema does not exist',
};

/**
 * Classifies a failed write (the runtime retries and splits; this only decides): an error about
 * the rows → `rejected` (the runtime bisects the batch until the bad readings are alone and
 * dead-letters them); anything else — connection lost, server shutting down, deadlock,
 * serialization failure, timeouts, refused credentials — → `retry`.
 */
export function classifyPostgresError(error: unknown): WriteResult {
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) {
    if (ROW_ERRORS.test(code))
      return {
        status: 'rejected',
        failure: { code: 'postgres_rejected', reason: `PostgreSQL rejected the rows (${code}): ${message}` },
      };
    const hint = FIX_HINTS[code];
    return {
      status: 'retry',
      failure: { code: `postgres_${code}`, reason: `PostgreSQL error ${code}: ${message}${hint ? `: ${hint}` : ''}` },
    };
  }
  return { status: 'retry', failure: { code: code ?? 'postgres_unavailable', reason: message } };
}

/** A failure for one reading found wrong before it was sent. */
export function rowFailure(reason: string): Failure {
  return { code: 'postgres_rejected', reason };
}

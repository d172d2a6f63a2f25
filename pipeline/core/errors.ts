/** A configuration value is missing or wrong; thrown at start, naming the option and what is expected. */
export class ConfigError extends Error {
  /** Stable code for logs. */
  readonly code = 'TRIBUTARY_CONFIG';
  constructor(option: string, expected: string, got?: unknown) {
    super(`${option}: expected ${expected}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`);
    this.name = 'ConfigError';
  }
}

/** A service refused us in a way retrying won't fix (bad credentials, missing database). */
export class ConnectError extends Error {
  /** Stable code for logs. */
  readonly code = 'TRIBUTARY_CONNECT';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectError';
  }
}

/**
 * `text` with every secret the project handles hidden, safe for messages and logs: user info in
 * URLs (`scheme://***@host`), `Token`/`Bearer`/`Basic` credentials, and `password`, `token`,
 * `passphrase`, `secret` or `key` values in query strings and `key=value` / `"key": "value"` text.
 * The one redaction function: every message that may echo configuration goes through it.
 * @example redact('mqtt://ingest:s3cret@broker:1883') // 'mqtt://***@broker:1883'
 */
export function redact(text: string): string {
  return (
    text
      // user info up to the last `@` of a token, with or without a scheme (`user:pw@host`, `a:/u:p/w@h`)
      .replace(/(^|[\s(<"'=,])([a-z][a-z0-9+.-]*:\/*)?[^\s"'<>]*@/gi, '$1$2***@')
      .replace(/\b(Token|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***')
      .replace(
        /\b((?:[a-z_]*_)?(?:password|passwd|token|passphrase|secret|api[-_]?key)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&"',;}]+)/gi,
        (_m, key: string, value: string) =>
          `${key}${value.startsWith('"') || value.startsWith("'") ? `${value[0]}***${value[0]}` : '***'}`,
      )
  );
}

/**
 * The failure codes Tributary itself produces, by where they arise: dead letters carry one of these
 * or the code a stage of yours gives `reject`; a retried write also reports the network error's own
 * code (`ECONNREFUSED`) or `http_<status>`. `test/pipeline/core/failure-codes.test.ts` checks that every
 * code in the sources is listed here.
 */
export const FAILURE_CODES = [
  // decoding and routing
  'decode_error',
  'unrouted',
  'no_branch',
  'not_a_message',
  // stages
  'transform_error',
  'cast_error',
  'mapping_error',
  'missing_field',
  'out_of_range',
  'stale_reading',
  'topic_mismatch',
  'late_reading',
  'too_many_series',
  'lookup_failed',
  'lookup_missing',
  'too_large',
  'alert_rule_error',
  'sparkplug_seq_gap',
  'sparkplug_unknown_alias',
  // sinks, for good: the item is dead-lettered
  'encode_error',
  'write_rejected',
  'write_too_large',
  'field_type_conflict',
  'postgres_rejected',
  'retry_exhausted',
  'unreadable',
  // sinks, retried: acknowledgements are held meanwhile
  'write_unauthorized',
  'write_not_found',
  'write_error',
  'sink_threw',
  'delivery_error',
  'dead_letter_refused',
  'redis_error',
  'redis_unavailable',
  'state_unavailable',
  'field_types_unavailable',
  'postgres_unavailable',
  'alert_enqueue_failed',
  'spool_closed',
  'spool_full',
  'spool_write_failed',
] as const;

/** A failure code Tributary produces (see {@link FAILURE_CODES}). */
export type FailureCode = (typeof FAILURE_CODES)[number];

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

/** A URL with its credentials hidden (`scheme://***@host/...`), safe for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

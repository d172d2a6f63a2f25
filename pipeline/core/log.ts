import { pino } from 'pino';
import type { Logger } from './types.js';

/** Keys whose values never reach a log line. */
const SECRET_PATHS = [
  'password',
  'token',
  'authorization',
  'passphrase',
  '*.password',
  '*.token',
  '*.authorization',
  '*.passphrase',
  'options.password',
  'options.token',
];

/**
 * A structured JSON logger on stderr (stdout stays free for progress and results).
 * @param level - `debug`, `info`, `warn` or `error`. @defaultValue `TRIBUTARY_LOG_LEVEL` or 'info'
 */
export function createLogger(
  level = process.env.TRIBUTARY_LOG_LEVEL ?? 'info',
  bindings: Record<string, unknown> = {},
): Logger {
  return pino(
    { level, base: { pid: process.pid, ...bindings }, redact: { paths: SECRET_PATHS, censor: '[redacted]' } },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

import { ConfigError, redact } from '../../pipeline/core/errors.js';

/** The PostgreSQL settings of a worker, read from `TRIBUTARY_POSTGRES_*` variables. */
export interface PostgresEnv {
  readonly url: string;
  readonly schema: string;
  readonly layout: 'wide' | 'narrow';
}

/** The PostgreSQL sink's variables with their defaults. Documented in the README, "Configuration". */
export const POSTGRES_ENV_DEFAULTS = {
  TRIBUTARY_POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  TRIBUTARY_POSTGRES_SCHEMA: 'public',
  TRIBUTARY_POSTGRES_LAYOUT: 'wide',
} as const;

/**
 * Reads `TRIBUTARY_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
 * `TRIBUTARY_POSTGRES_SCHEMA` (`public`) and `TRIBUTARY_POSTGRES_LAYOUT` (`wide` or `narrow`);
 * a bad value throws a {@link ConfigError} naming the variable.
 * @example
 * postgres({ ...postgresEnv(), log })
 */
export function postgresEnv(env: NodeJS.ProcessEnv = process.env): PostgresEnv {
  const url = env.TRIBUTARY_POSTGRES_URL || POSTGRES_ENV_DEFAULTS.TRIBUTARY_POSTGRES_URL;
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new ConfigError('TRIBUTARY_POSTGRES_URL', 'a URL like postgres://user@127.0.0.1:5432/db', redact(url));
  const layout = env.TRIBUTARY_POSTGRES_LAYOUT || POSTGRES_ENV_DEFAULTS.TRIBUTARY_POSTGRES_LAYOUT;
  if (layout !== 'wide' && layout !== 'narrow')
    throw new ConfigError('TRIBUTARY_POSTGRES_LAYOUT', 'wide or narrow', layout);
  return { url, schema: env.TRIBUTARY_POSTGRES_SCHEMA || POSTGRES_ENV_DEFAULTS.TRIBUTARY_POSTGRES_SCHEMA, layout };
}

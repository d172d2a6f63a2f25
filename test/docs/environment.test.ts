// Every TRIBUTARY_* variable the code reads is in the README's configuration table and in
// docs/operations.md's environment table, with the default the code uses.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_DEFAULTS } from '../../pipeline/cli/config/env.js';
import { SECURITY_ENV_DEFAULTS } from '../../pipeline/cli/config/security-env.js';
import { METRICS_ENV_DEFAULTS } from '../../pipeline/cli/metrics/env.js';
import { POSTGRES_ENV_DEFAULTS } from '../../sinks/postgres/env.js';

/** Defaults the code applies ('' = none); variables read elsewhere without a table of defaults are added by hand. */
const DEFAULTS: Record<string, string> = {
  ...ENV_DEFAULTS,
  ...SECURITY_ENV_DEFAULTS,
  ...METRICS_ENV_DEFAULTS,
  ...POSTGRES_ENV_DEFAULTS,
  TRIBUTARY_LOG_LEVEL: 'info', // pipeline/core/log.ts
  TRIBUTARY_LOADER: '', // bin/tributary.mjs
  TRIBUTARY_CLIENT_ID: '<group>-<index>', // derived, config/env.ts
};
/** Names in the sources that are not variables: error codes, and prefixes in comments. */
const NOT_VARIABLES = new Set(['TRIBUTARY_CONFIG', 'TRIBUTARY_CONNECT']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs)$/.test(name) ? [path] : [];
  });
}

/** Every TRIBUTARY_* name the shipped code mentions. */
function variablesInCode(): string[] {
  const names = new Set<string>();
  for (const file of ['pipeline', 'sinks', 'transforms', 'bin'].flatMap(sourceFiles)) {
    for (const [name] of readFileSync(file, 'utf8').matchAll(/TRIBUTARY_[A-Z0-9_]*[A-Z0-9]\b/g))
      if (!NOT_VARIABLES.has(name)) names.add(name);
  }
  return [...names].sort();
}

/** Rows of the markdown tables in `file` that name variables: variable → its default column ('' when none). */
function documented(file: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('|')) continue;
    const [names = '', defaults = ''] = line
      .split('|')
      .slice(1)
      .map((c) => c.trim());
    const vars = [...names.matchAll(/`(TRIBUTARY_[A-Z0-9_]+)`/g)].map((m) => m[1]!);
    if (vars.length === 0) continue;
    const values = [...defaults.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
    vars.forEach((v, i) =>
      rows.set(
        v,
        values.length === vars.length ? values[i]! : values.length === 1 && vars.length === 1 ? values[0]! : '',
      ),
    );
  }
  return rows;
}

describe.each(['README.md', 'docs/operations.md'])('%s documents the environment', (file) => {
  const docs = documented(file);
  it.each(variablesInCode())('%s, with the default the code uses', (name) => {
    expect(docs.has(name), `${name} is read by the code but missing from ${file}'s tables`).toBe(true);
    expect(docs.get(name), `${name}'s default in ${file}`).toBe(DEFAULTS[name] ?? '');
  });
});

// Failure codes are a closed list: every code literal in the sources is one of FAILURE_CODES.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAILURE_CODES } from '../../../pipeline/core/errors.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

/** `code: 'x'`, `code: y ?? 'x'` and `reject(reason, 'x')` in the shipped sources. */
function codesInSources(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of ['pipeline', 'sinks', 'transforms'].flatMap(sources)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bcode:\s*(?:[\w.]+ \?\? )?|\breject\([^()]*?,\s*)'([a-z][a-z0-9_]*)'/g))
      found.set(m[1]!, file);
  }
  return found;
}

describe('failure codes', () => {
  const listed = new Set<string>(FAILURE_CODES);
  const used = codesInSources();
  it('finds the codes it checks', () => {
    expect(used.size).toBeGreaterThan(20);
  });
  it.each([...used])('%s (%s) is listed in FAILURE_CODES', (code) => {
    expect(listed.has(code)).toBe(true);
  });
  it('lists no code twice', () => {
    expect(listed.size).toBe(FAILURE_CODES.length);
  });
});

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../support/flat-string-retained.ts', import.meta.url));

/** Heap bytes retained per line, measured in a child process with `--expose-gc` after the builder is optimized. */
async function retainedPerLine(mode: 'flat' | 'tree'): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', script, mode], {
    cwd: process.cwd(),
  });
  return Number(stdout.trim());
}

describe('flatString', () => {
  it('keeps a built line flat once the code building it is optimized (a third of the tree it replaces)', async () => {
    const [flat, tree] = await Promise.all([retainedPerLine('flat'), retainedPerLine('tree')]);
    expect(tree).toBeGreaterThan(200); // the tree of pieces a template makes
    expect(flat).toBeLessThan(tree * 0.5);
  }, 60_000);
});

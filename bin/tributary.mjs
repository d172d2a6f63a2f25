#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=50
// Starts the CLI without a build step. By default it runs one ESM bundle of the CLI and the
// pipeline file named on the command line, built with esbuild and cached under
// node_modules/.cache/tributary: loading the TypeScript through tsx instead keeps tsx's module-hook
// thread (25–33 MB resident) alive for the worker's whole life. TRIBUTARY_LOADER=tsx, or a bundle
// that cannot be built, loads the sources through tsx.
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { bundled, STARTED } from './bundle.mjs';

// Garbage-collector sizing of a worker, set by the first line when this file is run as a program
// (`tributary`, `npx tributary`, `bin/tributary.mjs`), and below for `node bin/tributary.mjs`,
// unless given on the command line or in NODE_OPTIONS. The bench (`npm run bench`, drain, 200k
// messages, medians of 3) found RSS set by the young generation and by how far the old one grows
// between collections, not by the messages held: Node's defaults peaked at ~250 MB, and a 64 MB
// young generation promoted 3× less but peaked the same. An 8 MB young generation with the old
// one collected at 1.5× its live size peaked at 137–146 MB and drained as fast as any setting
// tried (1.25×: 131 MB but ~5 % slower; 2×: 157 MB). Set at run time, a young generation can grow
// but not shrink below Node's 16 MB (peak ~150 MB), hence the first line.
for (const [flag, value] of [
  ['--max-semi-space-size', 8],
  ['--heap-growing-percent', 50],
]) {
  const given = process.execArgv.some((a) => a.startsWith(flag)) || (process.env.NODE_OPTIONS ?? '').includes(flag);
  if (!given) setFlagsFromString(`${flag}=${value}`);
}

const DEBUG = /^(?:debug|trace)$/i.test(process.env.TRIBUTARY_LOG_LEVEL ?? '');

let bundle;
if (process.env.TRIBUTARY_LOADER !== 'tsx') {
  try {
    bundle = await bundled(process.argv.slice(2), debug);
  } catch (error) {
    debug(`loading through tsx: no bundle (${error instanceof Error ? error.message : String(error)})`);
  }
}
if (bundle) {
  process.setSourceMapsEnabled(true);
  try {
    await import(pathToFileURL(bundle).href);
  } catch (error) {
    if (globalThis[STARTED]) throw error; // the CLI ran: not something to retry
    debug(`loading through tsx: the bundle did not link (${error instanceof Error ? error.message : String(error)})`);
    bundle = undefined;
  }
}
if (!bundle) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../pipeline/cli/main.ts');
}

function debug(message) {
  if (DEBUG) console.error(`tributary: launcher: ${message}`);
}

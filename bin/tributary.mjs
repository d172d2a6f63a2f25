#!/usr/bin/env node
// Starts the CLI without a build step. By default it runs one ESM bundle of the CLI and the
// pipeline file named on the command line, built with esbuild and cached under
// node_modules/.cache/tributary: loading the TypeScript through tsx instead keeps tsx's module-hook
// thread (25–33 MB resident) alive for the worker's whole life. TRIBUTARY_LOADER=tsx, or a bundle
// that cannot be built, loads the sources through tsx.
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { bundled, STARTED } from './bundle.mjs';

// A message lives until its batch is written (100–200 ms under load): with a small young
// generation it survives a scavenge and is promoted, then dies in the old one. With 64 MB, 200k
// messages promoted 57 MB instead of 173 MB (32 MB) and scavenges took 387 ms instead of 620 ms; peak
// RSS stayed the same, as the old generation no longer grows to 174 MB between collections.
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) && !/max-semi-space-size/.test(process.env.NODE_OPTIONS ?? '')) {
  setFlagsFromString('--max-semi-space-size=64');
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
  await import('../pipeline/cli.ts');
}

function debug(message) {
  if (DEBUG) console.error(`tributary: launcher: ${message}`);
}

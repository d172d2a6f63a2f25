#!/usr/bin/env node
// Loads TypeScript pipelines and the CLI without a build step.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// A message lives until its batch is written (tens of ms): with the default 16 MB young
// generation most survive a scavenge and get promoted. 32 MB halves GC time per message.
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size')) && !/max-semi-space-size/.test(process.env.NODE_OPTIONS ?? '')) {
  setFlagsFromString('--max-semi-space-size=32');
}
register();
await import('../pipeline/cli.ts');

#!/usr/bin/env node
// Loads TypeScript pipelines and the CLI without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../pipeline/cli.ts');

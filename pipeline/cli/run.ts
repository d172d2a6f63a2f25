import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { PipelineDefinition } from '../engine/builder.js';
import { workerEnv } from './config/env.js';
import { ConfigError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { startProgress } from './progress.js';
import { describeEnv, startWorker } from './worker.js';
import { startWorkerTelemetry } from './metrics/index.js';
import type { Runtime } from '../engine/runtime/runtime.js';
import { redisDeadLetters } from '../../sinks/dead-letter/index.js';
import { importModule } from './preloaded.js';
import { drainUntilQuiet, retiredMembers, startOrphanAdopter } from './orphans.js';
import { watchParent } from './parent-watch.js';
import { runWatching } from './watch.js';

const HELP = `Usage: tributary run <pipeline.ts> [--workers N] [--progress] [--drain-timeout-ms MS] [--watch]

Runs the pipeline file's default export. With --workers N, forks N worker processes, each its own
MQTT connection with client id <group>-<i> in the share group, and restarts a worker that dies.
SIGTERM/SIGINT drain gracefully: stop intake, flush, acknowledge, disconnect. Started through npm
(npx, npm exec, npm run), which exits on SIGTERM without passing it on, a worker drains once npm is
gone; ./bin/tributary.mjs run … (node_modules/.bin/tributary in a project) has the worker's PID.
With --watch, a change to the file or its imports that type-checks drains the running worker(s)
and starts new ones; one that does not type-check prints the errors and changes nothing.`;

/** `tributary run`. */
export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workers: { type: 'string', default: '1' },
      progress: { type: 'boolean', default: false },
      'drain-timeout-ms': { type: 'string', default: '10000' },
      help: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const file = positionals[0];
  if (!file) throw new ConfigError('run <pipeline.ts>', 'a pipeline file');
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256)
    throw new ConfigError('--workers', 'an integer 1..256', values.workers);
  if (values.watch) return runWatching(file, args);
  if (workers > 1) return supervise(file, workers, args);

  const env = workerEnv();
  const log = createLogger(undefined, { clientId: env.mqtt.clientId });
  const mod = (await importModule(resolve(file))) as { default?: PipelineDefinition };
  if (!mod.default?.source)
    throw new ConfigError(file, 'a default export made with definePipeline(...).from(...).to(...)');
  let runtime: Runtime | undefined;
  // Started first, so that /healthz answers while the worker connects.
  const telemetry = await startWorkerTelemetry({
    stats: () => runtime?.stats,
    source: mod.default.source,
    pipeline: mod.default.name,
    env,
    log,
  });
  runtime = await startWorker(mod.default, {
    log,
    drainTimeoutMs: Number(values['drain-timeout-ms']),
    fallbackDeadLetters: () => redisDeadLetters({ url: env.redis.url }),
    beforeExit: () => telemetry.stop(),
  });
  console.log(`tributary: worker ${env.mqtt.clientId} ready (${JSON.stringify(describeEnv(env))})`);
  if (values.progress) startProgress(runtime.stats, env.mqtt.clientId);
  if (env.mqtt.drainSession) {
    const code = await drainUntilQuiet(runtime, mod.default.source, log);
    await telemetry.stop();
    process.exit(code);
  }
  if (env.orphans.adopt) {
    const poolSize = process.env.TRIBUTARY_POOL_SIZE ? Number(process.env.TRIBUTARY_POOL_SIZE) : undefined;
    await startOrphanAdopter({
      file,
      env,
      log,
      retired: process.env.TRIBUTARY_CLIENT_ID ? undefined : retiredMembers(env.mqtt.group, poolSize),
    });
  }
  return new Promise<number>(() => {}); // runs until a signal drains and exits
}

function supervise(file: string, workers: number, args: string[]): Promise<number> {
  const childArgs = [
    'run',
    file,
    ...args.filter((a, i) => a !== file && a !== '--workers' && args[i - 1] !== '--workers'),
    '--workers',
    '1',
  ];
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  const start = (index: number, restarts: number) => {
    const child = fork(process.argv[1]!, childArgs, {
      env: { ...process.env, TRIBUTARY_WORKER_INDEX: String(index), TRIBUTARY_POOL_SIZE: String(workers) },
    });
    children.set(index, child);
    child.on('exit', (code, signal) => {
      children.delete(index);
      if (stopping) return;
      const delayMs = Math.min(30_000, 500 * 2 ** Math.min(restarts, 6));
      console.error(`tributary: worker ${index} exited (${signal ?? code}); restarting in ${delayMs} ms`);
      setTimeout(() => start(index, restarts + 1), delayMs);
    });
  };
  for (let i = 0; i < workers; i++) start(i, 0);
  return new Promise((done) => {
    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      for (const c of children.values()) c.kill(signal);
      const check = setInterval(() => {
        if (children.size === 0) {
          clearInterval(check);
          done(0);
        }
      }, 100);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    watchParent(() => stop('SIGTERM'));
  });
}

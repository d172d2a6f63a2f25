import type { PipelineDefinition } from '../engine/builder.js';
import { redact } from '../core/errors.js';
import type { WorkerEnv } from './config/env.js';
import { watchParent } from './parent-watch.js';
import { Runtime } from '../engine/runtime/runtime.js';
import type { DeadLetterSink, Logger } from '../core/types.js';

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  readonly log: Logger;
  /** Used when the pipeline names no dead-letter sink. */
  readonly fallbackDeadLetters: () => DeadLetterSink;
  /** How long a graceful drain may take on SIGTERM/SIGINT. @defaultValue 10000 */
  readonly drainTimeoutMs?: number;
  /** Runs after the drain, before the process exits (stop metrics servers, ...). */
  readonly beforeExit?: () => Promise<void>;
  /** Install SIGTERM/SIGINT handlers that drain and exit, and drain too when the launcher is gone (see `watchParent`). @defaultValue true */
  readonly handleSignals?: boolean;
}

/**
 * Runs a pipeline definition in this process until SIGTERM/SIGINT, then drains: stops intake,
 * flushes, waits for acknowledgements, disconnects; exits 0 if everything settled in time.
 */
export async function startWorker(def: PipelineDefinition, options: WorkerOptions): Promise<Runtime> {
  const runtime = new Runtime({
    source: def.source,
    stages: def.stages,
    sinks: def.sinks,
    deadLetters: forPipeline(def.deadLetters ?? options.fallbackDeadLetters(), def.name),
    log: options.log,
  });
  await runtime.start();
  options.log.info({ pipeline: def.name, source: def.source.name, window: def.source.window }, 'pipeline running');
  if (options.handleSignals ?? true) {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      options.log.info({ signal }, 'draining');
      runtime.stop(options.drainTimeoutMs ?? 10_000).then(
        async (drained) => {
          await options.beforeExit?.().catch(() => undefined);
          process.exit(drained ? 0 : 1);
        },
        (error: unknown) => {
          options.log.error({ error }, 'drain failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    watchParent(stop); // `npx tributary run`: npm and sh exit on SIGTERM without passing it on
  }
  return runtime;
}

/** The sink, told the pipeline's name when it records one on each letter (`redisDeadLetters` does). */
function forPipeline(sink: DeadLetterSink, pipeline: string): DeadLetterSink {
  const aware = sink as DeadLetterSink & { forPipeline?: (name: string) => DeadLetterSink };
  return typeof aware.forPipeline === 'function' ? aware.forPipeline(pipeline) : sink;
}

/** The endpoints of `env`, safe to print. */
export function describeEnv(env: WorkerEnv): Record<string, string> {
  return {
    mqtt: redact(env.mqtt.url),
    clientId: env.mqtt.clientId,
    influx: redact(env.influx.url),
    redis: redact(env.redis.url),
  };
}

// An alert handler of your own, run by the alert worker beside the built-in ones.
// `tsx examples/alert-handler.ts` consumes the fleet's queue ("alerts" on TRIBUTARY_REDIS_URL) and
// prints a pager line for critical alerts; Ctrl-C stops it after the running jobs.
import { pathToFileURL } from 'node:url';
import type { AlertEvent } from '../pipeline/core/types.js';
import { createLogger, workerEnv } from '../pipeline/index.js';
import { logHandler } from '../sinks/alert-queue/handlers.js';
import { startAlertWorker, type AlertHandler } from '../sinks/alert-queue/worker.js';

/** One line for a person: `[CRITICAL] overheating FIRING on device=dev-340,site=site-3: 31.2 (since 12:00:01)`. */
export function pagerText(e: AlertEvent): string {
  const where =
    Object.entries(e.tags)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || e.measurement;
  const what = e.state === 'firing' ? (e.repeat ? 'STILL FIRING' : 'FIRING') : 'RESOLVED';
  const value = e.value === null ? '' : `: ${String(e.value)}`;
  const since =
    e.state === 'firing'
      ? ` (since ${e.startsAt.slice(11, 19)})`
      : ` (${e.startsAt.slice(11, 19)}–${(e.endsAt ?? '').slice(11, 19)})`;
  return `[${e.severity.toUpperCase()}] ${e.ruleId} ${what} on ${where}${value}${since}`;
}

/**
 * A handler that pages for critical alerts only. `send` is where a real one would call the
 * pager's API; throwing there makes BullMQ retry the job (handlers that already succeeded are
 * skipped on the retry).
 * @example
 * startAlertWorker({ url, queue: 'alerts', handlers: [pagerHandler({ send: async (text) => console.log(text) })] })
 */
export function pagerHandler(options: {
  readonly send: (text: string, event: AlertEvent, jobId: string) => Promise<void>;
}): AlertHandler {
  return {
    name: 'pager',
    async handle(event, { jobId }) {
      if (event.severity !== 'critical') return;
      await options.send(pagerText(event), event, jobId);
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = workerEnv();
  const log = createLogger();
  const worker = await startAlertWorker({
    url: env.redis.url,
    queue: process.env.ALERT_QUEUE ?? 'alerts',
    concurrency: 4,
    limiter: { max: 20, duration: 1000 },
    handlers: [
      logHandler(log),
      pagerHandler({
        send: async (text) => {
          console.log(text);
        },
      }),
    ],
  });
  console.log('alert handler running; Ctrl-C to stop');
  const stop = () => void worker.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

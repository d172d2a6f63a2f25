import { parseArgs } from 'node:util';
import { workerEnv } from './config/env.js';
import { ConfigError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { Logger } from '../core/types.js';
import { logHandler, mqttHandler, webhookHandler } from '../../sinks/alert-queue/handlers.js';
import { startAlertWorker, type AlertHandler } from '../../sinks/alert-queue/worker.js';

const HELP = `Usage: tributary alerts [--queue Q] [--concurrency N] [--webhook URL] [--mqtt-topic T]
                        [--rate-max N --rate-duration-ms MS]

Consumes the alert jobs of BullMQ queue Q (default "alerts") on TRIBUTARY_REDIS_URL and hands each
alert to: a log line (always); an HTTP POST of its JSON to URL (--webhook); a QoS 1 publish on
TRIBUTARY_MQTT_URL to topic T (--mqtt-topic; {ruleId} {state} {severity} {measurement} and tag
names such as {device} are replaced). --concurrency N jobs at once (default 4); --rate-max N jobs
per --rate-duration-ms MS (default 1000) over all workers of the queue. A failed handler is retried
with the job's backoff; the handlers that already succeeded are not called again.
SIGTERM/SIGINT finish the running jobs and exit.`;

/** Test seams of {@link alertsCommand}. */
export interface AlertsCommandOptions {
  /** Stops the worker instead of SIGTERM/SIGINT. */
  readonly signal?: AbortSignal;
  readonly log?: Logger;
  /** Called once the worker consumes. */
  readonly onReady?: () => void;
}

/** `tributary alerts`: runs an alert worker until a signal. */
export async function alertsCommand(args: string[], options: AlertsCommandOptions = {}): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      queue: { type: 'string', default: 'alerts' },
      concurrency: { type: 'string', default: '4' },
      webhook: { type: 'string' },
      'mqtt-topic': { type: 'string' },
      'rate-max': { type: 'string' },
      'rate-duration-ms': { type: 'string', default: '1000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name}`, `an integer ${min}..${max}`, v);
    return n;
  };
  const concurrency = int('concurrency', values.concurrency, 1, 1000);
  const limiter =
    values['rate-max'] === undefined
      ? undefined
      : {
          max: int('rate-max', values['rate-max'], 1, 1_000_000),
          duration: int('rate-duration-ms', values['rate-duration-ms'], 1, 86_400_000),
        };
  if (!values.queue || values.queue.includes(':'))
    throw new ConfigError('--queue', 'a queue name without ":"', values.queue);
  if (values.webhook !== undefined && !/^https?:\/\/[^/]/.test(values.webhook))
    throw new ConfigError('--webhook', 'an http(s) URL', values.webhook);

  const env = workerEnv();
  const log = options.log ?? createLogger();
  const handlers: AlertHandler[] = [logHandler(log)];
  if (values.webhook) handlers.push(webhookHandler({ url: values.webhook }));
  if (values['mqtt-topic']) handlers.push(mqttHandler({ url: env.mqtt.url, topic: values['mqtt-topic'] }));
  const worker = await startAlertWorker({
    url: env.redis.url,
    queue: values.queue,
    handlers,
    concurrency,
    limiter,
    log,
  });
  log.info({ queue: values.queue, concurrency, limiter, handlers: handlers.map((h) => h.name) }, 'alert worker ready');
  options.onReady?.();
  await new Promise<void>((resolve) => {
    if (options.signal) {
      if (options.signal.aborted) resolve();
      options.signal.addEventListener('abort', () => resolve(), { once: true });
    } else {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    }
  });
  await worker.close();
  log.info({ queue: values.queue }, 'alert worker stopped');
  return 0;
}

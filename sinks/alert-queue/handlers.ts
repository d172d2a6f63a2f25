import { UnrecoverableError } from 'bullmq';
import mqtt, { type MqttClient } from 'mqtt';
import type { AlertEvent, Logger } from '../../pipeline/core/types.js';
import type { AlertHandler } from './worker.js';

/**
 * Logs each alert as one structured line (`alert firing` / `alert resolved`).
 * @example
 * logHandler(createLogger())
 */
export function logHandler(log: Logger): AlertHandler {
  return {
    name: 'log',
    async handle(e, { jobId }) {
      const level = e.state === 'firing' && e.severity !== 'info' ? 'warn' : 'info';
      log[level](
        {
          jobId,
          ruleId: e.ruleId,
          severity: e.severity,
          tags: e.tags,
          value: e.value,
          repeat: e.repeat,
          startsAt: e.startsAt,
          endsAt: e.endsAt,
        },
        `alert ${e.state}`,
      );
    },
  };
}

/** Options of {@link webhookHandler}. */
export interface WebhookOptions {
  readonly url: string;
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** @defaultValue 10000 */
  readonly timeoutMs?: number;
}

/**
 * POSTs each alert as JSON, with the job id as `Idempotency-Key`. A 2xx answer is success; 408,
 * 429, 5xx and network errors are retried; other 4xx fail the job for good.
 * @example
 * webhookHandler({ url: 'https://hooks.example.com/alerts', headers: { authorization: `Bearer ${token}` } })
 */
export function webhookHandler(options: WebhookOptions): AlertHandler {
  const url = new URL(options.url).toString();
  return {
    name: 'webhook',
    async handle(event, { jobId }) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': jobId, ...options.headers },
        body: JSON.stringify({ jobId, ...event }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      if (res.ok) return;
      const message = `webhook ${url} answered ${res.status}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
        throw new UnrecoverableError(message);
      throw new Error(message);
    },
  };
}

/** Options of {@link mqttHandler}. */
export interface MqttHandlerOptions {
  /** Broker URL. Ignored when `client` is given. @defaultValue 'mqtt://127.0.0.1:1884' */
  readonly url?: string;
  readonly client?: MqttClient;
  /**
   * Topic; `{ruleId}`, `{state}`, `{severity}`, `{measurement}` and tag names (`{device}`) are
   * replaced (`/`, `+`, `#` in values become `_`). @defaultValue 'alerts/{ruleId}/{state}'
   */
  readonly topic?: string;
  /** @defaultValue 1 */
  readonly qos?: 0 | 1 | 2;
  /** @defaultValue false */
  readonly retain?: boolean;
}

/** The MQTT topic of an alert for a topic template (see {@link MqttHandlerOptions.topic}). */
export function alertTopic(template: string, e: AlertEvent): string {
  const vars: Record<string, string> = {
    ...e.tags,
    ruleId: e.ruleId,
    state: e.state,
    severity: e.severity,
    measurement: e.measurement,
  };
  return template.replace(/\{([^{}]+)\}/g, (_m, name: string) => (vars[name] ?? '_').replace(/[/+#]/g, '_'));
}

/**
 * Publishes each alert as JSON (QoS 1 by default: resolves once the broker has it).
 * @example
 * mqttHandler({ url: 'mqtt://127.0.0.1:1884', topic: 'alerts/{site}/{device}/{ruleId}' })
 */
export function mqttHandler(options: MqttHandlerOptions): AlertHandler {
  const template = options.topic ?? 'alerts/{ruleId}/{state}';
  let client: Promise<MqttClient> | undefined = options.client && Promise.resolve(options.client);
  const connect = () =>
    (client ??= mqtt
      .connectAsync(options.url ?? 'mqtt://127.0.0.1:1884', {
        clientId: `tributary-alerts-${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`,
        protocolVersion: 5,
        reconnectPeriod: 1000,
      })
      .catch((error: unknown) => {
        client = undefined;
        throw error;
      }));
  return {
    name: 'mqtt',
    async handle(event, { jobId }) {
      const c = await connect();
      await c.publishAsync(alertTopic(template, event), JSON.stringify({ jobId, ...event }), {
        qos: options.qos ?? 1,
        retain: options.retain ?? false,
        properties: { contentType: 'application/json', userProperties: { jobId } },
      });
    },
    async close() {
      if (!options.client && client) await (await client.catch(() => undefined))?.endAsync();
    },
  };
}

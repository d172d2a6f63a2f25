// The alert worker against the real Redis, a local HTTP server and the project's MQTT broker.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pagerHandler } from '../../../examples/alert-handler.js';
import { fleetAlertRules, summarizeAlerts } from '../../../examples/fleet-alerts.js';
import { alertsCommand } from '../../../pipeline/cli/alerts.js';
import type { AlertEvent, Logger, Reading } from '../../../pipeline/core/types.js';
import { logHandler, mqttHandler, webhookHandler } from '../../../sinks/alert-queue/handlers.js';
import { alertQueue, type AlertQueueOptions } from '../../../sinks/alert-queue/index.js';
import { startAlertWorker, type AlertHandler, type AlertWorker } from '../../../sinks/alert-queue/worker.js';
import { cleanup, queueName, reading, T0 } from '../../support/alerts.js';
import { MQTT_URL, REDIS_URL, uniqueName, waitFor } from '../../support/services.js';

const marker = `alerts_worker_${process.pid}`;
let redis: Redis;
let server: Server;
let hookUrl = '';
const queues: Queue[] = [];
const workers: AlertWorker[] = [];
/** What the webhook received; `answer` decides the status per request. */
const hook = {
  requests: [] as Array<{ headers: IncomingHttpHeaders; body: AlertEvent & { jobId: string } }>,
  answer: (_n: number, _body: AlertEvent) => 200,
};

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const parsed = JSON.parse(body) as AlertEvent & { jobId: string };
      hook.requests.push({ headers: req.headers, body: parsed });
      res.writeHead(hook.answer(hook.requests.length, parsed)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
});
afterAll(async () => {
  for (const w of workers) await w.close();
  await new Promise((r) => server.close(r));
  await cleanup(redis, queues, marker);
  redis.disconnect();
});

/** Fills a fresh queue through the real sink: `n` devices fire overheating, the first one resolves. */
async function alertsFor(n: number, jobs: AlertQueueOptions['jobs'] = { backoff: { type: 'fixed', delay: 20 } }) {
  const name = queueName(marker);
  const sink = alertQueue({
    url: REDIS_URL,
    queue: name,
    rules: fleetAlertRules,
    jobs,
    sweepIntervalMs: 0,
    keyPrefix: `tributary-test:${name}`,
  });
  await sink.open();
  const items: Reading[] = [];
  for (let d = 0; d < n; d++)
    items.push(reading(`dev-${d}`, 0, { temperature: 35 }), reading(`dev-${d}`, 2000, { temperature: 36 }));
  items.push(reading('dev-0', 3000, { temperature: 20 }));
  expect(await sink.write({ items, encoded: items.map((r) => sink.encode(r)) })).toEqual({ status: 'delivered' });
  await sink.close();
  const queue = new Queue(name, { connection: redis });
  queues.push(queue);
  return { name, queue };
}

const recordingLog = () => {
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const rec = (fields: Record<string, unknown>, msg: string) => {
    lines.push({ fields, msg });
  };
  return { lines, log: { debug: rec, info: rec, warn: rec, error: rec } satisfies Logger };
};

async function start(options: Parameters<typeof startAlertWorker>[0]) {
  const w = await startAlertWorker(options);
  workers.push(w);
  return w;
}

describe('alert worker', () => {
  it('hands every alert to the log, webhook and MQTT handlers, once each', async () => {
    const { name, queue } = await alertsFor(2);
    const topicRoot = `tributary-test/${uniqueName('alerts')}`;
    const sub = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('alert-sub'), reconnectPeriod: 0 });
    const published: Array<{ topic: string; body: AlertEvent & { jobId: string } }> = [];
    sub.on('message', (topic, payload) =>
      published.push({ topic, body: JSON.parse(payload.toString()) as AlertEvent & { jobId: string } }),
    );
    await sub.subscribeAsync(`${topicRoot}/#`, { qos: 1 });
    const { lines, log } = recordingLog();
    hook.requests = [];
    hook.answer = () => 204;
    const w = await start({
      url: REDIS_URL,
      queue: name,
      concurrency: 2,
      handlers: [
        logHandler(log),
        webhookHandler({ url: hookUrl, headers: { authorization: 'Bearer t' } }),
        mqttHandler({ url: MQTT_URL, topic: `${topicRoot}/{device}/{ruleId}/{state}` }),
      ],
    });
    expect(await waitFor(async () => (await queue.getCompletedCount()) === 3, 10_000, 50)).toBe(true);
    await w.close();
    await sub.endAsync();
    const jobIds = (await queue.getJobs(['completed'])).map((j) => j.id).sort();
    expect(lines.map((l) => l.msg).sort()).toEqual(['alert firing', 'alert firing', 'alert resolved']);
    expect(hook.requests.map((r) => r.headers['idempotency-key']).sort()).toEqual(jobIds);
    expect(
      hook.requests.every(
        (r) => r.headers.authorization === 'Bearer t' && r.body.jobId === r.headers['idempotency-key'],
      ),
    ).toBe(true);
    expect(published.map((p) => p.topic).sort()).toEqual([
      `${topicRoot}/dev-0/overheating/firing`,
      `${topicRoot}/dev-0/overheating/resolved`,
      `${topicRoot}/dev-1/overheating/firing`,
    ]);
    expect(published.find((p) => p.body.state === 'resolved')?.body).toMatchObject({
      ruleId: 'overheating',
      tags: { device: 'dev-0' },
      value: 20,
    });
  });

  it("retries a failed handler with the job's backoff without calling the ones that succeeded; 4xx fails for good", async () => {
    const { name, queue } = await alertsFor(1);
    const { lines, log } = recordingLog();
    hook.requests = [];
    let firingCalls = 0;
    hook.answer = (_n, body) => (body.state === 'resolved' ? 400 : ++firingCalls === 1 ? 503 : 200); // firing: 503 then 200; resolved: 400
    await start({
      url: REDIS_URL,
      queue: name,
      concurrency: 1,
      handlers: [logHandler(log), webhookHandler({ url: hookUrl })],
    });
    expect(
      await waitFor(
        async () => (await queue.getCompletedCount()) === 1 && (await queue.getFailedCount()) === 1,
        10_000,
        50,
      ),
    ).toBe(true);
    const [failed] = await queue.getJobs(['failed']);
    expect(failed?.attemptsMade).toBe(1); // UnrecoverableError: no further tries
    expect(failed?.failedReason).toMatch(/answered 400/);
    const [done] = await queue.getJobs(['completed']);
    expect(done?.attemptsMade).toBe(2);
    expect(lines.filter((l) => l.fields.jobId === done?.id)).toHaveLength(1); // logged once despite the retry
    expect(hook.requests.map((r) => r.body.state).sort()).toEqual(['firing', 'firing', 'resolved']);
  });

  it('runs at most `concurrency` jobs at once and honours the rate limiter', async () => {
    const name = queueName(marker);
    const queue = new Queue(name, { connection: redis });
    queues.push(queue);
    const data = (i: number) => ({ ruleId: 'r', state: 'firing', tags: { device: `d${i}` } });
    let running = 0,
      peak = 0;
    const slow: AlertHandler = {
      name: 'slow',
      async handle() {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 60));
        running--;
      },
    };
    await queue.addBulk(Array.from({ length: 9 }, (_, i) => ({ name: 'a', data: data(i) })));
    const w1 = await start({ url: REDIS_URL, queue: name, concurrency: 3, handlers: [slow] });
    expect(await waitFor(async () => (await queue.getCompletedCount()) === 9, 10_000, 20)).toBe(true);
    await w1.close();
    expect(peak).toBe(3);

    const times: number[] = [];
    const stamp: AlertHandler = {
      name: 'stamp',
      async handle() {
        times.push(Date.now());
      },
    };
    await queue.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'b', data: data(i) })));
    await start({ url: REDIS_URL, queue: name, concurrency: 6, limiter: { max: 2, duration: 400 }, handlers: [stamp] });
    expect(await waitFor(() => times.length === 6, 10_000, 20)).toBe(true);
    times.sort((a, b) => a - b);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(300); // the third waits for the next window
    expect(times[4]! - times[2]!).toBeGreaterThanOrEqual(300);
  });

  it('`tributary alerts` consumes until stopped; --help and bad options', async () => {
    const { name, queue } = await alertsFor(1);
    hook.requests = [];
    hook.answer = () => 200;
    const stop = new AbortController();
    const { lines, log } = recordingLog();
    const pager: string[] = [];
    const exit = alertsCommand(['--queue', name, '--concurrency', '2', '--webhook', hookUrl, '--rate-max', '50'], {
      signal: stop.signal,
      log,
    });
    expect(await waitFor(async () => (await queue.getCompletedCount()) === 2, 10_000, 50)).toBe(true);
    stop.abort();
    expect(await exit).toBe(0);
    expect(hook.requests.map((r) => r.body.state).sort()).toEqual(['firing', 'resolved']);
    expect(lines.map((l) => l.msg)).toContain('alert worker stopped');
    await pagerHandler({
      send: async (text) => {
        pager.push(text);
      },
    }).handle(hook.requests[0]!.body, { jobId: 'x', attempt: 1 });
    expect(pager[0]).toMatch(/^\[CRITICAL\] overheating (FIRING|RESOLVED) on device=dev-0,site=site-1: (36|20) \(/);
    const print = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await alertsCommand(['--help'])).toBe(0);
    expect(print).toHaveBeenCalledWith(expect.stringMatching(/^Usage: tributary alerts/));
    print.mockRestore();
    await expect(alertsCommand(['--concurrency', '0'])).rejects.toThrow(/--concurrency: expected an integer 1\.\.1000/);
    await expect(alertsCommand(['--webhook', 'ftp://x'])).rejects.toThrow(/--webhook/);
  });

  it('summarizeAlerts counts fired, resolved and still-firing alerts of a queue', async () => {
    const { name } = await alertsFor(3);
    expect(await summarizeAlerts(redis, name)).toEqual({
      fired: { total: 3, byRule: { overheating: 3 } },
      resolved: { total: 1, byRule: { overheating: 1 } },
      repeats: 0,
      stillFiring: ['overheating device=dev-1,site=site-1', 'overheating device=dev-2,site=site-1'],
    });
    expect((await summarizeAlerts(redis, name, { sinceMs: T0 + 2500 })).fired.total).toBe(0); // only the resolve is that late
    expect((await summarizeAlerts(redis, name, { sinceMs: T0 + 2500 })).resolved.total).toBe(1);
  });
});

// A Redis crash mid-stream under the real Runtime: our own redis-server (AOF, appendfsync always)
// is killed with SIGKILL and restarted on the same port and directory. While it is down the alert
// sink answers `retry` and the source's messages stay unacknowledged; afterwards every alert is
// there exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../../pipeline/engine/decode/json.js';
import { silentLogger } from '../../../pipeline/core/log.js';
import { Runtime } from '../../../pipeline/engine/runtime/runtime.js';
import type {
  DeadLetter,
  DeadLetterSink,
  MessageHandler,
  Sink,
  Source,
  Transform,
} from '../../../pipeline/core/types.js';
import { alertQueue } from '../../../sinks/alert-queue/index.js';
import { above } from '../../../transforms/alert-rules.js';
import { parseTopic } from '../../../transforms/parse-topic.js';
import { toReadings } from '../../../transforms/to-readings.js';
import { jobsOf, queueName, T0 } from '../../support/alerts.js';
import { waitFor } from '../../support/services.js';

/** A source the test feeds by hand; counts acknowledgements per message. */
class FakeSource implements Source<unknown> {
  readonly name = 'fake';
  readonly window = 100;
  readonly acked = new Set<number>();
  private handler: MessageHandler | undefined;
  private next = 0;
  async open(handler: MessageHandler) {
    this.handler = handler;
  }
  async stopIntake() {}
  async close() {}
  send(device: string, tsOffsetMs: number, temperature: number): number {
    const id = this.next++;
    this.handler!({
      topic: `fleet/site-1/${device}/telemetry`,
      payload: new TextEncoder().encode(JSON.stringify({ ts: T0 + tsOffsetMs, temperature })),
      qos: 1,
      retain: false,
      receivedAtMs: Date.now(),
      decoder: json(),
      settle: () => {
        this.acked.add(id);
      },
    });
    return id;
  }
}

const deadLetters: DeadLetterSink & { letters: DeadLetter[] } = {
  name: 'dead-letters',
  letters: [],
  batch: { maxItems: 10, maxBytes: 1 << 20, maxWaitMs: 5, maxConcurrency: 1 },
  accepts: (x): x is DeadLetter => true,
  encode: (l) => l.code,
  open: async () => {},
  close: async () => {},
  async write({ items }) {
    deadLetters.letters.push(...items);
    return { status: 'delivered' };
  },
};

const dir = mkdtempSync(join(tmpdir(), 'tributary-alerts-redis-'));
let server: ChildProcess | undefined;
let port = 0;
let url = '';

/** A loopback port nobody listens on (other test runs start their own servers too). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const p = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return p;
}

async function startRedis(): Promise<void> {
  server = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  const up = await waitFor(
    async () =>
      (await probe.connect().then(
        () => probe.ping(),
        () => '',
      )) === 'PONG',
    5000,
    50,
  );
  probe.disconnect();
  if (!up) throw new Error(`redis-server on port ${port} did not start`);
}

function killRedis(): void {
  server?.kill('SIGKILL');
  server = undefined;
}

let admin: Redis;
beforeAll(async () => {
  port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  await startRedis();
  admin = new Redis(url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
});
afterAll(async () => {
  admin.disconnect();
  killRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe('alerts across a Redis crash (kill -9, restart, AOF)', () => {
  it('holds acknowledgements while Redis is down and loses no alert', async () => {
    const name = queueName('restart');
    const sink = alertQueue({
      url,
      queue: name,
      sweepIntervalMs: 0,
      batch: { maxWaitMs: 5 },
      rules: [
        {
          id: 'overheating',
          severity: 'critical',
          measurement: 'telemetry',
          when: above('temperature', { fire: 30, clear: 28 }),
        },
      ],
    });
    const source = new FakeSource();
    const stages = [
      toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms' }),
      parseTopic('fleet/{site}/{device}/telemetry'),
    ];
    const runtime = new Runtime({
      source,
      deadLetters,
      log: silentLogger,
      retry: { initialDelayMs: 20, maxDelayMs: 200, giveUpAfterMs: Infinity },
      stages: stages as unknown as Array<Transform<unknown, unknown>>,
      sinks: [sink as Sink<unknown>],
    });
    await runtime.start();
    const queue = new Queue(name, { connection: admin });
    queue.on('error', () => {}); // connection refused while our Redis is down
    try {
      const ids = [0, 1, 2].map((i) => source.send('dev-1', i * 1000, 25));
      ids.push(...[3, 4].map((i) => source.send('dev-1', i * 1000, 31)));
      expect(await waitFor(() => source.acked.size === 5, 5000, 10)).toBe(true);
      expect((await jobsOf(queue)).map((j) => j.summary[0])).toEqual(['overheating.firing']);

      killRedis(); // mid-stream, right after the firing job was enqueued
      const held = [
        [5, 29.5],
        [6, 29],
        [7, 27],
      ].map(([i, t]) => source.send('dev-1', i! * 1000, t!)); // 27 at 7 s resolves
      held.push(source.send('dev-2', 7000, 35)); // another device fires
      await new Promise((r) => setTimeout(r, 600));
      expect(held.filter((id) => source.acked.has(id))).toEqual([]);
      expect(runtime.stats.retries.get('alert-queue') ?? 0).toBeGreaterThan(0);
      expect(runtime.stats.unsettled).toBe(4);

      await startRedis(); // same port, same directory: the AOF brings back state, outbox and jobs
      expect(await waitFor(() => source.acked.size === 9, 15_000, 20)).toBe(true);
      expect(runtime.stats.unsettled).toBe(0);
      expect(deadLetters.letters).toEqual([]);
      const jobs = await jobsOf(queue);
      expect(jobs.map((j) => [j.summary[0], j.summary[3], j.summary[4]])).toEqual([
        ['overheating.firing', 'dev-1', 3000],
        ['overheating.firing', 'dev-2', 7000],
        ['overheating.resolved', 'dev-1', 7000],
      ]);
      expect(await admin.hlen(sink.keys.outbox)).toBe(0);
    } finally {
      await runtime.stop(2000);
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });
});

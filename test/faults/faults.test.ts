// `npm run test:faults`: break things on purpose during a 200k-message stream and check that
// nothing is lost and nothing is duplicated — points and alert jobs alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { HOT_DEVICES, runScenario, services, signalService, type ScenarioResult } from './scenario.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(() => {
  // Whatever happened, leave the shared services running.
  try {
    signalService('influxdb', 'SIGCONT');
  } catch {
    /* not ours or not running */
  }
  services('up');
});

function expectNothingLostOrDuplicated(r: ScenarioResult): void {
  expect(r.stored).toBe(r.published);
  expect(r.duplicates).toBe(0);
  expect(r.overheatingFired).toBe(HOT_DEVICES);
  expect(r.overheatingResolved).toBe(HOT_DEVICES);
  expect(r.duplicateAlertJobs).toBe(0);
}

describe('fault injection during a 200k-message QoS 1 stream', () => {
  it('worker SIGKILLed three times and restarted', async () => {
    const r = await runScenario('fault-sigkill', async (ctx) => {
      for (const share of [0.2, 0.45, 0.7]) {
        await ctx.published(share);
        await ctx.killAndRestartWorker();
      }
    });
    expectNothingLostOrDuplicated(r);
  });

  it('InfluxDB killed (SIGKILL) and restarted', async () => {
    const r = await runScenario('fault-influx-kill', async (ctx) => {
      await ctx.published(0.3);
      signalService('influxdb', 'SIGKILL');
      await sleep(5000);
      services('start-influx');
    });
    expectNothingLostOrDuplicated(r);
  });

  it('InfluxDB stalled (SIGSTOP) for 60 s', async () => {
    const r = await runScenario('fault-influx-stall', async (ctx) => {
      await ctx.published(0.3);
      signalService('influxdb', 'SIGSTOP');
      await sleep(60_000);
      signalService('influxdb', 'SIGCONT');
    });
    expectNothingLostOrDuplicated(r);
  });

  it('broker restarted, with persistence', async () => {
    const r = await runScenario(
      'fault-broker-restart',
      async (ctx) => {
        await ctx.published(0.4);
        services('restart-broker');
      },
      {},
      { reconnect: true },
    );
    expectNothingLostOrDuplicated(r);
  });

  it('Redis (dead letters, alert state and queue) killed and restarted', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tributary-fault-redis-'));
    const startRedis = () =>
      spawn(
        'redis-server',
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
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
    const ping = async () =>
      new Promise<boolean>((resolve) => {
        const c = spawn('redis-cli', ['-p', String(port), 'ping']);
        let out = '';
        c.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        c.on('exit', () => resolve(out.trim() === 'PONG'));
      });
    let redis: ChildProcess = startRedis();
    expect(await waitFor(ping, 10_000, 100)).toBe(true);
    try {
      const r = await runScenario(
        'fault-redis-restart',
        async (ctx) => {
          await ctx.published(0.4);
          redis.kill('SIGKILL');
          await sleep(3000);
          redis = startRedis();
          expect(await waitFor(ping, 10_000, 100)).toBe(true);
        },
        { TRIBUTARY_REDIS_URL: `redis://127.0.0.1:${port}` },
      );
      expectNothingLostOrDuplicated(r);
    } finally {
      redis.kill('SIGTERM');
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

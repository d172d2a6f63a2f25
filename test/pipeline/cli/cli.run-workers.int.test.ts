// `tributary run --workers N` as users run it: N workers in the share group, a dead one restarted,
// SIGTERM drains them all.
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fleetSetup, wipeSession } from '../../support/fleet-pipeline.js';
import { INFLUX_URL, MQTT_URL, REDIS_URL, waitFor } from '../../support/services.js';

describe('tributary run --workers', () => {
  it('starts N workers with their own client ids, restarts one that dies, drains all on SIGTERM', async () => {
    const setup = fleetSetup('workers');
    const supervisor = spawn(process.execPath, ['bin/tributary.mjs', 'run', 'examples/fleet.ts', '--workers', '2'], {
      env: {
        ...process.env,
        TRIBUTARY_MQTT_URL: MQTT_URL,
        TRIBUTARY_INFLUX_URL: INFLUX_URL,
        TRIBUTARY_REDIS_URL: REDIS_URL,
        TRIBUTARY_INFLUX_DATABASE: setup.db,
        TRIBUTARY_GROUP: setup.name,
        FLEET_TOPIC_ROOT: setup.root,
        FLEET_ALERT_QUEUE: `${setup.name}-alerts`,
        TRIBUTARY_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    supervisor.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    supervisor.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => supervisor.on('exit', (code) => r(code)));
    const ready = (id: string) => (out.match(new RegExp(`worker ${id} ready`, 'g')) ?? []).length;
    try {
      expect(await waitFor(() => ready(`${setup.name}-0`) === 1 && ready(`${setup.name}-1`) === 1, 30_000, 100)).toBe(
        true,
      );
      const children = execFileSync('pgrep', ['-P', String(supervisor.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map(Number);
      expect(children).toHaveLength(2);
      process.kill(children[0]!, 'SIGKILL');
      expect(
        await waitFor(
          () =>
            /worker \d exited \(SIGKILL\); restarting/.test(out) &&
            ready(`${setup.name}-0`) + ready(`${setup.name}-1`) === 3,
          30_000,
          100,
        ),
      ).toBe(true);
      supervisor.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).not.toMatch(/exited \(1\)/);
    } finally {
      supervisor.kill('SIGKILL');
      await wipeSession(`${setup.name}-0`);
      await wipeSession(`${setup.name}-1`);
    }
  });
});

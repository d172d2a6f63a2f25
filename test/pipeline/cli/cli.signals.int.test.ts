// SIGTERM to a worker started the ways the README gives: `npx tributary run …` (npm exec → sh →
// node: npm and sh exit on SIGTERM without passing it on, so the worker must notice its launcher is
// gone) and `./bin/tributary.mjs run …` (the PID is the worker's). Either way it drains: what it
// received is written and acknowledged, then it exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetSetup, wipeSession, type FleetTestSetup } from '../../support/fleet-pipeline.js';
import { fleetWorkerEnv } from '../../support/worker-process.js';
import { MQTT_URL, countPoints, influxQuery, waitFor } from '../../support/services.js';

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** PIDs of the workers (from their "pipeline running" log lines). */
  readonly workerPids: () => number[];
}

function start(
  command: string,
  args: string[],
  setup: FleetTestSetup,
  extraEnv: Record<string, string | undefined> = {},
): Started {
  const child = spawn(command, args, {
    env: { ...fleetWorkerEnv(setup), ...extraEnv, TRIBUTARY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const workerPids = () =>
    logLines(out)
      .filter((l) => l.msg === 'pipeline running')
      .map((l) => Number(l.pid));
  return { child, output: () => out, workerPids };
}

function logLines(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const alive = (pid: number): boolean => {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie has exited
  } catch {
    return false;
  }
};
const parentOf = (pid: number): number =>
  Number(
    readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ')[1],
  );

/** Publishes `n` readings (QoS 1) spread over 10 devices. */
async function publish(setup: FleetTestSetup, n: number): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId: `${setup.name}-pub`, reconnectPeriod: 0 });
  const t0 = 1_795_315_200_000;
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      c.publishAsync(
        `${setup.root}/site-1/dev-${i % 10}/telemetry`,
        JSON.stringify({ ts: t0 + i, temperature: 20 + (i % 7), battery: 80 }),
        { qos: 1 },
      ),
    ),
  );
  await c.endAsync();
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c().catch(() => undefined);
});

function cleanUp(setup: FleetTestSetup, started: Started, workers: number): void {
  cleanups.push(async () => {
    for (const pid of started.workerPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
    started.child.kill('SIGKILL');
    for (let i = 0; i < workers; i++) {
      await wipeSession(`${setup.name}-${i}`);
      const c = await mqtt.connectAsync(MQTT_URL, { clientId: `${setup.name}-cleanup`, reconnectPeriod: 0 });
      await c.publishAsync(`tributary/workers/${setup.name}-${i}/status`, '', { retain: true, qos: 1 });
      await c.endAsync();
    }
    await influxQuery(setup.db, `DROP DATABASE "${setup.db}"`);
  });
}

/** Asserts every worker logged a complete drain and that what they received is in InfluxDB. */
async function expectDrained(setup: FleetTestSetup, started: Started, reason: RegExp): Promise<void> {
  const pids = started.workerPids();
  expect(await waitFor(() => pids.every((p) => !alive(p)), 20_000, 50), started.output()).toBe(true);
  const lines = logLines(started.output());
  const draining = lines.filter((l) => l.msg === 'draining');
  const stopped = lines.filter((l) => l.msg === 'pipeline stopped');
  expect(draining, started.output()).toHaveLength(pids.length);
  for (const d of draining) expect(String(d.signal)).toMatch(reason);
  expect(stopped).toHaveLength(pids.length);
  let received = 0;
  for (const s of stopped) {
    expect(s).toMatchObject({ drained: true, unsettled: 0 });
    expect(s.settled).toBe(s.received);
    received += Number(s.received);
  }
  expect(received).toBeGreaterThan(0);
  expect(await countPoints(setup.db)).toBe(received); // everything received was written before the exit
}

describe('SIGTERM to the PID the user started', () => {
  it('`npx tributary run` (README): the worker notices npm and sh are gone, drains and exits', async () => {
    const setup = fleetSetup('npx_sigterm');
    const started = start('npx', ['tributary', 'run', 'examples/fleet.ts'], setup);
    cleanUp(setup, started, 1);
    expect(await waitFor(() => started.workerPids().length === 1, 60_000, 100), started.output()).toBe(true);
    const [worker] = started.workerPids();
    expect(worker).not.toBe(started.child.pid); // npm exec → sh → node
    await publish(setup, 3000);
    expect(await waitFor(async () => (await countPoints(setup.db)) > 0, 20_000, 50)).toBe(true);

    started.child.kill('SIGTERM');
    await expectDrained(setup, started, /^parent process \d+ exited$/);
    expect(alive(started.child.pid!)).toBe(false);
  });

  it('`npx tributary run --workers 2`: the orphaned supervisor stops its workers, which drain', async () => {
    const setup = fleetSetup('npx_sigterm_n');
    const started = start('npx', ['tributary', 'run', 'examples/fleet.ts', '--workers', '2'], setup);
    cleanUp(setup, started, 2);
    expect(await waitFor(() => started.workerPids().length === 2, 60_000, 100), started.output()).toBe(true);
    const supervisor = parentOf(started.workerPids()[0]!);
    expect(parentOf(started.workerPids()[1]!)).toBe(supervisor);
    await publish(setup, 3000);
    expect(await waitFor(async () => (await countPoints(setup.db)) > 0, 20_000, 50)).toBe(true);

    started.child.kill('SIGTERM');
    await expectDrained(setup, started, /^SIGTERM$/);
    expect(await waitFor(() => !alive(supervisor), 10_000, 50)).toBe(true);
  });

  it('`./bin/tributary.mjs run` (README): the PID started is the worker; SIGTERM drains it, exit code 0', async () => {
    const setup = fleetSetup('bin_sigterm');
    const started = start('./bin/tributary.mjs', ['run', 'examples/fleet.ts'], setup);
    cleanUp(setup, started, 1);
    expect(await waitFor(() => started.workerPids().length === 1, 60_000, 100), started.output()).toBe(true);
    expect(started.workerPids()).toEqual([started.child.pid]);
    const exited = new Promise<number | null>((r) => started.child.on('exit', (code) => r(code)));
    await publish(setup, 3000);
    expect(await waitFor(async () => (await countPoints(setup.db)) > 0, 20_000, 50)).toBe(true);

    started.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expectDrained(setup, started, /^SIGTERM$/);
  });

  it('`run --workers 2` killed outright (SIGKILL): its workers see the supervisor gone and drain', async () => {
    const setup = fleetSetup('supervisor_killed');
    const started = start('./bin/tributary.mjs', ['run', 'examples/fleet.ts', '--workers', '2'], setup, {
      npm_command: undefined,
    });
    cleanUp(setup, started, 2);
    expect(await waitFor(() => started.workerPids().length === 2, 60_000, 100), started.output()).toBe(true);
    await publish(setup, 3000);
    expect(await waitFor(async () => (await countPoints(setup.db)) > 0, 20_000, 50)).toBe(true);

    started.child.kill('SIGKILL');
    await expectDrained(setup, started, /^supervisor gone$/);
  });

  it('a worker started without npm or a supervisor keeps running when its parent exits', async () => {
    // `sh -c '… &'` exits at once and leaves the worker to init, as `nohup … &` from a script does:
    // there the parent's exit is no request to stop.
    const setup = fleetSetup('orphan_kept');
    const log = join(tmpdir(), `${setup.name}.log`);
    const sh = spawn('sh', ['-c', `./bin/tributary.mjs run examples/fleet.ts > ${log} 2>&1 & echo $!`], {
      env: { ...fleetWorkerEnv(setup), npm_command: undefined, TRIBUTARY_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let pidText = '';
    sh.stdout!.on('data', (d: Buffer) => {
      pidText += d.toString();
    });
    await new Promise((r) => sh.on('exit', r));
    const worker = Number(pidText.trim());
    const output = () => {
      try {
        return readFileSync(log, 'utf8');
      } catch {
        return '';
      }
    };
    cleanups.push(async () => {
      if (alive(worker)) process.kill(worker, 'SIGKILL');
      await wipeSession(`${setup.name}-0`);
      await influxQuery(setup.db, `DROP DATABASE "${setup.db}"`);
      await rm(log, { force: true });
    });
    expect(await waitFor(() => /worker \S+ ready/.test(output()), 60_000, 100), output()).toBe(true);
    expect(parentOf(worker)).not.toBe(sh.pid);
    await new Promise((r) => setTimeout(r, 2000)); // four of the watcher's periods, had it been watching
    expect(alive(worker)).toBe(true);
    expect(output()).not.toContain('"msg":"draining"');
    process.kill(worker, 'SIGTERM');
    expect(await waitFor(() => !alive(worker), 20_000, 50)).toBe(true);
    expect(logLines(output()).find((l) => l.msg === 'pipeline stopped')).toMatchObject({ drained: true, unsettled: 0 });
  });
});

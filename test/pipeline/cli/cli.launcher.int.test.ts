// bin/tributary.mjs as users start it: workers run from a cached esbuild bundle of the CLI and the
// pipeline file, without the module-hook thread that loading through tsx (TRIBUTARY_LOADER=tsx)
// keeps alive; errors still point at the .ts sources.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wipeSession } from '../../support/fleet-pipeline.js';
import { INFLUX_URL, MQTT_URL, REDIS_URL, influxQuery, uniqueName, waitFor } from '../../support/services.js';

const CACHE = resolve('node_modules/.cache/tributary');

interface Started {
  readonly pid: number;
  readonly output: () => string;
  readonly stop: () => Promise<void>;
}

/** Starts `tributary run examples/fleet.ts` and resolves once it printed that it is ready. */
async function startFleet(name: string, extraEnv: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['bin/tributary.mjs', 'run', 'examples/fleet.ts'], {
    env: {
      ...process.env,
      TRIBUTARY_MQTT_URL: MQTT_URL,
      TRIBUTARY_INFLUX_URL: INFLUX_URL,
      TRIBUTARY_REDIS_URL: REDIS_URL,
      TRIBUTARY_INFLUX_DATABASE: name,
      TRIBUTARY_GROUP: name,
      FLEET_TOPIC_ROOT: name,
      FLEET_ALERT_QUEUE: `${name}-alerts`,
      TRIBUTARY_LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const stop = async () => {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    child.kill('SIGKILL');
  };
  if (
    !(await waitFor(() => /worker \S+ ready/.test(out) || child.exitCode !== null, 30_000, 50)) ||
    child.exitCode !== null
  ) {
    await stop();
    throw new Error(`worker not ready:\n${out}`);
  }
  return { pid: child.pid!, output: () => out, stop };
}

function threads(pid: number): number {
  return Number(/^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Runs `tributary run <file>` to its exit, with the launcher's debug lines. */
async function runToExit(file: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['bin/tributary.mjs', 'run', file], {
    env: { ...process.env, TRIBUTARY_MQTT_URL: MQTT_URL, TRIBUTARY_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, out };
}

/** A pipeline file whose line `throwLine` throws while it loads (type-only lines above it, which a .js line number would not match). */
function throwingPipeline(throwLine: number, message: string): string {
  const lines = [
    '// Fails while it loads.',
    'interface Options {',
    '  readonly name: string;',
    '}',
    "const options: Options = { name: 'boom' };",
  ];
  while (lines.length < throwLine - 1) lines.push(`type Unused${lines.length} = Options['name'];`);
  lines.push(`throw new Error(\`${message} \${options.name}\`);`, 'export default options;', '');
  return lines.join('\n');
}

/** Removes the cached bundles `bundles` (file names) and the manifests that point at them. */
function removeFromCache(bundles: string[]): void {
  for (const name of readdirSync(CACHE).filter((n) => n.endsWith('.json'))) {
    const manifest = JSON.parse(readFileSync(join(CACHE, name), 'utf8')) as { bundle: string };
    if (bundles.includes(manifest.bundle)) rmSync(join(CACHE, name), { force: true });
  }
  for (const b of bundles) for (const f of [b, `${b}.map`]) rmSync(join(CACHE, f), { force: true });
}

async function clearPresence(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId: uniqueName('launcher-cleanup'), reconnectPeriod: 0 });
  await c.publishAsync(`tributary/workers/${clientId}/status`, '', { retain: true, qos: 1 });
  await c.endAsync();
}

describe('bin/tributary.mjs', () => {
  it('runs a worker from the bundle: one thread fewer than through tsx', async () => {
    const bundled = uniqueName('launcher_bundle');
    const tsx = uniqueName('launcher_tsx');
    try {
      const a = await startFleet(bundled, {});
      const bundledThreads = threads(a.pid);
      await a.stop();
      const b = await startFleet(tsx, { TRIBUTARY_LOADER: 'tsx' });
      const tsxThreads = threads(b.pid);
      await b.stop();
      // tsx runs its module hooks on a loader thread for the life of the process
      expect(tsxThreads).toBeGreaterThan(bundledThreads);
    } finally {
      for (const name of [bundled, tsx]) {
        await wipeSession(`${name}-0`);
        await clearPresence(`${name}-0`);
        await influxQuery(name, `DROP DATABASE "${name}"`);
      }
    }
  });

  describe('a pipeline file that throws while it loads', () => {
    let dir: string;
    const built: string[] = [];
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tributary-launcher-'));
    });
    afterAll(async () => {
      removeFromCache(built);
      await rm(dir, { recursive: true, force: true });
    });

    it('names the .ts file and line; a second start reuses the bundle, an edited file builds a new one', async () => {
      const file = join(dir, 'boom.ts');
      await writeFile(file, throwingPipeline(7, 'cannot load'));

      const first = await runToExit(file);
      expect(first.code).toBe(1);
      expect(first.out).toContain('Error: cannot load boom');
      expect(first.out).toContain(`${file}:7:7`);
      const bundle = /launcher: bundle (\S+\.mjs) \(built in \d+ ms\)/.exec(first.out)?.[1];
      expect(bundle, first.out).toBeDefined();
      built.push(bundle!.slice(CACHE.length + 1));
      expect(existsSync(`${bundle!}.map`)).toBe(true);
      const { mtimeMs } = await stat(bundle!);

      const second = await runToExit(file);
      expect(second.code).toBe(1);
      expect(second.out).toContain(`launcher: bundle ${bundle!} (cached, checked in `);
      expect(second.out).toContain(`${file}:7:7`);
      expect((await stat(bundle!)).mtimeMs).toBe(mtimeMs);

      await writeFile(file, throwingPipeline(12, 'still cannot load'));
      const third = await runToExit(file);
      const rebuilt = /launcher: bundle (\S+\.mjs) \(built in \d+ ms\)/.exec(third.out)?.[1];
      expect(rebuilt, third.out).toBeDefined();
      built.push(rebuilt!.slice(CACHE.length + 1));
      expect(rebuilt).not.toBe(bundle);
      expect(third.out).toContain('Error: still cannot load boom');
      expect(third.out).toContain(`${file}:12:7`);
    });
  });
});

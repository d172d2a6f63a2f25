// `tributary run <file> --watch` through the real CLI: a copy of a pipeline in a scratch folder is
// edited while messages flow. An edit of an imported file that type-checks drains the worker and
// starts one with the new code (nothing lost, nothing written twice); an edit that does not
// type-check prints the error and the old worker keeps running.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { simulateFleet } from '../../../pipeline/cli/fleet-simulator.js';
import { startCli, type CliProcess } from '../../support/cli-process.js';
import { fleetSetup, wipeSession } from '../../support/fleet-pipeline.js';
import { countPoints, influxQuery, INFLUX_URL, MQTT_URL, REDIS_URL, waitFor } from '../../support/services.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const setup = fleetSetup('watch');
// Inside the repository (so the copy imports Tributary by a relative path) but outside tsconfig's include.
const dir = join(ROOT, '.scratch', setup.name);
const pipelineFile = join(dir, 'pipeline.ts');
const versionFile = join(dir, 'version.ts');
const lib = relative(dir, join(ROOT, 'pipeline/index.js'));
/** Published while the first edit is made, then after the broken one. */
const [N1, N2] = [3_000, 1_000];

const pipelineSource = (
  extra = '',
) => `import { definePipeline, json, map, mqttSource, workerEnv, type Reading } from '${lib}';
import { influxdb } from '${relative(dir, join(ROOT, 'sinks/index.js'))}';
import { parseTopic, toReadings } from '${relative(dir, join(ROOT, 'transforms/index.js'))}';
import { VERSION } from './version.js';

const env = workerEnv();
const root = process.env.FLEET_TOPIC_ROOT ?? 'fleet';
${extra}
export default definePipeline({ name: 'watched' })
  .from(mqttSource({ ...env.mqtt, subscribe: [{ topic: \`\${root}/+/+/telemetry\`, decode: json() }] }))
  .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
  .pipe(parseTopic(\`\${root}/{site}/{device}/telemetry\`))
  .pipe(map<Reading, Reading>('version', (r) => ({ ...r, tags: { ...r.tags, version: VERSION } })))
  .to(influxdb(env.influx));
`;

let cli: CliProcess | undefined;

afterAll(async () => {
  cli?.child.kill('SIGKILL');
  await wipeSession(setup.clientId);
  rmSync(dir, { recursive: true, force: true });
});

const count = (pattern: RegExp) => (cli!.output().match(new RegExp(pattern, 'g')) ?? []).length;

async function pointsByVersion(): Promise<Record<string, number>> {
  const r = await influxQuery(setup.db, 'SELECT count("temperature") FROM "telemetry" GROUP BY "version"');
  return Object.fromEntries((r.results[0]?.series ?? []).map((s) => [s.tags?.version ?? '', Number(s.values[0]?.[1])]));
}

it('drains and restarts on an edit that type-checks, keeps the worker on one that does not', async () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(versionFile, "export const VERSION: string = 'v1';\n");
  writeFileSync(pipelineFile, pipelineSource());
  cli = startCli(['run', relative(ROOT, pipelineFile), '--watch'], {
    TRIBUTARY_MQTT_URL: MQTT_URL,
    TRIBUTARY_INFLUX_URL: INFLUX_URL,
    TRIBUTARY_REDIS_URL: REDIS_URL,
    TRIBUTARY_INFLUX_DATABASE: setup.db,
    TRIBUTARY_GROUP: setup.name,
    FLEET_TOPIC_ROOT: setup.root,
    TRIBUTARY_LOG_LEVEL: 'warn',
  });
  await cli.waitForOutput(/worker \S+ ready/, 90_000);
  expect(cli.output()).toMatch(/watch: starting a worker of \.scratch\/\S+\/pipeline\.ts; watching \d+ file\(s\)/);

  let sent = 0;
  const publishing = simulateFleet({
    url: MQTT_URL,
    root: setup.root,
    messages: N1,
    ratePerS: 100,
    onProgress: (n) => {
      sent = n;
    },
  });
  await waitFor(() => sent >= N1 / 4, 60_000, 20);

  // An imported file changes: the worker is drained and a new one runs the new code.
  writeFileSync(versionFile, "export const VERSION: string = 'v2';\n");
  await cli.waitForOutput(/version\.ts[^\n]* changed \(type-checked in \d+ ms\); draining the running worker/, 90_000);
  // One new worker per drain. (Edits of the Tributary sources the copy imports, made by others while
  // this runs, each drain and restart the worker too.)
  const restarted = () => count(/worker \S+ ready/) === 1 + count(/draining the running worker/);
  expect(await waitFor(restarted, 60_000, 50)).toBe(true);
  expect(count(/watch: the worker exited/)).toBe(0);

  // The pipeline file changes, but no longer type-checks: the error, and the v2 worker goes on.
  const before = cli.output().length;
  writeFileSync(
    pipelineFile,
    pipelineSource("const broken: number = 'not a number';").replace('version: VERSION', "version: 'v3'"),
  );
  await cli.waitForOutput(
    /pipeline\.ts does not type-check \(1 error\(s\)\); the running worker keeps running/,
    90_000,
    before,
  );
  expect(cli.output().slice(before)).toMatch(
    /pipeline\.ts:\d+:\d+ TS2322: Type 'string' is not assignable to type 'number'/,
  );

  expect((await publishing).published).toBe(N1);
  // The old (v2) worker goes on: what is published now is written by it.
  const second = await simulateFleet({ url: MQTT_URL, root: setup.root, messages: N2, seed: 7 });
  const published = N1 + second.published;
  expect(published).toBe(N1 + N2);
  await waitFor(async () => (await countPoints(setup.db)) >= published, 60_000, 500);
  const byVersion = await pointsByVersion();
  console.log(
    `watch test: published ${published} / stored ${await countPoints(setup.db)} / by version ${JSON.stringify(byVersion)}`,
  );
  expect(await countPoints(setup.db)).toBe(published); // a message written by both workers would be a point in each version's series
  expect(byVersion.v1).toBeGreaterThan(0);
  expect(byVersion.v2).toBeGreaterThanOrEqual(N2);
  expect(byVersion.v3).toBeUndefined();
  // The broken edit restarted nothing.
  expect(cli.output().slice(before)).not.toMatch(/pipeline\.ts[^\n]* changed/);
  expect(await waitFor(restarted, 60_000, 50)).toBe(true);
  expect(count(/watch: the worker exited/)).toBe(0);

  cli.child.kill('SIGTERM');
  expect(await cli.exited).toBe(0);
  expect(readFileSync(versionFile, 'utf8')).toContain('v2');
}, 300_000);

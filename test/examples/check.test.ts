// `tributary check` on the example pipelines: type-check, load, services, samples.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand } from '../../pipeline/cli/check.js';
import { INFLUX_URL, MQTT_URL, REDIS_URL } from '../support/services.js';

const services = { TRIBUTARY_MQTT_URL: MQTT_URL, TRIBUTARY_INFLUX_URL: INFLUX_URL, TRIBUTARY_REDIS_URL: REDIS_URL };

async function check(args: string[], env: NodeJS.ProcessEnv = services): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await checkCommand(args, env, (l) => lines.push(l));
  return { code, out: lines.join('\n') };
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tributary-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tributary check', () => {
  it('type-checks and loads the example, reaches every service, and shows what samples become', async () => {
    const { code, out } = await check([
      'examples/fleet.ts',
      '--sample',
      'fleet/site-1/dev-1/telemetry={"ts":1795315235165,"temperature":19.96,"battery":49}',
      '--sample',
      'fleet/site-1/dev-1/telemetry={"temperature":',
      '--sample',
      'elsewhere/x=1',
    ]);
    expect(out).toMatch(/^ok {4}typecheck \d+ file\(s\), tsconfig\.json$/m);
    expect(out).toContain('ok    load      pipeline "fleet": toReadings → parseTopic → influxdb'); // (and its alert sink)
    expect(out).toContain(`ok    mqtt      ${MQTT_URL} (connected, MQTT 5)`);
    expect(out).toMatch(/^ok {4}influxdb  http:\/\/127\.0\.0\.1:8086 \(version 1\.[^)]+\)$/m);
    expect(out).toContain(`ok    redis     ${REDIS_URL} (PONG)`);
    expect(out).toContain(
      '  line     telemetry,device=dev-1,site=site-1 temperature=19.96,battery=49i 1795315235165000000',
    );
    // integers as numbers, as the line protocol writes them (not "49n" strings)
    expect(out).toContain(
      '  reading  {"measurement":"telemetry","tags":{"site":"site-1","device":"dev-1"},"fields":{"temperature":19.96,"battery":49},"timeNs":1795315235165000000}',
    );
    expect(out).toMatch(/dead letter {2}decode_error \[decode:json\]: invalid JSON/);
    expect(out).toContain('  error    testPipeline: topic elsewhere/x matches no subscription');
    expect(code).toBe(0);
  });

  it('warns when a payload had a key that looks like a time but the point got the receive time', async () => {
    const { code, out } = await check([
      'examples/fleet.ts',
      '--no-services',
      '--no-typecheck',
      // Tasmota's Time: not one of toReadings' default keys, nor the fleet's time: ['ts']
      '--sample',
      'fleet/site-1/dev-1/telemetry={"Time":"2024-05-01T12:00:00","temperature":21.5}',
      '--sample',
      'fleet/site-1/dev-1/telemetry={"temperature":21.5,"meta":{"created_at":1714564800},"seen":"2024-05-01T12:00:00Z","UpTime":3600}',
      '--sample',
      'fleet/site-1/dev-1/telemetry={"ts":1714564800000,"temperature":21.5,"Time":"2024-05-01T12:00:00"}',
      '--sample',
      'fleet/site-1/dev-1/telemetry={"temperature":21.5,"big":9007199254740993}',
    ]);
    expect(code).toBe(0);
    const [, tasmota, nested, fromPayload, big] = out.split(/\nsample \d+ {2}/);
    expect(tasmota).toContain(
      '  warn     "Time" looks like a time ("2024-05-01T12:00:00") but the point has the receive time: toReadings reads the time from "ts", "time" or "timestamp" (exact case) unless given time: [...], e.g. toReadings({ ..., time: ["Time"] })',
    );
    expect(nested).toContain('  warn     "meta_created_at" looks like a time (1714564800)');
    expect(nested).toContain('  warn     "seen" looks like a time ("2024-05-01T12:00:00Z")');
    expect(nested).not.toContain('"UpTime" looks like'); // 3600 s is no time after 2000
    expect(fromPayload).not.toContain('warn'); // the time came from ts: Time is just a field
    expect(big).toContain('"big":9007199254740993}');
    expect(big).toContain('big=9007199254740993');
  });

  it('reports each unreachable service with the reason, and fails', async () => {
    const port = await closedPort();
    const { code, out } = await check(['examples/fleet.ts', '--no-typecheck'], {
      TRIBUTARY_MQTT_URL: `mqtt://127.0.0.1:${port}`,
      TRIBUTARY_INFLUX_URL: `http://127.0.0.1:${port}`,
      TRIBUTARY_REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    expect(out).toContain('skip  typecheck --no-typecheck');
    expect(out).toContain(`FAIL  mqtt      mqtt://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(out).toContain(`FAIL  influxdb  http://127.0.0.1:${port}: fetch failed (ECONNREFUSED)`);
    expect(out).toContain(`FAIL  redis     redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(code).toBe(1);
  });

  it('fails on a type error (a stage that does not fit) and names the place', async () => {
    const file = join(dir, 'mismatched.ts');
    const lib = (p: string) => JSON.stringify(resolve(p));
    await writeFile(
      file,
      [
        `import { definePipeline, json, mqttSource } from ${lib('pipeline/index.js')};`,
        `import { influxdb } from ${lib('sinks/index.js')};`,
        `import { parseTopic } from ${lib('transforms/index.js')};`,
        `export default definePipeline({ name: 'bad' })`,
        `  .from(mqttSource({ url: 'mqtt://127.0.0.1:1', clientId: 'x', subscribe: [{ topic: 'a/+', decode: json() }] }))`,
        `  .pipe(parseTopic('a/{device}'))`,
        `  .to(influxdb({ url: 'http://127.0.0.1:1', api: 'v1', database: 'x' }));`,
      ].join('\n'),
    );
    const { code, out } = await check([file, '--no-services']);
    expect(out).toMatch(/^FAIL {2}typecheck \d+ error\(s\)$/m);
    expect(out).toMatch(/mismatched\.ts:6:9 TS2345: Argument of type 'Transform<Reading, Reading>' is not assignable/);
    expect(out).toContain('ok    load      pipeline "bad"');
    expect(code).toBe(1);
  });

  it('fails to load a file without a pipeline, or with a bad option, naming it', async () => {
    const empty = join(dir, 'empty.ts');
    await writeFile(empty, 'export const x = 1;\n');
    const { code, out } = await check([empty, '--no-services', '--no-typecheck']);
    expect(out).toMatch(/^FAIL {2}load {6}.*empty\.ts: expected a default export made with definePipeline/m);
    expect(code).toBe(1);
    const badOption = join(dir, 'bad-option.ts');
    await writeFile(
      badOption,
      `import { aggregateWindow } from ${JSON.stringify(resolve('transforms/index.js'))};\naggregateWindow({ everyMs: -1, fields: { t: ['mean'] } });\n`,
    );
    expect((await check([badOption, '--no-services', '--no-typecheck'])).out).toContain(
      'FAIL  load      aggregateWindow everyMs: expected an integer number of ms ≥ 1, got -1',
    );
  });

  it('shows windowed samples as held, then the aggregates once the clock moved on; prints help', async () => {
    const samples = join(dir, 'samples.txt');
    const now = Date.now();
    await writeFile(
      samples,
      `# two readings of one window\nfleet/s1/d1/telemetry={"ts":${now},"temperature":20}\n\nfleet/s1/d1/telemetry={"ts":${now + 1},"temperature":22}\n`,
    );
    const { code, out } = await check([
      'test/examples/windowed-fleet.ts',
      '--samples',
      samples,
      '--no-services',
      '--no-typecheck',
    ]);
    expect(out.match(/held {5}by a stage/g)).toHaveLength(2);
    expect(out).toMatch(
      /after the clock moved on a day[^]*line {5}telemetry,device=d1,site=s1 temperature_mean=21,temperature_min=20,temperature_max=22,temperature_sum=42,temperature_count=2i/,
    );
    expect(code).toBe(0);
    expect((await check(['--help'])).out).toContain('Usage: tributary check <pipeline.ts>');
  });
});

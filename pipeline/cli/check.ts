import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import type { PipelineDefinition } from '../engine/builder.js';
import { workerEnv, type WorkerEnv } from './config/env.js';
import { ConfigError } from '../core/errors.js';
import { testPipeline, type Outputs } from '../testing.js';
import { redact } from '../core/errors.js';
import { importModule } from './preloaded.js';
import { timeHints } from './time-hints.js';

const HELP = `Usage: tributary check <pipeline.ts> [--sample topic=payload]... [--samples FILE]
                       [--no-typecheck] [--no-services]

Checks a pipeline file before you run it:
  typecheck  type-checks the file and what it imports (tsconfig.json next to it, else Tributary's)
  load       imports it: building the pipeline validates every option
  services   connects to the endpoints in TRIBUTARY_* variables: the MQTT broker (connect and
             disconnect with a throwaway client id), InfluxDB (GET /ping), Redis (PING)
  samples    runs sample messages through it in memory: the readings, the line protocol it would
             write, the dead letters with their reasons. A sample file holds one topic=payload per
             line (blank lines and lines starting with # are skipped); the topic ends at the first =.
Exits 0 when the file type-checks, loads and every service answered; 1 otherwise.`;

type Print = (line: string) => void;

/** `tributary check`. */
export async function checkCommand(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  print: Print = (l) => console.log(l),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      sample: { type: 'string', multiple: true, default: [] },
      samples: { type: 'string' },
      'no-typecheck': { type: 'boolean', default: false },
      'no-services': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    print(HELP);
    return 0;
  }
  const file = positionals[0];
  if (!file) throw new ConfigError('check <pipeline.ts>', 'a pipeline file');
  const path = resolve(file);
  const samples = [...values.sample, ...(values.samples ? await readSamples(values.samples) : [])].map(parseSample);
  let ok = true;
  const report = (passed: boolean | 'skip', what: string, detail: string) => {
    if (passed === false) ok = false;
    print(`${passed === 'skip' ? 'skip' : passed ? 'ok  ' : 'FAIL'}  ${what.padEnd(9)} ${detail}`);
  };

  if (values['no-typecheck']) report('skip', 'typecheck', '--no-typecheck');
  else await typecheck(path, report);

  let definition: PipelineDefinition;
  try {
    const mod = (await importModule(path)) as { default?: PipelineDefinition };
    if (!mod.default?.source || !Array.isArray(mod.default.stages))
      throw new ConfigError(file, 'a default export made with definePipeline(...).from(...).to(...)');
    definition = mod.default;
    report(
      true,
      'load',
      `pipeline "${definition.name}": ${definition.stages.map((s) => s.name).join(' → ') || 'no stages'} → ${definition.sinks.map((s) => s.name).join(', ')}`,
    );
  } catch (error) {
    report(false, 'load', (error as Error).message);
    return 1;
  }

  if (values['no-services']) {
    report('skip', 'services', '--no-services');
  } else {
    let config: WorkerEnv | undefined;
    try {
      config = workerEnv(env);
    } catch (error) {
      report(false, 'services', (error as Error).message);
    }
    if (config) for (const check of serviceChecks(config)) report(...(await check()));
  }

  if (samples.length > 0) await runSamples(definition, samples, print);
  return ok ? 0 : 1;
}

async function typecheck(
  path: string,
  report: (passed: boolean | 'skip', what: string, detail: string) => void,
): Promise<void> {
  let ts: typeof import('typescript');
  try {
    ts = (await import('typescript')).default;
  } catch {
    report('skip', 'typecheck', 'the typescript package is not installed (it is a devDependency); skipped');
    return;
  }
  const own = resolve(dirname(fileURLToPath(import.meta.url)), '../../tsconfig.json');
  const configPath = ts.findConfigFile(dirname(path), (f) => ts.sys.fileExists(f)) ?? own;
  const { config, error } = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f));
  if (error) {
    report(false, 'typecheck', ts.flattenDiagnosticMessageText(error.messageText, '\n'));
    return;
  }
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, dirname(configPath));
  const program = ts.createProgram({ rootNames: [path], options: { ...parsed.options, noEmit: true } });
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  const files = program.getSourceFiles().filter((f) => !f.isDeclarationFile).length;
  if (diagnostics.length === 0) {
    report(true, 'typecheck', `${files} file(s), ${relative(process.cwd(), configPath)}`);
    return;
  }
  report(false, 'typecheck', `${diagnostics.length} error(s)`);
  for (const d of diagnostics.slice(0, 20)) {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n      ');
    const where =
      d.file && d.start !== undefined
        ? (() => {
            const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
            return `${relative(process.cwd(), d.file.fileName)}:${line + 1}:${character + 1}`;
          })()
        : '';
    report(false, 'typecheck', `${where} TS${d.code}: ${text}`);
  }
}

type Check = () => Promise<[boolean, string, string]>;

function serviceChecks(env: WorkerEnv): Check[] {
  const timeoutMs = 5000;
  const mqttUrl = redact(env.mqtt.url);
  const influxUrl = redact(env.influx.url);
  const redisUrl = redact(env.redis.url);
  return [
    async () => {
      try {
        const c = await mqtt.connectAsync(env.mqtt.url, {
          clientId: `tributary-check-${process.pid}-${Date.now().toString(36)}`,
          clean: true,
          protocolVersion: env.mqtt.protocolVersion,
          username: env.mqtt.username,
          password: env.mqtt.password,
          reconnectPeriod: 0,
          connectTimeout: timeoutMs,
        });
        await c.endAsync();
        return [true, 'mqtt', `${mqttUrl} (connected, MQTT ${env.mqtt.protocolVersion === 5 ? '5' : '3.1.1'})`];
      } catch (error) {
        return [false, 'mqtt', `${mqttUrl}: ${reason(error)}`];
      }
    },
    async () => {
      try {
        const res = await fetch(new URL('/ping', env.influx.url), { signal: AbortSignal.timeout(timeoutMs) });
        if (res.status !== 204 && res.status !== 200)
          return [false, 'influxdb', `${influxUrl}/ping answered HTTP ${res.status}`];
        return [true, 'influxdb', `${influxUrl} (version ${res.headers.get('x-influxdb-version') ?? 'unknown'})`];
      } catch (error) {
        return [false, 'influxdb', `${influxUrl}: ${reason(error)}`];
      }
    },
    async () => {
      const redis = new Redis(env.redis.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        connectTimeout: timeoutMs,
        retryStrategy: () => null,
      });
      let lastError: unknown; // connect() only says "Connection is closed"; the error event says why
      redis.on('error', (e) => {
        lastError = e;
      });
      try {
        await redis.connect();
        const pong = await redis.ping();
        return [true, 'redis', `${redisUrl} (${pong})`];
      } catch (error) {
        return [false, 'redis', `${redisUrl}: ${reason(lastError ?? error)}`];
      } finally {
        redis.disconnect();
      }
    },
  ];
}

async function runSamples(
  definition: PipelineDefinition,
  samples: ReadonlyArray<{ topic: string; payload: string }>,
  print: Print,
): Promise<void> {
  const harness = await testPipeline(definition, { clock: Date.now() });
  let held = 0;
  try {
    for (const [i, { topic, payload }] of samples.entries()) {
      print(`\nsample ${i + 1}  ${topic}  ${payload}`);
      try {
        const receivedAtMs = harness.now();
        const out = await harness.push(topic, payload);
        if (out.settled) printOutputs(out, print, receivedAtMs);
        else {
          held++;
          print('  held     by a stage (a window): written when it closes');
        }
      } catch (error) {
        print(`  error    ${(error as Error).message}`);
      }
    }
    if (held > 0) {
      print('\nafter the clock moved on a day (windows closed):');
      printOutputs(await harness.advance(86_400_000), print);
    }
  } finally {
    await harness.close();
  }
}

function printOutputs(out: Outputs, print: Print, receivedAtMs?: number): void {
  for (const r of out.readings) {
    print(`  reading  ${stringify(r)}`);
    for (const { key, value } of receivedAtMs === undefined ? [] : timeHints(r, receivedAtMs)) {
      print(
        `  warn     "${key}" looks like a time (${stringify(value)}) but the point has the receive time: toReadings reads the time from` +
          ` "ts", "time" or "timestamp" (exact case) unless given time: [...], e.g. toReadings({ ..., time: [${JSON.stringify(key)}] })`,
      );
    }
  }
  for (const l of out.lines) print(`  line     ${l}`);
  for (const a of out.alerts) print(`  alert    ${a.ruleId} ${a.state} ${JSON.stringify(a.value)}`);
  for (const d of out.deadLetters) print(`  dead letter  ${d.code} [${d.stage}]: ${d.reason}`);
  for (const o of out.other) print(`  other    ${stringify(o)}`);
  if (out.readings.length + out.deadLetters.length + out.other.length + out.alerts.length === 0)
    print('  (nothing written)');
}

async function readSamples(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}

function parseSample(arg: string): { topic: string; payload: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new ConfigError('--sample', 'topic=payload', arg);
  return { topic: arg.slice(0, eq), payload: arg.slice(eq + 1) };
}

/** JSON, with bigints as the integers they are (as the line protocol writes them) and bytes by their length. */
function stringify(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return JSON.stringify(`<${v.length} bytes>`);
  if (Array.isArray(v)) return `[${v.map((x: unknown) => (x === undefined ? 'null' : stringify(x))).join(',')}]`;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined && typeof x !== 'function');
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stringify(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function reason(error: unknown): string {
  const e = error as Error & { code?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return [
    e.code && !e.message.includes(e.code) ? e.code : undefined,
    e.message || String(error),
    cause && !e.message.includes(cause) ? `(${cause})` : undefined,
  ]
    .filter(Boolean)
    .join(' ');
}

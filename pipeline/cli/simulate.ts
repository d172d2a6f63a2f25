import { parseArgs } from 'node:util';
import { ENV_DEFAULTS } from './config/env.js';
import { ConfigError, redact } from '../core/errors.js';
import { simulateFleet, type FleetFormat, type FleetOptions, type FleetResult } from './fleet-simulator.js';

const FORMATS: readonly FleetFormat[] = ['json', 'msgpack', 'protobuf'];

const HELP = `Usage: tributary simulate [options]

Publishes a simulated device fleet: topic <root>/site-<s>/dev-<d>/telemetry, body
{"ts":<ms>,"temperature":..,"humidity":..,"battery":..,"status":".."}, values deterministic from --seed.
Runs until --messages or --duration-s is reached, or until Ctrl-C / SIGTERM.

Options:
  --devices N        devices in the fleet (default 1000)
  --sites N          sites the devices are spread over (default 10)
  --rate N           messages per second over the whole fleet; 0 = as fast as the broker acknowledges
                     (default 0; --qos 0 needs a rate)
  --messages N       stop after N messages
  --duration-s S     stop after S seconds
  --qos 0|1          publish QoS (default 1)
  --format F         json (…/telemetry), msgpack (…/packed) or protobuf (…/proto, schemas/fleet.proto)
  --anomalies F      share of devices that run hot, 0..1 (temperature +15 °C; default 0)
  --malformed F      share of messages that are truncated, invalid JSON, 0..1 (default 0); they become dead letters
  --root NAME        first topic level (default $FLEET_TOPIC_ROOT or fleet)
  --seed N           random seed (default 42)
  --url URL          broker (default $TRIBUTARY_MQTT_URL or ${ENV_DEFAULTS.TRIBUTARY_MQTT_URL})
  -h, --help         this help`;

/** What `tributary simulate` runs, parsed and checked. */
export interface SimulateSettings {
  readonly fleet: Omit<FleetOptions, 'onProgress' | 'shouldStop'>;
  /** Stop after this long, when set. */
  readonly durationMs?: number;
  readonly format: FleetFormat;
  readonly help: boolean;
}

/**
 * Parses `tributary simulate` arguments; a bad value throws a {@link ConfigError} naming the
 * option. Without --messages and --duration-s the simulation runs until stopped.
 */
export function parseSimulateArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): SimulateSettings {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: false,
      strict: true,
      options: {
        devices: { type: 'string', default: '1000' },
        sites: { type: 'string', default: '10' },
        rate: { type: 'string', default: '0' },
        messages: { type: 'string' },
        'duration-s': { type: 'string' },
        qos: { type: 'string', default: '1' },
        format: { type: 'string', default: 'json' },
        anomalies: { type: 'string', default: '0' },
        malformed: { type: 'string', default: '0' },
        root: { type: 'string' },
        seed: { type: 'string', default: '42' },
        url: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    // unknown option, missing value: say which, without a stack trace
    throw new ConfigError('tributary simulate', 'the options listed by --help', (error as Error).message);
  }
  const { values } = parsed;
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name}`, `an integer ${min}..${max}`, v);
    return n;
  };
  const num = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new ConfigError(`--${name}`, `a number ${min}..${max}`, v);
    return n;
  };
  if (!FORMATS.includes(values.format as FleetFormat))
    throw new ConfigError('--format', FORMATS.join(', '), values.format);
  const format = values.format as FleetFormat;
  const qos = int('qos', values.qos, 0, 1) as 0 | 1;
  const devices = int('devices', values.devices, 1, 10_000_000);
  const sites = int('sites', values.sites, 1, devices);
  const anomalies = num('anomalies', values.anomalies, 0, 1);
  const ratePerS = num('rate', values.rate, 0, 10_000_000);
  // QoS 0 has no acknowledgements to pace the publisher: without a rate it would never yield.
  if (qos === 0 && ratePerS === 0) throw new ConfigError('--rate', 'a rate above 0 with --qos 0', values.rate);
  const url = values.url ?? env.TRIBUTARY_MQTT_URL ?? ENV_DEFAULTS.TRIBUTARY_MQTT_URL;
  if (!/^(mqtts?|wss?|tcp|tls):\/\//.test(url))
    throw new ConfigError('--url', 'a broker URL like mqtt://127.0.0.1:1884', redact(url));
  const root = values.root ?? env.FLEET_TOPIC_ROOT ?? 'fleet';
  if (!/^[^/+#]+$/.test(root)) throw new ConfigError('--root', 'one topic level without / + #', root);
  return {
    fleet: {
      url,
      root,
      devices,
      sites,
      qos,
      messages:
        values.messages === undefined
          ? Number.POSITIVE_INFINITY
          : int('messages', values.messages, 1, Number.MAX_SAFE_INTEGER),
      ratePerS,
      seed: int('seed', values.seed, 0, 2 ** 32 - 1),
      malformedShare: num('malformed', values.malformed, 0, 1),
      hotDevices: hotDevices(devices, anomalies),
      format,
    },
    durationMs:
      values['duration-s'] === undefined
        ? undefined
        : num('duration-s', values['duration-s'], 0.001, 31_536_000) * 1000,
    format,
    help: values.help,
  };
}

/** `share` of `devices`, spread evenly over the fleet (so every site gets its hot devices). */
export function hotDevices(devices: number, share: number): number[] {
  const count = Math.round(devices * share);
  return Array.from({ length: count }, (_, i) => Math.floor((i * devices) / count));
}

/** `tributary simulate`: publishes a simulated fleet with a live progress line. */
export async function simulateCommand(args: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const settings = parseSimulateArgs(args);
  if (settings.help) {
    out.write(`${HELP}\n`);
    return 0;
  }
  const { fleet, durationMs } = settings;
  const tty = out.isTTY === true;
  const t0 = Date.now();
  let published = 0;
  let stopReason: string | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stopReason ??= signal;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  let last = { at: t0, published: 0 };
  const line = (final = false) => {
    const now = Date.now();
    const secs = Math.max(0.001, (now - last.at) / 1000);
    const rate = Math.round((published - last.published) / secs);
    last = { at: now, published };
    const total = Number.isFinite(fleet.messages) ? `/${fleet.messages}` : '';
    return `simulate: published ${published}${total} (${final ? Math.round(published / Math.max(0.001, (now - t0) / 1000)) : rate}/s${final ? ' average' : ''}) elapsed ${((now - t0) / 1000).toFixed(1)} s`;
  };
  const timer = setInterval(() => out.write(tty ? `\r\x1b[2K${line()}` : `${line()}\n`), tty ? 500 : 5000);
  timer.unref();
  out.write(
    `simulate: ${fleet.devices} devices over ${fleet.sites} sites → ${redact(fleet.url)} (qos ${fleet.qos}, ` +
      `${fleet.ratePerS ? `${fleet.ratePerS}/s` : 'max rate'}, topics ${fleet.root}/site-*/dev-*/telemetry)\n`,
  );

  let result: FleetResult;
  try {
    result = await simulateFleet({
      ...fleet,
      onProgress: (n) => {
        published = n;
      },
      shouldStop: () => stopReason !== undefined || (durationMs !== undefined && Date.now() - t0 >= durationMs),
    });
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (tty) out.write('\r\x1b[2K');
  }
  published = result.published;
  out.write(`${line(true)}; ${result.malformed} malformed${stopReason ? ` (stopped by ${stopReason})` : ''}\n`);
  return 0;
}

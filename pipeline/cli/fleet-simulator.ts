// A simulated device fleet publishing the standard workload: topic fleet/site-{s}/dev-{d}/telemetry,
// body {"ts":<ms>,"temperature":..,"humidity":..,"battery":..,"status":".."}, values deterministic
// from a seed, ts strictly increasing per device so every message is a distinct point.
import { fileURLToPath } from 'node:url';
import { encode as encodeMsgpack } from '@msgpack/msgpack';
import mqtt from 'mqtt';
import protobufjs from 'protobufjs';

/** Options of {@link simulateFleet}. */
export interface FleetOptions {
  readonly url: string;
  /** Messages to publish in all. */
  readonly messages: number;
  /**
   * Body encoding, and the topic's last level with it: `json` → `telemetry`, `msgpack` → `packed`,
   * `protobuf` → `proto` (fleet.Telemetry of schemas/fleet.proto). @defaultValue 'json'
   */
  readonly format?: FleetFormat;
  /** First topic level. @defaultValue 'fleet' */
  readonly root?: string;
  /** @defaultValue 1000 */
  readonly devices?: number;
  /** @defaultValue 10 */
  readonly sites?: number;
  /** Messages per second in all; 0 = as fast as the broker acknowledges. @defaultValue 0 */
  readonly ratePerS?: number;
  /** @defaultValue 1 */
  readonly qos?: 0 | 1;
  /** @defaultValue 42 */
  readonly seed?: number;
  /** Share of messages that are malformed JSON (they must end up as dead letters). @defaultValue 0 */
  readonly malformedShare?: number;
  /** Devices that run hot (15 °C above their baseline) — alert candidates. @defaultValue [] */
  readonly hotDevices?: readonly number[];
  /** The share of the run, as [from, to) fractions of `messages`, during which hot devices are hot. @defaultValue [0, 1] */
  readonly hotDuring?: readonly [number, number];
  /** Devices whose battery starts at 15 % (below the low-battery threshold). @defaultValue [] */
  readonly lowBatteryDevices?: readonly number[];
  /** Reconnect (and resend unacknowledged publishes) when the broker goes away. @defaultValue false */
  readonly reconnect?: boolean;
  /** Unacknowledged publishes at once. @defaultValue 1000 */
  readonly window?: number;
  /** Called after each publish was acknowledged. */
  readonly onProgress?: (published: number) => void;
  /** Stop early when this returns true. */
  readonly shouldStop?: () => boolean;
}

/** Payload encodings the simulator speaks. */
export type FleetFormat = 'json' | 'msgpack' | 'protobuf';

const SUFFIX: Record<FleetFormat, string> = { json: 'telemetry', msgpack: 'packed', protobuf: 'proto' };

/** The schema file of the protobuf body. */
export const FLEET_PROTO = fileURLToPath(new URL('../../schemas/fleet.proto', import.meta.url));

function bodyEncoder(
  format: FleetFormat,
): (v: { ts: number; temperature: number; humidity: number; battery: number; status: string }) => string | Buffer {
  if (format === 'msgpack')
    return (v) => {
      const u8 = encodeMsgpack(v);
      return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    };
  if (format === 'protobuf') {
    const type = protobufjs.loadSync(FLEET_PROTO).lookupType('fleet.Telemetry');
    return (v) => Buffer.from(type.encode(type.fromObject(v)).finish());
  }
  return (v) =>
    `{"ts":${v.ts},"temperature":${v.temperature},"humidity":${v.humidity},"battery":${v.battery},"status":"${v.status}"}`;
}

/** What {@link simulateFleet} published. */
export interface FleetResult {
  readonly published: number;
  readonly malformed: number;
  readonly elapsedMs: number;
}

/** Deterministic PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES = ['ok', 'warn', 'alarm', 'low_battery'] as const;

/** The topic of device `d` in a fleet of `devices` over `sites` sites. */
export function deviceTopic(
  d: number,
  devices = 1000,
  sites = 10,
  root = 'fleet',
  format: FleetFormat = 'json',
): string {
  return `${root}/site-${Math.floor(d / Math.ceil(devices / sites))}/dev-${d}/${SUFFIX[format]}`;
}

/** Publishes the fleet's messages; message i goes to device i mod devices. */
export async function simulateFleet(o: FleetOptions): Promise<FleetResult> {
  const devices = o.devices ?? 1000,
    sites = o.sites ?? 10,
    qos = o.qos ?? 1,
    window = o.window ?? 1000;
  const rnd = seededRandom(o.seed ?? 42);
  const baseT = Array.from({ length: devices }, () => 15 + rnd() * 12);
  const baseH = Array.from({ length: devices }, () => 30 + rnd() * 35);
  const baseB = Array.from({ length: devices }, () => 40 + rnd() * 60);
  const hot = new Set(o.hotDevices ?? []);
  const [hotFrom, hotTo] = (o.hotDuring ?? [0, 1]).map((f) => f * o.messages) as [number, number];
  for (const d of o.lowBatteryDevices ?? []) baseB[d] = 15;
  const lastTs = new Float64Array(devices);
  const format = o.format ?? 'json';
  const encodeBody = bodyEncoder(format);
  const topics = Array.from({ length: devices }, (_, d) => deviceTopic(d, devices, sites, o.root, format));
  const client = await mqtt.connectAsync(o.url, {
    clientId: `tributary-sim-${process.pid}-${Date.now() % 1e6}`,
    clean: true,
    reconnectPeriod: o.reconnect ? 500 : 0,
    protocolVersion: 4,
  });
  client.on('error', () => {}); // with reconnect, connection errors are retried; without, a failed publish says why
  const t0 = Date.now();
  let inflight = 0,
    published = 0,
    malformed = 0,
    failed: Error | undefined;
  let wake: (() => void) | undefined;
  const acked = (error?: Error) => {
    if (error) failed = error;
    inflight--;
    published++;
    o.onProgress?.(published);
    if (wake && inflight < window) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  for (let i = 0; i < o.messages && !o.shouldStop?.(); i++) {
    const d = i % devices;
    const round = Math.floor(i / devices);
    if (o.ratePerS) {
      const due = t0 + (i / o.ratePerS) * 1000;
      if (due > Date.now() + 1) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    let ts = Date.now();
    if (ts <= lastTs[d]!) ts = lastTs[d]! + 1;
    lastTs[d] = ts;
    const temperature =
      Math.round((baseT[d]! + (hot.has(d) && i >= hotFrom && i < hotTo ? 15 : 0) + (rnd() - 0.5) * 2) * 100) / 100;
    const humidity = Math.round((baseH[d]! + (rnd() - 0.5) * 4) * 10) / 10;
    const battery = Math.max(0, Math.min(100, Math.round(baseB[d]! - round * 0.01)));
    const r = rnd();
    const status = STATUSES[r < 0.97 ? 0 : r < 0.99 ? 1 : r < 0.995 ? 2 : 3];
    let body = encodeBody({ ts, temperature, humidity, battery, status: status! });
    if (o.malformedShare && rnd() < o.malformedShare) {
      body = body.slice(0, body.length - 7); // truncated: undecodable
      malformed++;
    }
    if (qos === 1 && inflight >= window) await new Promise<void>((r2) => (wake = r2));
    if (failed) break;
    inflight++;
    client.publish(topics[d]!, body, { qos }, acked);
  }
  while (inflight > 0) await new Promise<void>((r) => (wake = r));
  await client.endAsync();
  if (failed) throw failed;
  return { published, malformed, elapsedMs: Date.now() - t0 };
}

// The fleet workload of the shared-window tests: deterministic messages, published at a rate, and
// the window aggregates computed offline from exactly what was published.
import mqtt from 'mqtt';
import { influxQuery, MQTT_URL } from './services.js';

export interface FleetMessage {
  readonly device: number;
  readonly ts: number;
  readonly topic: string;
  readonly temperature: number;
  readonly battery: number;
}

/** Message `i` of a run starting at `t0`: device `i % devices`, one message per device every `devices / rate` s. */
export function fleetMessage(root: string, i: number, t0: number, rate: number, devices: number): FleetMessage {
  const device = i % devices;
  const k = Math.floor(i / devices);
  const ts = t0 + Math.floor((i * 1000) / rate);
  const temperature = Math.round((15 + ((device * 7919 + k * 104_729) % 1500) / 100) * 100) / 100;
  return {
    device,
    ts,
    topic: `${root}/site-${device % 10}/dev-${device}/telemetry`,
    temperature,
    battery: 100 - ((device + k) % 60),
  };
}

export const payloadOf = (m: FleetMessage) =>
  JSON.stringify({ ts: m.ts, temperature: m.temperature, battery: m.battery });

/**
 * Publishes `n` messages at `rate` msg/s (QoS 1) from `t0` on; `at(i)` is called as message i goes
 * out (to kill a worker midway). Resolves once the broker acknowledged all of them. `rate: Infinity` publishes as fast as the broker acknowledges.
 */
export async function publishFleet(
  messages: readonly FleetMessage[],
  rate: number,
  clientId: string,
  at?: (i: number) => void,
): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId, protocolVersion: 5, reconnectPeriod: 0 });
  const start = Date.now();
  let acked = 0;
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      // At most 10,000 unacknowledged: mqtt.js stalls once its 65,535 packet ids are all in use.
      const due = Math.min(
        messages.length,
        rate === Infinity ? Infinity : Math.floor(((Date.now() - start) * rate) / 1000) + 1,
        acked + 10_000,
      );
      for (; sent < due; sent++) {
        at?.(sent);
        const m = messages[sent]!;
        c.publish(m.topic, payloadOf(m), { qos: 1 }, (error) => {
          if (error) reject(error);
          else if (++acked === messages.length) resolve();
        });
      }
      if (process.env.SHARED_WINDOW_DEBUG && sent % 10_000 < 50)
        console.error(`${new Date().toISOString()} sent ${sent} acked ${acked}`);
      if (sent < messages.length) setTimeout(pump, 5);
    };
    pump();
  });
  await c.endAsync();
}

/** Aggregates of the windows of `messages`, as `device window-start-ns` → fields (numbers), the way aggregateWindow defines them. */
export function offlineAggregates(
  messages: readonly FleetMessage[],
  everyMs: number,
): Map<string, Record<string, number>> {
  const groups = new Map<string, FleetMessage[]>();
  for (const m of messages) {
    const key = `dev-${m.device} ${BigInt(Math.floor(m.ts / everyMs) * everyMs) * 1_000_000n}`;
    const g = groups.get(key);
    if (g) g.push(m);
    else groups.set(key, [m]);
  }
  const out = new Map<string, Record<string, number>>();
  for (const [key, g] of groups) {
    g.sort((a, b) => a.ts - b.ts);
    let sum = 0;
    for (const m of g) sum += m.temperature; // in event-time order, as the stage adds them
    const temps = g.map((m) => m.temperature);
    out.set(key, {
      temperature_mean: sum / g.length,
      temperature_min: Math.min(...temps),
      temperature_max: Math.max(...temps),
      temperature_sum: sum,
      temperature_count: g.length,
      temperature_first: temps[0]!,
      temperature_last: temps.at(-1)!,
      battery_min: Math.min(...g.map((m) => m.battery)),
      battery_last: g.at(-1)!.battery,
    });
  }
  return out;
}

/** The aggregates stored in `db`, keyed as {@link offlineAggregates}. */
export async function storedAggregates(db: string): Promise<Map<string, Record<string, number>>> {
  const r = await influxQuery(db, 'SELECT * FROM "telemetry" GROUP BY *');
  const out = new Map<string, Record<string, number>>();
  for (const s of r.results[0]?.series ?? []) {
    for (const row of s.values) {
      const fields = Object.fromEntries(
        s.columns.map((c, i) => [c, row[i]]).filter(([c, v]) => c !== 'time' && v !== null),
      ) as Record<string, number>;
      out.set(`${s.tags!.device} ${String(row[0])}`, fields);
    }
  }
  return out;
}

// The fleet pipeline as the tests build it in-process: unique database, topics and session per test.
import mqtt from 'mqtt';
import {
  definePipeline,
  json,
  mqttSource,
  Runtime,
  silentLogger,
  type DecodedValue,
  type Logger,
  type MqttSource,
} from '../../pipeline/index.js';
import { influxdb, redisDeadLetters } from '../../sinks/index.js';
import { parseTopic, toReadings } from '../../transforms/index.js';
import { INFLUX_URL, MQTT_URL, REDIS_URL, uniqueName } from './services.js';

export interface FleetTestSetup {
  readonly name: string;
  readonly db: string;
  readonly root: string;
  readonly clientId: string;
  readonly stream: string;
}

/** Fresh names for one test. */
export function fleetSetup(prefix: string): FleetTestSetup {
  const name = uniqueName(prefix);
  return { name, db: name, root: name, clientId: `${name}-0`, stream: `tributary-test:${name}:dead-letters` };
}

/** A runtime for the fleet pipeline of `setup`. */
export function fleetRuntime(
  setup: FleetTestSetup,
  opts: { log?: Logger; inflightWindow?: number; clientId?: string } = {},
): Runtime {
  return fleetPipeline(setup, opts).runtime;
}

/** The fleet pipeline of `setup`: its runtime and its MQTT source. */
export function fleetPipeline(
  setup: FleetTestSetup,
  opts: { log?: Logger; inflightWindow?: number; clientId?: string; protocolVersion?: 4 | 5 } = {},
): { runtime: Runtime; source: MqttSource<DecodedValue> } {
  const source = mqttSource({
    url: MQTT_URL,
    clientId: opts.clientId ?? setup.clientId,
    group: setup.name,
    inflightWindow: opts.inflightWindow,
    log: opts.log,
    protocolVersion: opts.protocolVersion,
    subscribe: [{ topic: `${setup.root}/+/+/telemetry`, decode: json() }],
  });
  const def = definePipeline({ name: 'fleet-test' })
    .from(source)
    .pipe(toReadings({ measurement: 'telemetry', time: ['ts'], timeUnit: 'ms', integers: ['battery'] }))
    .pipe(parseTopic(`${setup.root}/{site}/{device}/telemetry`))
    .to(influxdb({ url: INFLUX_URL, api: 'v1', database: setup.db, createDatabase: true, timeoutMs: 3000 }));
  const runtime = new Runtime({
    source: def.source,
    stages: def.stages,
    sinks: def.sinks,
    deadLetters: redisDeadLetters({ url: REDIS_URL, stream: setup.stream }),
    log: opts.log ?? silentLogger,
    retry: { initialDelayMs: 100, maxDelayMs: 1000, giveUpAfterMs: Infinity },
  });
  return { runtime, source };
}

/** Removes a persistent session from the broker (connect with clean start, disconnect). */
export async function wipeSession(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, {
    clientId,
    clean: true,
    protocolVersion: 5,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0 },
  });
  await c.endAsync();
}

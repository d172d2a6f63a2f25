// The broker, InfluxDB and Redis of the network fault suite, each in its own namespace with its own
// config, data and log under NET_STATE; started and stopped by the suite, never the shared ones.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import { waitFor } from '../../support/services.js';
import { ADDRESS, namespaceOf, NET_STATE, type Host } from './topology.js';

/** Endpoints of the suite's services, as the workers and the test reach them. */
export const NET_MQTT_URL = `mqtt://${ADDRESS.broker}:1883`;
export const NET_INFLUX_URL = `http://${ADDRESS.influx}:8086`;
export const NET_REDIS_URL = `redis://${ADDRESS.redis}:6379`;

/** The running services. */
export interface NetServices {
  /** Stops them (SIGCONT first, then SIGTERM; SIGKILL after 10 s). */
  stop(): Promise<void>;
}

function startIn(host: Exclude<Host, 'ctl'>, name: string, command: string, args: readonly string[]): ChildProcess {
  const log = openSync(`${NET_STATE}/${name}.log`, 'a');
  // `ip netns exec` execs the command: the child's PID is the service's.
  return spawn('ip', ['netns', 'exec', namespaceOf(host), command, ...args], { stdio: ['ignore', log, log] });
}

/** deploy/mosquitto.conf with the listener on the broker's address, persistence and log under NET_STATE. */
function mosquittoConf(): string {
  const dropped =
    /^(listener|port|bind_address|bind_interface|persistence|persistence_location|persistence_file|log_dest|pid_file|user)$/;
  const kept = readFileSync('deploy/mosquitto.conf', 'utf8')
    .split('\n')
    .filter((l) => !dropped.test(l.trim().split(/\s+/)[0] ?? ''));
  return (
    [
      ...kept,
      `listener 1883 ${ADDRESS.broker}`,
      'user root',
      'persistence true',
      `persistence_location ${NET_STATE}/mosquitto/`,
      `log_dest file ${NET_STATE}/mosquitto.log`,
    ].join('\n') + '\n'
  );
}

function influxConf(): string {
  const d = `${NET_STATE}/influxdb`;
  return `reporting-enabled = false
bind-address = "${ADDRESS.influx}:8088"
[meta]
  dir = "${d}/meta"
  logging-enabled = false
[data]
  dir = "${d}/data"
  wal-dir = "${d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "${ADDRESS.influx}:8086"
  auth-enabled = false
  log-enabled = false
[continuous_queries]
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
`;
}

async function answers(check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch {
    return false;
  }
}

/** Starts the broker, InfluxDB and Redis on fresh data and resolves once each answers. */
export async function startNetServices(): Promise<NetServices> {
  for (const name of ['mosquitto', 'influxdb', 'redis']) {
    rmSync(`${NET_STATE}/${name}`, { recursive: true, force: true });
    rmSync(`${NET_STATE}/${name}.log`, { force: true });
    mkdirSync(`${NET_STATE}/${name}`, { recursive: true });
  }
  writeFileSync(`${NET_STATE}/mosquitto.conf`, mosquittoConf());
  writeFileSync(`${NET_STATE}/influxdb.conf`, influxConf());
  const influxEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INFLUXDB_')));
  const children = [
    startIn('broker', 'mosquitto', 'mosquitto', ['-c', `${NET_STATE}/mosquitto.conf`]),
    spawn('ip', ['netns', 'exec', namespaceOf('influx'), 'influxd', '-config', `${NET_STATE}/influxdb.conf`], {
      stdio: ['ignore', openSync(`${NET_STATE}/influxdb.log`, 'a'), openSync(`${NET_STATE}/influxdb.log`, 'a')],
      env: influxEnv,
    }),
    startIn('redis', 'redis', 'redis-server', [
      '--bind',
      ADDRESS.redis,
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--dir',
      `${NET_STATE}/redis`,
    ]),
  ];
  const services: NetServices = {
    async stop() {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGCONT');
          c.kill('SIGTERM');
          const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }),
      );
    },
  };
  const checks: Record<string, () => Promise<unknown>> = {
    mosquitto: async () =>
      (await mqtt.connectAsync(NET_MQTT_URL, { reconnectPeriod: 0, connectTimeout: 2000 })).endAsync(),
    influxdb: async () => {
      if ((await fetch(`${NET_INFLUX_URL}/ping`, { signal: AbortSignal.timeout(2000) })).status !== 204)
        throw new Error('no ping');
    },
    redis: async () => {
      const r = new Redis(NET_REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        connectTimeout: 2000,
      });
      try {
        await r.connect();
        await r.ping();
      } finally {
        r.disconnect();
      }
    },
  };
  for (const [name, check] of Object.entries(checks)) {
    if (!(await waitFor(() => answers(check), 60_000, 200))) {
      await services.stop();
      throw new Error(`${name} did not answer in its namespace within 60 s; see ${NET_STATE}/${name}.log`);
    }
  }
  return services;
}

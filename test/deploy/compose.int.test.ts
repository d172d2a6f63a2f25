// docker-compose.yml and what it mounts, checked without a Docker engine: the files exist, the
// services and variables line up with the code, Grafana's provisioning matches its dashboards.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { simulateCommand, parseSimulateArgs } from '../../pipeline/cli/simulate.js';
import { ENV_DEFAULTS, workerEnv } from '../../pipeline/cli/config/env.js';
import { METRICS_ENV_DEFAULTS, metricsEnv } from '../../pipeline/cli/metrics/env.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: Array<string | { type: string; source: string; target: string }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: string[];
  profiles?: string[];
}
interface Compose { services: Record<string, Service>; volumes?: Record<string, unknown> }

const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = Object.entries(compose.services);

/** Compose interpolation of `${VAR:-default}`, `${VAR-default}`, `${VAR}`, `$$`, with an empty environment. */
function interpolate(value: string, env: Record<string, string> = {}): string {
  return value.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}/g, (m, name?: string, def?: string) => (m === '$$' ? '$' : env[name!] ?? def ?? ''));
}
function envOf(s: Service): Record<string, string> {
  const e = s.environment ?? {};
  const pairs: Array<[string, string]> = Array.isArray(e)
    ? e.map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1)]; })
    : Object.entries(e).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]));
}
/** Bind mounts as [host path, container path]. */
function bindMounts(s: Service): Array<[string, string]> {
  return (s.volumes ?? []).flatMap((v): Array<[string, string]> => {
    if (typeof v !== 'string') return v.type === 'bind' ? [[v.source, v.target]] : [];
    const [source, target] = v.split(':');
    return source && target && (source.startsWith('.') || source.startsWith('/')) ? [[source, target]] : [];
  });
}
function dependsOn(s: Service): string[] {
  const d = s.depends_on ?? [];
  return Array.isArray(d) ? d : Object.keys(d);
}
function commandOf(s: Service): string[] {
  return typeof s.command === 'string' ? s.command.split(/\s+/) : s.command ?? [];
}

/** Names of the TRIBUTARY_* variables a file of the code reads (string literals in its source). */
function variablesReadBy(...files: string[]): Set<string> {
  return new Set(files.flatMap((f) => [...read(f).matchAll(/['"`](TRIBUTARY_[A-Z0-9_]+)['"`]/g)].map((m) => m[1]!)));
}

describe('docker-compose.yml', () => {
  it('gives every service an image or a build', () => {
    expect(services.length).toBeGreaterThanOrEqual(6);
    for (const [name, s] of services) expect(Boolean(s.image) || Boolean(s.build), name).toBe(true);
  });

  it('bind-mounts only host paths that exist', () => {
    const mounts = services.flatMap(([name, s]) => bindMounts(s).map(([host]) => [name, host] as const));
    expect(mounts.length).toBeGreaterThan(0);
    for (const [name, host] of mounts) expect(existsSync(join(ROOT, host)), `${name}: ${host}`).toBe(true);
  });

  it('uses only named volumes it declares', () => {
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : v.source;
        if (source.startsWith('.') || source.startsWith('/')) continue;
        expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${source}`).toContain(source);
      }
    }
  });

  it('depends only on services that exist', () => {
    const names = new Set(Object.keys(compose.services));
    for (const [name, s] of services) for (const d of dependsOn(s)) expect(names.has(d), `${name} depends on ${d}`).toBe(true);
  });

  it('publishes ports on the loopback interface only', () => {
    for (const [name, s] of services) for (const p of s.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
  });

  it('gives the worker only variables the code reads, and a configuration workerEnv() and metricsEnv() accept', () => {
    const known = new Set<string>([
      ...Object.keys(ENV_DEFAULTS), ...Object.keys(METRICS_ENV_DEFAULTS),
      ...variablesReadBy('pipeline/cli/config/env.ts', 'pipeline/core/log.ts', 'pipeline/cli/metrics/env.ts'),
    ]);
    // the InfluxDB 2 settings are optional in code (no defaults), so check they are among the names read
    for (const v2 of ['TRIBUTARY_INFLUX_ORG', 'TRIBUTARY_INFLUX_BUCKET', 'TRIBUTARY_INFLUX_TOKEN']) expect(known.has(v2), v2).toBe(true);
    const env = envOf(compose.services.worker!);
    for (const name of Object.keys(env)) expect(known.has(name), `worker variable ${name} is read by nothing`).toBe(true);

    const parsed = workerEnv(env);
    expect(parsed.influx.api).toBe('v2');
    expect(parsed.influx.bucket).toBeTruthy();
    expect(parsed.influx.org).toBeTruthy();
    expect(parsed.influx.token).toBeTruthy();
    const m = metricsEnv(env);
    expect(m.port).toBeDefined();
    expect(m.internalEveryMs).toBeDefined();
  });

  it('points the worker at the broker, Redis and InfluxDB services with the credentials InfluxDB is set up with', () => {
    const worker = workerEnv(envOf(compose.services.worker!));
    const influx = envOf(compose.services.influxdb!);
    const host = (url: string) => new URL(url).hostname;
    expect(compose.services[host(worker.mqtt.url)]?.image).toMatch(/mosquitto/);
    expect(compose.services[host(worker.redis.url)]?.image).toMatch(/redis/);
    expect(compose.services[host(worker.influx.url)]?.image).toMatch(/influxdb:2/);
    expect(worker.influx.org).toBe(influx.DOCKER_INFLUXDB_INIT_ORG);
    expect(worker.influx.bucket).toBe(influx.DOCKER_INFLUXDB_INIT_BUCKET);
    expect(worker.influx.token).toBe(influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
    expect(worker.mqtt.clientId).toMatch(/^ingest-/); // {hostname} resolved: one id per replica
  });

  it('runs commands the CLI has: the worker a pipeline file that exists, the simulator valid simulate options', async () => {
    const worker = commandOf(compose.services.worker!);
    const run = worker.indexOf('run');
    expect(run).toBeGreaterThan(-1);
    expect(existsSync(join(ROOT, worker[run + 1]!))).toBe(true);
    expect(existsSync(join(ROOT, worker[0] === 'node' ? worker[1]! : 'bin/tributary.mjs'))).toBe(true);

    const sim = commandOf(compose.services.simulator!);
    const args = sim.slice(sim.indexOf('simulate') + 1);
    const settings = parseSimulateArgs(args, envOf(compose.services.simulator!));
    expect(settings.fleet.devices).toBe(1000);
    expect(settings.fleet.url).toBe('mqtt://mosquitto:1883');
    expect(parseSimulateArgs(['--format', 'protobuf']).fleet.format).toBe('protobuf');
    expect(() => parseSimulateArgs(['--format', 'xml'])).toThrow(/--format: expected json, msgpack, protobuf/);
    const help: string[] = [];
    const out = { isTTY: false, write: (s: string) => { help.push(s); return true; } } as unknown as NodeJS.WriteStream;
    expect(await simulateCommand(['--help'], out)).toBe(0);
    expect(help.join('')).toMatch(/--format F\s+json .*msgpack .*protobuf/);
  });

  it('installs dependencies once, before the containers that need them', () => {
    for (const name of ['worker', 'simulator']) {
      const d = compose.services[name]!.depends_on as Record<string, { condition?: string }>;
      expect(d.deps?.condition, name).toBe('service_completed_successfully');
      expect(commandOf(compose.services[name]!).join(' ')).not.toMatch(/npm (ci|install)/);
    }
  });

  it('mounts executable, syntactically valid InfluxDB init scripts at /docker-entrypoint-initdb.d', () => {
    const mount = bindMounts(compose.services.influxdb!).find(([, target]) => target === '/docker-entrypoint-initdb.d');
    expect(mount).toBeDefined();
    const dir = join(ROOT, mount![0]);
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.sh'));
    expect(scripts.length).toBeGreaterThan(0);
    for (const f of scripts) {
      expect(statSync(join(dir, f)).mode & 0o111, `${f} must be executable (the image skips others)`).not.toBe(0);
      execFileSync('bash', ['-n', join(dir, f)]);
      expect(read(join(mount![0], f))).toMatch(/influx v1 dbrp create/);
    }
  });
});

describe('Grafana provisioning', () => {
  const grafana = compose.services.grafana!;
  const mounts = bindMounts(grafana);
  const containerPathOf = (host: string) => mounts.find(([h]) => resolve(ROOT, h) === resolve(ROOT, host))?.[1];
  const datasources = parse(read('deploy/grafana/provisioning/datasources/influxdb.yaml')) as {
    apiVersion: number; datasources: Array<{ name: string; uid: string; type: string; url: string; jsonData: Record<string, string>; secureJsonData?: Record<string, string> }>;
  };
  const providers = parse(read('deploy/grafana/provisioning/dashboards/dashboards.yaml')) as {
    apiVersion: number; providers: Array<{ name: string; type: string; options: { path: string } }>;
  };
  const ds = datasources.datasources[0]!;
  const dashboardFiles = readdirSync(join(ROOT, 'deploy/grafana/dashboards')).filter((f) => f.endsWith('.json'));

  it('mounts the provisioning directory where Grafana reads it', () => {
    expect(containerPathOf('deploy/grafana/provisioning')).toBe('/etc/grafana/provisioning');
  });

  it('provisions an InfluxQL datasource named InfluxDB on the influxdb service, with the token Grafana gets', () => {
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    expect(ds).toMatchObject({ name: 'InfluxDB', type: 'influxdb' });
    expect(ds.uid).toMatch(/^[\w-]{1,40}$/);
    expect(ds.jsonData.version).toBe('InfluxQL');
    expect(new URL(ds.url).hostname).toBe('influxdb');
    expect(compose.services[new URL(ds.url).hostname]).toBeDefined();
    // database = the bucket the workers write, reached through the DBRP mapping
    expect(ds.jsonData.dbName).toBe(envOf(compose.services.influxdb!).DOCKER_INFLUXDB_INIT_BUCKET);
    expect(ds.jsonData.httpHeaderName1).toBe('Authorization');
    const token = /\$\{?(\w+)\}?/.exec(ds.secureJsonData?.httpHeaderValue1 ?? '')?.[1];
    expect(token).toBeDefined();
    expect(envOf(grafana)[token!]).toBe(envOf(compose.services.influxdb!).DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
  });

  it('loads dashboards from the directory the compose file mounts', () => {
    expect(providers.apiVersion).toBe(1);
    const file = providers.providers.find((p) => p.type === 'file');
    expect(file).toBeDefined();
    expect(containerPathOf('deploy/grafana/dashboards')).toBe(file!.options.path);
    expect(dashboardFiles.sort()).toEqual(['fleet-telemetry.json', 'pipeline-health.json']);
  });

  it.each(dashboardFiles)('%s parses, has a unique uid, and references only the provisioned datasource', (file) => {
    const d = JSON.parse(read(`deploy/grafana/dashboards/${file}`)) as { uid: string; title: string; panels: unknown[] };
    expect(d.uid).toMatch(/^[\w-]{1,40}$/);
    expect(d.title).toBeTruthy();
    expect(d.panels.length).toBeGreaterThan(0);
    const uids = dashboardFiles.map((f) => (JSON.parse(read(`deploy/grafana/dashboards/${f}`)) as { uid: string }).uid);
    expect(new Set(uids).size).toBe(uids.length);

    const refs: unknown[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) { node.forEach(walk); return; }
      if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'datasource') refs.push(v);
          walk(v);
        }
      }
    };
    walk(d);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      if (typeof ref === 'string') expect(ref).toBe(ds.name);
      else expect(ref).toEqual({ type: ds.type, uid: ds.uid });
    }
  });
});

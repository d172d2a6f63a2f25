// A real Redis Cluster for tests: three masters of Debian's redis-server on loopback ports, in a
// temporary directory, created with redis-cli --cluster create; stopped (and removed) by `stop`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { waitFor } from './services.js';

const run = promisify(execFile);

export interface RedisClusterHandle {
  /** `redis://127.0.0.1:<port>` of each master. */
  readonly nodes: readonly string[];
  stop(): Promise<void>;
}

/** Starts a 3-master cluster on free-looking ports from `basePort` (random in 30000–49000 by default). */
export async function startRedisCluster(
  basePort = 30_000 + Math.floor(Math.random() * 19_000),
): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cluster-'));
  const ports = [basePort, basePort + 1, basePort + 2];
  const children: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--protected-mode',
        'no',
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(
      children.map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.on('exit', r)) : undefined,
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const up = await waitFor(
        async () =>
          (await run('redis-cli', ['-p', String(port), 'ping']).then(
            (r) => r.stdout.trim(),
            () => '',
          )) === 'PONG',
        10_000,
        50,
      );
      if (!up) throw new Error(`redis-server on port ${port} did not start`);
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const ok = await waitFor(
      async () =>
        (await run('redis-cli', ['-p', String(ports[0]), 'cluster', 'info'])).stdout.includes('cluster_state:ok'),
      20_000,
      100,
    );
    if (!ok) throw new Error('the Redis Cluster did not reach cluster_state:ok');
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((p) => `redis://127.0.0.1:${p}`), stop };
}

/** A client of the cluster (for assertions). */
export function clusterClient(nodes: readonly string[]): Cluster {
  return new Cluster(
    nodes.map((u) => {
      const x = new URL(u);
      return { host: x.hostname, port: Number(x.port) };
    }),
  );
}

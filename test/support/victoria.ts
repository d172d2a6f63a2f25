// VictoriaMetrics for the tests of the InfluxDB sink's /api/v2/write path: started on demand by
// `scripts/services.sh up-vm` (installed from Debian's packages if missing), read back through
// its export API.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';

export const VM_PORT = Number(process.env.TRIBUTARY_VM_PORT ?? 8428);
export const VM_URL = `http://127.0.0.1:${VM_PORT}`;

/**
 * Makes sure a VictoriaMetrics instance answers: `name` (victoria-metrics[-suffix]) on `port`,
 * started with `flags` if it was not running. Idempotent; can take minutes on a first install.
 */
export function startVictoria(name = 'victoria-metrics', port = VM_PORT, flags: readonly string[] = []): string {
  execFileSync('bash', ['scripts/services.sh', 'up-vm', name, String(port), ...flags], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  return `http://127.0.0.1:${port}`;
}

/** Stops an instance `startVictoria` started; `purge` deletes its data dir. */
export function stopVictoria(name: string, purge = false): void {
  execFileSync('bash', ['scripts/services.sh', 'stop-vm', name, ...(purge ? ['--purge'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One series as `/api/v1/export` returns it: labels (`__name__` = measurement_field), values, ms timestamps. */
export interface VmSeries {
  readonly metric: Record<string, string>;
  readonly values: number[];
  readonly timestamps: number[];
}

/**
 * Every stored sample of the series matching `match` (a series selector), after flushing what was
 * just written. `auth`: an Authorization header, for an instance with `-httpAuth.*`.
 */
export async function vmExport(url: string, match: string, auth?: string): Promise<VmSeries[]> {
  const headers = auth ? { authorization: auth } : undefined;
  await fetch(`${url}/internal/force_flush`, { headers });
  const res = await fetch(`${url}/api/v1/export?${new URLSearchParams({ 'match[]': match }).toString()}`, { headers });
  if (!res.ok) throw new Error(`VictoriaMetrics export failed (${res.status}): ${await res.text()}`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as VmSeries);
}

/** Samples matching `match`, counted. */
export async function vmCount(url: string, match: string, auth?: string): Promise<number> {
  return (await vmExport(url, match, auth)).reduce((n, s) => n + s.values.length, 0);
}

/** Deletes the series matching `match` (a test's own measurements). */
export async function vmDelete(url: string, match: string): Promise<void> {
  await fetch(`${url}/api/v1/admin/tsdb/delete_series?${new URLSearchParams({ 'match[]': match }).toString()}`, {
    method: 'POST',
  });
}

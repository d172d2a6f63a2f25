import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../../core/types.js';
import type { Readiness } from './readiness.js';
import { createRuntimeRegistry, type RuntimeRegistryOptions } from './registry.js';

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions extends RuntimeRegistryOptions {
  /** Interface to listen on. Loopback by default: bind wider only behind a firewall or in a container. @defaultValue '127.0.0.1' */
  readonly host?: string;
  /** TCP port; 0 picks a free one (see {@link MetricsServer.port}). */
  readonly port: number;
  /**
   * Whether the worker can do its job (broker connected, sinks reachable); `/readyz` answers 200
   * when `ok`, else 503, with the checks as JSON. Without it `/readyz` equals `/healthz`.
   * See {@link readiness} to build one from named checks.
   */
  readonly ready?: () => Promise<Readiness>;
  /** Longest a readiness evaluation may take before `/readyz` answers 503. @defaultValue 5000 */
  readonly readyTimeoutMs?: number;
  readonly log?: Logger;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The address it listens on, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The registry `/metrics` serves (its own, not prom-client's global one). */
  readonly registry: Registry;
  /** Stops listening and closes open connections; idempotent. */
  close(): Promise<void>;
}

/**
 * Serves, for one worker:
 * - `GET /metrics`: Prometheus text format, read from {@link RuntimeStats} at scrape time;
 * - `GET /healthz`: 200 while the process serves requests (liveness);
 * - `GET /readyz`: 200 when `ready()` says ok, else 503 with JSON reasons (readiness).
 * @example
 * const server = await startMetricsServer({ port: 9464, stats: () => runtime.stats, window: source.window,
 *   labels: { worker: 'ingest-0', pipeline: 'fleet' }, ready: readiness({ broker: mqttConnected(source) }) });
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const registry = createRuntimeRegistry(options);
  const readyTimeoutMs = options.readyTimeoutMs ?? 5000;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    switch (path) {
      case '/metrics':
        return send(res, 200, registry.contentType, await registry.metrics());
      case '/healthz':
        return send(res, 200, 'text/plain', 'ok\n');
      case '/readyz': {
        const r = await evaluate(options.ready, readyTimeoutMs);
        return send(res, r.ok ? 200 : 503, 'application/json', `${JSON.stringify(r)}\n`);
      }
      default:
        return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz, /readyz\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log?.error({ error, path: req.url }, 'metrics endpoint failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000; // longer than typical scraper idle timeouts
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  options.log?.info({ host: address.address, port: address.port }, 'metrics endpoint listening');
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    host: address.address,
    port: address.port,
    registry,
    close: () =>
      (closed ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      })),
  };
}

async function evaluate(ready: (() => Promise<Readiness>) | undefined, timeoutMs: number): Promise<Readiness> {
  if (!ready) return { ok: true, checks: { process: 'ok' } };
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      ready(),
      new Promise<Readiness>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, checks: { ready: `no answer within ${timeoutMs} ms` } }),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    return { ok: false, checks: { ready: error instanceof Error ? error.message : String(error) } };
  } finally {
    clearTimeout(timer);
  }
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

// A controllable HTTP proxy on an ephemeral loopback port, in front of a real service (InfluxDB):
// forwards requests, or answers them with an error status, or leaves them hanging — to simulate an
// outage without stopping the shared service.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does with a request that `affects`. */
export type ProxyMode = 'forward' | 'fail' | 'hang';

/** One request the proxy saw. */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly outcome: ProxyMode;
  /** Status sent back (undefined while hanging, or when the target was unreachable: 502). */
  readonly status?: number;
}

export interface HttpProxy {
  /** The proxy's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Switch at any time; applies to requests arriving afterwards. */
  mode: ProxyMode;
  /** Status answered in `fail` mode. @defaultValue 503 */
  failStatus: number;
  /** Which requests `mode` applies to; the others are forwarded. @defaultValue every request */
  affects: (method: string, path: string) => boolean;
  /** Every request so far, in arrival order. */
  readonly requests: ProxiedRequest[];
  /** Requests to `path`-prefix that were forwarded and answered 2xx by the target. */
  forwardedOk(pathPrefix: string): number;
  /** Stops listening and drops every connection (hanging ones included). */
  close(): Promise<void>;
}

/** Starts a proxy to `target` (e.g. `http://127.0.0.1:8086`) on 127.0.0.1, ephemeral port. */
export async function startHttpProxy(target: string, mode: ProxyMode = 'forward'): Promise<HttpProxy> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  const requests: ProxiedRequest[] = [];
  const record = (req: IncomingMessage, outcome: ProxyMode, status?: number) => {
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', outcome, status });
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: to.host },
      },
      (up) => {
        record(req, 'forward', up.statusCode);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      record(req, 'forward', 502);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${error.message}`);
    });
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const applies = proxy.affects(req.method ?? 'GET', req.url ?? '/');
    const outcome: ProxyMode = applies ? proxy.mode : 'forward';
    if (outcome === 'forward') return forward(req, res);
    req.resume(); // read and discard the body
    if (outcome === 'hang') return record(req, 'hang');
    record(req, 'fail', proxy.failStatus);
    res.writeHead(proxy.failStatus, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'proxy: simulated outage' }));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const proxy: HttpProxy = {
    url: `http://127.0.0.1:${port}`,
    mode,
    failStatus: 503,
    affects: () => true,
    requests,
    forwardedOk: (prefix) =>
      requests.filter(
        (r) => r.outcome === 'forward' && r.path.startsWith(prefix) && (r.status ?? 0) >= 200 && (r.status ?? 0) < 300,
      ).length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

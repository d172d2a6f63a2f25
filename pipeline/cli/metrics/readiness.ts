import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { redact } from '../../core/errors.js';

/** What `/readyz` reports: ready or not, and one line per check (`ok` or why not). */
export interface Readiness {
  readonly ok: boolean;
  readonly checks: Record<string, string>;
}

/** One readiness check: resolves when healthy, throws (or rejects) with the reason when not. */
export type ReadyCheck = () => void | Promise<void>;

const reasonOf = (error: unknown): string => {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return (error instanceof Error ? e.message : String(error)) + (cause ? ` (${cause})` : '');
};

/**
 * Combines named checks into the `ready` callback of {@link startMetricsServer}: all run at once,
 * each bounded by `timeoutMs`; ready only when every check passed.
 * @example
 * readiness({
 *   broker: mqttConnected(source),
 *   influxdb: () => httpPing(env.influx.url),
 *   redis: () => redisPing(env.redis.url),
 * })
 */
export function readiness(checks: Readonly<Record<string, ReadyCheck>>, timeoutMs = 2000): () => Promise<Readiness> {
  return async () => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]): Promise<[string, string]> => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(check),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
          return [name, 'ok'];
        } catch (error) {
          return [name, reasonOf(error)];
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    return { ok: results.every(([, r]) => r === 'ok'), checks: Object.fromEntries(results) };
  };
}

/** Check: the MQTT source's client is connected (`source.client.connected`, e.g. an MqttSource). */
export function mqttConnected(source: { readonly client?: { readonly connected: boolean } | undefined }): ReadyCheck {
  return () => {
    if (!source.client) throw new Error('not connected to the MQTT broker yet');
    if (!source.client.connected) throw new Error('disconnected from the MQTT broker (reconnecting)');
  };
}

/**
 * Check: an HTTP endpoint answers 2xx, by default InfluxDB's `/ping` (1.x and 2.x answer 204,
 * without credentials).
 */
export async function httpPing(url: string, path = 'ping', timeoutMs = 2000): Promise<void> {
  // relative to the URL's path, so an InfluxDB behind a path prefix (https://host/influx) works
  const target = new URL(path.replace(/^\/+/, ''), url.endsWith('/') ? url : `${url}/`);
  let res: Response;
  try {
    res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`${redact(target.origin)} unreachable: ${reasonOf(error)}`, { cause: error });
  }
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`${redact(target.origin)}${target.pathname} answered ${res.status}`);
}

/**
 * Check: Redis answers `PING` (after `AUTH` when the URL carries credentials). One short
 * connection per call, no client library: `redis://[user:password@]host[:port]`, `rediss://` for TLS.
 */
export function redisPing(url: string, timeoutMs = 2000): Promise<void> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(u.port || 6379);
  const commands: string[][] = [];
  const user = decodeURIComponent(u.username),
    password = decodeURIComponent(u.password);
  if (password) commands.push(user ? ['AUTH', user, password] : ['AUTH', password]);
  commands.push(['PING']);
  const wire = commands
    .map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
    .join('');
  const where = `redis at ${host}:${port}`;

  return new Promise<void>((resolve, reject) => {
    const socket: Socket =
      u.protocol === 'rediss:' ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
    let buffer = '';
    let replies = 0;
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`${where}: no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(u.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => socket.write(wire));
    socket.on('error', (error) => done(new Error(`${where} unreachable: ${reasonOf(error)}`)));
    socket.on('close', () => done(new Error(`${where} closed the connection`)));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (line.startsWith('-')) return done(new Error(`${where} refused: ${line.slice(1)}`));
        if (++replies === commands.length) {
          return line === '+PONG' ? done() : done(new Error(`${where} answered ${JSON.stringify(line)} to PING`));
        }
      }
    });
  });
}

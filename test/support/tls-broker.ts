// Certificates made with the openssl CLI and private Mosquitto brokers on 127.0.0.1, for the
// transport-security tests. Never touches the project's shared broker.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of the generated certificates and keys (PEM). */
export interface Pki {
  readonly dir: string;
  /** The CA that signs the broker's certificate and the valid client certificates. */
  readonly ca: string;
  /** An unrelated CA: "wrong CA" for the client, "other CA" for client certificates. */
  readonly otherCa: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Signed by `ca`, valid January 2020 only. */
  readonly expiredCert: string;
  /** Signed by `otherCa`. */
  readonly otherClientCert: string;
  readonly otherClientKey: string;
  /** `clientKey`'s twin encrypted with {@link KEY_PASSPHRASE}, for `encryptedClientCert`. */
  readonly encryptedClientCert: string;
  readonly encryptedClientKey: string;
}

/** The passphrase of `Pki.encryptedClientKey`. */
export const KEY_PASSPHRASE = 'pass-phrase-7f3c1a';

const openssl = (dir: string, args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

/** Makes a temp dir with two CAs, a broker certificate for localhost/127.0.0.1 and client certificates. */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-tls-'));
  const p = (name: string) => join(dir, name);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  for (const ca of ['ca', 'other-ca'])
    openssl(dir, [
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      `${ca}.key`,
      '-out',
      `${ca}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=tributary test ${ca}`,
    ]);
  const csr = (name: string, cn: string, extra: string[] = ['-nodes']) =>
    openssl(dir, [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      ...extra,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
  const sign = (name: string, ca: string, ext: string[] = []) =>
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      ...ext,
    ]);
  writeFileSync(p('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  csr('server', 'localhost');
  sign('server', 'ca', ['-extfile', 'server.ext']);
  csr('client', 'ingest-client');
  sign('client', 'ca');
  csr('other-client', 'ingest-client');
  sign('other-client', 'other-ca');
  csr('encrypted-client', 'ingest-client', ['-passout', `pass:${KEY_PASSPHRASE}`]);
  sign('encrypted-client', 'ca');
  // An expired certificate needs explicit dates: `openssl ca` with a throwaway database.
  writeFileSync(p('index.txt'), '');
  writeFileSync(p('serial'), '1000\n');
  writeFileSync(
    p('ca.cnf'),
    `[ca]\ndefault_ca=t\n[t]\ndatabase=${p('index.txt')}\nnew_certs_dir=${dir}\nserial=${p('serial')}\ndefault_md=sha256\npolicy=any\n[any]\ncommonName=supplied\n`,
  );
  openssl(dir, [
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.pem',
    '-keyfile',
    'ca.key',
    '-in',
    'client.csr',
    '-out',
    'expired.pem',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200201000000Z',
    '-notext',
  ]);
  return {
    dir,
    ca: p('ca.pem'),
    otherCa: p('other-ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    expiredCert: p('expired.pem'),
    otherClientCert: p('other-client.pem'),
    otherClientKey: p('other-client.key'),
    encryptedClientCert: p('encrypted-client.pem'),
    encryptedClientKey: p('encrypted-client.key'),
  };
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** TLS listener with the broker certificate of `pki`; plain MQTT when omitted. */
  readonly pki?: Pki;
  /** Mutual TLS: clients must present a certificate signed by `pki.ca`. */
  readonly requireCertificate?: boolean;
  /** Users and passwords (written with mosquitto_passwd); anonymous clients are refused when given. */
  readonly users?: Record<string, string>;
}

/** A private Mosquitto on 127.0.0.1. */
export interface Broker {
  readonly port: number;
  readonly url: string;
  /** The generated mosquitto.conf. */
  readonly config: string;
  readonly process: ChildProcess;
  /** The broker's log so far. */
  log(): string;
  /** TCP connections the broker accepted so far (one per connection attempt, TLS or not). */
  connections(): number;
  /** Rewrites the password file and reloads it (SIGHUP); resolves once the broker logged the reload. */
  setUsers(users: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

/** Starts Mosquitto with a generated config in its own temp dir; resolves once it listens. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-broker-'));
  const port = await freePort();
  const logFile = join(dir, 'broker.log');
  const passwordFile = join(dir, 'passwords');
  const writeUsers = (users: Record<string, string>) => {
    writeFileSync(passwordFile, '');
    for (const [user, password] of Object.entries(users))
      execFileSync('mosquitto_passwd', ['-b', passwordFile, user, password], { stdio: 'ignore' });
  };
  if (options.users) writeUsers(options.users);
  const lines = [
    'per_listener_settings false',
    'persistence false',
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    options.users ? `allow_anonymous false\npassword_file ${passwordFile}` : 'allow_anonymous true',
    `listener ${port} 127.0.0.1`,
    ...(options.pki
      ? [
          `cafile ${options.pki.ca}`,
          `certfile ${options.pki.serverCert}`,
          `keyfile ${options.pki.serverKey}`,
          `require_certificate ${options.requireCertificate ? 'true' : 'false'}`,
        ]
      : []),
  ];
  const config = `${lines.join('\n')}\n`;
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, config);
  const child = spawn('mosquitto', ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  await until(
    () => /running/.test(log()),
    5_000,
    () => `mosquitto did not start: ${stderr}${log()}`,
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    config,
    process: child,
    log,
    url: `${options.pki ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    // A TLS handshake that fails during accept is logged as "Client connection from … failed" only.
    connections: () =>
      log()
        .split('\n')
        .filter((l) => /New connection from|Client connection from .* failed/.test(l)).length,
    async setUsers(users) {
      const before = log().split('Reloading config').length;
      writeUsers(users);
      child.kill('SIGHUP');
      await until(
        () => log().split('Reloading config').length > before,
        5_000,
        () => `mosquitto did not reload: ${log()}`,
      );
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A private redis-server on 127.0.0.1 that requires `password` (no persistence). */
export async function startRedis(password: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--requirepass', password, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await until(
    () => /Ready to accept connections/.test(out),
    5_000,
    () => `redis-server did not start: ${out}`,
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Polls `check` every 25 ms; throws `message()` after `timeoutMs`. */
export async function until(
  check: () => boolean,
  timeoutMs: number,
  message: () => string = () => 'timed out',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(message());
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An HS256 JWT (signed with node's crypto) with the given claims. */
export function signJwt(claims: Record<string, unknown>, secret = 'test-signing-secret'): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** TCP sockets (IPv4 and IPv6) in LISTEN state that process `pid` holds, from /proc. */
export function listeningSockets(pid: number): Array<{ address: string; port: number }> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const found: Array<{ address: string; port: number }> = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (state !== '0A' || !local || !inode || !inodes.has(inode)) continue; // 0A = LISTEN
      const [hex = '', port = '0'] = local.split(':');
      const address =
        hex.length === 8
          ? (hex.match(/../g) ?? [])
              .reverse()
              .map((b) => parseInt(b, 16))
              .join('.')
          : hex;
      found.push({ address, port: parseInt(port, 16) });
    }
  }
  return found;
}

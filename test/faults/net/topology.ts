// The network fault suite's hosts and links: drives topology.sh and the switch's rules.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../support/services.js';

const SCRIPT = fileURLToPath(new URL('./topology.sh', import.meta.url));
/** Where topology.sh keeps the switch's state, rules and the services' files. */
export const NET_STATE = '/tmp/tributary-netfaults';
/** The first three octets of the suite's private /24 (TRIB_NET when 10.213.77.0/24 is taken on the machine). */
const NET = process.env.TRIB_NET ?? '10.213.77';
if (!/^(10\.\d{1,3}|192\.168|172\.(1[6-9]|2\d|3[01]))\.\d{1,3}$/.test(NET))
  throw new Error(`TRIB_NET=${NET}: want the first three octets of a private /24, e.g. 10.213.77`);

/** The hosts: the root namespace (`ctl`: publisher and queries), the services, three workers. */
export type Host = 'ctl' | 'broker' | 'influx' | 'redis' | 'w0' | 'w1' | 'w2';
/** The worker hosts, by worker index. */
export const WORKER_HOSTS = ['w0', 'w1', 'w2'] as const;

/** Each host's address; the /24 exists only inside the namespaces topology.sh made. */
export const ADDRESS: Readonly<Record<Host, string>> = {
  ctl: `${NET}.1`,
  broker: `${NET}.10`,
  influx: `${NET}.11`,
  redis: `${NET}.12`,
  w0: `${NET}.20`,
  w1: `${NET}.21`,
  w2: `${NET}.22`,
};

/** The namespace a host's processes run in (`ctl` is the root namespace). */
export const namespaceOf = (host: Exclude<Host, 'ctl'>): string => `trib-${host}`;

/** What a host's link does to the frames the host sends (netem on its egress). */
export interface LinkImpairment {
  readonly delayMs: number;
  /** Uniform in ±jitterMs around delayMs; the link keeps its order. */
  readonly jitterMs: number;
  /** Share of frames dropped, 0..1. */
  readonly loss: number;
}

/** The network's faults: impaired links, pairs that cannot reach each other, hosts cut off from all. */
export interface NetworkRules {
  readonly links?: Partial<Record<Host, LinkImpairment>>;
  readonly blocked?: ReadonlyArray<readonly [Host, Host]>;
  readonly isolated?: readonly Host[];
}

/** Builds the namespaces and the switch, removing what a previous run left. */
export function networkUp(): void {
  execFileSync('bash', [SCRIPT, 'up'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, TRIB_NET: NET, TRIB_NET_STATE: NET_STATE },
  });
  generation = 0;
}

/** Kills what runs in the namespaces and deletes them. */
export function networkDown(): void {
  execFileSync('bash', [SCRIPT, 'down'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, TRIB_NET: NET, TRIB_NET_STATE: NET_STATE },
  });
}

let generation = 0;

/** Replaces the network's rules and resolves once the switch applies them. */
export async function setNetwork(rules: NetworkRules): Promise<void> {
  const gen = ++generation;
  const file = `${NET_STATE}/rules.json`;
  writeFileSync(`${file}.tmp`, JSON.stringify({ gen, ...rules }));
  renameSync(`${file}.tmp`, file);
  execFileSync('bash', [SCRIPT, 'hup'], { env: { ...process.env, TRIB_NET_STATE: NET_STATE } });
  const applied = await waitFor(
    () =>
      existsSync(`${NET_STATE}/rules.applied`) && Number(readFileSync(`${NET_STATE}/rules.applied`, 'utf8')) === gen,
    5000,
    20,
  );
  if (!applied) throw new Error(`the switch did not apply rules generation ${gen} (see ${NET_STATE}/switch.log)`);
}

/** A healthy network. */
export const healed = (): Promise<void> => setNetwork({});

/** The PIDs of the processes running in a host's namespace. */
export function processesOf(host: Exclude<Host, 'ctl'>): number[] {
  return execFileSync('ip', ['netns', 'pids', namespaceOf(host)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

// The Node-RED peer from the shared harness (../shared/bench/peer-nodered.sh), on the same workload.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { run } from './measure.js';

/** Where the shared harness's peer script is, if this checkout has the shared folder beside it. */
export const PEER_SCRIPT = resolve(process.cwd(), '../shared/bench/peer-nodered.sh');

export interface PeerResult {
  readonly rate: number;
  readonly rssMb: number;
  readonly line: string;
}

/** Runs Node-RED end to end (`MODE=drain|live`), `runs` times; returns its median line. */
export async function measurePeer(n: number, runs: number, mode: 'drain' | 'live'): Promise<PeerResult | undefined> {
  if (!existsSync(PEER_SCRIPT)) return undefined;
  const out = await run('bash', [PEER_SCRIPT], { ...process.env, N: String(n), RUNS: String(runs), MODE: mode });
  const line =
    out
      .trim()
      .split('\n')
      .filter((l) => /^nodered: /.test(l))
      .at(-1) ?? '';
  const m = /= (\d+) msg\/s, rss (\d+) MB/.exec(line);
  return m ? { rate: Number(m[1]), rssMb: Number(m[2]), line } : undefined;
}

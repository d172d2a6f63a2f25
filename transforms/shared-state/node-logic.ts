/**
 * Sparkplug edge-node state (aliases, datatypes, devices, bdSeq, seq tracking) in shared stage
 * state: the twin of the node part of `lua.ts` (the same cases run against both).
 * Fields of a node's hash: `a<alias>` → `<datatype>\0<device>\0<name>`, `n<device>\0<name>` →
 * datatype, `d<device>` → 1, `#bd` → bdSeq, `#hi`/`#r` → the highest seq position seen and the
 * last settled one (positions count on past 255), `#seen` → 256 flags, one per seq, `#pre` → the
 * seqs that came before the first NBIRTH (up to 64).
 * @packageDocumentation
 */
import type { NodeAction, OpResult, StateOp } from './types.js';

/** A node's hash, as a map. */
export type NodeHash = Map<string, string>;

const SEP = '\u0002';
const LIST = '\u0001';

/** Applies one node op to `h` (which may be replaced: an NBIRTH or NDEATH starts afresh). */
export function stepNode(nodes: Map<string, NodeHash>, op: Extract<StateOp, { kind: 'node' }>): OpResult {
  let h = nodes.get(op.series);
  if (op.action === 'ndeath') {
    const cur = h?.get('#bd');
    if (cur !== undefined && op.bdSeq !== '' && cur !== op.bdSeq) return `stale${SEP}`;
    const devices = [...(h?.keys() ?? [])]
      .filter((f) => f.startsWith('d'))
      .map((f) => f.slice(1))
      .sort();
    nodes.delete(op.series);
    return `ok${SEP}${devices.join(LIST)}`;
  }
  if (!h) nodes.set(op.series, (h = new Map()));
  // An NBIRTH replaces the node's own metrics; its devices keep theirs until their DBIRTH, which
  // may have reached the state first through another worker.
  if (op.action === 'nbirth') forgetDevice(h, '');
  if (op.action === 'dbirth' || op.action === 'ddeath') forgetDevice(h, op.device);
  for (let i = 0; i + 1 < op.set.length; i += 2) h.set(op.set[i]!, op.set[i + 1]!);
  if (op.action === 'dbirth') h.set(`d${op.device}`, '1');
  const gap = op.seq >= 0 ? trackSeq(h, op.action, op.seq, op.tolerance) : '';
  return `${gap}${SEP}${op.get.map((f) => h.get(f) ?? '').join(LIST)}`;
}

/** Forgets a device's aliases, datatypes and membership (`''`: the node's own, its bdSeq and seq). */
function forgetDevice(h: NodeHash, device: string): void {
  for (const [f, v] of h) {
    const c = f[0];
    if (
      (c === 'a' && v.split('\u0000')[1] === device) ||
      (c === 'n' && f.startsWith(`n${device}\u0000`)) ||
      (device !== '' && f === `d${device}`) ||
      (device === '' && c === '#' && f !== '#pre')
    )
      h.delete(f);
  }
}

function trackSeq(h: NodeHash, action: NodeAction, seq: number, tolerance: number): string {
  if (action === 'nbirth') {
    // Messages of this session that overtook the NBIRTH (another worker's batch came first) count as seen.
    const seen = '0'.repeat(256).split('');
    for (const q of (h.get('#pre') ?? '')
      .split(',')
      .filter((x) => x !== '')
      .map(Number)) {
      const d = (((q - seq) % 256) + 256) % 256;
      if (d > 0 && d < 128) seen[(seq + d) % 256] = '1';
    }
    h.delete('#pre');
    h.set('#hi', String(seq));
    h.set('#r', String(seq));
    h.set('#seen', seen.join(''));
    return '';
  }
  if (!h.has('#hi')) {
    // no NBIRTH yet: remembered for when it comes
    const pre = (h.get('#pre') ?? '').split(',').filter((x) => x !== '');
    pre.push(String(seq));
    h.set('#pre', pre.slice(-64).join(','));
    return '';
  }
  let hi = Number(h.get('#hi'));
  let r = Number(h.get('#r'));
  const seen = h.get('#seen')!.split('');
  const d = (((seq - hi) % 256) + 256) % 256;
  const p = d < 128 ? hi + d : hi - (256 - d);
  if (p <= r) return ''; // already settled: a redelivery, or too late to matter
  seen[p % 256] = '1';
  if (p > hi) hi = p;
  const missing: number[] = [];
  const upto = hi - tolerance;
  for (let q = r + 1; q <= upto; q++) {
    if (seen[q % 256] !== '1') missing.push(q % 256);
    seen[q % 256] = '0';
  }
  if (upto > r) r = upto;
  h.set('#hi', String(hi));
  h.set('#r', String(r));
  h.set('#seen', seen.join(''));
  return missing.join(',');
}

/**
 * What the Sparkplug decoder remembers per edge node between messages: the BIRTH's aliases and
 * datatypes, the devices, the last seq and bdSeq. Bounded: the least recently heard node goes first.
 * @packageDocumentation
 */
import { toBigInt } from './protobuf-message.js';
import { own, type Msg } from './sparkplug-values.js';

/** A metric an alias stands for. */
export interface Alias {
  readonly name: string;
  readonly device: string | undefined;
  readonly datatype: number | undefined;
}

/** One edge node's state. */
export interface NodeState {
  /** By alias: a number below 2^32, else its decimal text. */
  readonly aliases: Map<number | string, Alias>;
  /** Datatype by `<device>\0<name>` (device empty for node metrics). */
  readonly datatypes: Map<string, number>;
  readonly devices: Set<string>;
  seq: number | undefined;
  bdSeq: bigint | undefined;
}

/** The states of at most `max` edge nodes, by `<group>/<node>`, least recently used first. */
export class NodeStates {
  private readonly nodes = new Map<string, NodeState>();
  constructor(private readonly max: number) {}

  /** The state a BIRTH writes to: a fresh one for an NBIRTH (replacing any), the node's own (or a new one) for a DBIRTH. */
  birth(key: string, fresh: boolean): NodeState {
    const state = (!fresh && this.nodes.get(key)) || {
      aliases: new Map(),
      datatypes: new Map(),
      devices: new Set(),
      seq: undefined,
      bdSeq: undefined,
    };
    this.nodes.delete(key);
    this.nodes.set(key, state);
    if (this.nodes.size > this.max) this.nodes.delete(this.nodes.keys().next().value!);
    return state;
  }

  /**
   * The node's state, marked as just used; without one (no BIRTH seen, or forgotten) a throwaway
   * state, so that messages of unknown nodes never push a known node's state out.
   */
  find(key: string): NodeState {
    const state = this.nodes.get(key);
    if (!state)
      return { aliases: new Map(), datatypes: new Map(), devices: new Set(), seq: undefined, bdSeq: undefined };
    this.nodes.delete(key);
    this.nodes.set(key, state);
    return state;
  }

  get(key: string): NodeState | undefined {
    return this.nodes.get(key);
  }

  delete(key: string): void {
    this.nodes.delete(key);
  }
}

/** Updates the node's seq; true when this message's seq is not the one expected. */
export function trackSeq(state: NodeState, msg: Msg, type: string): boolean {
  const raw = own(msg, 'seq');
  if (raw === undefined) return false;
  const seq = Number(toBigInt(raw));
  const gap = type !== 'NBIRTH' && state.seq !== undefined && seq !== (state.seq + 1) % 256;
  state.seq = seq;
  return gap;
}

/** Forgets a device: its aliases, datatypes and membership (DBIRTH replaces them, DDEATH ends them). */
export function forgetDevice(state: NodeState, device: string): void {
  for (const [alias, a] of state.aliases) if (a.device === device) state.aliases.delete(alias);
  const prefix = `${device}\0`;
  for (const k of state.datatypes.keys()) if (k.startsWith(prefix)) state.datatypes.delete(k);
  state.devices.delete(device);
}

/** An alias as a map key: the number itself when below 2^32 (the usual case), else its decimal text. */
export function aliasKey(raw: unknown): number | string {
  if (typeof raw === 'object' && raw !== null && (raw as { high: number }).high === 0)
    return (raw as { low: number }).low >>> 0;
  const n = toBigInt(raw);
  return n < 4_294_967_296n ? Number(n) : String(n);
}

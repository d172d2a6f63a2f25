import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { DecodedValue, Decoder, DecodeResult } from '../../core/types.js';
import { checkWire, findType, loadSchema, toBigInt } from './protobuf-message.js';
import { aliasKey, forgetDevice, NodeStates, trackSeq, type NodeState } from './sparkplug-state.js';
import { DataType, metricValue, own, SparkplugError, type Msg } from './sparkplug-values.js';
import { hostState } from './sparkplug-host.js';
import { checkSize, fail, isoFromMs, messageOf } from './values.js';

/** Options of {@link sparkplug}. */
export interface SparkplugOptions {
  /** Largest payload (and inflated compressed body) accepted, in bytes. @defaultValue 1048576 */
  readonly maxBytes?: number;
  /** Edge nodes whose BIRTH state (aliases, datatypes, seq) is kept; the least recently heard one goes first. @defaultValue 10000 */
  readonly maxNodes?: number;
}

/** One flat object per reading: `toReadings({ measurement: 'sparkplug', tags: ['group', 'node', 'device', 'host'], time: ['ts'] })`. */
export type SparkplugRow = { [key: string]: DecodedValue };

const SCHEMA = fileURLToPath(new URL('../../../schemas/sparkplug_b.proto', import.meta.url));
const NODE_TYPES = new Set(['NBIRTH', 'NDATA', 'NDEATH', 'NCMD']);
const DEVICE_TYPES = new Set(['DBIRTH', 'DDATA', 'DDEATH', 'DCMD']);
/** Keys the rows use themselves; a metric with one of these names is written as `_<name>`. */
const RESERVED = new Set(['ts', 'group', 'node', 'device', 'host', 'online', 'seq_gap', '__proto__']);
const MAX_TEMPLATE_DEPTH = 8;

/**
 * Sparkplug B decoder for topics `spBv1.0/<group>/<type>/<node>[/<device>]` (and the host
 * application's `spBv1.0/STATE/<host>`, JSON, or legacy `STATE/<host>`, `ONLINE`/`OFFLINE`).
 * It returns an array of flat rows, one per metric timestamp:
 * `{ ts, group, node, device, <metric name>: value, ... }` with `ts` the time as ISO 8601 text;
 * map them with `toReadings({ measurement: 'sparkplug', tags: ['group', 'node', 'device', 'host'], time: ['ts'] })`.
 *
 * - BIRTH: the metric values, plus a status row `{ ts, group, node, device?, online: true }`.
 *   NBIRTH resets the node's aliases and seq (a rebirth replaces them), DBIRTH its device's.
 * - DATA: metrics named, or by an alias the BIRTH defined (an unknown alias is a failure: a
 *   rebirth is needed). The datatype comes from the metric or its BIRTH. Alias 0 and seq 0 are values.
 * - seq: per edge node since its NBIRTH, 0..255 wrapping; when a message's seq is not the previous
 *   + 1, its rows carry `seq_gap: true` (messages were lost or reordered: request a rebirth).
 * - DEATH: status rows `online: false`; NDEATH also for each device of the node, at the receive
 *   time, and only when its `bdSeq` matches the NBIRTH's (a stale NDEATH gives no rows).
 * - NCMD/DCMD are commands, not telemetry: no rows. Compressed payloads (`SPBV1.0_COMPRESSED`,
 *   DEFLATE or GZIP) are inflated. Integers are `bigint`, Float the shortest float32 decimal,
 *   DateTime a `bigint` of ms, arrays arrays, template instances `<metric>/<member>` keys,
 *   DataSets JSON text; null metrics, property sets and definitions are not written.
 *   A metric named like a row key (`ts`, `group`, `node`, `device`, `host`, `online`, `seq_gap`) becomes `_<name>`.
 *
 * State lives in the decoder instance: give every edge node's messages to the same worker
 * (no share group for Sparkplug topics, or one decoder per worker that sees all of them). For a
 * share group, decode with `sparkplugMessages()` and follow with the `trackSparkplugNodes` stage,
 * which keeps the node state in shared stage state (Redis).
 * @example
 * mqttSource({ ..., subscribe: [{ topic: 'spBv1.0/#', decode: sparkplug() }] })
 */
export function sparkplug(options: SparkplugOptions = {}): Decoder<DecodedValue> {
  const maxBytes = options.maxBytes ?? 1_048_576;
  const maxNodes = options.maxNodes ?? 10_000;
  const decodePayload = payloadDecoder(maxBytes);
  const nodes = new NodeStates(maxNodes);

  return {
    format: 'sparkplug',
    decode(payload, meta): DecodeResult {
      const levels = meta.topic.split('/');
      if (levels[0] === 'spBv1.0' && levels[1] === 'STATE' && levels.length === 3)
        return checkSize(payload, maxBytes) ?? hostState(levels[2]!, payload, true);
      if (levels[0] === 'STATE' && levels.length === 2)
        return checkSize(payload, maxBytes) ?? hostState(levels[1]!, payload, false);
      const [namespace, group, type = '', node, device] = levels;
      const shape = NODE_TYPES.has(type) ? 4 : DEVICE_TYPES.has(type) ? 5 : 0;
      if (namespace !== 'spBv1.0' || levels.length !== shape || levels.some((l) => l === '')) {
        return fail(
          `topic ${meta.topic} is not a Sparkplug B topic (spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|NCMD>/<node> or spBv1.0/<group>/<DBIRTH|DDATA|DDEATH|DCMD>/<node>/<device>)`,
        );
      }
      if (type.endsWith('CMD')) return { ok: true, value: [] };
      const bad = checkSize(payload, maxBytes);
      if (bad) return bad;
      try {
        const msg = decodePayload(payload);
        const key = `${group}/${node}`;
        const where = { group: group!, node: node!, device };
        if (type === 'NDEATH') return { ok: true, value: nodeDeath(msg, nodes, key, where) };
        const state = type.endsWith('BIRTH') ? nodes.birth(key, type === 'NBIRTH') : nodes.find(key);
        const seqGap = trackSeq(state, msg, type);
        if (type === 'DDEATH') {
          forgetDevice(state, device!);
          return { ok: true, value: [status(where, timeOf(own(msg, 'timestamp')), false, seqGap)] };
        }
        const birth = type.endsWith('BIRTH');
        if (type === 'DBIRTH') {
          forgetDevice(state, device!);
          state.devices.add(device!);
        }
        const rows = metricRows(msg, state, where, birth, seqGap);
        if (birth) rows.push(status(where, timeOf(own(msg, 'timestamp')), true, seqGap));
        return { ok: true, value: rows };
      } catch (error) {
        if (error instanceof SparkplugError) return fail(error.message);
        return fail(`invalid Sparkplug B payload: ${messageOf(error)}`);
      }
    },
  };
}

/**
 * Parses a Sparkplug B payload, inflating a compressed one (`SPBV1.0_COMPRESSED`).
 * @throws SparkplugError when it is not a valid payload
 */
export function payloadDecoder(maxBytes: number): (bytes: Uint8Array) => Msg {
  const Payload = findType(loadSchema(SCHEMA, 'sparkplug schema'), 'org.eclipse.tahu.protobuf.Payload')!;
  const parse = (bytes: Uint8Array): Msg => {
    const wrong = checkWire(Payload, bytes);
    if (wrong) throw new SparkplugError(`invalid Sparkplug B payload: ${wrong}`);
    return Payload.decode(bytes) as unknown as Msg;
  };
  return (bytes) => {
    const outer = parse(bytes);
    if (own(outer, 'uuid') !== 'SPBV1.0_COMPRESSED') return outer;
    const found = metrics(outer).find((m) => own(m, 'name') === 'algorithm');
    const algorithm = (found && own(found, 'string_value')) ?? 'DEFLATE';
    const body = own(outer, 'body');
    if (!(body instanceof Uint8Array)) throw new SparkplugError('compressed payload has no body');
    let inner: Uint8Array;
    try {
      const opts = { maxOutputLength: maxBytes };
      inner = String(algorithm).toUpperCase() === 'GZIP' ? gunzipSync(body, opts) : inflateSync(body, opts);
    } catch (error) {
      throw new SparkplugError(`compressed payload (${String(algorithm)}) does not inflate: ${messageOf(error)}`);
    }
    return parse(inner);
  };
}

/** An NCMD payload asking an edge node to publish its BIRTH again (`Node Control/Rebirth` = true). */
export function rebirthPayload(nowMs: number): Uint8Array {
  const Payload = findType(loadSchema(SCHEMA, 'sparkplug schema'), 'org.eclipse.tahu.protobuf.Payload')!;
  const ts = BigInt(nowMs);
  return Payload.encode(
    Payload.fromObject({
      timestamp: ts.toString(),
      metrics: [
        { name: 'Node Control/Rebirth', timestamp: ts.toString(), datatype: DataType.Boolean, boolean_value: true },
      ],
    }),
  ).finish();
}

/** Where a message comes from. */
export interface Where {
  readonly group: string;
  readonly node: string;
  readonly device: string | undefined;
}

/** The metrics of a payload. */
export function metrics(msg: Msg): Msg[] {
  return (own(msg, 'metrics') as Msg[] | undefined) ?? [];
}

// The last time converted: a payload's metrics mostly share one timestamp.
let lastMs: unknown;
let lastIso: string | undefined;

/** A payload time (ms) as ISO text. */
export function timeOf(ms: unknown): string | undefined {
  if (ms === undefined) return undefined;
  if (ms !== lastMs) {
    lastIso = isoFromMs(toBigInt(ms));
    lastMs = ms;
  }
  return lastIso;
}

function row(where: Where, ts: string | undefined): SparkplugRow {
  const r: SparkplugRow = {};
  if (ts !== undefined) r.ts = ts;
  r.group = where.group;
  r.node = where.node;
  if (where.device !== undefined) r.device = where.device;
  return r;
}

/** A status row (`online`). */
export function status(where: Where, ts: string | undefined, online: boolean, seqGap: boolean): SparkplugRow {
  const r = row(where, ts);
  r.online = online;
  if (seqGap) r.seq_gap = true;
  return r;
}

function nodeDeath(msg: Msg, nodes: NodeStates, key: string, where: Where): SparkplugRow[] {
  const state = nodes.get(key);
  const bd = metrics(msg).find((m) => own(m, 'name') === 'bdSeq');
  const bdValue = bd && (own(bd, 'long_value') ?? own(bd, 'int_value'));
  const bdSeq = bdValue === undefined ? undefined : toBigInt(bdValue);
  if (state?.bdSeq !== undefined && bdSeq !== undefined && bdSeq !== state.bdSeq) return []; // stale: an older session's will
  nodes.delete(key);
  const rows = [status(where, undefined, false, false)];
  for (const device of state?.devices ?? []) rows.push(status({ ...where, device }, undefined, false, false));
  return rows;
}

/** The metric rows of a BIRTH or DATA message, registering a BIRTH's names, aliases and datatypes. */
export function metricRows(msg: Msg, state: NodeState, where: Where, birth: boolean, seqGap: boolean): SparkplugRow[] {
  const rows = new Map<string, SparkplugRow>();
  const dev = where.device ?? '';
  for (const m of metrics(msg)) {
    const rawAlias = own(m, 'alias');
    const alias = rawAlias === undefined ? undefined : aliasKey(rawAlias);
    const rawName = own(m, 'name');
    let name = typeof rawName === 'string' && rawName !== '' ? rawName : undefined;
    const declared = own(m, 'datatype') as number | undefined;
    let datatype = declared;
    if (birth) {
      if (name === undefined)
        throw new SparkplugError(`BIRTH metric${alias === undefined ? '' : ` with alias ${alias}`} has no name`);
      if (alias !== undefined) state.aliases.set(alias, { name, device: where.device, datatype: declared });
      if (declared !== undefined) state.datatypes.set(`${dev}\0${name}`, declared);
      const bdValue = own(m, 'long_value') ?? own(m, 'int_value');
      if (name === 'bdSeq' && where.device === undefined && bdValue !== undefined) state.bdSeq = toBigInt(bdValue);
    } else if (name === undefined) {
      const known = alias === undefined ? undefined : state.aliases.get(alias);
      if (!known) {
        throw new SparkplugError(
          alias === undefined
            ? 'metric has neither name nor alias'
            : `unknown alias ${alias} for ${where.group}/${where.node}: no BIRTH defined it (a rebirth is needed)`,
        );
      }
      name = known.name;
      datatype = known.datatype;
    }
    datatype ??= state.datatypes.get(`${dev}\0${name}`);
    const ts = timeOf(own(m, 'timestamp') ?? own(msg, 'timestamp'));
    const tsKey = ts ?? '';
    let r = rows.get(tsKey);
    if (!r) rows.set(tsKey, (r = row(where, ts)));
    addMetric(r, m, datatype, name, 0);
  }
  const out = [...rows.values()];
  if (seqGap) for (const r of out) r.seq_gap = true;
  return out;
}

function addMetric(r: SparkplugRow, m: Msg, datatype: number | undefined, name: string, depth: number): void {
  if (datatype === DataType.Template || (datatype === undefined && Object.hasOwn(m, 'template_value'))) {
    const t = own(m, 'template_value') as Msg | undefined;
    if (!t || own(t, 'is_definition') === true || own(m, 'is_null') === true) return;
    if (depth >= MAX_TEMPLATE_DEPTH)
      throw new SparkplugError(`template "${name}" nests deeper than ${MAX_TEMPLATE_DEPTH}`);
    for (const member of metrics(t)) {
      const memberName = own(member, 'name');
      if (typeof memberName !== 'string' || memberName === '') continue;
      addMetric(r, member, own(member, 'datatype') as number | undefined, `${name}/${memberName}`, depth + 1);
    }
    return;
  }
  const value = metricValue(m, datatype, name);
  if (value === undefined) return;
  r[RESERVED.has(name) ? `_${name}` : name] = value; // '__proto__' is reserved: never a plain assignment
}

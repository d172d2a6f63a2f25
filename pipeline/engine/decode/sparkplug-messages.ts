/**
 * Sparkplug B for a share group: the decoder parses a message but keeps no edge-node state; the
 * stage `trackSparkplugNodes` (tributary/transforms) resolves aliases, datatypes, bdSeq and seq
 * against shared stage state, so any worker can take any message of any edge node.
 * @packageDocumentation
 */
import type { Decoder, DecodeResult } from '../../core/types.js';
import { payloadDecoder, type SparkplugOptions, type SparkplugRow } from './sparkplug.js';
import { hostState } from './sparkplug-host.js';
import { SparkplugError, type Msg } from './sparkplug-values.js';
import { checkSize, fail, messageOf } from './values.js';

/** A parsed BIRTH, DATA or DEATH whose metrics still need their edge node's state. */
export interface SparkplugMessage {
  readonly kind: 'message';
  readonly type: 'NBIRTH' | 'DBIRTH' | 'NDATA' | 'DDATA' | 'NDEATH' | 'DDEATH';
  readonly group: string;
  readonly node: string;
  readonly device: string | undefined;
  /** The parsed payload (protobuf fields by their .proto names). */
  readonly payload: Readonly<Msg>;
}

/** Rows that need no node state (host STATE), or none (commands). */
export interface SparkplugRows {
  readonly kind: 'rows';
  readonly rows: readonly SparkplugRow[];
}

/** What {@link sparkplugMessages} decodes to. */
export type SparkplugInput = SparkplugMessage | SparkplugRows;

const TYPES = new Set(['NBIRTH', 'DBIRTH', 'NDATA', 'DDATA', 'NDEATH', 'DDEATH', 'NCMD', 'DCMD']);

/**
 * The Sparkplug B decoder of a share group: topics as {@link sparkplug}, the node state left to the
 * `trackSparkplugNodes` stage that must follow it.
 * @example
 * mqttSource({ ...env.mqtt, subscribe: [{ topic: 'spBv1.0/#', decode: sparkplugMessages() }] })
 */
export function sparkplugMessages(options: Pick<SparkplugOptions, 'maxBytes'> = {}): Decoder<SparkplugInput> {
  const maxBytes = options.maxBytes ?? 1_048_576;
  const decodePayload = payloadDecoder(maxBytes);
  const rows = (r: DecodeResult): DecodeResult<SparkplugInput> =>
    r.ok ? { ok: true, value: { kind: 'rows', rows: r.value as SparkplugRow[] } } : r;
  return {
    format: 'sparkplug',
    decode(payload, meta): DecodeResult<SparkplugInput> {
      const levels = meta.topic.split('/');
      if (levels[0] === 'spBv1.0' && levels[1] === 'STATE' && levels.length === 3)
        return checkSize(payload, maxBytes) ?? rows(hostState(levels[2]!, payload, true));
      if (levels[0] === 'STATE' && levels.length === 2)
        return checkSize(payload, maxBytes) ?? rows(hostState(levels[1]!, payload, false));
      const [namespace, group, type = '', node, device] = levels;
      const shape = type.startsWith('N') ? 4 : 5;
      if (namespace !== 'spBv1.0' || !TYPES.has(type) || levels.length !== shape || levels.some((l) => l === '')) {
        return fail(
          `topic ${meta.topic} is not a Sparkplug B topic (spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|NCMD>/<node> or spBv1.0/<group>/<DBIRTH|DDATA|DDEATH|DCMD>/<node>/<device>)`,
        );
      }
      if (type.endsWith('CMD')) return { ok: true, value: { kind: 'rows', rows: [] } };
      const bad = checkSize(payload, maxBytes);
      if (bad) return bad;
      try {
        return {
          ok: true,
          value: {
            kind: 'message',
            type: type as SparkplugMessage['type'],
            group: group!,
            node: node!,
            device,
            payload: decodePayload(payload),
          },
        };
      } catch (error) {
        if (error instanceof SparkplugError) return fail(error.message);
        return fail(`invalid Sparkplug B payload: ${messageOf(error)}`);
      }
    },
  };
}

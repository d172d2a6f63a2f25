/**
 * The Sparkplug host application's STATE message: JSON since Sparkplug 3.0, text before.
 * @packageDocumentation
 */
import type { DecodeResult } from '../../core/types.js';
import { fail, isoFromMs } from './values.js';

/** The host application's STATE: v3 JSON `{"online":bool,"timestamp":ms}`, or legacy text ONLINE/OFFLINE. */
export function hostState(host: string, payload: Uint8Array, v3: boolean): DecodeResult {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8').trim();
  if (!v3) {
    const word = text.toUpperCase();
    if (word !== 'ONLINE' && word !== 'OFFLINE')
      return fail(`STATE payload ${JSON.stringify(text.slice(0, 40))} is not ONLINE or OFFLINE`);
    return { ok: true, value: [{ host, online: word === 'ONLINE' }] };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail('STATE payload is not JSON {"online": bool, "timestamp": ms}');
  }
  const { online, timestamp } = (body ?? {}) as { online?: unknown; timestamp?: unknown };
  if (typeof online !== 'boolean') return fail('STATE payload has no boolean "online"');
  const r: Record<string, string | boolean> = {};
  const ts = Number.isSafeInteger(timestamp) ? isoFromMs(BigInt(timestamp as number)) : undefined;
  if (ts !== undefined) r.ts = ts;
  r.host = host;
  r.online = online;
  return { ok: true, value: [r] };
}

/**
 * Names in shared stage state: series keys, time keys, shards and their Redis keys.
 * @packageDocumentation
 */
import { SeriesCache } from '../../pipeline/core/series-cache.js';
import type { Reading } from '../../pipeline/core/types.js';

/** The series of a reading: measurement and sorted tag set as a JSON array (unambiguous, reversible). */
export function seriesId(r: Pick<Reading, 'measurement' | 'tags'>): string {
  return ids.get(r.measurement, r.tags, canonicalId); // cached: sorting and JSON cost more than a few lookups
}

const ids = new SeriesCache<string>();

function canonicalId(measurement: string, tags: Readonly<Record<string, string>>): string {
  const parts: string[] = [measurement];
  for (const k of Object.keys(tags).sort()) parts.push(k, tags[k]!);
  return JSON.stringify(parts);
}

/** The measurement and tags of a {@link seriesId}. */
export function parseSeriesId(id: string): { measurement: string; tags: Record<string, string> } {
  const parts = JSON.parse(id) as string[];
  const tags: Record<string, string> = {};
  for (let i = 1; i + 1 < parts.length; i += 2) tags[parts[i]!] = parts[i + 1]!;
  return { measurement: parts[0] ?? '', tags };
}

/** A ns time as 20 digits (string order = time order, exact in Lua); times before 1970 are clamped to 0. */
export function timeKey(timeNs: bigint): string {
  return (timeNs < 0n ? 0n : timeNs).toString().padStart(20, '0');
}

/** The shard of a series (FNV-1a): all state of a series lives in its shard, one Redis Cluster slot. */
export function shardOf(series: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < series.length; i++) h = Math.imul(h ^ series.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}

/** The Redis keys of one shard of one stage; they share the hash tag `{<namespace>:<shard>}`. */
export interface ShardKeys {
  /** Windows waiting to close: member `start|end|series`, score = close time or lease end (ms). */
  readonly due: string;
  /** Per series, the end (ms) of the latest window claimed for writing: older data is late. */
  readonly closed: string;
  /** Per series, the recent history of a sequence stage (dedupe, changed, rate). */
  readonly last: string;
  /** Prefix of the per-window hashes of points (time key → encoded fields). */
  readonly windowPrefix: string;
  /** Prefix of the per-node hashes of Sparkplug edge nodes (see `node-logic.ts`). */
  readonly nodePrefix: string;
}

/** The keys of `shard` of the stage state `namespace` under `prefix`. */
export function shardKeys(prefix: string, namespace: string, shard: number): ShardKeys {
  const tag = `${prefix}:{${namespace}:${shard}}`;
  return {
    due: `${tag}:due`,
    closed: `${tag}:closed`,
    last: `${tag}:last`,
    windowPrefix: `${tag}:w:`,
    nodePrefix: `${tag}:n:`,
  };
}

/** A window's member in the due set: `start|end|series`. */
export function windowMember(startMs: number, endMs: number, series: string): string {
  return `${startMs}|${endMs}|${series}`;
}

/** The parts of a {@link windowMember}. */
export function parseWindowMember(member: string): { startMs: number; endMs: number; series: string } {
  const a = member.indexOf('|');
  const b = member.indexOf('|', a + 1);
  return { startMs: Number(member.slice(0, a)), endMs: Number(member.slice(a + 1, b)), series: member.slice(b + 1) };
}

/**
 * Topic strings by their bytes: a PUBLISH whose topic bytes were seen before gets the same string
 * back instead of a new one. Fleets repeat their topics, so a held message carries no string of
 * its own, and lookups by topic (routing, topic tags) find the string's hash already computed.
 * Bounded: past `limit` topics it starts over.
 */
export class TopicNames {
  private readonly byHash = new Map<number, Entry>();

  constructor(private readonly limit = 20_000) {}

  /** The UTF-8 topic in `buf[start, end)`. */
  get(buf: Buffer, start: number, end: number): string {
    let hash = 0x811c9dc5; // FNV-1a
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 16777619);
    let entry = this.byHash.get(hash);
    while (entry !== undefined && !sameBytes(entry.bytes, buf, start, end)) entry = entry.next;
    if (entry !== undefined) return entry.topic;
    const topic = buf.toString('utf8', start, end);
    if (this.byHash.size >= this.limit) this.byHash.clear();
    this.byHash.set(hash, { bytes: Buffer.from(buf.subarray(start, end)), topic, next: this.byHash.get(hash) });
    return topic;
  }
}

interface Entry {
  readonly bytes: Buffer;
  readonly topic: string;
  /** Another topic with the same hash. */
  readonly next: Entry | undefined;
}

function sameBytes(a: Buffer, buf: Buffer, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[start + i]) return false;
  return true;
}

/** A trie node: children by tag key, then by tag value, alternately. */
interface Node<V> {
  next: Map<string, Node<V>> | undefined;
  value: V | undefined;
}

/**
 * Values computed once per series (measurement and tag set) and found again without building a
 * key: a walk of nested maps by the tags as they come, so a reading pays a few map lookups and
 * allocates nothing. Tags in another order are another path to the same value (compute it
 * canonically). Bounded: past `limit` series it starts over.
 * @example
 * const prefixes = new SeriesCache<string>();
 * prefixes.get(r.measurement, r.tags, linePrefix); // linePrefix(measurement, tags)
 */
export class SeriesCache<V> {
  private root = new Map<string, Node<V>>();
  private size = 0;

  constructor(private readonly limit = 100_000) {}

  /**
   * The value of this series; `compute(measurement, tags)` runs the first time (if it throws,
   * nothing is cached). Pass a function made once, not a closure per call.
   */
  get(
    measurement: string,
    tags: Readonly<Record<string, string>>,
    compute: (measurement: string, tags: Readonly<Record<string, string>>) => V,
  ): V {
    let node = this.root.get(measurement);
    if (node === undefined) this.root.set(measurement, (node = { next: undefined, value: undefined }));
    for (const k in tags) node = child(child(node, k), tags[k]!);
    if (node.value === undefined) {
      const value = compute(measurement, tags);
      if (this.size >= this.limit) {
        this.clear(); // starts over; this series is cached the next time
      } else {
        node.value = value;
        this.size++;
      }
      return value;
    }
    return node.value;
  }

  clear(): void {
    this.root = new Map();
    this.size = 0;
  }
}

function child<V>(node: Node<V>, key: string): Node<V> {
  const next = (node.next ??= new Map());
  let c = next.get(key);
  if (c === undefined) next.set(key, (c = { next: undefined, value: undefined }));
  return c;
}

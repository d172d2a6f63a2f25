/**
 * Remembers the answers of `lookup` for up to `max` keys (e.g. topics: a fleet has a bounded set;
 * past `max` the memory is dropped and rebuilt), so a topic is parsed once, not per message.
 */
export function perKeyCache<T>(lookup: (key: string) => T, max = 100_000): (key: string) => T {
  let cache = new Map<string, T>();
  return (key) => {
    const hit = cache.get(key);
    if (hit !== undefined || cache.has(key)) return hit as T;
    const value = lookup(key);
    if (cache.size >= max) cache = new Map();
    cache.set(key, value);
    return value;
  };
}

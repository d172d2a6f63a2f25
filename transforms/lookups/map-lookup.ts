import type { Reading } from '../../pipeline/core/types.js';
import type { Enrichment, Lookup } from '../enrich-from.js';

/** Options of {@link mapLookup}. */
export interface MapLookupOptions {
  /** Key → values, as a Map or a plain object. */
  readonly entries: ReadonlyMap<string, Enrichment> | Readonly<Record<string, Enrichment>>;
  /** The key of a reading; `undefined` passes it unchanged. @defaultValue the `device` tag */
  readonly key?: (reading: Reading) => string | undefined;
}

/**
 * An in-memory lookup for {@link enrichFrom}: a fixed table, loaded synchronously (never a promise).
 * @example
 * enrichFrom(mapLookup({ entries: { 'dev-1': { model: 'TX-100' } } }))
 */
export function mapLookup(options: MapLookupOptions): Lookup {
  const table: ReadonlyMap<string, Enrichment> =
    options.entries instanceof Map
      ? options.entries
      : new Map(Object.entries(options.entries as Readonly<Record<string, Enrichment>>));
  return {
    name: 'map',
    key: options.key ?? ((r) => r.tags.device),
    load: (key) => table.get(key),
  };
}

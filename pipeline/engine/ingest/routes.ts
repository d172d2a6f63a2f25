import { perKeyCache } from '../../core/cache.js';
import type { DecodedValue, Decoder, Logger } from '../../core/types.js';
import { unroutedDecoder } from './subscription-record.js';
import { topicMatcher } from './topic-filter.js';

/**
 * The decoder for each topic: the first subscription whose filter matches it, else `unrouted`
 * (a dead letter with code `unrouted`, logged once per topic). Remembered per topic.
 */
export function routeTable(
  subscriptions: ReadonlyArray<{ readonly topic: string; readonly decode: Decoder<DecodedValue> }>,
  log: Logger,
  unrouted: Decoder<DecodedValue> = unroutedDecoder,
): (topic: string) => Decoder<DecodedValue> {
  const routes = subscriptions.map((s) => ({ match: topicMatcher(s.topic), decoder: s.decode }));
  return perKeyCache((topic: string) => {
    const route = routes.find((r) => r.match(topic));
    if (route) return route.decoder;
    log.warn({ topic }, 'message matched no subscription; dead-lettered as unrouted');
    return unrouted;
  });
}

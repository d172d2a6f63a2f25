import { describe, expect, it } from 'vitest';
import {
  parseSubscriptionRecord,
  staleFilters,
  subscriptionRecordTopic,
  unroutedDecoder,
} from '../../../../pipeline/engine/ingest/subscription-record.js';

const bytes = (s: string) => Buffer.from(s);

describe('subscription record', () => {
  it('lives beside the presence topic, with MQTT wildcards in the client id replaced', () => {
    expect(subscriptionRecordTopic('ingest-0')).toBe('tributary/workers/ingest-0/subscriptions');
    expect(subscriptionRecordTopic('a/b+#')).toBe('tributary/workers/a_b__/subscriptions');
  });

  it('parses a record and refuses anything else', () => {
    expect(parseSubscriptionRecord(bytes('{"clientId":"w-0","filters":["$share/g/a/#"],"at":5}'))).toEqual({
      clientId: 'w-0',
      filters: ['$share/g/a/#'],
      at: 5,
    });
    expect(parseSubscriptionRecord(bytes('{"filters":[1]}'))).toBeUndefined();
    expect(parseSubscriptionRecord(bytes('not json'))).toBeUndefined();
    expect(parseSubscriptionRecord(bytes('null'))).toBeUndefined();
  });

  it('finds the recorded filters the pipeline no longer has, once each', () => {
    expect(staleFilters(['$share/g/a/#', '$share/g/b/#', '$share/g/a/#'], ['$share/g/b/#'])).toEqual(['$share/g/a/#']);
    expect(staleFilters([], ['x'])).toEqual([]);
  });

  it('fails every message it is given with code unrouted, naming the topic', () => {
    const r = unroutedDecoder.decode(bytes('1'), { topic: 'old/x', qos: 1, retain: false, receivedAtMs: 0 } as never);
    expect(r).toEqual({
      ok: false,
      failure: { code: 'unrouted', reason: 'topic old/x matches no subscription of this pipeline' },
    });
  });
});

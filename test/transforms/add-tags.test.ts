import { describe, expect, it } from 'vitest';
import { addTags } from '../../transforms/add-tags.js';
import { ctxAt, outs, reading } from '../support/transforms.js';

describe('addTags', () => {
  it("adds static tags, keeping a reading's own value by default", () => {
    const [out] = outs(
      addTags({ region: 'eu', env: 'prod' }).apply(reading({ v: 1 }, { device: 'd', env: 'dev' }), ctxAt()),
    );
    expect(out!.tags).toEqual({ region: 'eu', env: 'dev', device: 'd' });
  });

  it('replaces on request, and refuses empty keys or values', () => {
    const [out] = outs(
      addTags({ env: 'prod' }, { onConflict: 'replace' }).apply(reading({ v: 1 }, { env: 'dev' }), ctxAt()),
    );
    expect(out!.tags).toEqual({ env: 'prod' });
    expect(() => addTags({ env: '' })).toThrow(/addTags env/);
    expect(() => addTags({ '': 'x' })).toThrow(/empty key/);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../pipeline/core/errors.js';
import { renameFields } from '../../transforms/rename-fields.js';
import { ctxAt, outs, reading } from '../support/transforms.js';

describe('renameFields', () => {
  it('renames fields and tags, moves fields to tags and tags to fields, drops names', () => {
    const stage = renameFields({
      fields: { temp: 'temperature' },
      tags: { dev: 'device' },
      fieldsToTags: ['status'],
      tagsToFields: { fw: 'firmware' },
      dropFields: ['debug'],
      dropTags: ['tmp'],
      measurement: 'env',
    });
    const [out] = outs(
      stage.apply(
        reading({ temp: 21.5, status: 'ok', debug: 1, hum: 40 }, { dev: 'd1', fw: '1.2.3', tmp: 'x', site: 's' }),
        ctxAt(),
      ),
    );
    expect(out).toEqual({
      measurement: 'env',
      tags: { site: 's', device: 'd1', status: 'ok' },
      fields: { hum: 40, firmware: '1.2.3', temperature: 21.5 },
      timeNs: 1_700_000_000_000_000_000n,
    });
  });

  it('stringifies values moved to tags, and the mapped name wins a clash', () => {
    const stage = renameFields({ fieldsToTags: { code: 'c', on: 'on' }, fields: { a: 'b' } });
    const [out] = outs(stage.apply(reading({ code: 42n, on: true, a: 1, b: 2, x: 0.5 }, { c: 'old' }), ctxAt()));
    expect(out!.tags).toEqual({ c: '42', on: 'true' });
    expect(out!.fields).toEqual({ b: 1, x: 0.5 });
  });

  it('rejects a reading left without fields, and a bad option at construction', () => {
    const stage = renameFields({ fieldsToTags: ['status'] });
    expect(stage.apply(reading({ status: 'ok' }), ctxAt())).toEqual({
      rejected: { code: 'mapping_error', reason: 'no field left after renameFields' },
    });
    expect(() => renameFields({ fields: { a: '' } })).toThrow(ConfigError);
    expect(() => renameFields({ measurement: '' })).toThrow(/measurement/);
  });
});

import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { FieldValue, Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/** Names to map: `{ old: 'new' }`, or a list of names kept as they are (for moves). */
export type NameMap = Readonly<Record<string, string>> | readonly string[];

/** Options of {@link renameFields}. Every name refers to the reading as it comes in. */
export interface RenameFieldsOptions {
  /** Field renames, old name → new name. @defaultValue {} */
  readonly fields?: Readonly<Record<string, string>>;
  /** Tag renames, old name → new name. @defaultValue {} */
  readonly tags?: Readonly<Record<string, string>>;
  /** Fields that become tags (the value as a string: `20.5` → `"20.5"`, `true` → `"true"`). @defaultValue {} */
  readonly fieldsToTags?: NameMap;
  /** Tags that become string fields (follow with {@link castFields} for numbers). @defaultValue {} */
  readonly tagsToFields?: NameMap;
  /** Fields removed. @defaultValue [] */
  readonly dropFields?: readonly string[];
  /** Tags removed. @defaultValue [] */
  readonly dropTags?: readonly string[];
  /** New measurement name. @defaultValue the reading's own */
  readonly measurement?: string;
}

/**
 * Renames fields and tags, moves fields to tags and tags to fields, drops names. All mappings
 * apply at once to the incoming names; when two names end up the same, the mapped one wins. A
 * reading left with no field is rejected (`mapping_error`): InfluxDB cannot store it.
 * @example
 * renameFields({ fields: { temp: 'temperature' }, fieldsToTags: ['status'], tagsToFields: { fw: 'firmware' } })
 */
export function renameFields(options: RenameFieldsOptions): Transform<Reading, Reading> {
  const fieldMap = toMap(options.fields ?? {}, 'renameFields fields');
  const tagMap = toMap(options.tags ?? {}, 'renameFields tags');
  const toTags = toMap(options.fieldsToTags ?? {}, 'renameFields fieldsToTags');
  const toFields = toMap(options.tagsToFields ?? {}, 'renameFields tagsToFields');
  const dropFields = new Set(options.dropFields ?? []);
  const dropTags = new Set(options.dropTags ?? []);
  if (options.measurement !== undefined && !options.measurement)
    throw new ConfigError('renameFields measurement', 'a non-empty name');

  return {
    name: 'renameFields',
    apply(reading): StageOutput<Reading> {
      const tags: Record<string, string> = {};
      const fields: Record<string, FieldValue> = {};
      const mappedTags: Array<[string, string]> = [];
      const mappedFields: Array<[string, FieldValue]> = [];
      for (const key in reading.tags) {
        const value = reading.tags[key]!;
        const asField = toFields.get(key);
        const renamed = tagMap.get(key);
        if (asField !== undefined) mappedFields.push([asField, value]);
        else if (dropTags.has(key)) continue;
        else if (renamed !== undefined) mappedTags.push([renamed, value]);
        else tags[key] = value;
      }
      for (const key in reading.fields) {
        const value = reading.fields[key]!;
        const asTag = toTags.get(key);
        const renamed = fieldMap.get(key);
        if (asTag !== undefined) mappedTags.push([asTag, String(value)]);
        else if (dropFields.has(key)) continue;
        else if (renamed !== undefined) mappedFields.push([renamed, value]);
        else fields[key] = value;
      }
      for (const [k, v] of mappedTags) tags[k] = v;
      for (const [k, v] of mappedFields) fields[k] = v;
      for (const _ in fields)
        return [{ measurement: options.measurement ?? reading.measurement, tags, fields, timeNs: reading.timeNs }];
      return reject('no field left after renameFields', 'mapping_error');
    },
  };
}

function toMap(names: NameMap, option: string): ReadonlyMap<string, string> {
  const entries: Array<[string, string]> = Array.isArray(names)
    ? (names as readonly string[]).map((n) => [n, n])
    : Object.entries(names as Readonly<Record<string, string>>);
  for (const [from, to] of entries) {
    if (!from || typeof to !== 'string' || !to) throw new ConfigError(option, 'non-empty names', { [from]: to });
  }
  return new Map(entries);
}

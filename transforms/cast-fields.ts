import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { FieldValue, Reading, StageOutput, Transform } from '../pipeline/core/types.js';

/**
 * Target type of a field: `number` is written as an InfluxDB float, `integer` as an integer
 * (`42i`, a `bigint`), `boolean` and `string` as themselves.
 */
export type FieldType = 'number' | 'integer' | 'boolean' | 'string';

/** Options of {@link castFields}. */
export interface CastFieldsOptions {
  /**
   * A value that cannot be converted (`"n/a"` to a number): `reject` dead-letters the message with
   * code `cast_error` and the reason; `drop-field` removes the field and counts it in
   * {@link CastFieldsTransform.droppedFields}. @defaultValue 'reject'
   */
  readonly onError?: 'reject' | 'drop-field';
  /** How a fractional number becomes an `integer`. @defaultValue 'round' */
  readonly rounding?: 'round' | 'trunc' | 'floor' | 'ceil';
}

/** The stage {@link castFields} returns, with its counters. */
export interface CastFieldsTransform extends Transform<Reading, Reading> {
  /** Fields removed because their value could not be converted (with `onError: 'drop-field'`), by field name. */
  readonly droppedFields: ReadonlyMap<string, number>;
}

const TRUE = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE = new Set(['false', '0', 'no', 'off', 'f', 'n']);
const INTEGER = /^[+-]?\d+$/;

/**
 * Converts field values to the given types: numeric strings to numbers, numbers to integers,
 * `"on"`/`"off"` to booleans, anything to a string. Fields not listed, and listed fields a
 * reading does not have, are left alone.
 * @example
 * castFields({ temperature: 'number', battery: 'integer', online: 'boolean' }, { onError: 'drop-field' })
 */
export function castFields(
  types: Readonly<Record<string, FieldType>>,
  options: CastFieldsOptions = {},
): CastFieldsTransform {
  const entries = Object.entries(types);
  for (const [field, type] of entries) {
    if (!['number', 'integer', 'boolean', 'string'].includes(type))
      throw new ConfigError(`castFields ${field}`, 'number, integer, boolean or string', type);
  }
  const onError = options.onError ?? 'reject';
  if (onError !== 'reject' && onError !== 'drop-field')
    throw new ConfigError('castFields onError', "'reject' or 'drop-field'", onError);
  const round = Math[options.rounding ?? 'round'];
  const droppedFields = new Map<string, number>();

  return {
    name: 'castFields',
    droppedFields,
    apply(reading): StageOutput<Reading> {
      let fields: Record<string, FieldValue> | undefined;
      for (const [field, type] of entries) {
        const value = reading.fields[field];
        if (value === undefined) continue;
        const cast = convert(value, type, round);
        if (cast === value) continue;
        fields ??= { ...reading.fields };
        if (cast !== undefined) {
          fields[field] = cast;
        } else if (onError === 'reject') {
          return reject(`field "${field}": cannot convert ${JSON.stringify(String(value))} to ${type}`, 'cast_error');
        } else {
          delete fields[field];
          droppedFields.set(field, (droppedFields.get(field) ?? 0) + 1);
        }
      }
      if (!fields) return [reading];
      for (const _ in fields) return [{ ...reading, fields }];
      return reject('no field left after castFields', 'cast_error');
    },
  };
}

/** The value as `type`, or `undefined` when it does not convert (also used by `toReadings`' `select`). */
export function convert(value: FieldValue, type: FieldType, round: (n: number) => number): FieldValue | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : String(value);
    case 'number':
      if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'boolean') return value ? 1 : 0;
      return parseNumber(value);
    case 'integer': {
      if (typeof value === 'bigint') return value;
      if (typeof value === 'boolean') return value ? 1n : 0n;
      if (typeof value === 'string' && INTEGER.test(value.trim())) return BigInt(value.trim());
      const n = typeof value === 'number' ? value : parseNumber(value);
      return n !== undefined && Number.isFinite(n) ? BigInt(round(n)) : undefined;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'number') return Number.isNaN(value) ? undefined : value !== 0;
      if (typeof value === 'bigint') return value !== 0n;
      const s = value.trim().toLowerCase();
      return TRUE.has(s) ? true : FALSE.has(s) ? false : undefined;
    }
  }
}

function parseNumber(text: string): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

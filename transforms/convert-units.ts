import { ConfigError } from '../pipeline/core/errors.js';
import { reject } from '../pipeline/core/stage.js';
import type { FieldValue, Reading, StageOutput, Transform } from '../pipeline/core/types.js';

interface UnitDef {
  readonly dimension: string;
  /** To the dimension's base unit. */
  readonly toBase: (v: number) => number;
  /** From the dimension's base unit. */
  readonly fromBase: (v: number) => number;
}

const linear = (dimension: string, factor: number): UnitDef => ({
  dimension,
  toBase: (v) => v * factor,
  fromBase: (v) => v / factor,
});

/** The units {@link convertUnits} knows, by dimension (base unit first). */
export const UNITS = {
  C: { dimension: 'temperature', toBase: (v: number) => v, fromBase: (v: number) => v },
  F: { dimension: 'temperature', toBase: (v: number) => ((v - 32) * 5) / 9, fromBase: (v: number) => (v * 9) / 5 + 32 },
  K: { dimension: 'temperature', toBase: (v: number) => v - 273.15, fromBase: (v: number) => v + 273.15 },
  m: linear('length', 1),
  km: linear('length', 1000),
  cm: linear('length', 0.01),
  mm: linear('length', 0.001),
  in: linear('length', 0.0254),
  ft: linear('length', 0.3048),
  mi: linear('length', 1609.344),
  'm/s': linear('speed', 1),
  'km/h': linear('speed', 1 / 3.6),
  mph: linear('speed', 0.44704),
  kn: linear('speed', 1852 / 3600),
  Pa: linear('pressure', 1),
  hPa: linear('pressure', 100),
  kPa: linear('pressure', 1000),
  mbar: linear('pressure', 100),
  bar: linear('pressure', 100_000),
  psi: linear('pressure', 6894.757293168),
  inHg: linear('pressure', 3386.389),
  W: linear('power', 1),
  kW: linear('power', 1000),
  MW: linear('power', 1e6),
  J: linear('energy', 1),
  Wh: linear('energy', 3600),
  kWh: linear('energy', 3.6e6),
  g: linear('mass', 1),
  kg: linear('mass', 1000),
  lb: linear('mass', 453.59237),
  oz: linear('mass', 28.349523125),
  ms: linear('duration', 0.001),
  s: linear('duration', 1),
  min: linear('duration', 60),
  h: linear('duration', 3600),
  V: linear('voltage', 1),
  mV: linear('voltage', 0.001),
  A: linear('current', 1),
  mA: linear('current', 0.001),
  ratio: linear('fraction', 1),
  '%': linear('fraction', 0.01),
} as const satisfies Record<string, UnitDef>;

/** A unit name {@link convertUnits} knows. */
export type Unit = keyof typeof UNITS;

/** One field's conversion: between two known units, or by a function. */
export type UnitConversion =
  | { readonly from: Unit; readonly to: Unit; readonly as?: string; readonly decimals?: number }
  | { readonly convert: (value: number) => number; readonly as?: string; readonly decimals?: number };

/** Options of {@link convertUnits}. */
export interface ConvertUnitsOptions {
  /**
   * A listed field whose value is not a number (a string, a boolean): `reject` dead-letters the
   * message with code `conversion_error`; `keep` leaves the value as it is. @defaultValue 'reject'
   */
  readonly onError?: 'reject' | 'keep';
}

/**
 * Converts numeric fields between units (°F → °C, mph → km/h, hPa → bar, ...; see {@link UNITS}) or
 * by a function; `as` renames the field (`temperature_f` → `temperature_c`) and `decimals` rounds.
 * Results are floats; fields a reading does not have are skipped.
 * @example
 * convertUnits({ temperature: { from: 'F', to: 'C', decimals: 2 }, wind: { from: 'mph', to: 'km/h', as: 'wind_kmh' } })
 */
export function convertUnits(
  conversions: Readonly<Record<string, UnitConversion>>,
  options: ConvertUnitsOptions = {},
): Transform<Reading, Reading> {
  const onError = options.onError ?? 'reject';
  const plan = Object.entries(conversions).map(([field, c]) => ({ field, as: c.as ?? field, fn: compile(field, c) }));

  return {
    name: 'convertUnits',
    apply(reading): StageOutput<Reading> {
      let fields: Record<string, FieldValue> | undefined;
      for (const { field, as, fn } of plan) {
        const value = reading.fields[field];
        if (value === undefined) continue;
        if (typeof value !== 'number' && typeof value !== 'bigint') {
          if (onError === 'keep') continue;
          return reject(`field "${field}": cannot convert ${JSON.stringify(value)}, not a number`, 'conversion_error');
        }
        fields ??= { ...reading.fields };
        if (as !== field) delete fields[field];
        fields[as] = fn(Number(value));
      }
      return [fields ? { ...reading, fields } : reading];
    },
  };
}

function compile(field: string, c: UnitConversion): (v: number) => number {
  if (c.as !== undefined && !c.as) throw new ConfigError(`convertUnits ${field} as`, 'a non-empty field name');
  const d = c.decimals;
  if (d !== undefined && (!Number.isInteger(d) || d < 0 || d > 15))
    throw new ConfigError(`convertUnits ${field} decimals`, 'an integer 0..15', d);
  let fn: (v: number) => number;
  if ('convert' in c) {
    if (typeof c.convert !== 'function') throw new ConfigError(`convertUnits ${field} convert`, 'a function');
    fn = c.convert;
  } else {
    const from: UnitDef | undefined = Object.hasOwn(UNITS, c.from) ? UNITS[c.from] : undefined;
    const to: UnitDef | undefined = Object.hasOwn(UNITS, c.to) ? UNITS[c.to] : undefined;
    const known = Object.keys(UNITS).join(', ');
    if (!from) throw new ConfigError(`convertUnits ${field} from`, `one of ${known}`, c.from);
    if (!to) throw new ConfigError(`convertUnits ${field} to`, `one of ${known}`, c.to);
    if (from.dimension !== to.dimension)
      throw new ConfigError(
        `convertUnits ${field}`,
        `units of one dimension (${c.from} is ${from.dimension}, ${c.to} is ${to.dimension})`,
      );
    fn = (v) => to.fromBase(from.toBase(v));
  }
  if (d === undefined) return fn;
  const scale = 10 ** d;
  return (v) => Math.round(fn(v) * scale) / scale;
}

/** Time units a payload's timestamp may be in. */
export type TimeUnit = 's' | 'ms' | 'us' | 'ns';

const NS_PER: Record<TimeUnit, bigint> = { s: 1_000_000_000n, ms: 1_000_000n, us: 1_000n, ns: 1n };
const ISO = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9})\d*)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Guesses the unit of an epoch number from its magnitude (valid for dates 1973–2286):
 * < 1e11 seconds, < 1e14 ms, < 1e17 µs, otherwise ns.
 */
export function guessUnit(value: number | bigint): TimeUnit {
  const v = typeof value === 'bigint' ? Number(value < 0n ? -value : value) : Math.abs(value);
  return v < 1e11 ? 's' : v < 1e14 ? 'ms' : v < 1e17 ? 'us' : 'ns';
}

/**
 * Converts a payload timestamp to ns since the epoch: epoch numbers (unit given or guessed),
 * numeric strings, or ISO 8601 (a timestamp without an offset is taken as UTC).
 * @returns the time, or `undefined` when the value is not a timestamp
 */
export function toTimeNs(value: unknown, unit: TimeUnit | 'auto' = 'auto'): bigint | undefined {
  if (typeof value === 'bigint') return value * NS_PER[unit === 'auto' ? guessUnit(value) : unit];
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    const u = unit === 'auto' ? guessUnit(value) : unit;
    if (Number.isInteger(value) && Number.isSafeInteger(value)) return BigInt(value) * NS_PER[u];
    // Fractional epoch (e.g. 1700000000.123 s): split to keep the fraction's precision.
    const whole = Math.trunc(value);
    return BigInt(whole) * NS_PER[u] + BigInt(Math.round((value - whole) * Number(NS_PER[u])));
  }
  if (typeof value !== 'string' || value.length === 0) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(value)) {
    return value.includes('.') ? toTimeNs(Number(value), unit) : toTimeNs(BigInt(value), unit);
  }
  const m = ISO.exec(value.trim());
  if (!m) return undefined;
  const [, date, clock, fraction = '', zone = 'Z'] = m;
  const ms = Date.parse(`${date}T${clock!.length === 5 ? `${clock}:00` : clock}${normaliseZone(zone)}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

function normaliseZone(zone: string): string {
  if (zone.toUpperCase() === 'Z') return 'Z';
  const digits = zone.slice(1).replace(':', '');
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2, 4) || '00'}`;
}

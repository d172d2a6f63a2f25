// `tributary check`: the hint that a payload carried its time under a key `toReadings` did not
// look at (Tasmota's `Time`: the default keys are `ts`, `time`, `timestamp`, case-sensitive), so
// the point got the receive time and the payload's time became a string field.
import type { FieldValue, Reading } from '../core/types.js';
import { toTimeNs } from '../../transforms/time.js';

const TIME_WORDS = new Set(['ts', 'time', 'timestamp', 'datetime', 'date', 'at']);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;
const YEAR_2000_NS = 946_684_800_000_000_000n;
const YEAR_NS = 366n * 86_400_000_000_000n;

/** A field or tag of a reading that looks like the time it was meant to carry. */
export interface TimeHint {
  readonly key: string;
  readonly value: FieldValue;
}

/**
 * The fields and tags of `reading` that look like a time — by name (`Time`, `created_at`,
 * `eventTimestamp`) or by an ISO 8601 value — when the reading got the receive time
 * (`receivedAtMs`) rather than one from its payload. Values that do not read as a time between
 * 2000 and a year past the receive time (an uptime in seconds) are not taken for one.
 */
export function timeHints(reading: Reading, receivedAtMs: number): TimeHint[] {
  const receivedNs = BigInt(receivedAtMs) * 1_000_000n;
  if (reading.timeNs !== receivedNs) return [];
  const hints: TimeHint[] = [];
  for (const [key, value] of [...Object.entries(reading.fields), ...Object.entries(reading.tags)]) {
    const iso = typeof value === 'string' && ISO_DATE.test(value);
    if (!iso && !TIME_WORDS.has(lastWord(key))) continue;
    const ns = typeof value === 'boolean' ? undefined : toTimeNs(value);
    if (ns !== undefined && ns >= YEAR_2000_NS && ns <= receivedNs + YEAR_NS) hints.push({ key, value });
  }
  return hints;
}

/** `StatusSNS_Time` → `time`, `eventTimestamp` → `timestamp`, `created-at` → `at`. */
function lastWord(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s_.-]+/);
  return (words.at(-1) ?? '').toLowerCase();
}

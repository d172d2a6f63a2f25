import type { Transport } from '@influxdata/influxdb-client';
import type { Batch, Failure, Logger, Reading, WriteResult } from '../../pipeline/core/types.js';
import { type FieldTypeRegistry, holdFieldTypes, parseServerConflict, type InfluxFieldType } from './field-types.js';
import { toLineProtocol } from '../../pipeline/core/line-protocol.js';

/** Server corrections followed within one batch before its result is handed back as it is. */
const MAX_CORRECTIONS = 8;

/**
 * Wraps a batch write with the field-type check: readings whose values fit the known types (or
 * can be coerced without loss) are written in one request; the others come back as a `partial`
 * result with code `field_type_conflict`, so the runtime dead-letters them without splitting the
 * batch. When the server refuses a write for a type it knows and we did not (a field another
 * writer created), its type is recorded and the batch checked again.
 */
export function typedWrite(
  registry: FieldTypeRegistry,
  send: (lines: readonly string[]) => Promise<WriteResult>,
): (batch: Batch<Reading>) => Promise<WriteResult> {
  return async ({ items, encoded }) => {
    const unavailable = await registry.resolve(items);
    if (unavailable) return { status: 'retry', failure: unavailable };
    for (let corrections = 0; ; corrections++) {
      const lines: string[] = [];
      const conflicts: Array<{ index: number; failure: Failure }> = [];
      items.forEach((reading, index) => {
        const checked = holdFieldTypes(reading, registry.typeOf);
        if ('conflict' in checked) conflicts.push({ index, failure: checked.conflict });
        else lines.push(checked.reading === reading ? encoded[index]! : toLineProtocol(checked.reading));
      });
      if (lines.length === 0) return { status: 'partial', rejected: conflicts };
      const result = await send(lines);
      if (result.status === 'delivered')
        return conflicts.length > 0 ? { status: 'partial', rejected: conflicts } : result;
      if (result.status !== 'rejected' || corrections >= MAX_CORRECTIONS) return result;
      const told = parseServerConflict(result.failure.reason);
      if (!told || !registry.serverSays(told.measurement, told.field, told.type)) return result;
      await registry.publish();
    }
  };
}

interface FieldKeysResponse {
  results?: Array<{ error?: string; series?: Array<{ name: string; values?: Array<[string, string]> }> }>;
}

/**
 * Learns the types InfluxDB 1.x already stores in `database` (`SHOW FIELD KEYS`). A field listed
 * with two types (different shards) is left to be learned from the data.
 */
export async function learnServerFieldTypes(
  transport: Transport,
  database: string,
  registry: FieldTypeRegistry,
  log?: Logger,
): Promise<void> {
  try {
    const path = `/query?${new URLSearchParams({ db: database, q: 'SHOW FIELD KEYS' }).toString()}`;
    const res = (await transport.request(path, '', { method: 'POST' })) as FieldKeysResponse;
    let learned = 0;
    for (const series of res.results?.[0]?.series ?? []) {
      const byField = new Map<string, Set<string>>();
      for (const [field, type] of series.values ?? []) byField.set(field, (byField.get(field) ?? new Set()).add(type));
      for (const [field, types] of byField) {
        const [type] = types;
        if (types.size === 1 && ['float', 'integer', 'string', 'boolean'].includes(type!)) {
          registry.serverSays(series.name, field, type as InfluxFieldType);
          learned++;
        }
      }
    }
    await registry.publish();
    log?.info({ database, fields: learned }, 'field types learned from SHOW FIELD KEYS');
  } catch (error) {
    log?.warn(
      { database, error: (error as Error).message },
      'could not read field types from InfluxDB; learning them from the data',
    );
  }
}

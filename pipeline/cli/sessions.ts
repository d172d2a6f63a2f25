import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { workerEnv } from './config/env.js';
import { ConfigError } from '../core/errors.js';
import { statusTopic } from '../engine/ingest/presence.js';
import { subscriptionRecordTopic } from '../engine/ingest/subscription-record.js';
import { clearWorkerRecords, endSession, WorkerSessions } from '../engine/ingest/worker-sessions.js';
import { createLogger } from '../core/log.js';
import { drainSession, helperConnectOptions } from './orphans.js';

const HELP = `Usage: tributary sessions <list|drain|forget> ...

  list [--group G] [--all]         workers of the share group (TRIBUTARY_GROUP) as their presence shows
                                   them: state, since when, pipeline, host, subscribed filters
  drain <pipeline.ts> <client id>  take over an offline worker's session: unsubscribe its filters,
                                   write what it had queued through the pipeline (acknowledged as
                                   usual), then end the session and clear its presence
  forget <client id>               end a session WITHOUT writing what it queued (those messages are
                                   dropped by the broker) and clear its presence

A worker started with 'tributary run' drains orphaned members of its group by itself once they have
been offline for TRIBUTARY_ORPHAN_GRACE_S (default 180 s); these commands are for operators.`;

/** `tributary sessions`. */
export async function sessionsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      group: { type: 'string' },
      all: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const [verb, ...rest] = positionals;
  if (values.help || !verb) {
    console.log(HELP);
    return verb || values.help ? 0 : 2;
  }
  const env = workerEnv();
  if (verb === 'list') {
    const sessions = await WorkerSessions.open(env.mqtt.url, await helperConnectOptions(env));
    try {
      const rows = sessions.list(values.all ? undefined : (values.group ?? env.mqtt.group));
      if (rows.length === 0) console.log(`no workers with presence in group ${values.group ?? env.mqtt.group}`);
      for (const w of rows) {
        const state = w.state === 'offline' && w.lost ? 'offline (lost)' : w.state;
        console.log(
          [
            w.clientId,
            w.group ?? '-',
            state,
            new Date(w.sinceMs).toISOString(),
            w.pipeline ?? '-',
            w.host ?? '-',
            w.filters.join(',') || '-',
          ].join('\t'),
        );
      }
      return 0;
    } finally {
      await sessions.close();
    }
  }
  if (verb === 'drain') {
    const [file, clientId] = rest;
    if (!file || !clientId) throw new ConfigError('sessions drain', '<pipeline.ts> <client id>');
    const log = createLogger(undefined, { clientId: env.mqtt.clientId });
    const code = await drainSession(resolve(file), clientId, env, log);
    if (code === 'leased') {
      console.error(`tributary sessions: ${clientId} is being drained by another worker`);
      return 1;
    }
    if (code === 0) console.log(`tributary sessions: ${clientId} drained and ended`);
    return code;
  }
  if (verb === 'forget') {
    const [clientId] = rest;
    if (!clientId) throw new ConfigError('sessions forget', '<client id>');
    const options = await helperConnectOptions(env);
    await endSession(env.mqtt.url, clientId, options);
    const c = await mqtt.connectAsync(env.mqtt.url, {
      ...options,
      clientId: `tributary-sessions-${process.pid}`,
      clean: true,
      reconnectPeriod: 0,
    });
    await clearWorkerRecords(c, statusTopic(clientId), subscriptionRecordTopic(clientId));
    await c.endAsync();
    console.log(`tributary sessions: ${clientId} ended; what it had queued was dropped`);
    return 0;
  }
  throw new ConfigError('sessions', 'list, drain or forget', verb);
}

import { runCommand } from './run.js';
import { deadLettersCommand } from './dead-letters.js';
import { alertsCommand } from './alerts.js';
import { simulateCommand } from './simulate.js';
import { checkCommand } from './check.js';
import { sessionsCommand } from './sessions.js';

const USAGE = `tributary — MQTT → InfluxDB ingestion with acknowledgements after durable writes

Usage: tributary <command> [options]

Commands:
  run <pipeline.ts> [--workers N] [--progress] [--watch]
                                                 run a pipeline (N workers in the share group;
                                                 --watch: restart on a change that type-checks)
  check <pipeline.ts> [--sample topic=payload]... [--samples FILE]
                                                 type-check, validate options, reach services, dry-run samples
  dead-letters list [--count N] [--pipeline P] [--topic F] [--code C] [--since T] [--oldest-first]
                                                 show dead letters, newest first (reason, topic, payload)
  dead-letters replay [--count N] [filters as for list]
                                                 republish dead letters to their topics, oldest first
  alerts [--queue Q] [--concurrency N] [--webhook URL] [--mqtt-topic T]
                                                 consume the alert queue with handlers
  sessions list|drain|forget ...                 workers' MQTT sessions in the share group; drain an orphaned one
  simulate [--devices N] [--rate R] [--duration-s S] a simulated device fleet publishing telemetry
Run 'tributary <command> --help' for a command's options. Endpoints come from TRIBUTARY_* variables (see README).`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  run: runCommand,
  'dead-letters': deadLettersCommand,
  alerts: alertsCommand,
  simulate: simulateCommand,
  check: checkCommand,
  sessions: sessionsCommand,
};

const [name, ...rest] = process.argv.slice(2);
const command = name ? commands[name] : undefined;
if (!command) {
  console.log(USAGE);
  process.exitCode = name && name !== '--help' && name !== '-h' ? 2 : 0;
} else {
  command(rest).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const e = error as Error & { code?: string };
      console.error(`tributary ${name}: ${e.code?.startsWith('TRIBUTARY') ? e.message : (e.stack ?? String(error))}`);
      process.exit(1);
    },
  );
}

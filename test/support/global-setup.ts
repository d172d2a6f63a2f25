// Vitest global setup of both suites: gives the run an id (`uniqueName` puts it in every name); at
// the end, drops the InfluxDB databases the run made, and test databases over an hour old that a
// run left behind (one that died, or from before names carried the run id).
// Without it every run left its databases behind: 67 after a day of runs on the CI machine, each
// with shards InfluxDB keeps watching.
import { INFLUX_URL } from './services.js';

/** `<prefix>_<pid>_<ms since epoch, base 36>_<random, base 36>[_<run id>]`, as `uniqueName` makes them. */
const TEST_DATABASE = /_\d+_([0-9a-z]{8})_[0-9a-z]{1,4}(?:_([0-9a-z]+))?$/;
const STALE_AFTER_MS = 3_600_000;

let run = '';

export function setup(): void {
  run = process.env.TRIBUTARY_TEST_RUN ??= Math.floor(Math.random() * 36 ** 6).toString(36);
}

export async function teardown(): Promise<void> {
  try {
    const res = await fetch(`${INFLUX_URL}/query?${new URLSearchParams({ q: 'SHOW DATABASES' }).toString()}`);
    const body = (await res.json()) as { results?: Array<{ series?: Array<{ values?: string[][] }> }> };
    const names = (body.results?.[0]?.series?.[0]?.values ?? []).map((v) => v[0]!);
    for (const name of names) {
      const made = TEST_DATABASE.exec(name);
      if (!made) continue;
      const ours = made[2] === run;
      if (ours || Date.now() - parseInt(made[1]!, 36) > STALE_AFTER_MS) {
        await fetch(
          `${INFLUX_URL}/query?${new URLSearchParams({ q: `DROP DATABASE "${name.replaceAll('"', '\\"')}"` }).toString()}`,
          { method: 'POST' },
        );
      }
    }
  } catch (error) {
    console.warn(`test teardown: could not drop the test databases (${(error as Error).message})`);
  }
}

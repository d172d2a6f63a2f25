// `tributary check` as users run it (bin/tributary.mjs, real services): the time hint, integers
// printed as numbers, and a branching pipeline's stages and samples.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { INFLUX_URL, MQTT_URL, REDIS_URL } from '../../support/services.js';

const run = promisify(execFile);
const env = {
  ...process.env,
  TRIBUTARY_MQTT_URL: MQTT_URL,
  TRIBUTARY_INFLUX_URL: INFLUX_URL,
  TRIBUTARY_REDIS_URL: REDIS_URL,
};

describe('tributary check', () => {
  it('warns that a Tasmota "Time" was not used as the time, and prints integers as numbers', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        'bin/tributary.mjs',
        'check',
        'examples/fleet.ts',
        '--no-typecheck',
        '--sample',
        'fleet/site-1/dev-1/telemetry={"Time":"2024-05-01T12:00:00","temperature":21.5,"battery":49}',
      ],
      { env },
    );
    expect(stdout).toContain('ok    redis     ');
    expect(stdout).toMatch(
      / {2}reading {2}\{"measurement":"telemetry","tags":\{"site":"site-1","device":"dev-1"\},"fields":\{"Time":"2024-05-01T12:00:00","temperature":21\.5,"battery":49\},"timeNs":\d{19}\}/,
    );
    expect(stdout).toContain(
      '  warn     "Time" looks like a time ("2024-05-01T12:00:00") but the point has the receive time: toReadings reads the time from "ts", "time" or "timestamp" (exact case) unless given time: [...], e.g. toReadings({ ..., time: ["Time"] })',
    );
  });

  it("shows a branching pipeline's stages by branch, and runs each sample through its own branch", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        'bin/tributary.mjs',
        'check',
        'examples/home.ts',
        '--no-services',
        '--no-typecheck',
        '--sample',
        'tele/plug-1/SENSOR={"Time":"2024-05-01T12:00:00","DS18B20":{"Id":"01144A0CB2AA","Temperature":21.5}}',
        '--sample',
        'sensor/001/temperature=23.5',
      ],
      { env },
    );
    expect(stdout).toContain(
      'ok    load      pipeline "home": toReadings@tele/+/SENSOR → parseTopic@tele/+/SENSOR → toReadings@sensor/+/+ → measurementFromTopic@sensor/+/+ → join → addTags → influxdb',
    );
    expect(stdout).toContain(
      '  line     tasmota,DS18B20_Id=01144A0CB2AA,device=plug-1,site=home DS18B20_Temperature=21.5 1714564800000000000',
    );
    expect(stdout).toMatch(/ {2}line {5}temperature,sensor=001,site=home value=23\.5 \d{19}\n/);
    expect(stdout).not.toContain('warn');
  });
});

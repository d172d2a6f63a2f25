// examples/home.ts as a worker on the real services: Tasmota JSON and bare sensor values, each
// through its own branch, end up as their own measurements in InfluxDB.
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { wipeSession } from '../support/fleet-pipeline.js';
import { INFLUX_URL, MQTT_URL, REDIS_URL, influxQuery, uniqueName, waitFor } from '../support/services.js';

describe('a pipeline with branches, run as a worker', () => {
  it('writes each payload shape through its own stages', async () => {
    const name = uniqueName('branches');
    const device = name.replace(/_/g, '-');
    const worker = spawn('./bin/tributary.mjs', ['run', 'examples/home.ts'], {
      env: {
        ...process.env,
        TRIBUTARY_MQTT_URL: MQTT_URL,
        TRIBUTARY_INFLUX_URL: INFLUX_URL,
        TRIBUTARY_REDIS_URL: REDIS_URL,
        TRIBUTARY_INFLUX_DATABASE: name,
        TRIBUTARY_GROUP: name,
        TRIBUTARY_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    worker.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    worker.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => worker.on('exit', (code) => r(code)));
    const rows = async (q: string) => (await influxQuery(name, q)).results[0]?.series?.[0]?.values ?? [];
    try {
      expect(await waitFor(() => /worker \S+ ready/.test(out), 60_000, 100), out).toBe(true);
      const pub = await mqtt.connectAsync(MQTT_URL, { clientId: `${name}-pub`, reconnectPeriod: 0 });
      await pub.publishAsync(
        `tele/${device}/SENSOR`,
        '{"Time":"2024-05-01T12:00:00","DS18B20":{"Id":"01144A0CB2AA","Temperature":21.5}}',
        { qos: 1 },
      );
      await pub.publishAsync(`sensor/${device}/temperature`, '23.5', { qos: 1 });
      await pub.endAsync();
      expect(
        await waitFor(async () => (await rows('SELECT * FROM "temperature"')).length === 1, 20_000, 100),
        out,
      ).toBe(true);
      expect(await waitFor(async () => (await rows('SELECT * FROM "tasmota"')).length === 1, 20_000, 100), out).toBe(
        true,
      );
      const tasmota = await influxQuery(
        name,
        `SELECT "DS18B20_Temperature" FROM "tasmota" WHERE "device" = '${device}' AND "site" = 'home'`,
      );
      expect(tasmota.results[0]?.series?.[0]?.values).toEqual([[1714564800000000000, 21.5]]);
      const sensor = await influxQuery(
        name,
        `SELECT "value" FROM "temperature" WHERE "sensor" = '${device}' AND "site" = 'home'`,
      );
      expect(sensor.results[0]?.series?.[0]?.values?.[0]?.[1]).toBe(23.5);
      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      worker.kill('SIGKILL');
      await wipeSession(`${name}-0`);
      await influxQuery(name, `DROP DATABASE "${name}"`);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { redact } from '../../../pipeline/core/errors.js';

describe('redact: every secret shape the project handles', () => {
  it.each([
    ['mqtt://ingest:s3cret@broker:1883', 'mqtt://***@broker:1883'],
    ['mqtts://user@broker', 'mqtts://***@broker'],
    ['rediss://:pa%40ss@cache:6380/0', 'rediss://***@cache:6380/0'],
    ['postgres://app:pw@db:5432/telemetry', 'postgres://***@db:5432/telemetry'],
    [
      'connect ECONNREFUSED for ws://a:b@h:9001/mqtt and http://u:p@influx:8086',
      'connect ECONNREFUSED for ws://***@h:9001/mqtt and http://***@influx:8086',
    ],
    ['authorization: Token abc123==', 'authorization: Token ***'],
    ['Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-_x', 'Authorization: Bearer ***'],
    ['Basic dXNlcjpwYXNz', 'Basic ***'],
    [
      'http://influx:8086/write?db=t&u=admin&p=x&password=hunter2&token=t0k',
      'http://influx:8086/write?db=t&u=admin&p=x&password=***&token=***',
    ],
    [
      'TRIBUTARY_MQTT_PASSWORD=hunter2 TRIBUTARY_INFLUX_TOKEN=abc',
      'TRIBUTARY_MQTT_PASSWORD=*** TRIBUTARY_INFLUX_TOKEN=***',
    ],
    ['{"passphrase": "open sesame"}', '{"passphrase": "***"}'],
    ["key_passphrase='open sesame'", "key_passphrase='***'"],
    ['key_passphrase=xyz; api_key: k-1', 'key_passphrase=***; api_key: ***'],
  ])('%s', (input, expected) => {
    const out = redact(input);
    expect(out).toBe(expected);
    expect(out).not.toMatch(/s3cret|hunter2|abc123|sesame|eyJ|dXNl|t0k|pa%40ss/);
  });

  it('leaves text without secrets alone', () => {
    const text = 'InfluxDB at http://127.0.0.1:8086 answered 404: database not found (key topic=fleet/a)';
    expect(redact(text)).toBe(text);
  });
});

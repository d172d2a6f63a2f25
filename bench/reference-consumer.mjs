#!/usr/bin/env node
// The minimal consumer with Tributary's delivery guarantee, as ../shared/design/delivery.md
// describes it: mqtt.js on MQTT 5 with a receive maximum of 10,000, each PUBACK held until InfluxDB
// answered 204 for the message's batch; batches of 5,000 lines cut early by a 50 ms timer, two
// writes in flight, PUBACKs released in arrival order. No alert rules, no dead letters, no retries
// (a failed write exits), no backpressure beyond the broker's window. The bench runs it on the same
// workload as Tributary, so that the full pipeline's cost is a ratio measured in the same run.
// Environment: TRIBUTARY_MQTT_URL, TRIBUTARY_INFLUX_URL, TRIBUTARY_INFLUX_DATABASE, TRIBUTARY_CLIENT_ID,
// FLEET_TOPIC_ROOT, FLEET_FORMAT (json | msgpack | protobuf). Prints its CONNACK, then "ready" once subscribed.
import { decode as decodeMsgpack } from '@msgpack/msgpack';
import mqtt from 'mqtt';
import protobufjs from 'protobufjs';

const env = process.env;
const db = env.TRIBUTARY_INFLUX_DATABASE ?? 'reference';
const influx = env.TRIBUTARY_INFLUX_URL ?? 'http://127.0.0.1:8086';
const format = env.FLEET_FORMAT ?? 'json';
const suffix = { json: 'telemetry', msgpack: 'packed', protobuf: 'proto' }[format];
const WINDOW = 10_000,
  BATCH = 5_000,
  MAX_WAIT_MS = 50,
  WRITES = 2;

const decode = bodyDecoder(format);
const writeUrl = `${influx}/write?db=${encodeURIComponent(db)}&precision=ms`;
await fetch(`${influx}/query?${new URLSearchParams({ q: `CREATE DATABASE "${db}"` })}`, { method: 'POST' });

const client = mqtt.connect(env.TRIBUTARY_MQTT_URL ?? 'mqtt://127.0.0.1:1884', {
  clientId: env.TRIBUTARY_CLIENT_ID || 'reference-consumer',
  clean: false,
  protocolVersion: 5,
  reconnectPeriod: 0,
  properties: { sessionExpiryInterval: 3600, receiveMaximum: WINDOW },
});
const HOLD = new Error('PUBACK held until the write'); // mqtt.js sends no PUBACK when handleMessage fails
let lines = [],
  ids = [],
  timer;
let writing = 0;
const waiting = []; // batches ready to write, in order
const settled = []; // per batch in arrival order: { ids, done }

client.handleMessage = (packet, callback) => {
  const v = decode(packet.payload);
  const device = packet.topic.split('/', 3);
  lines.push(
    `telemetry,device=${device[2]},site=${device[1]} temperature=${v.temperature},humidity=${v.humidity},battery=${v.battery}i,status="${v.status}" ${Number(v.ts)}`,
  );
  ids.push(packet.messageId);
  if (lines.length >= BATCH) seal();
  else if (timer === undefined) timer = setTimeout(seal, MAX_WAIT_MS);
  callback(packet.qos === 1 ? HOLD : undefined);
};
client.on('error', (error) => {
  if (error !== HOLD) {
    console.error(error);
    process.exit(1);
  }
});

function seal() {
  clearTimeout(timer);
  timer = undefined;
  if (lines.length === 0) return;
  const batch = { body: lines.join('\n'), ids, done: false };
  lines = [];
  ids = [];
  settled.push(batch);
  waiting.push(batch);
  pump();
}

function pump() {
  while (writing < WRITES && waiting.length > 0) {
    const batch = waiting.shift();
    writing++;
    fetch(writeUrl, { method: 'POST', body: batch.body })
      .then(async (res) => {
        if (res.status !== 204) throw new Error(`write ${res.status}: ${await res.text()}`);
        writing--;
        batch.done = true;
        while (settled.length > 0 && settled[0].done)
          for (const id of settled.shift().ids) client._sendPacket({ cmd: 'puback', messageId: id });
        pump();
      })
      .catch((error) => {
        console.error(error);
        process.exit(1);
      });
  }
}

function bodyDecoder(name) {
  if (name === 'msgpack') return (payload) => decodeMsgpack(payload);
  if (name === 'protobuf') {
    const type = protobufjs
      .loadSync(new URL('../schemas/fleet.proto', import.meta.url).pathname)
      .lookupType('fleet.Telemetry');
    return (payload) => type.decode(payload);
  }
  return (payload) => JSON.parse(payload.toString());
}

client.on('connect', () => {
  // The bench times a drain from the CONNACK, as it does Tributary's (same shape as its log line).
  console.log(JSON.stringify({ time: Date.now(), msg: 'connected to broker' }));
  client.subscribe(`${env.FLEET_TOPIC_ROOT ?? 'fleet'}/+/+/${suffix}`, { qos: 1 }, (error) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    console.log('ready');
  });
});
process.on('SIGTERM', () => client.end(false, () => process.exit(0)));

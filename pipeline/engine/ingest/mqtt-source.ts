import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { ConfigError, ConnectError, redact } from '../../core/errors.js';
import type { DecodedValue, Decoder, Logger, MessageHandler } from '../../core/types.js';
import { finalConnectError, reconnectPolicy } from './connect-errors.js';
import { DeferredAcks } from './deferred-ack.js';
import { MqttMessage, type ReceivedPublish } from './mqtt-message.js';
import { PublishReader } from './publish-reader.js';
import { mqttSecurityOptions } from './mqtt-security.js';
import { presence as makePresence, statusTopic } from './presence.js';
import { clearWorkerRecords, endSession } from './worker-sessions.js';
import { stripShare } from './topic-filter.js';
import { routeTable } from './routes.js';
import { staleFilters, subscriptionRecordTopic, SubscriptionRecorder } from './subscription-record.js';

import type { MqttSource, MqttSourceOptions, Subscription } from './mqtt-source-options.js';

export type { MqttSource, MqttSourceOptions, Subscription } from './mqtt-source-options.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * MQTT source: shared subscriptions, persistent sessions, PUBACK only once a message settled.
 * @example
 * mqttSource({ url: 'mqtt://127.0.0.1:1884', group: 'ingest', clientId: 'ingest-0',
 *   subscribe: [{ topic: 'fleet/+/+/telemetry', decode: json() }] })
 */
export function mqttSource<B = DecodedValue>(options: MqttSourceOptions<B>): MqttSource<B> {
  validate(options);
  const security = mqttSecurityOptions({
    ...options.security,
    username: options.username ?? options.security?.username,
    password: options.password ?? options.security?.password,
  });
  const log = options.log ?? silent;
  const window = options.inflightWindow ?? 10_000;
  const routeOf = routeTable(options.subscribe as ReadonlyArray<Subscription<DecodedValue>>, log);
  const filters = options.subscribe.map((s) => ({
    topic: options.group ? `$share/${options.group}/${stripShare(s.topic)}` : s.topic,
    qos: s.qos ?? 1,
  }));
  const { minDelayMs, maxDelayMs } = options.reconnect ?? { minDelayMs: 250, maxDelayMs: 30_000 };
  let client: MqttClient | undefined;
  let intake = false;
  let closing = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let connects = 0;
  let connectedAt: number | undefined;
  let paused = false;
  let sessionPresent = false;
  let acks: DeferredAcks | undefined;
  let reader: PublishReader | undefined;

  const recorder =
    options.reconcileSubscriptions === false ? undefined : new SubscriptionRecorder(options.clientId, log);
  const draining = options.drainSession === true;
  const subscribe = async (c: MqttClient, sessionPresent: boolean) => {
    if (draining) return unsubscribeAll(c, sessionPresent);
    // A resumed session keeps the filters an earlier run subscribed; those the pipeline no longer
    // has would take messages nobody routes (and, in a share group, a share of the group's).
    if (recorder && sessionPresent) {
      const stale = staleFilters(
        await recorder.read(c),
        filters.map((f) => f.topic),
      );
      if (stale.length > 0) {
        await c.unsubscribeAsync(stale);
        log.warn({ clientId: options.clientId, filters: stale }, 'unsubscribed filters the pipeline no longer has');
      }
    }
    // retainHandling 1: a subscription that already exists does not get the retained messages again.
    const granted = await c.subscribeAsync(Object.fromEntries(filters.map((f) => [f.topic, { qos: f.qos, rh: 1 }])));
    for (const g of granted) {
      if (g.qos > 2) throw new ConnectError(`broker refused subscription ${g.topic} (reason code ${g.qos})`);
    }
    await recorder
      ?.write(
        c,
        filters.map((f) => f.topic),
      )
      .catch((error: unknown) =>
        log.warn(
          { error, topic: recorder.topic },
          'could not record the subscriptions; a later pipeline change cannot remove them',
        ),
      );
  };

  // Draining another worker's session: nothing new arrives once its filters are gone; what it had
  // queued is delivered as usual, then close() ends the session.
  const unsubscribeAll = async (c: MqttClient, sessionPresent: boolean) => {
    const recorded = recorder && sessionPresent ? await recorder.read(c) : [];
    const all = [...new Set([...recorded, ...filters.map((f) => f.topic)])];
    await c.unsubscribeAsync(all);
    log.info(
      { clientId: options.clientId, sessionPresent, filters: all },
      'draining session: its filters unsubscribed, its queue delivered',
    );
  };
  const presenceOptions = typeof options.presence === 'object' ? options.presence : {};
  const status =
    options.presence && !draining
      ? makePresence({
          clientId: options.clientId,
          ...presenceOptions,
          details: { ...presenceOptions.details, ...(options.group ? { group: options.group } : {}) },
        })
      : undefined;
  const subscriptions = options.subscribe.map((s) => ({
    topic: stripShare(s.topic),
    decode: s.decode as Decoder<DecodedValue>,
  }));

  return {
    name: 'mqtt',
    window,
    subscriptions,
    get client() {
      return client;
    },
    async open(handler: MessageHandler) {
      const clientOptions: IClientOptions = {
        clientId: options.clientId,
        clean: false,
        protocolVersion: options.protocolVersion ?? 5,
        keepalive: options.keepaliveS ?? 30,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        resubscribe: false,
        properties:
          (options.protocolVersion ?? 5) === 5
            ? { sessionExpiryInterval: options.sessionExpiryS ?? 86_400, receiveMaximum: Math.min(window, 65_535) }
            : undefined,
        log: () => {},
        // mqtt-packet's cache of 65,536 two-byte buffers (~7 MB) only speeds up message ids of
        // PUBLISHes we send; the PUBACKs go out through DeferredAcks.
        writeCache: false,
        will: status?.will,
      };
      // TLS files read at start; a token from the provider when there is one
      const c = mqtt.connect(options.url, {
        ...clientOptions,
        ...(await security.connectOptions()),
        manualConnect: true,
      });
      const policy = reconnectPolicy({ url: options.url, clientId: options.clientId, minDelayMs, maxDelayMs, log });
      client = c;
      const connectionAcks = (acks = new DeferredAcks(c, false));
      const receive = (publish: ReceivedPublish, messageId: number | undefined) => {
        if (recorder?.offer(publish)) return; // the QoS 0 subscription record, read at connect
        if (!intake) return; // not acknowledged: the broker redelivers it to this session later
        const decoder = routeOf(publish.topic);
        const seq = publish.qos === 1 ? connectionAcks.hold(messageId!) : -1;
        handler(new MqttMessage(publish, decoder, connectionAcks, seq));
      };
      // QoS 0/1 PUBLISHes are read off the socket; anything else goes through mqtt.js.
      reader = new PublishReader(c, {
        connack: (socket) => connectionAcks.connected(socket),
        closed: (socket) => connectionAcks.disconnected(socket),
        publish: (p) => receive(p, p.messageId),
      });
      if (paused) {
        acks.pause();
        reader.pause();
      }
      c.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
        const { qos, retain, properties } = packet;
        receive(
          {
            topic,
            data: payload,
            payloadStart: 0,
            payloadEnd: payload.length,
            qos,
            retain,
            contentType: properties?.contentType,
            userProperties: properties?.userProperties,
          },
          packet.messageId,
        );
      });
      c.connect();
      c.on('connect', (connack) => {
        connectedAt = Date.now();
        sessionPresent = connack.sessionPresent;
        policy.connected();
        log.info({ clientId: options.clientId, sessionPresent: connack.sessionPresent }, 'connected to broker');
        status
          ?.online(c)
          .catch((error: unknown) => log.warn({ error, topic: status.topic }, 'could not publish online status'));
        // The first subscription is made by open(). After a reconnect, subscribe again even when the
        // session was resumed: Mosquitto 2.0 restores sessions but not their shared subscriptions.
        if (connects++ > 0) {
          subscribe(c, connack.sessionPresent).catch((error: unknown) => log.error({ error }, 'resubscribe failed'));
        }
      });
      // The policy logs: at once while connected, once per distinct reason while reconnecting.
      c.on('error', (error) => policy.error(error));
      const attempt = () => {
        if (closing) return;
        security.beforeConnect(c).then(
          // a fresh token when the current one expires
          () => {
            if (!closing) c.reconnect();
          },
          (error: unknown) => {
            policy.error(error);
            scheduleReconnect();
          },
        );
      };
      const scheduleReconnect = () => {
        clearTimeout(reconnectTimer);
        reconnectTimer = setTimeout(attempt, policy.closed()); // the maximum delay after a final error
      };
      c.on('close', () => {
        connectedAt = undefined;
        // A final error before the first connect (CA, client certificate, credentials): open() rejects.
        // A drained session's connection is not made again: a worker back with that id took it over.
        if (closing || draining || (connects === 0 && policy.last?.final)) return;
        scheduleReconnect();
      });
      intake = true;
      try {
        await waitForFirstConnect(c, options.url, options.connectTimeoutMs ?? 30_000);
      } catch (error) {
        closing = true; // no reconnect of the client waitForFirstConnect ended
        clearTimeout(reconnectTimer);
        throw error;
      }
      await subscribe(c, sessionPresent);
    },
    // Stops reading packets: the broker's sends wait in TCP buffers.
    pause() {
      paused = true;
      acks?.pause();
      reader?.pause();
    },
    resume() {
      paused = false;
      acks?.resume();
      reader?.resume();
    },
    connectedSinceMs: () => connectedAt,
    async stopIntake() {
      intake = false;
    },
    async close() {
      closing = true;
      intake = false;
      clearTimeout(reconnectTimer);
      if (client?.connected && status) await status.offline(client).catch(() => undefined);
      const ended = draining && client?.connected === true;
      if (ended && client)
        await clearWorkerRecords(
          client,
          presenceOptions.topic ?? statusTopic(options.clientId),
          subscriptionRecordTopic(options.clientId),
        ).catch(() => undefined);
      await client?.endAsync();
      if (ended) {
        await endSession(options.url, options.clientId, {
          protocolVersion: options.protocolVersion ?? 5,
          ...(await security.connectOptions()),
        });
        log.info({ clientId: options.clientId }, 'drained session ended');
      }
    },
  };
}

function waitForFirstConnect(c: MqttClient, url: string, timeoutMs: number): Promise<void> {
  const where = redact(url); // never echo credentials
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new ConnectError(`no connection to the MQTT broker at ${where} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const onError = (error: Error) => {
      // TLS verification, a refused client certificate, refused credentials: retrying will not fix them.
      const final = finalConnectError(error, url);
      if (final) fail(final);
    };
    const cleanup = () => {
      clearTimeout(timer);
      c.off('connect', onConnect);
      c.off('error', onError);
    };
    const fail = (e: Error) => {
      cleanup();
      c.end(true);
      reject(e);
    };
    c.on('connect', onConnect);
    c.on('error', onError);
  });
}

function validate<B>(o: MqttSourceOptions<B>): void {
  if (!/^(mqtts?|wss?|tcp|tls):\/\//.test(o.url))
    throw new ConfigError('mqtt url', 'mqtt://host:port or mqtts://host:port', redact(o.url));
  if (!o.clientId) throw new ConfigError('mqtt clientId', 'a stable, non-empty client id per worker');
  if (o.subscribe.length === 0) throw new ConfigError('mqtt subscribe', 'at least one subscription');
  for (const s of o.subscribe) {
    if (s.qos !== undefined && s.qos !== 0 && s.qos !== 1)
      throw new ConfigError(`subscription ${s.topic} qos`, '0 or 1', s.qos);
  }
  const w = o.inflightWindow;
  if (w !== undefined && (!Number.isInteger(w) || w < 1 || w > 65_535))
    throw new ConfigError('mqtt inflightWindow', 'an integer 1..65535', w);
  if (o.group !== undefined && !/^[^/+#]+$/.test(o.group))
    throw new ConfigError('mqtt group', 'a share group name without / + #', o.group);
}

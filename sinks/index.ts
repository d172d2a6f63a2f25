/** Destinations: InfluxDB for readings, Redis for dead letters. */
export { influxdb, isReading, type InfluxdbOptions } from './influxdb/index.js';
export { v1WriteTransport, type V1Target } from './influxdb/v1-transport.js';
export { toLineProtocol } from './influxdb/line-protocol.js';
export { redisDeadLetters, encodeDeadLetter, type RedisDeadLettersOptions, type StoredDeadLetter } from './dead-letter/index.js';
export { listDeadLetters, replayDeadLetters, type DeadLetterEntry } from './dead-letter/store.js';

/**
 * The contracts of Tributary. Every component depends on this file, never on another component.
 * @packageDocumentation
 */
import type { FailureCode } from './errors.js';

/** A field value as InfluxDB stores it; `bigint` is written as an integer field. */
export type FieldValue = number | bigint | boolean | string;

/** One time-series point: one reading becomes one InfluxDB point. */
export interface Reading {
  /** Measurement name (InfluxDB measurement). */
  measurement: string;
  /** Tag set: indexed string dimensions such as `site` or `device`. */
  tags: Record<string, string>;
  /** Field set; at least one field is needed to write a point. */
  fields: Record<string, FieldValue>;
  /** Time in nanoseconds since the Unix epoch. */
  timeNs: bigint;
}

/** Fields whose numbers should be written as InfluxDB integers (`42i`) rather than floats. */
export interface IntegerHint {
  /** Names of fields to write as integers when their value is a whole number. */
  readonly integerFields?: ReadonlySet<string>;
}

/** A decoded payload value: JSON's values plus exact big integers and raw bytes. */
export type DecodedValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly DecodedValue[]
  | { readonly [key: string]: DecodedValue };

/** What the source knows about a message; transforms read it, never change it. */
export interface MessageMeta {
  /** Topic the message was published on (not the subscription filter). */
  readonly topic: string;
  /** QoS the message was delivered with. */
  readonly qos: 0 | 1 | 2;
  /** Whether the broker delivered it as a retained message. */
  readonly retain: boolean;
  /** Wall-clock time the worker received it, in ms since the epoch. */
  readonly receivedAtMs: number;
  /** Name of the decoder that produced the body (`json`, `msgpack`, ...). */
  readonly format: string;
  /** MQTT 5 content type, when the publisher set one. */
  readonly contentType?: string;
  /** MQTT 5 user properties, when the publisher set any. */
  readonly userProperties?: Readonly<Record<string, string | readonly string[]>>;
}

/** An expected failure, carried as a value: a stable code plus a human sentence. */
export interface Failure {
  /** Stable, machine-countable code: one of {@link FAILURE_CODES}, or your own stage's. */
  readonly code: FailureCode | (string & {});
  /** What went wrong, for a person. */
  readonly reason: string;
}

/** The result of decoding a payload: a value, or a failure that goes to the dead-letter sink. */
export type DecodeResult<T = DecodedValue> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: Failure };

/** Turns bytes into values. Bad bytes are data: `decode` returns a failure, it never throws. */
export interface Decoder<T = DecodedValue> {
  /** Format name, recorded in {@link MessageMeta.format}. */
  readonly format: string;
  /** Decodes one payload. */
  decode(payload: Uint8Array, meta: Omit<MessageMeta, 'format'>): DecodeResult<T>;
}

/** Keeps a source message unacknowledged until released. */
export interface Retention {
  /** Lets the message settle (once whatever else it produced settled). Idempotent. */
  release(): void;
}

/** What a stage sees besides the body. */
export interface StageContext {
  /** The source message's metadata. */
  readonly meta: MessageMeta;
  /** The pipeline clock in ms (a fake clock in tests). */
  now(): number;
  /**
   * Keeps this message unacknowledged after `apply` returns, for stages that emit later
   * (windows): pass the retention to {@link Emitter.emit} with what the message contributed to.
   */
  retain(): Retention;
}

/** Given to a stage at open: emits outputs later, outside `apply`. */
export interface Emitter<Out> {
  /**
   * Sends `items` on through the rest of the pipeline; the `retained` messages settle once
   * these items settled (written or dead-lettered).
   */
  emit(items: readonly Out[], retained: readonly Retention[]): void;
  /**
   * Sends `items` on that derive from no source message (a closed window read back from shared
   * state); `settled` is called once they all settled. Their dead letters name `topic`, with an
   * empty payload. Provided by the runtime; absent in hand-made emitters.
   */
  emitDetached?(items: readonly Out[], topic: string, settled: () => void): void;
  /**
   * Runs `sink` for this stage the way the pipeline's sinks run (batching, retries with backoff,
   * rejected items dead-lettered): a stage's durable step, such as its shared state. Provided by
   * the runtime; absent in hand-made emitters.
   */
  durable?<T>(sink: Sink<T>): DurableStep<T>;
}

/** Items a stage hands to its durable step (see {@link Emitter.durable}). */
export interface DurableStep<T> {
  /** Queues `item`; the `retained` message settles once the item was written, or dead-lettered if the sink rejected it. */
  add(item: T, retained: Retention): void;
}

/** A stage's way of saying "this message is bad": it goes to the dead-letter sink with the reason. */
export interface Rejection {
  readonly rejected: Failure;
}

/** What a stage returns for one input: zero or more outputs, or a rejection. */
export type StageOutput<Out> = readonly Out[] | Rejection;

/** A transform stage: one body in, 0..n bodies out. May be async. Origins are the runtime's job. */
export interface Transform<In, Out> {
  /** Name used in logs, metrics and dead-letter reasons. */
  readonly name: string;
  /**
   * Processes one body. Throwing is a bug: the message is dead-lettered as `transform_error`.
   * (A property, not a method, so that a stage taking the wrong input type is a compile error.)
   */
  readonly apply: (body: In, ctx: StageContext) => StageOutput<Out> | Promise<StageOutput<Out>>;
  /** Called once at start, before any message; `emit` sends outputs later (see {@link StageContext.retain}). */
  open?(emit: Emitter<Out>): Promise<void>;
  /** Called once at shutdown, after the last message. */
  close?(): Promise<void>;
}

/** How the runtime batches the items of one sink. */
export interface BatchPolicy {
  /** Flush when this many items are buffered. */
  readonly maxItems: number;
  /** Flush when the encoded items reach about this many bytes. */
  readonly maxBytes: number;
  /** Flush this long after the first item of a batch arrived. */
  readonly maxWaitMs: number;
  /** Writes of this sink in flight at once. */
  readonly maxConcurrency: number;
}

/** A batch handed to a sink: the items and their encodings, index for index. */
export interface Batch<T> {
  /** Empty for a sink whose `needsItems` is false: it writes from the encodings alone. */
  readonly items: readonly T[];
  readonly encoded: readonly string[];
}

/**
 * How a write went. Sinks classify, the runtime acts:
 * `retry` is retried with backoff; `rejected` on a batch of several is split and retried to find
 * the bad items; `rejected` on one item, or `partial`'s listed items, go to the dead-letter sink.
 */
export type WriteResult =
  | { readonly status: 'delivered' }
  | { readonly status: 'retry'; readonly failure: Failure; readonly retryAfterMs?: number }
  | { readonly status: 'rejected'; readonly failure: Failure }
  | {
      readonly status: 'partial';
      readonly rejected: ReadonlyArray<{ readonly index: number; readonly failure: Failure }>;
    };

/** A destination. Sinks are nouns after what they talk to (`influxdb`, `alertQueue`). */
export interface Sink<T> {
  /** Name used in logs and metrics. */
  readonly name: string;
  /** Batching the runtime applies to this sink. */
  readonly batch: BatchPolicy;
  /** Routing: the runtime hands this sink every output item for which this returns true. */
  accepts(item: unknown): item is T;
  /** Encodes one item; the runtime sizes batches by the encoding's length. */
  encode(item: T): string;
  /**
   * Whether `write` reads `batch.items`. When false, the runtime holds only the encodings while a
   * batch waits (far less memory per held message). @defaultValue true
   */
  readonly needsItems?: boolean;
  /**
   * Connects; throws with a clear message when the destination is unusable. `flow` tells how long
   * the pipeline has been flowing freely, for decisions that read silence as news (a deadman).
   */
  open(flow?: PipelineFlow): Promise<void>;
  /** Writes one batch. Expected failures are returned, not thrown. */
  write(batch: Batch<T>): Promise<WriteResult>;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * The runtime's view of its own intake, handed to sinks at `open`: silence means something only
 * while the source is connected and intake is not paused for backpressure (the alert sink's
 * deadman waits for that).
 */
export interface PipelineFlow {
  /** Ms since the source (re)connected or intake resumed, whichever is later; 0 while either is not the case. */
  flowingForMs(): number;
}

/** A message the runtime could not deliver, with why, and the original bytes. */
export interface DeadLetter {
  /** Stable code (`decode_error`, `transform_error`, `write_rejected`, `unrouted`, ...). */
  readonly code: string;
  /** What went wrong, for a person. */
  readonly reason: string;
  /** Stage or sink that gave up on it. */
  readonly stage: string;
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly receivedAtMs: number;
  /** The original payload. */
  readonly payload: Uint8Array;
  /** MQTT 5 properties worth keeping for a replay. */
  readonly contentType?: string;
  readonly userProperties?: Readonly<Record<string, string | readonly string[]>>;
  /** The item that was rejected, when the failure happened after decoding (as the sink encoded it). */
  readonly item?: string;
}

/** The sink that takes what could not be delivered. It must be durable: it is part of the promise. */
export type DeadLetterSink = Sink<DeadLetter>;

/** One message handed over by a source, with the way to acknowledge it. */
export interface SourceMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly receivedAtMs: number;
  readonly contentType?: string;
  readonly userProperties?: Readonly<Record<string, string | readonly string[]>>;
  /** The decoder the subscription chose for this message. */
  readonly decoder: Decoder<DecodedValue>;
  /** Call once everything derived from the message settled. Idempotent; a no-op for QoS 0. */
  settle(): void;
}

/** Receives messages from a source. */
export type MessageHandler = (message: SourceMessage) => void;

/** Where messages come from (an MQTT connection). */
export interface Source<Body = DecodedValue> {
  /** Name used in logs and metrics. */
  readonly name: string;
  /** The most unsettled messages the source can hold at once (the broker's in-flight window). */
  readonly window: number;
  /** Phantom marker: the type its decoders produce. Never read at run time. */
  readonly bodyType?: Body;
  /** Connects and starts delivering to `handler`. Resolves once subscribed. */
  open(handler: MessageHandler): Promise<void>;
  /**
   * Backpressure: stop reading new messages until {@link Source.resume}. Called by the runtime when
   * unsettled messages reach its bound (a broker may send past the window it was given).
   */
  pause?(): void;
  /** Ends a {@link Source.pause}. */
  resume?(): void;
  /** Stops intake: no new messages after this resolves; held messages may still settle. */
  stopIntake(): Promise<void>;
  /** When the current connection was made (ms, the runtime's clock); `undefined` while disconnected. Absent: always connected. */
  connectedSinceMs?(): number | undefined;
  /** Disconnects, after the runtime has settled what it could. */
  close(): Promise<void>;
}

/** A structured logger: a fixed sentence plus key/values. */
export interface Logger {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** What makes an alert rule fire and clear; built with `above`, `below`, `predicate`, `rateOfChange`, `absent`. */
export type AlertCondition =
  /** Fires at `value ≥ fire` (`above`) or `value ≤ fire` (`below`), clears past `clear` (hysteresis). */
  | { readonly kind: 'above' | 'below'; readonly field: string; readonly fire: number; readonly clear: number }
  /** The same on the change per second between consecutive readings of a series. */
  | {
      readonly kind: 'rateOfChange';
      readonly field: string;
      readonly fire: number;
      readonly clear: number;
      readonly direction: 'rise' | 'fall' | 'any';
    }
  /** `true` fires, `false` clears, `undefined` keeps the state. */
  | {
      readonly kind: 'predicate';
      readonly field: string;
      readonly test: (value: FieldValue, reading: Reading) => boolean | undefined;
    }
  /** Fires when a series sent nothing for `afterMs`; clears when it sends again. */
  | { readonly kind: 'absent'; readonly afterMs: number; readonly field?: string };

/** An alert rule, written in code. One state machine runs per rule and series (measurement + tag set). */
export interface AlertRule {
  /** Stable id: letters, digits, `_`, `-`, `.`. */
  readonly id: string;
  readonly severity: 'critical' | 'warning' | 'info';
  /** Copied into every alert of the rule. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Readings of this measurement... */
  readonly measurement: string;
  /** ...whose tags have these values (a list means any of them). */
  readonly tags?: Readonly<Record<string, string | readonly string[]>>;
  readonly when: AlertCondition;
  /** The condition must hold this long (event time) before the alert fires. @defaultValue 0 */
  readonly forMs?: number;
  /** Re-notify while still firing, at most this often; 0 = never. @defaultValue 0 */
  readonly repeatIntervalMs?: number;
}

/** One alert notification: the data of one alert job. Times are ISO strings, `*Ns` ns since the epoch. */
export interface AlertEvent {
  readonly ruleId: string;
  readonly severity: AlertRule['severity'];
  readonly labels: Readonly<Record<string, string>>;
  readonly measurement: string;
  readonly field: string | null;
  readonly tags: Readonly<Record<string, string>>;
  readonly state: 'firing' | 'resolved';
  /** A re-notification of an alert that is still firing. */
  readonly repeat: boolean;
  /** The value that caused the transition (the rate for `rateOfChange`, null for `absent`). */
  readonly value: number | string | boolean | null;
  readonly startsAt: string;
  readonly endsAt: string | null;
  readonly eventTime: string;
  readonly eventTimeNs: string;
  /** The worker whose batch (or sweep) made the transition. */
  readonly workerId: string;
}

/** The decoders: each factory returns a `Decoder` that turns payload bytes into values, never throwing. */
export { json, type JsonOptions } from './json.js';
export { msgpack, type MsgpackOptions } from './msgpack.js';
export { protobuf, type ProtobufOptions } from './protobuf.js';
export { sparkplug, type SparkplugOptions, type SparkplugRow } from './sparkplug.js';
export {
  sparkplugMessages,
  type SparkplugInput,
  type SparkplugMessage,
  type SparkplugRows,
} from './sparkplug-messages.js';
export { raw, type RawOptions } from './raw.js';
export { byContentType, mediaType } from './by-content-type.js';

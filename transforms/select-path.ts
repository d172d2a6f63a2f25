import { ConfigError } from '../pipeline/core/errors.js';
import type { DecodedValue, MessageMeta } from '../pipeline/core/types.js';

/**
 * A JSON-path-style path into a message: `sensors.0.temp`, `$.meta.id`, `$['key.with.dots']`,
 * `readings[-1].value` (negative indexes count from the end), or one of two roots besides the
 * payload: `$topic` (the whole topic) and `$topic.N` (its N-th level, from 0; `$topic.-1` is the
 * last), `$userProperties.name` (an MQTT 5 user property; `[i]` picks one of a repeated property).
 */
export type Path = string;

type Step = string | number;

/** A parsed {@link Path}. */
export interface CompiledPath {
  readonly path: Path;
  readonly root: 'payload' | 'topic' | 'userProperties';
  readonly steps: readonly Step[];
}

const ROOTS = [
  ['$topic', 'topic'],
  ['$userProperties', 'userProperties'],
] as const;

/** Parses a path; a malformed one throws a {@link ConfigError} naming `option`. */
export function compilePath(path: Path, option: string): CompiledPath {
  if (typeof path !== 'string' || path.trim() === '')
    throw new ConfigError(option, 'a path such as "sensors.0.temp" or "$topic.1"', path);
  const bad = (why: string) => new ConfigError(option, `a path such as "sensors.0.temp" or "$topic.1" (${why})`, path);
  let root: CompiledPath['root'] = 'payload';
  let i = 0;
  const named = ROOTS.find(([prefix]) => path.startsWith(prefix) && /^$|^[.[]/.test(path.slice(prefix.length)));
  if (named) [i, root] = [named[0].length, named[1]];
  else if (path.startsWith('$')) i = 1;
  const steps: Step[] = [];
  const name = (from: number): [string, number] => {
    let end = from;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    if (end === from) throw bad(`empty name at ${from}`);
    return [path.slice(from, end), end];
  };
  if (i === 0) {
    const [n, end] = name(0);
    steps.push(step(n));
    i = end;
  }
  while (i < path.length) {
    if (path[i] === '.') {
      const [n, end] = name(i + 1);
      steps.push(step(n));
      i = end;
    } else if (path[i] === '[') {
      const quote = path[i + 1];
      if (quote === '"' || quote === "'") {
        const close = path.indexOf(`${quote}]`, i + 2);
        if (close < 0) throw bad(`unclosed [${quote} at ${i}`);
        steps.push(path.slice(i + 2, close));
        i = close + 2;
      } else {
        const close = path.indexOf(']', i);
        const index = path.slice(i + 1, close);
        if (close < 0 || !/^-?\d+$/.test(index)) throw bad(`expected [<index>] or ['<key>'] at ${i}`);
        steps.push(Number(index));
        i = close + 1;
      }
    } else {
      throw bad(`unexpected "${path[i]}" at ${i}`);
    }
  }
  if (root === 'topic' && (steps.length > 1 || (steps.length === 1 && typeof steps[0] !== 'number')))
    throw bad('$topic takes at most one level index');
  if (root === 'userProperties' && (steps.length === 0 || typeof steps[0] !== 'string' || steps.length > 2))
    throw bad('$userProperties needs a property name');
  return { path, root, steps };
}

function step(name: string): Step {
  return /^-?\d+$/.test(name) ? Number(name) : name;
}

/** The value at `path` in this message, or `undefined` when the message has nothing there. */
export function valueAt(
  p: CompiledPath,
  body: DecodedValue,
  meta: Pick<MessageMeta, 'topic' | 'userProperties'>,
): DecodedValue | undefined {
  let value: DecodedValue | readonly string[] | undefined;
  let steps = p.steps;
  if (p.root === 'topic') {
    if (steps.length === 0) return meta.topic;
    value = meta.topic.split('/');
  } else if (p.root === 'userProperties') {
    value = meta.userProperties?.[p.steps[0] as string];
    steps = steps.slice(1);
  } else {
    value = body;
  }
  for (const s of steps) {
    if (value === null || value === undefined || typeof value !== 'object' || value instanceof Uint8Array)
      return undefined;
    if (Array.isArray(value)) {
      const list = value as readonly DecodedValue[];
      value = typeof s === 'number' ? list[s < 0 ? list.length + s : s] : undefined;
    } else {
      const obj = value as { readonly [k: string]: DecodedValue };
      const key = String(s);
      value = Object.hasOwn(obj, key) ? obj[key] : undefined;
    }
  }
  return value as DecodedValue | undefined;
}

/** JSON text of a decoded value (an object or array selected as a string field): integers exact, bytes as base64. */
export function jsonText(v: DecodedValue): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('base64'));
  if (Array.isArray(v)) return `[${(v as readonly DecodedValue[]).map(jsonText).join(',')}]`;
  const obj = v as { readonly [k: string]: DecodedValue };
  return `{${Object.keys(obj)
    .map((k) => `${JSON.stringify(k)}:${jsonText(obj[k]!)}`)
    .join(',')}}`;
}

// Pipeline modules that bin/tributary.mjs bundled together with the CLI. Importing the bundled copy
// (rather than the .ts file through import()) keeps one instance of every Tributary module, and
// lets workers run without a TypeScript loader.
import { pathToFileURL } from 'node:url';

/** Evaluates one bundled module and resolves with its namespace object. */
export type ModuleLoader = () => Promise<unknown>;

const REGISTRY = Symbol.for('tributary.preloaded');

type Holder = typeof globalThis & { [REGISTRY]?: Map<string, ModuleLoader> };

function registry(): Map<string, ModuleLoader> {
  const holder = globalThis as Holder;
  return (holder[REGISTRY] ??= new Map());
}

/**
 * Registers the bundled copy of the module at `path` (absolute, as `path.resolve` gives it).
 * Called by the entry of the bundle that bin/tributary.mjs builds; `load` evaluates the module lazily.
 */
export function preload(path: string, load: ModuleLoader): void {
  registry().set(path, load);
}

/**
 * Imports the module at `path` (absolute): its bundled copy when one was registered with
 * {@link preload}, otherwise through `import()`.
 */
export function importModule(path: string): Promise<unknown> {
  const load = registry().get(path);
  return load ? load() : import(pathToFileURL(path).href);
}

// The launcher's bundle: the CLI and the pipeline file named on the command line as one ESM file,
// built with esbuild and cached under node_modules/.cache/tributary (see bin/tributary.mjs for why).
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const LAUNCHER = join(dirname(SELF), 'tributary.mjs');
const ROOT = dirname(dirname(SELF));
// Inside the project's node_modules, so that Node resolves the bundle's external imports
// (third-party packages) to the same files as it would from the sources.
const CACHE = join(ROOT, 'node_modules', '.cache', 'tributary');
const CLI = join(ROOT, 'pipeline', 'cli', 'main.ts');
const PRELOADED = join(ROOT, 'pipeline', 'cli', 'preloaded.ts');
const SCRIPT = /\.(?:[cm]?[jt]s|[jt]sx)$/;
const LOADERS = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'tsx',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'jsx',
};
const CONFIG_FILES = ['package.json', 'tsconfig.json', 'jsconfig.json'];
// Warnings after which the bundle could resolve or import something differently from the sources.
const UNSAFE = new Set(['unsupported-dynamic-import', 'unsupported-require-call', 'empty-glob', 'import-is-undefined']);
const META = '__tributaryImportMeta';
const ENTRY_NS = 'tributary-launcher';
/** Set by the bundle's first statement: once it ran, a failure is the CLI's own, not the bundle's. */
export const STARTED = Symbol.for('tributary.launcher.started');
const PRUNE_AFTER_MS = 7 * 86_400_000;

/** The path of a bundle of the CLI with the pipeline files in `argv`: the cached one when its inputs are unchanged. */
export async function bundled(argv, debug) {
  const modules = pipelineModules(argv);
  const esbuildVersion = createRequire(import.meta.url)('esbuild/package.json').version;
  const key = digest(JSON.stringify([stampOf(SELF), stampOf(LAUNCHER), esbuildVersion, CLI, modules]));
  const manifest = join(CACHE, `${key}.json`);
  const started = performance.now();
  const cached = reusable(manifest);
  if (cached) {
    debug(`bundle ${cached} (cached, checked in ${Math.round(performance.now() - started)} ms)`);
    return cached;
  }
  const built = await build(modules, manifest);
  debug(`bundle ${built} (built in ${Math.round(performance.now() - started)} ms)`);
  return built;
}

/** Absolute paths of the script files among the arguments of `run` and `check`: the pipeline file is one of them. */
function pipelineModules([command, ...args]) {
  if (command !== 'run' && command !== 'check') return [];
  const files = args.filter((a) => !a.startsWith('-') && SCRIPT.test(a) && isFile(a)).map((a) => resolve(a));
  if (files.length === 0 && !args.includes('--help') && !args.includes('-h'))
    throw new Error(`no pipeline file among the arguments of ${command}`);
  return [...new Set(files)].sort();
}

/** The bundle the manifest names, when it and its map exist and no input changed; a missing or unreadable manifest means building. */
function reusable(manifestPath) {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const file = join(CACHE, manifest.bundle);
    if (!isFile(file) || !isFile(`${file}.map`)) return undefined;
    return manifest.inputs.every(([input, stamp]) => stampOf(input) === stamp) ? file : undefined;
  } catch {
    return undefined;
  }
}

async function build(modules, manifestPath) {
  const esbuild = await import('esbuild');
  const stamps = new Map();
  let result;
  try {
    result = await esbuild.build({
      stdin: {
        contents: `import '${ENTRY_NS}:preload';\nimport ${JSON.stringify(CLI)};\n`,
        resolveDir: ROOT,
        sourcefile: 'tributary-entry.js',
        loader: 'js',
      },
      absWorkingDir: ROOT,
      outfile: join(CACHE, 'bundle.mjs'),
      write: false,
      metafile: true,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      keepNames: true,
      sourcemap: 'external',
      sourcesContent: false,
      logLevel: 'silent',
      logOverride: { 'unsupported-dynamic-import': 'warning' },
      define: { 'import.meta': META },
      banner: { js: `globalThis[Symbol.for(${JSON.stringify(STARTED.description)})] = true;` },
      plugins: [entryPlugin(modules), sourcesPlugin(stamps), packagesPlugin()],
    });
  } finally {
    await esbuild.stop(); // its service process would otherwise live as long as the worker
  }
  // preloaded.ts imports a file URL when nothing was preloaded: that one needs no bundling.
  const unsafe = result.warnings.filter(
    (w) => UNSAFE.has(w.id) && !(w.location && resolve(ROOT, w.location.file) === PRELOADED),
  );
  if (unsafe.length > 0)
    throw new Error(unsafe.map((w) => `${w.location?.file ?? ''}:${w.location?.line ?? ''}: ${w.text}`).join('; '));

  const js = result.outputFiles.find((f) => f.path.endsWith('.mjs')).text;
  const map = result.outputFiles.find((f) => f.path.endsWith('.map')).text;
  const name = `${digest(js)}.mjs`;
  const file = join(CACHE, name);
  mkdirSync(CACHE, { recursive: true });
  if (!isFile(file) || !isFile(`${file}.map`)) {
    writeAtomically(`${file}.map`, map);
    writeAtomically(file, `${js}//# sourceMappingURL=${name}.map\n`);
  }
  writeAtomically(manifestPath, JSON.stringify({ bundle: name, inputs: [...inputStamps(result.metafile, stamps)] }));
  prune();
  return file;
}

/** The bundle's entry: registers the pipeline modules (evaluated only when the CLI imports one), then runs the CLI. */
function entryPlugin(modules) {
  return {
    name: 'tributary-entry',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${ENTRY_NS}:preload$`) }, () => ({ path: 'preload', namespace: ENTRY_NS }));
      b.onLoad({ filter: /.*/, namespace: ENTRY_NS }, () => ({
        resolveDir: ROOT,
        loader: 'js',
        contents: [
          `import { preload } from ${JSON.stringify(PRELOADED)};`,
          ...modules.map((m) => `preload(${JSON.stringify(m)}, () => import(${JSON.stringify(m)}));`),
        ].join('\n'),
      }));
    },
  };
}

/** Reads the sources (recording what was read, for the cache) and gives each file its own import.meta. */
function sourcesPlugin(stamps) {
  return {
    name: 'tributary-sources',
    setup(b) {
      b.onLoad({ filter: SCRIPT, namespace: 'file' }, ({ path }) => {
        const stamp = stampOf(path); // before reading: a file changed meanwhile is rebuilt next time
        const text = readFileSync(path, 'utf8');
        stamps.set(path, stamp);
        if (/\bimport\.meta\.resolve\b/.test(text)) return { errors: [{ text: `${path} uses import.meta.resolve` }] };
        return { contents: withImportMeta(path, text), loader: LOADERS[extname(path)] };
      });
    },
  };
}

// import.meta is defined as a per-file constant holding the source file's own URL, so that paths
// relative to a module (schemas, tsconfig) stay right. It goes on the first line to keep line numbers.
function withImportMeta(path, text) {
  if (!text.includes('import.meta')) return text;
  const meta = `const ${META} = { url: ${JSON.stringify(pathToFileURL(path).href)}, filename: ${JSON.stringify(path)}, dirname: ${JSON.stringify(dirname(path))} };`;
  if (!text.startsWith('#!')) return meta + text;
  const eol = text.indexOf('\n') + 1;
  return eol === 0 ? text : text.slice(0, eol) + meta + text.slice(eol);
}

/**
 * Third-party packages stay external, imported from the bundle as the sources import them; that is
 * only the same package when the bundle's directory resolves it to the same place. Tributary itself
 * (`tributary`, `tributary/...`, whose exports are .ts files) is bundled.
 */
function packagesPlugin() {
  const root = realpathSync(ROOT);
  return {
    name: 'tributary-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./#]/ }, ({ path, importer, resolveDir, kind }) => {
        if (kind === 'entry-point') return undefined;
        if (isBuiltin(path)) return { path, external: true };
        const name = path.startsWith('@') ? path.split('/').slice(0, 2).join('/') : path.split('/')[0];
        const fromSource = packageDir(name, resolveDir);
        if (fromSource === undefined || fromSource === root) return undefined; // esbuild resolves it (tsconfig paths) or fails
        const fromBundle = packageDir(name, CACHE);
        if (fromSource !== fromBundle)
          return {
            errors: [
              {
                text: `${path} imported by ${importer} is ${fromSource}, but ${fromBundle ?? 'not found'} from ${CACHE}`,
              },
            ],
          };
        return { path, external: true };
      });
    },
  };
}

/** The real directory of package `name` as Node resolves it from `dir`: its own name (self-reference) first, then node_modules up the tree. */
function packageDir(name, dir) {
  const own = nearestPackage(dir);
  if (own && own.name === name && own.exports !== undefined) return realpathSync(own.dir);
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (statSync(candidate, { throwIfNoEntry: false })?.isDirectory()) return realpathSync(candidate);
    if (dirname(d) === d) return undefined;
  }
}

function nearestPackage(dir) {
  for (let d = dir; ; d = dirname(d)) {
    const file = join(d, 'package.json');
    if (isFile(file)) {
      const { name, exports } = JSON.parse(readFileSync(file, 'utf8'));
      return { dir: d, name, exports };
    }
    if (dirname(d) === d) return undefined;
  }
}

/** Every file the bundle came from, and every config file that could change how it is built (absent ones too). */
function inputStamps(metafile, stamps) {
  const inputs = new Map(stamps);
  for (const input of Object.keys(metafile.inputs)) {
    const file = resolve(ROOT, input);
    if (!inputs.has(file) && isFile(file)) inputs.set(file, stampOf(file));
  }
  const seen = new Set();
  for (const file of [...inputs.keys()]) {
    for (let d = dirname(file); !seen.has(d); d = dirname(d)) {
      seen.add(d);
      for (const name of CONFIG_FILES) inputs.set(join(d, name), stampOf(join(d, name)));
    }
  }
  return inputs;
}

function stampOf(file) {
  const s = statSync(file, { throwIfNoEntry: false });
  return s ? `${s.mtimeMs}:${s.size}` : null;
}

function isFile(file) {
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

function digest(text) {
  return createHash('sha256').update(text).digest('hex').slice(0, 24);
}

// Several workers may build at once: each writes a file of its own, then renames it into place.
function writeAtomically(file, text) {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, text);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

// Old bundles pile up as pipelines change. A bundle in use stays loaded when its file goes; a
// manifest that points at a removed bundle just builds again.
function prune() {
  try {
    for (const name of readdirSync(CACHE)) {
      const file = join(CACHE, name);
      const s = statSync(file, { throwIfNoEntry: false });
      if (s && Date.now() - s.mtimeMs > PRUNE_AFTER_MS) rmSync(file, { force: true });
    }
  } catch {
    // best effort
  }
}

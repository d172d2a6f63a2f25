// ESLint: a small rule set, and the import boundaries of the layout (README, "Layout").
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** `files` may not import from the folders `banned`, for the reason `why`. */
const boundary = (files, banned, why) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: banned.map((folder) => ({
          group: [`**/${folder}/**`, `**/${folder}`],
          message: `${files.join(', ')} may not import ${folder}/: ${why}`,
        })),
      },
    ],
  },
});

const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'queueMicrotask',
    'structuredClone',
    'URL',
    'URLSearchParams',
    'performance',
    'AbortController',
    'AbortSignal',
    'TextDecoder',
    'TextEncoder',
    'fetch',
    'Response',
    'Request',
    'Headers',
    'NodeJS',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  { ignores: ['node_modules/**', '.scratch/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: nodeGlobals },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      'no-regex-spaces': 'off',
      // a variable read by a closure before its one assignment (e.g. `let runtime` in run.ts) stays `let`
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  // Tests spell out exact 64-bit values on purpose, to show where a double would lose them.
  { files: ['test/**', 'bench/**'], rules: { 'no-loss-of-precision': 'off' } },
  // The layout's import rules: the contracts import nothing of ours; the engine and the components
  // depend on the contracts only; the face (CLI, process entry) and the public entry points
  // (pipeline/index.ts, pipeline/testing.ts) put them together.
  boundary(
    ['pipeline/core/**'],
    ['engine', 'cli', 'testing', 'sinks', 'transforms', 'examples'],
    'the contracts depend on nothing else',
  ),
  boundary(
    ['pipeline/engine/**'],
    ['cli', 'testing', 'sinks', 'transforms', 'examples'],
    'the engine knows neither the face nor the components',
  ),
  // Stages may use the decoders (pure codecs: the Sparkplug tracker decodes what it tracks), not the engine's machinery.
  boundary(
    ['transforms/**'],
    ['engine/runtime', 'engine/ingest', 'cli', 'testing', 'sinks', 'examples'],
    'stages depend on the contracts (and the codecs) only',
  ),
  boundary(['sinks/**'], ['engine', 'cli', 'testing', 'transforms', 'examples'], 'sinks depend on the contracts only'),
);

import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from 'typescript';

/** What {@link typecheckPipeline} found. */
export interface TypecheckResult {
  /** Errors as `file:line:col TS<code>: message`, paths relative to the working directory; empty when it type-checks. */
  readonly errors: readonly string[];
  /** The pipeline file and every source file it imports (absolute; declaration files and node_modules left out). */
  readonly files: readonly string[];
  /** The tsconfig.json used. */
  readonly configPath: string;
  /** Hand back as `previous` to check again faster after an edit. */
  readonly program: Program;
}

/**
 * Type-checks a pipeline file and what it imports with the TypeScript compiler (the tsconfig.json
 * next to it or above, else Tributary's). Errors inside Tributary's own sources are not reported,
 * as `skipLibCheck` skips a library's declarations: the library is checked by its own tests, and
 * checking only the user's files takes a fraction of the time. Resolves `undefined` when the
 * `typescript` package is not installed (it is a development dependency).
 */
export async function typecheckPipeline(file: string, previous?: Program): Promise<TypecheckResult | undefined> {
  let ts: typeof import('typescript');
  try {
    ts = (await import('typescript')).default;
  } catch {
    return undefined;
  }
  const path = resolve(file);
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const own = resolve(root, 'tsconfig.json');
  const library = ['pipeline', 'sinks', 'transforms'].map((dir) => `${resolve(root, dir)}/`);
  const isUsers = (f: string) => !library.some((dir) => f.startsWith(dir)) || f === path;
  const configPath = ts.findConfigFile(dirname(path), (f) => ts.sys.fileExists(f)) ?? own;
  const { config, error } = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f));
  const parsed = ts.parseJsonConfigFileContent(error ? {} : config, ts.sys, dirname(configPath));
  const program = ts.createProgram({
    rootNames: [path],
    options: { ...parsed.options, noEmit: true },
    oldProgram: previous,
  });
  const users = program
    .getSourceFiles()
    .filter((f) => !f.isDeclarationFile && !f.fileName.includes('/node_modules/') && isUsers(resolve(f.fileName)));
  const diagnostics = (
    error
      ? [error]
      : [
          ...program.getOptionsDiagnostics(),
          ...program.getGlobalDiagnostics(),
          ...users.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
        ]
  ).filter((d) => d.category === ts.DiagnosticCategory.Error);
  const errors = diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(process.cwd(), d.file.fileName)}:${line + 1}:${character + 1} TS${d.code}: ${text}`;
  });
  const files = program
    .getSourceFiles()
    .filter((f) => !f.isDeclarationFile && !f.fileName.includes('/node_modules/'))
    .map((f) => resolve(f.fileName));
  return { errors, files, configPath, program };
}

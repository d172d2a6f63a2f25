import { fork, type ChildProcess } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Program } from 'typescript';
import { watchParent } from './parent-watch.js';
import { typecheckPipeline } from './typecheck.js';

/** Options of {@link runWatching}. */
export interface WatchOptions {
  /** Edits within this long are one change (an editor writes a file in several steps). @defaultValue 200 */
  readonly debounceMs?: number;
  /** Where status lines go. @defaultValue console.log */
  readonly print?: (line: string) => void;
  /** Where type errors go. @defaultValue console.error */
  readonly printError?: (line: string) => void;
}

/**
 * `tributary run <pipeline.ts> --watch`: runs the pipeline in a child process (`tributary run`
 * with the other arguments) and watches the file and every source file it imports. On a change
 * it type-checks; when that fails it prints the errors and the running worker keeps running;
 * when it passes, the running worker is drained (SIGTERM: stop intake, write, acknowledge,
 * disconnect) and, once it exited, a new one starts on the rebuilt bundle. The new worker
 * resumes the same persistent session, so what arrived in between waits at the broker.
 */
export function runWatching(file: string, args: readonly string[], options: WatchOptions = {}): Promise<number> {
  const path = resolve(file);
  const shown = relative(process.cwd(), path);
  const print = options.print ?? ((line: string) => console.log(line));
  const printError = options.printError ?? ((line: string) => console.error(line));
  const childArgs = ['run', ...args.filter((a) => a !== '--watch')];
  const watchers = new Map<string, FSWatcher>();
  let watched = new Set<string>([path]);
  let child: ChildProcess | undefined;
  let previous: Program | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let changed: string[] = [];
  let stopping = false;

  const start = () => {
    const c = fork(process.argv[1]!, childArgs, { env: process.env });
    child = c;
    c.on('exit', (code, signal) => {
      if (child !== c) return; // drained on purpose
      child = undefined;
      if (!stopping)
        print(`tributary: watch: the worker exited (${signal ?? code}); it starts again when a file changes`);
    });
  };

  const stopChild = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((done) => c.once('exit', () => done()));
    c.kill('SIGTERM');
    await exited;
  };

  /** Watches the directories of `files` (an editor may replace a file, which ends a watch on the file itself). */
  const rewatch = (files: readonly string[]) => {
    watched = new Set([path, ...files]);
    const dirs = new Set([...watched].map((f) => dirname(f)));
    for (const [dir, w] of watchers)
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        watchers.set(
          dir,
          watch(dir, (_event, name) => {
            if (name && watched.has(join(dir, name.toString()))) schedule(join(dir, name.toString()));
          }),
        );
      } catch (error) {
        printError(`tributary: watch: cannot watch ${relative(process.cwd(), dir)}: ${(error as Error).message}`);
      }
    }
  };

  const check = async (reason: string): Promise<void> => {
    const started = Date.now();
    const result = await typecheckPipeline(path, previous);
    if (!result) {
      rewatch([]);
      print(
        'tributary: watch: the typescript package is not installed: restarting without a type check (watching the pipeline file only)',
      );
    } else {
      previous = result.program;
      rewatch(result.files);
      if (result.errors.length > 0) {
        printError(
          `tributary: watch: ${shown} does not type-check (${result.errors.length} error(s)); ${child ? 'the running worker keeps running' : 'no worker started'}`,
        );
        for (const e of result.errors.slice(0, 20)) printError(`  ${e}`);
        return;
      }
    }
    if (stopping) return;
    if (child) {
      print(
        `tributary: watch: ${reason} changed (type-checked in ${Date.now() - started} ms); draining the running worker`,
      );
      await stopChild();
    }
    if (stopping) return;
    print(`tributary: watch: starting a worker of ${shown}; watching ${watched.size} file(s)`);
    start();
  };

  /** Runs one check at a time; changes made meanwhile make one more. */
  const runCheck = (reason: string) => {
    running = check(reason)
      .catch((error: unknown) => printError(`tributary: watch: ${(error as Error).stack ?? String(error)}`))
      .finally(() => {
        running = undefined;
        if (changed.length > 0 && !stopping) {
          const next = changed;
          changed = [];
          runCheck(describe(next));
        }
      });
  };

  const schedule = (changedFile: string) => {
    if (stopping) return;
    changed.push(changedFile);
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (running) return; // picked up when the running check ends
      const next = changed;
      changed = [];
      runCheck(describe(next));
    }, options.debounceMs ?? 200);
  };

  const describe = (files: readonly string[]) => [...new Set(files)].map((f) => relative(process.cwd(), f)).join(', ');

  runCheck(shown);
  return new Promise<number>((done) => {
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      await running;
      await stopChild();
      done(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
    watchParent(() => void stop()); // started through npx: the launcher's SIGTERM does not reach us
  });
}

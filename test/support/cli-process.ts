// Runs `bin/tributary.mjs <args>` as a real child process, the way users run it.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './services.js';

export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves once the output matches `pattern` (counting from `from`), rejects after `timeoutMs` or if it exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number, from?: number): Promise<void>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

/** Starts the CLI with `args` and `env` added to this process's environment. */
export function startCli(args: readonly string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, ['bin/tributary.mjs', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exitedWith: number | string | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve((exitedWith = signal ?? code ?? -1))),
  );
  return {
    child,
    exited,
    output: () => out,
    async waitForOutput(pattern, timeoutMs = 30_000, from = 0) {
      const seen = await waitFor(() => pattern.test(out.slice(from)) || exitedWith !== undefined, timeoutMs, 50);
      if (!pattern.test(out.slice(from))) {
        throw new Error(
          `${seen ? `exited (${String(exitedWith)})` : `no ${String(pattern)} in ${timeoutMs} ms`} — output:\n${out.slice(-4000)}`,
        );
      }
    },
  };
}

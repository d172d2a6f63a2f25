// A worker started through a launcher that does not forward signals must still drain when the
// launcher is stopped. `npx tributary run …` is `npm exec` → `sh -c tributary …` → node: SIGTERM to
// the PID the user started ends npm and sh, and the node worker is left running with parent PID 1.

/** Options of {@link watchParent}. */
export interface WatchParentOptions {
  /** How often the parent PID is compared with the one at start. @defaultValue 500 */
  readonly everyMs?: number;
  /** The environment that tells whether npm started this process. @defaultValue process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Calls `onGone` once when the process that started this one is gone: the supervisor of
 * `tributary run --workers N` (its IPC channel closed), or the `npm exec`/`npx`/`npm run` layer
 * (npm sets `npm_command`; this process's parent PID changed, as it does when the parent exits
 * and the process is re-parented). A worker started any other way (systemd, a container, a shell
 * with `nohup … &`) is left alone: there an exiting parent is no request to stop.
 * @returns a function that stops watching
 * @example
 * watchParent((reason) => stop(reason));
 */
export function watchParent(onGone: (reason: string) => void, options: WatchParentOptions = {}): () => void {
  let done = false;
  const gone = (reason: string) => {
    if (done) return;
    stopWatching();
    onGone(reason);
  };
  const onDisconnect = () => gone('supervisor gone');
  if (process.connected) process.once('disconnect', onDisconnect);

  let timer: NodeJS.Timeout | undefined;
  const startedBy = process.ppid;
  if ((options.env ?? process.env).npm_command !== undefined && startedBy > 1) {
    timer = setInterval(() => {
      if (process.ppid !== startedBy) gone(`parent process ${startedBy} exited`);
    }, options.everyMs ?? 500);
    timer.unref();
  }

  function stopWatching(): void {
    done = true;
    clearInterval(timer);
    process.off('disconnect', onDisconnect);
  }
  return stopWatching;
}

import type { RuntimeStats } from '../engine/runtime/stats.js';

/** Prints a live one-line status: rewritten in place on a terminal, plain periodic lines otherwise. */
export function startProgress(
  stats: RuntimeStats,
  label: string,
  out: NodeJS.WriteStream = process.stdout,
): () => void {
  const tty = out.isTTY === true;
  const everyMs = tty ? 1000 : 5000;
  let last = { at: Date.now(), received: 0, written: 0 };
  const timer = setInterval(() => {
    const now = Date.now();
    const written = [...stats.delivered.entries()].filter(([k]) => k !== 'dead-letters').reduce((a, [, n]) => a + n, 0);
    const secs = (now - last.at) / 1000;
    const line =
      `${label}: received ${stats.received} (${Math.round((stats.received - last.received) / secs)}/s)` +
      ` written ${written} (${Math.round((written - last.written) / secs)}/s) unacked ${stats.unsettled}` +
      ` dead letters ${stats.deadLettered}`;
    last = { at: now, received: stats.received, written };
    out.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (tty) out.write('\n');
  };
}

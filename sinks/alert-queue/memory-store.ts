import {
  nextDue,
  step,
  type AlertStore,
  type AlertTransition,
  type BatchPayload,
  type SeriesState,
  type SweepPayload,
  type SweepReply,
} from './state-machine.js';

/**
 * The alert store in memory, mirroring the Redis script step for step (for unit tests with a
 * fake clock, and as the reference the shared case table checks Redis against).
 * @example
 * const store = new MemoryAlertStore();
 * await store.apply({ now, nowT, workerId: 'w1', rules, groups });
 */
export class MemoryAlertStore implements AlertStore {
  /** State per `ruleId|series`. */
  readonly states = new Map<string, SeriesState>();
  /** Deadman deadlines (ms) per `ruleId|series`. */
  readonly deadlines = new Map<string, number>();
  /** Transitions not yet acknowledged as enqueued, and their lease times. */
  readonly outbox = new Map<string, AlertTransition>();
  readonly leases = new Map<string, number>();
  private readonly locks = new Map<string, number>();

  async apply(p: BatchPayload): Promise<AlertTransition[]> {
    const out: AlertTransition[] = [];
    const emit = this.emitter(p.now, out);
    for (const [ruleId, series, observations] of p.groups) {
      const rule = p.rules[ruleId];
      if (!rule) continue;
      const key = `${ruleId}|${series}`;
      const existed = this.states.has(key);
      const rec = this.load(key);
      const { s: before, t } = rec;
      for (const o of observations) step(rule, series, rec, o, p.workerId, emit);
      // As the script: a quiet deadman's record is not rewritten (its last-seen time stays).
      if (rule.kind === 'absent' && existed && rec.s === before && rec.s !== 'firing') rec.t = t;
      this.states.set(key, rec);
      if (rule.kind === 'absent') this.deadlines.set(key, p.now + rule.afterMs);
    }
    return out;
  }

  async sweep(p: SweepPayload, lockKey: string): Promise<SweepReply> {
    const heldUntil = this.locks.get(lockKey);
    if (heldUntil !== undefined && heldUntil > p.now) return { skipped: true, transitions: [], claimed: [] };
    this.locks.set(lockKey, p.now + p.lockMs);
    const transitions: AlertTransition[] = [];
    const emit = this.emitter(p.now, transitions);
    for (const [key] of byScore(this.deadlines, p.now, p.limit)) {
      const sep = key.indexOf('|');
      const rule = p.rules[key.slice(0, sep)];
      if (!rule) {
        this.deadlines.delete(key);
        continue;
      }
      const wait = p.hold?.[key.slice(0, sep)];
      if (typeof wait === 'number') {
        this.deadlines.set(key, p.now + wait); // held: look again once the hold ends
        continue;
      }
      const series = key.slice(sep + 1);
      const rec = this.load(key);
      step(rule, series, rec, [p.nowT, 'f'], p.workerId, emit);
      this.states.set(key, rec);
      const due = nextDue(rule, rec, p.now);
      if (due === undefined) this.deadlines.delete(key);
      else this.deadlines.set(key, due);
    }
    const claimed: AlertTransition[] = [];
    for (const [id] of byScore(this.leases, p.now - p.graceMs, p.claimLimit)) {
      const tr = this.outbox.get(id);
      if (tr) {
        this.leases.set(id, p.now);
        claimed.push(tr);
      } else {
        this.leases.delete(id);
      }
    }
    return { skipped: false, transitions, claimed };
  }

  async ack(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      this.outbox.delete(id);
      this.leases.delete(id);
    }
  }

  async read(ruleId: string, series: string): Promise<SeriesState | undefined> {
    const rec = this.states.get(`${ruleId}|${series}`);
    return rec && { ...rec };
  }

  private load(key: string): SeriesState {
    const rec = this.states.get(key);
    return rec ? { ...rec } : { s: 'inactive' };
  }

  private emitter(now: number, out: AlertTransition[]) {
    return (tr: AlertTransition) => {
      this.outbox.set(tr.id, tr);
      this.leases.set(tr.id, now);
      out.push(tr);
    };
  }
}

/** Entries with score ≤ max, by score then member, at most `limit` (ZRANGEBYSCORE … LIMIT 0 limit). */
function byScore(set: ReadonlyMap<string, number>, max: number, limit: number): Array<[string, number]> {
  return [...set]
    .filter(([, s]) => s <= max)
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, limit);
}

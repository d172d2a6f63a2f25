// The model's own account of what each delivery still waits for, kept from the outside: the
// stages, sinks and dead-letter sink of the model pipeline open and close obligations as bodies
// pass through them, without asking the runtime. A delivery may be acknowledged only when none of
// its obligations is open; one that is held must have an open obligation (the stated reason).

/** Something a delivery waits for: a stage to see an item, a sink to take it, a write to succeed. */
export interface Obligation {
  readonly key: string;
  /** For a person: what is awaited. */
  readonly what: string;
  /** The deliveries it holds (several for a window's aggregate). */
  readonly owners: readonly number[];
  /** Events still expected (an item routed to two sinks waits for two). */
  remaining: number;
  /** Where it is now, for the report (`write in flight`, `retrying`, ...). */
  state: string;
}

/** Open obligations by delivery, and the violations seen while keeping them. */
export class Ledger {
  private readonly byKey = new Map<string, Obligation>();
  private readonly byOwner = new Map<number, Set<Obligation>>();
  private readonly lastClosed = new Map<number, string>();
  readonly violations: string[] = [];

  /** @param settled - whether a delivery was already settled: no work may be derived from it after. */
  constructor(private readonly settled: (delivery: number) => boolean) {}

  /** Opens an obligation, or expects one more event of an open one with the same key. */
  open(key: string, owners: readonly number[], what: string, remaining = 1): Obligation {
    for (const d of owners) {
      if (this.settled(d)) this.violations.push(`${what} (${key}) derived from delivery ${d} after it was settled`);
    }
    const had = this.byKey.get(key);
    if (had) {
      had.remaining += remaining;
      return had;
    }
    const ob: Obligation = { key, what, owners: [...new Set(owners)], remaining, state: 'open' };
    this.byKey.set(key, ob);
    for (const d of ob.owners) {
      let set = this.byOwner.get(d);
      if (!set) this.byOwner.set(d, (set = new Set()));
      set.add(ob);
    }
    return ob;
  }

  /** One expected event happened; a violation when nothing was waiting for it. */
  close(key: string, event: string): Obligation | undefined {
    const ob = this.byKey.get(key);
    if (!ob) {
      this.violations.push(`unexpected ${event}: nothing waited for ${key}`);
      return undefined;
    }
    if (--ob.remaining === 0) {
      this.byKey.delete(key);
      for (const d of ob.owners) {
        this.byOwner.get(d)?.delete(ob);
        this.lastClosed.set(d, `${ob.what}, closed by ${event}`);
      }
    }
    return ob;
  }

  /** The last obligation of `d` that closed, and by what: for the report of a delivery held without reason. */
  lastOf(d: number): string {
    return this.lastClosed.get(d) ?? 'none';
  }

  get(key: string): Obligation | undefined {
    return this.byKey.get(key);
  }

  /** Sets the state shown in reports. */
  mark(key: string, state: string): void {
    const ob = this.byKey.get(key);
    if (ob) ob.state = state;
  }

  /** What delivery `d` still waits for. */
  openOf(d: number): Obligation[] {
    return [...(this.byOwner.get(d) ?? [])];
  }

  /** The reason delivery `d` is held, or undefined when nothing holds it. */
  reasonFor(d: number): string | undefined {
    const open = this.openOf(d);
    if (open.length === 0) return undefined;
    return open.map((o) => `${o.what} [${o.state}]`).join('; ');
  }

  /** Every open obligation, for the final report. */
  allOpen(): Obligation[] {
    return [...this.byKey.values()];
  }
}

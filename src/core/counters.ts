/**
 * Per-layer counter sets (KAME's ip6stat, icmp6stat, ...).
 *
 * A set is declared once with a description per counter; the description is
 * what `tap6 netstat -s` prints. Code increments a field directly, which V8
 * turns into a plain property store:
 *
 *     const stats = counterSet('ether', { rxShort: 'frames shorter than an Ethernet header' });
 *     stats.c.rxShort++;
 *
 * Every early return that drops something increments exactly one named
 * counter; there is no catch-all "dropped".
 */

export type CounterValues<K extends string> = { [P in K]: number };

export class CounterSet<K extends string = string> {
  /** The counters; increment them directly. */
  readonly c: CounterValues<K>;

  constructor(
    /** Layer or object name, e.g. 'ip6', 'ether tap0'. */
    readonly name: string,
    /** What each counter counts, in netstat's words. */
    readonly descriptions: Readonly<Record<K, string>>,
  ) {
    const c = {} as CounterValues<K>;
    for (const k of Object.keys(descriptions) as K[]) c[k] = 0;
    this.c = c;
  }

  get keys(): K[] {
    return Object.keys(this.descriptions) as K[];
  }

  /** A frozen copy of the current values. */
  snapshot(): Readonly<CounterValues<K>> {
    return Object.freeze({ ...this.c });
  }

  reset(): void {
    for (const k of this.keys) this.c[k] = 0;
  }

  /** Sum of all counters whose names satisfy `pred` (e.g. every drop reason). */
  sum(pred: (k: K) => boolean = () => true): number {
    let n = 0;
    for (const k of this.keys) if (pred(k)) n += this.c[k];
    return n;
  }

  /** netstat -s style lines: "\t12 frames shorter than an Ethernet header"; zero counters omitted unless `all`. */
  format(all = false): string[] {
    const out: string[] = [];
    for (const k of this.keys) {
      const v = this.c[k];
      if (v !== 0 || all) out.push(`\t${v} ${this.descriptions[k]}`);
    }
    return out;
  }
}

export function counterSet<const D extends Record<string, string>>(name: string, descriptions: D): CounterSet<Extract<keyof D, string>> {
  return new CounterSet(name, descriptions as unknown as Record<Extract<keyof D, string>, string>);
}

/**
 * The stack's registry of counter sets, keyed by name, in registration order.
 * `netstat -s` walks it. Registering a second set under a taken name throws.
 */
export class CounterRegistry {
  private readonly sets = new Map<string, CounterSet>();

  register<K extends string>(set: CounterSet<K>): CounterSet<K> {
    if (this.sets.has(set.name)) throw new Error(`CounterRegistry: '${set.name}' is already registered`);
    this.sets.set(set.name, set as unknown as CounterSet);
    return set;
  }

  unregister(name: string): void {
    this.sets.delete(name);
  }

  get(name: string): CounterSet | undefined {
    return this.sets.get(name);
  }

  all(): CounterSet[] {
    return [...this.sets.values()];
  }

  /** Plain snapshot of every set, e.g. for the control socket. */
  snapshot(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, s] of this.sets) out[name] = { ...s.c };
    return out;
  }
}

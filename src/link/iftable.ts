/**
 * The interface table: assigns interface indexes (which are also the zone
 * identifiers of link-local addresses, RFC 4007 §6) and finds interfaces by
 * name or index. Indexes start at 1 and are not reused while the table lives,
 * so a stale zone index can never name a different interface.
 */
import type { Ifnet } from './ifnet.ts';

export class IfnetTable {
  private readonly byIndex = new Map<number, Ifnet>();
  private readonly byName = new Map<string, Ifnet>();
  private nextIndex = 1;

  constructor(private readonly maxInterfaces = 256) {}

  attach(ifp: Ifnet): number {
    if (ifp.index !== 0) throw new Error(`${ifp.name}: already attached as index ${ifp.index}`);
    if (this.byName.has(ifp.name)) throw new Error(`interface ${ifp.name} already exists`);
    if (this.byIndex.size >= this.maxInterfaces) throw new Error(`too many interfaces (at most ${this.maxInterfaces})`);
    ifp.index = this.nextIndex++;
    this.byIndex.set(ifp.index, ifp);
    this.byName.set(ifp.name, ifp);
    return ifp.index;
  }

  detach(ifp: Ifnet): void {
    if (this.byIndex.get(ifp.index) !== ifp) return;
    this.byIndex.delete(ifp.index);
    this.byName.delete(ifp.name);
    ifp.index = 0;
  }

  get(index: number): Ifnet | undefined {
    return this.byIndex.get(index);
  }

  byname(name: string): Ifnet | undefined {
    return this.byName.get(name);
  }

  /** An interface given as a name or a numeric index in text ("tap0", "2"), as in a zone id. */
  lookup(nameOrIndex: string): Ifnet | undefined {
    if (/^[0-9]+$/.test(nameOrIndex)) return this.byIndex.get(Number(nameOrIndex));
    return this.byName.get(nameOrIndex);
  }

  list(): Ifnet[] {
    return [...this.byIndex.values()].sort((a, b) => a.index - b.index);
  }

  get size(): number {
    return this.byIndex.size;
  }
}

/**
 * A map keyed by IPv6 address bytes (optionally with a zone), without
 * building strings in the data path: entries are bucketed by a 32-bit hash of
 * the address and compared byte-wise. Used by the neighbor cache, the
 * routing table's per-prefix-length tables, multicast memberships.
 */
import { IN6_LEN, in6Equal } from './addr.ts';

interface Entry<V> {
  addr: Uint8Array;
  zone: number;
  value: V;
}

/** FNV-1a over the 16 bytes and the zone. */
export function in6Hash(a: Uint8Array, off: number, zone: number): number {
  let h = 0x811c9dc5 ^ zone;
  for (let i = 0; i < IN6_LEN; i++) h = Math.imul(h ^ a[off + i]!, 0x01000193);
  return h >>> 0;
}

export class In6Map<V> {
  private readonly buckets = new Map<number, Entry<V>[]>();
  private n = 0;

  get size(): number {
    return this.n;
  }

  get(a: Uint8Array, zone = 0, off = 0): V | undefined {
    const b = this.buckets.get(in6Hash(a, off, zone));
    if (!b) return undefined;
    for (const e of b) if (e.zone === zone && in6Equal(a, off, e.addr)) return e.value;
    return undefined;
  }

  has(a: Uint8Array, zone = 0, off = 0): boolean {
    return this.get(a, zone, off) !== undefined;
  }

  /** Stores a copy of the address bytes. */
  set(a: Uint8Array, zone: number, value: V, off = 0): void {
    const h = in6Hash(a, off, zone);
    let b = this.buckets.get(h);
    if (!b) this.buckets.set(h, (b = []));
    for (const e of b) {
      if (e.zone === zone && in6Equal(a, off, e.addr)) {
        e.value = value;
        return;
      }
    }
    b.push({ addr: a.slice(off, off + IN6_LEN), zone, value });
    this.n++;
  }

  delete(a: Uint8Array, zone = 0, off = 0): boolean {
    const h = in6Hash(a, off, zone);
    const b = this.buckets.get(h);
    if (!b) return false;
    const i = b.findIndex((e) => e.zone === zone && in6Equal(a, off, e.addr));
    if (i < 0) return false;
    b.splice(i, 1);
    if (b.length === 0) this.buckets.delete(h);
    this.n--;
    return true;
  }

  *entries(): IterableIterator<[Uint8Array, number, V]> {
    for (const b of this.buckets.values()) for (const e of b) yield [e.addr, e.zone, e.value];
  }

  *values(): IterableIterator<V> {
    for (const b of this.buckets.values()) for (const e of b) yield e.value;
  }

  clear(): void {
    this.buckets.clear();
    this.n = 0;
  }
}

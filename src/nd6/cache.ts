/**
 * The neighbor cache (RFC 4861 §5.1, §7.3.2): one entry per (interface,
 * neighbor address), with its reachability state, link-layer address,
 * IsRouter flag, and the packets queued while resolution is under way.
 *
 * Bounded: when full, an entry is evicted to make room: the least recently
 * used STALE entry first (nothing is waiting on it), then any other entry
 * that is not INCOMPLETE, and only then the oldest INCOMPLETE one (its queued
 * packets are dropped and counted by the caller).
 */
import type { Timer } from '../core/clock.ts';
import type { Pkt } from '../core/pkt.ts';
import { In6Map } from '../ip6/in6map.ts';
import type { Ifnet } from '../link/ifnet.ts';

export type NdState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE';

export interface Neighbor {
  readonly addr: Uint8Array;
  readonly ifp: Ifnet;
  state: NdState;
  lladdr: Uint8Array | null;
  isRouter: boolean;
  /** Packets waiting for resolution (bounded). */
  queue: Pkt[];
  /** Solicitations sent in the current INCOMPLETE or PROBE phase. */
  probes: number;
  timer: Timer | null;
  /** Clock time the pending timer fires (DELAY, PROBE, INCOMPLETE retransmissions). */
  timerDue: number;
  /** Clock time REACHABLE lapses to STALE (checked lazily on use). */
  reachableUntil: number;
  /** Clock time of the last use or update (LRU for eviction). */
  touched: number;
}

export class NeighborCache {
  private readonly map = new In6Map<Neighbor>();

  constructor(readonly maxEntries = 1024) {}

  get size(): number {
    return this.map.size;
  }

  get(ifp: Ifnet, addr: Uint8Array, off = 0): Neighbor | undefined {
    return this.map.get(addr, ifp.index, off);
  }

  /** Creates an entry; the caller must have made room with `victim()` when full. */
  create(ifp: Ifnet, addr: Uint8Array, now: number): Neighbor {
    const n: Neighbor = {
      addr: addr.slice(0, 16),
      ifp,
      state: 'INCOMPLETE',
      lladdr: null,
      isRouter: false,
      queue: [],
      probes: 0,
      timer: null,
      timerDue: 0,
      reachableUntil: 0,
      touched: now,
    };
    this.map.set(n.addr, ifp.index, n);
    return n;
  }

  delete(n: Neighbor): void {
    n.timer?.cancel();
    n.timer = null;
    this.map.delete(n.addr, n.ifp.index);
  }

  get full(): boolean {
    return this.map.size >= this.maxEntries;
  }

  /** The entry to evict when full (see the header comment), or undefined if empty. */
  victim(): Neighbor | undefined {
    let stale: Neighbor | undefined;
    let other: Neighbor | undefined;
    let incomplete: Neighbor | undefined;
    for (const n of this.map.values()) {
      if (n.state === 'STALE') {
        if (!stale || n.touched < stale.touched) stale = n;
      } else if (n.state === 'INCOMPLETE') {
        if (!incomplete || n.touched < incomplete.touched) incomplete = n;
      } else if (!other || n.touched < other.touched) other = n;
    }
    return stale ?? other ?? incomplete;
  }

  all(): Neighbor[] {
    return [...this.map.values()];
  }

  /** Removes every entry of an interface (it went away). */
  flushIf(ifp: Ifnet): Neighbor[] {
    const gone = this.all().filter((n) => n.ifp === ifp);
    for (const n of gone) this.delete(n);
    return gone;
  }
}

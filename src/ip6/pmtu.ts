/**
 * The Path MTU cache (RFC 8201): what Packet Too Big messages taught us,
 * per destination (and zone, for scoped destinations).
 *
 * An estimate only goes down in answer to Packet Too Big, never below the
 * IPv6 minimum of 1280 (§4; RFC 8021: no atomic fragments either), and ages
 * out after 10 minutes (§4's recommendation), after which the link MTU is
 * tried again. The cache is bounded; when full the entry closest to expiry
 * goes first.
 */
import type { Clock } from '../core/clock.ts';
import { In6Map } from './in6map.ts';

export const IPV6_MIN_MTU = 1280;
export const PMTU_AGE_MS = 10 * 60_000;

export interface PmtuEntry {
  dst: Uint8Array;
  zone: number;
  mtu: number;
  expiresAt: number;
}

export class PmtuCache {
  private readonly map = new In6Map<PmtuEntry>();

  constructor(
    private readonly clock: Clock,
    readonly maxEntries = 1024,
    readonly ageMs = PMTU_AGE_MS,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** The learned MTU towards `dst`, if any and not aged out. */
  get(dst: Uint8Array, zone = 0): number | undefined {
    const e = this.map.get(dst, zone);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock.now()) {
      this.map.delete(dst, zone);
      return undefined;
    }
    return e.mtu;
  }

  /**
   * Applies a Packet Too Big report. Returns the new estimate if it went
   * down, or undefined if nothing changed (equal or larger reports).
   */
  update(dst: Uint8Array, zone: number, reported: number, linkMtu: number): number | undefined {
    const mtu = Math.max(IPV6_MIN_MTU, Math.min(reported, linkMtu));
    const cur = this.get(dst, zone) ?? linkMtu;
    if (mtu >= cur) return undefined;
    if (!this.map.has(dst, zone) && this.map.size >= this.maxEntries) this.evict();
    this.map.set(dst, zone, { dst: dst.slice(0, 16), zone, mtu, expiresAt: this.clock.now() + this.ageMs });
    return mtu;
  }

  delete(dst: Uint8Array, zone = 0): boolean {
    return this.map.delete(dst, zone);
  }

  list(): PmtuEntry[] {
    const now = this.clock.now();
    return [...this.map.values()].filter((e) => e.expiresAt > now);
  }

  private evict(): void {
    let victim: PmtuEntry | undefined;
    for (const e of this.map.values()) if (!victim || e.expiresAt < victim.expiresAt) victim = e;
    if (victim) this.map.delete(victim.dst, victim.zone);
  }
}

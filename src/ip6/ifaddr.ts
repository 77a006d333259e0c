/**
 * Per-interface IPv6 state (BSD's in6_ifextra / nd_ifinfo) and interface
 * addresses (in6_ifaddr) with their state and lifetimes (RFC 4862 §5.5.4).
 */
import type { Ifnet } from '../link/ifnet.ts';
import { IN6_LEN, formatIn6, isLinkLocal, isLoopback, isMulticast, multicastScope } from './addr.ts';
import { In6Map } from './in6map.ts';

/** Address flags (BSD IN6_IFF_*). */
export const IN6_IFF = {
  ANYCAST: 0x01,
  TENTATIVE: 0x02,
  DUPLICATED: 0x04,
  DETACHED: 0x08,
  DEPRECATED: 0x10,
  NODAD: 0x20,
  AUTOCONF: 0x40,
  TEMPORARY: 0x80,
  OPTIMISTIC: 0x100,
} as const;

export function formatAddrFlags(f: number): string[] {
  const out: string[] = [];
  if (f & IN6_IFF.ANYCAST) out.push('anycast');
  if (f & IN6_IFF.TENTATIVE) out.push('tentative');
  if (f & IN6_IFF.DUPLICATED) out.push('duplicated');
  if (f & IN6_IFF.DETACHED) out.push('detached');
  if (f & IN6_IFF.DEPRECATED) out.push('deprecated');
  if (f & IN6_IFF.AUTOCONF) out.push('autoconf');
  if (f & IN6_IFF.TEMPORARY) out.push('temporary');
  if (f & IN6_IFF.OPTIMISTIC) out.push('optimistic');
  return out;
}

/** Address scopes (RFC 4007 §4 / RFC 6724 §3.1): the multicast scope values, unicast mapped onto them. */
export const Scope = { INTERFACE: 1, LINK: 2, ADMIN: 4, SITE: 5, ORG: 8, GLOBAL: 14 } as const;

/** Scope of an address (RFC 6724 §3.1: loopback and link-local unicast are link scope). */
export function scopeOf(a: Uint8Array, off = 0): number {
  if (isMulticast(a, off)) return multicastScope(a, off);
  if (isLinkLocal(a, off) || isLoopback(a, off)) return Scope.LINK;
  return Scope.GLOBAL;
}

/** True when an address (unicast link-local, or multicast of interface/link scope) needs a zone. */
export function needsZone(a: Uint8Array, off = 0): boolean {
  if (isMulticast(a, off)) return multicastScope(a, off) <= Scope.LINK;
  return isLinkLocal(a, off);
}

export class In6Ifaddr {
  /** Clock time the address was configured. */
  readonly createdAt: number;
  /** Clock time the preferred / valid lifetimes end (Infinity: never). */
  preferredUntil: number;
  validUntil: number;

  constructor(
    readonly ifp: Ifnet,
    readonly addr: Uint8Array,
    readonly plen: number,
    public flags: number,
    now: number,
    pltimeS = Infinity,
    vltimeS = Infinity,
  ) {
    this.createdAt = now;
    this.preferredUntil = now + pltimeS * 1000;
    this.validUntil = now + vltimeS * 1000;
  }

  /** Usable as a source and for delivery: not tentative (unless optimistic), not duplicated. */
  get usable(): boolean {
    if (this.flags & IN6_IFF.DUPLICATED) return false;
    return !(this.flags & IN6_IFF.TENTATIVE) || (this.flags & IN6_IFF.OPTIMISTIC) !== 0;
  }

  get scope(): number {
    return scopeOf(this.addr);
  }

  toString(): string {
    return `${formatIn6(this.addr)}/${this.plen}`;
  }
}

/** Per-interface IPv6 parameters (RFC 4861 §6.3.2 host variables) and state. */
export class If6 {
  readonly addrs: In6Ifaddr[] = [];
  /** Joined multicast groups with reference counts (in6_multi). */
  readonly groups = new In6Map<{ refs: number }>();
  /** RFC 4861 §6.3.2 CurHopLimit (default: AdvCurHopLimit's suggested 64). */
  curHopLimit = 64;
  /** RetransTimer, ms (RFC 4861 §10: RETRANS_TIMER 1,000 ms). */
  retransTimer = 1000;
  /** BaseReachableTime, ms (REACHABLE_TIME 30,000 ms). */
  baseReachableTime = 30_000;
  /** ReachableTime, ms: re-randomised by ND between 0.5 and 1.5 × BaseReachableTime. */
  reachableTime = 30_000;
  /** DupAddrDetectTransmits (RFC 4862 §5.1, default 1). */
  dadTransmits = 1;
  /** LinkMTU as learned from RAs (0: the interface MTU). */
  linkMtu = 0;
  /** IPv6 disabled on the interface (a duplicated link-local address, RFC 4862 §5.4.5). */
  disabled = false;

  constructor(readonly ifp: Ifnet) {}

  get mtu(): number {
    return this.linkMtu > 0 ? Math.min(this.linkMtu, this.ifp.mtu) : this.ifp.mtu;
  }

  findAddr(a: Uint8Array, off = 0): In6Ifaddr | undefined {
    for (const ia of this.addrs) {
      let same = true;
      for (let i = 0; i < IN6_LEN; i++) {
        if (ia.addr[i] !== a[off + i]) {
          same = false;
          break;
        }
      }
      if (same) return ia;
    }
    return undefined;
  }

  isMember(group: Uint8Array, off = 0): boolean {
    return this.groups.has(group, 0, off);
  }

  linkLocal(): In6Ifaddr | undefined {
    return this.addrs.find((ia) => isLinkLocal(ia.addr) && ia.usable);
  }
}

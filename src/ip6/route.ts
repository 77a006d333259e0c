/**
 * The IPv6 routing table: longest-prefix match over on-link prefixes, host
 * routes (own addresses, through lo0), gateways and default routes.
 *
 * Routes are kept in one In6Map per prefix length, keyed by the masked
 * destination; a lookup probes the lengths present, longest first (a handful
 * in practice). Several routes may share a prefix (two default routers, one
 * link-local prefix per interface); the first usable one wins, and the ND
 * layer orders default routers by preference (RFC 4191) when it adds them.
 *
 * Scoped destinations (link-local unicast, interface- and link-local
 * multicast) are not looked up here: their zone names the interface
 * (RFC 4007 §9), which the output path handles before calling lookup().
 */
import { err, ok, type Result } from '../core/result.ts';
import { IN6_LEN, formatIn6, in6Equal } from './addr.ts';
import { In6Map } from './in6map.ts';

/** Route flags, BSD's RTF_* letters as netstat -r shows them. */
export const RTF = {
  UP: 0x1, // U
  GATEWAY: 0x2, // G
  HOST: 0x4, // H
  REJECT: 0x8, // R
  DYNAMIC: 0x10, // D (redirect)
  STATIC: 0x800, // S
  BLACKHOLE: 0x1000, // B
  LOCAL: 0x200000, // l: an address of ours
  CONNECTED: 0x400, // C: on-link prefix (BSD's cloning)
} as const;

export type RouteOrigin = 'connected' | 'local' | 'static' | 'ra' | 'redirect';

export interface Rt6 {
  readonly dst: Uint8Array;
  readonly plen: number;
  readonly gateway: Uint8Array | null;
  readonly ifindex: number;
  flags: number;
  readonly origin: RouteOrigin;
  /** Clock time when the route expires (Infinity: never). */
  expiresAt: number;
  /** Path MTU for this route, 0 for the interface MTU. */
  mtu: number;
  /** Packets sent along this route. */
  use: number;
}

export interface RouteSpec {
  dst: Uint8Array;
  plen: number;
  gateway?: Uint8Array | null;
  ifindex: number;
  flags?: number;
  origin: RouteOrigin;
  expiresAt?: number;
  mtu?: number;
}

/** Copies `a` with every bit past `plen` cleared. */
export function maskPrefix(a: Uint8Array, plen: number, off = 0): Uint8Array {
  const out = a.slice(off, off + IN6_LEN);
  for (let i = 0; i < IN6_LEN; i++) {
    const keep = plen - i * 8;
    if (keep >= 8) continue;
    out[i] = keep <= 0 ? 0 : out[i]! & (0xff << (8 - keep));
  }
  return out;
}

/** True if the first `plen` bits of `a` (at aOff) and `p` agree. */
export function prefixMatch(a: Uint8Array, aOff: number, p: Uint8Array, plen: number): boolean {
  const whole = plen >>> 3;
  for (let i = 0; i < whole; i++) if (a[aOff + i] !== p[i]) return false;
  const rest = plen & 7;
  if (rest === 0) return true;
  const m = 0xff << (8 - rest);
  return ((a[aOff + whole]! ^ p[whole]!) & m) === 0;
}

export function formatFlags(f: number): string {
  let s = '';
  if (f & RTF.UP) s += 'U';
  if (f & RTF.GATEWAY) s += 'G';
  if (f & RTF.HOST) s += 'H';
  if (f & RTF.REJECT) s += 'R';
  if (f & RTF.DYNAMIC) s += 'D';
  if (f & RTF.STATIC) s += 'S';
  if (f & RTF.BLACKHOLE) s += 'B';
  if (f & RTF.CONNECTED) s += 'C';
  if (f & RTF.LOCAL) s += 'l';
  return s;
}

export class RouteTable6 {
  private readonly byLen: (In6Map<Rt6[]> | undefined)[] = new Array(IN6_LEN * 8 + 1);
  /** Prefix lengths present, longest first. */
  private lens: number[] = [];
  private n = 0;

  constructor(readonly maxRoutes = 4096) {}

  get size(): number {
    return this.n;
  }

  add(spec: RouteSpec): Result<Rt6, string> {
    if (!Number.isInteger(spec.plen) || spec.plen < 0 || spec.plen > 128) return err(`bad prefix length ${spec.plen}`);
    if (spec.dst.length !== IN6_LEN) return err('destination must be 16 bytes');
    const dst = maskPrefix(spec.dst, spec.plen);
    const gw = spec.gateway ? spec.gateway.slice() : null;
    let t = this.byLen[spec.plen];
    const list = t?.get(dst);
    if (list?.some((r) => r.ifindex === spec.ifindex && sameGw(r.gateway, gw))) return err(`route ${formatIn6(dst)}/${spec.plen}: File exists`);
    if (this.n >= this.maxRoutes) return err(`routing table full (${this.maxRoutes} routes)`);
    const rt: Rt6 = {
      dst,
      plen: spec.plen,
      gateway: gw,
      ifindex: spec.ifindex,
      flags: (spec.flags ?? 0) | RTF.UP | (gw ? RTF.GATEWAY : 0) | (spec.plen === 128 ? RTF.HOST : 0),
      origin: spec.origin,
      expiresAt: spec.expiresAt ?? Infinity,
      mtu: spec.mtu ?? 0,
      use: 0,
    };
    if (!t) {
      t = this.byLen[spec.plen] = new In6Map<Rt6[]>();
      this.lens = [...this.lens, spec.plen].sort((a, b) => b - a);
    }
    if (list) list.push(rt);
    else t.set(dst, 0, [rt]);
    this.n++;
    return ok(rt);
  }

  /** Deletes routes matching dst/plen and, when given, gateway and interface. Returns how many. */
  delete(dst: Uint8Array, plen: number, match: { gateway?: Uint8Array | null; ifindex?: number } = {}): number {
    const t = this.byLen[plen];
    if (!t) return 0;
    const key = maskPrefix(dst, plen);
    const list = t.get(key);
    if (!list) return 0;
    const keep = list.filter(
      (r) => !((match.ifindex === undefined || r.ifindex === match.ifindex) && (match.gateway === undefined || sameGw(r.gateway, match.gateway ?? null))),
    );
    const removed = list.length - keep.length;
    if (keep.length) t.set(key, 0, keep);
    else t.delete(key);
    if (t.size === 0) {
      this.byLen[plen] = undefined;
      this.lens = this.lens.filter((l) => l !== plen);
    }
    this.n -= removed;
    return removed;
  }

  /** Deletes every route matching `pred` (e.g. all routes through an interface going away). */
  deleteWhere(pred: (r: Rt6) => boolean): number {
    let n = 0;
    for (const r of this.list()) if (pred(r)) n += this.delete(r.dst, r.plen, { gateway: r.gateway, ifindex: r.ifindex });
    return n;
  }

  /**
   * Longest-prefix match for the destination at `a[off..]`, skipping routes
   * that have expired at `now` or whose interface `usable` rejects.
   */
  lookup(a: Uint8Array, off = 0, now = 0, usable?: (r: Rt6) => boolean): Rt6 | undefined {
    for (const plen of this.lens) {
      const list = this.byLen[plen]!.get(maskPrefix(a, plen, off));
      if (!list) continue;
      for (const r of list) if (r.expiresAt > now && (!usable || usable(r))) return r;
    }
    return undefined;
  }

  /** Exact entry for dst/plen on an interface. */
  find(dst: Uint8Array, plen: number, ifindex?: number): Rt6 | undefined {
    const list = this.byLen[plen]?.get(maskPrefix(dst, plen));
    return list?.find((r) => ifindex === undefined || r.ifindex === ifindex);
  }

  /** All routes, longest prefix first. */
  list(): Rt6[] {
    const out: Rt6[] = [];
    for (const plen of this.lens) for (const l of this.byLen[plen]!.values()) out.push(...l);
    return out;
  }
}

function sameGw(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (!a || !b) return a === b;
  return in6Equal(a, 0, b);
}

/**
 * The IPv6 layer's state and control interface: attached interfaces and
 * their addresses, multicast memberships, the routing table, the protocol
 * switch, and the hooks through which the layers above (ICMPv6, ND, MLD)
 * plug in without being imported. Input and output live in input.ts and
 * output.ts.
 */
import type { Clock, Timer } from '../core/clock.ts';
import type { Logger } from '../core/log.ts';
import type { Pkt } from '../core/pkt.ts';
import { err, ok, type Result } from '../core/result.ts';
import type { Rng } from '../core/rng.ts';
import { EtherType } from '../link/ether.ts';
import type { Ifnet } from '../link/ifnet.ts';
import type { IfnetTable } from '../link/iftable.ts';
import { ip6MulticastMac } from '../link/mac.ts';
import { IN6_LEN, eui64FromMac, formatIn6, in6, isLinkLocal, isLoopback, isMulticast, isUnspecified, solicitedNode } from './addr.ts';
import { IN6_IFF, If6, In6Ifaddr, Scope, needsZone } from './ifaddr.ts';
import { PolicyTable, selectSource as selectSourceAddr, usableSource } from './in6_src.ts';
import { ip6Input, ip6Resume } from './input.ts';
import { type Ip6OutputOpts, type OutputError, ip6Output } from './output.ts';
import { dstOptsInput, hbhInput } from './dest6.ts';
import { Reassembly, type ReassemblyLimits } from './frag6.ts';
import { PmtuCache } from './pmtu.ts';
import { IPPROTO, type Ip6InputCtx, type Ip6Protocol } from './protosw.ts';
import { routingInput } from './route6.ts';
import { RTF, RouteTable6, maskPrefix } from './route.ts';
import type { Ip6Security } from './security.ts';
import { type Ip6Stats, ip6Counters } from './stats.ts';

/** Next-hop resolution for interfaces with link addresses; supplied by ND. */
export type Resolver = (ifp: Ifnet, nexthop: Uint8Array, pkt: Pkt) => void;

/** Sends an ICMPv6 error about the packet in `ctx`; supplied by ICMPv6. */
export type IcmpErrorHook = (ctx: Ip6InputCtx, type: number, code: number, param: number) => void;

export interface Ip6Hooks {
  /** A new address was added (ND starts DAD for tentative ones). */
  addrAdded: ((ia: In6Ifaddr) => void)[];
  addrRemoved: ((ia: In6Ifaddr) => void)[];
  /** A group was joined for the first time / left for the last time on an interface (MLD reports). */
  groupJoined: ((ifp: Ifnet, group: Uint8Array) => void)[];
  groupLeft: ((ifp: Ifnet, group: Uint8Array) => void)[];
  /** An interface came up (ND sends RS, starts DAD of its link-local address). */
  ifUp: ((ifp: Ifnet) => void)[];
  /** DAD found an address duplicated (SLAAC retries with another identifier). */
  dadFailed: ((ia: In6Ifaddr) => void)[];
  /**
   * The path MTU towards `dst` went down (a Packet Too Big, whatever packet
   * it quoted): transports re-size what they send there (BSD's
   * pfctlinput(PRC_MSGSIZE); KAME's esp6_ctlinput for a quoted ESP packet,
   * whose ports are encrypted). `quotedProto` is the upper-layer protocol of
   * the quoted packet as far as it can be read (50 for ESP).
   */
  pmtuLowered: ((dst: Uint8Array, zone: number, mtu: number, quotedProto: number) => void)[];
}

export interface AddAddressOptions {
  /** Valid and preferred lifetimes in seconds (default infinite). */
  vltime?: number;
  pltime?: number;
  /** IN6_IFF flags to set (AUTOCONF, TEMPORARY, NODAD, ANYCAST, OPTIMISTIC). */
  flags?: number;
}

export const ALL_NODES = in6('ff02::1');
export const ALL_ROUTERS = in6('ff02::2');
export const IFLOCAL_ALL_NODES = in6('ff01::1');
export const LOOPBACK = in6('::1');

export interface Ip6Options {
  clock: Clock;
  rng: Rng;
  log: Logger;
  ifs: IfnetTable;
  /** lo0, attached and up before any other interface. */
  lo: Ifnet;
  /** Longest header chain walked per packet (default 64). */
  maxHeaders?: number;
  /** Most bytes of extension headers before the upper-layer header (default 2048). */
  maxHeaderChain?: number;
  /** Bounds of the reassembly queues. */
  reassembly?: Partial<ReassemblyLimits>;
}

export class Ip6 {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  readonly ifs: IfnetTable;
  readonly lo: Ifnet;
  readonly stats: Ip6Stats = ip6Counters();
  readonly routes = new RouteTable6();
  readonly protosw: (Ip6Protocol | undefined)[] = new Array(256);
  readonly hooks: Ip6Hooks = { addrAdded: [], addrRemoved: [], groupJoined: [], groupLeft: [], ifUp: [], dadFailed: [], pmtuLowered: [] };
  readonly maxHeaders: number;
  readonly maxHeaderChain: number;
  readonly reass: Reassembly;
  readonly pmtu: PmtuCache;
  /** Default hop limit for unicast when the interface has none learned (RFC 8200 / KAME ip6_defhlim). */
  defaultHopLimit = 64;
  /** Act as a router (KAME's net.inet6.ip6.forwarding). Off: a host; RAs and redirects are processed. */
  forwarding = false;
  /** RFC 4862 §5.4.5: a duplicated link-local address (EUI-64 based) disables IPv6 on the interface. */
  disableOnLinkLocalDad = true;
  /** RFC 6724 §2.1 policy table (labels for source selection rule 6; `ip addrlabel`). */
  readonly policy = new PolicyTable();
  /** RFC 6724 §5 rule 7: prefer temporary addresses (RFC 8981) over public ones; set when temporaries are on. */
  preferTemporary = false;
  /** Per-interface state, by interface index. */
  private readonly if6 = new Map<number, If6>();
  private readonly lifetimeTimers = new Map<In6Ifaddr, Timer>();
  /** Reused candidate list for selectSource (no garbage per packet). */
  private readonly srcScratch: In6Ifaddr[] = [];
  resolver: Resolver | null = null;
  icmpError: IcmpErrorHook | null = null;
  /** IPsec (src/ipsec/hooks.ts), plugged in by the stack; null: none. */
  ipsec: Ip6Security | null = null;

  constructor(opts: Ip6Options) {
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.log = opts.log;
    this.ifs = opts.ifs;
    this.lo = opts.lo;
    this.maxHeaders = opts.maxHeaders ?? 64;
    this.maxHeaderChain = opts.maxHeaderChain ?? 2048;
    this.registerProtocol(IPPROTO.HOPOPTS, { name: 'hopopts', input: (ctx) => hbhInput(this, ctx) });
    this.registerProtocol(IPPROTO.DSTOPTS, { name: 'dstopts', input: (ctx) => dstOptsInput(this, ctx) });
    this.registerProtocol(IPPROTO.ROUTING, { name: 'routing', input: (ctx) => routingInput(this, ctx) });
    this.reass = new Reassembly(this, opts.reassembly);
    this.pmtu = new PmtuCache(this.clock);
    this.registerProtocol(IPPROTO.FRAGMENT, { name: 'fragment', input: (ctx) => this.reass.input(ctx) });
  }

  // ---- protocol switch -------------------------------------------------

  registerProtocol(nxt: number, proto: Ip6Protocol): void {
    if (!Number.isInteger(nxt) || nxt < 0 || nxt > 255) throw new RangeError(`bad next header ${nxt}`);
    if (this.protosw[nxt]) throw new Error(`next header ${nxt} already handled by ${this.protosw[nxt]!.name}`);
    this.protosw[nxt] = proto;
  }

  // ---- interfaces --------------------------------------------------------

  /** Starts IPv6 on an interface: input registered, per-interface state created. */
  attach(ifp: Ifnet): If6 {
    if (!ifp.index) throw new Error(`${ifp.name}: attach it to the interface table first`);
    const existing = this.if6.get(ifp.index);
    if (existing) return existing;
    const st = new If6(ifp);
    this.if6.set(ifp.index, st);
    ifp.attachProto(EtherType.IPV6, (i, pkt) => this.input(i, pkt));
    return st;
  }

  /**
   * Brings an interface up for IPv6: joins ff02::1 (and ff01::1), configures
   * the link-local address (EUI-64 from the MAC; ::1 on loopback) and the
   * fe80::/64 route, then tells the hooks (ND: DAD, RS).
   */
  up(ifp: Ifnet): void {
    const st = this.attach(ifp);
    ifp.setUp(true);
    this.joinGroup(ifp, IFLOCAL_ALL_NODES);
    this.joinGroup(ifp, ALL_NODES);
    if (ifp.flags & 0x8 /* IFF_LOOPBACK */) {
      if (!st.findAddr(LOOPBACK)) this.addAddress(ifp, LOOPBACK, 128, { flags: IN6_IFF.NODAD });
      if (!st.findAddr(in6('fe80::1'))) this.addAddress(ifp, in6('fe80::1'), 64, { flags: IN6_IFF.NODAD });
    } else if (ifp.lladdr && !st.linkLocal() && !st.addrs.some((a) => isLinkLocal(a.addr))) {
      const ll = new Uint8Array(IN6_LEN);
      ll[0] = 0xfe;
      ll[1] = 0x80;
      ll.set(eui64FromMac(ifp.lladdr), 8);
      this.addAddress(ifp, ll, 64);
    }
    for (const h of this.hooks.ifUp) h(ifp);
  }

  if6Of(ifp: Ifnet | number): If6 | undefined {
    return this.if6.get(typeof ifp === 'number' ? ifp : ifp.index);
  }

  interfaces(): If6[] {
    return [...this.if6.values()].sort((a, b) => a.ifp.index - b.ifp.index);
  }

  // ---- addresses -----------------------------------------------------------

  /**
   * Adds an address (in6_update_ifa). New addresses are tentative until DAD
   * (run by ND) says otherwise, unless NODAD, the interface does no DAD, or
   * it is the loopback interface. Joins the solicited-node group and adds
   * the on-link prefix route and a local host route through lo0.
   */
  addAddress(ifp: Ifnet, addr: Uint8Array, plen: number, opts: AddAddressOptions = {}): Result<In6Ifaddr, string> {
    const st = this.if6.get(ifp.index);
    if (!st) return err(`${ifp.name}: IPv6 is not attached`);
    if (addr.length !== IN6_LEN) return err('an address is 16 bytes');
    if (!Number.isInteger(plen) || plen < 0 || plen > 128) return err(`bad prefix length ${plen}`);
    if (isMulticast(addr) || isUnspecified(addr)) return err(`${formatIn6(addr)} cannot be an interface address`);
    if (isLoopback(addr) && !(ifp.flags & 0x8)) return err('::1 belongs to the loopback interface');
    const vl = opts.vltime ?? Infinity;
    const pl = opts.pltime ?? Infinity;
    if (!(vl >= 0) || !(pl >= 0) || pl > vl) return err('lifetimes: need 0 <= preferred <= valid');
    if (vl === 0) return err('a valid lifetime of 0 would make the address invalid at once');
    const existing = st.findAddr(addr);
    if (existing && existing.flags & IN6_IFF.DUPLICATED) return ok(this.retryDad(existing));
    if (existing) return err(`${formatIn6(addr)} already configured on ${ifp.name}: File exists`);
    if (!isLinkLocal(addr) && this.findAddrAnyIf(addr)) return err(`${formatIn6(addr)} is configured on another interface: File exists`);
    let flags = opts.flags ?? 0;
    const isLoop = (ifp.flags & 0x8) !== 0;
    if (!isLoop && !(flags & IN6_IFF.NODAD) && st.dadTransmits > 0 && !(flags & IN6_IFF.ANYCAST)) flags |= IN6_IFF.TENTATIVE;
    if (pl === 0) flags |= IN6_IFF.DEPRECATED;
    const ia = new In6Ifaddr(ifp, addr.slice(), plen, flags, this.clock.now(), pl, vl);
    st.addrs.push(ia);
    this.joinGroup(ifp, solicitedNode(addr));
    // On-link prefix (not for /128s, not twice), and the host route that loops our own address.
    if (plen < 128 && !isLinkLocal(addr) && !this.routes.find(addr, plen, ifp.index)) {
      this.routes.add({ dst: addr, plen, ifindex: ifp.index, origin: 'connected', flags: RTF.CONNECTED });
    }
    if (isLinkLocal(addr) && !this.routes.find(addr, 64, ifp.index)) {
      this.routes.add({ dst: maskPrefix(addr, 64), plen: 64, ifindex: ifp.index, origin: 'connected', flags: RTF.CONNECTED });
    }
    if (!isLinkLocal(addr)) this.routes.add({ dst: addr, plen: 128, ifindex: this.lo.index, origin: 'local', flags: RTF.LOCAL });
    this.armLifetimes(ia);
    this.log.log('info', 'ip6', `${ifp.name}: added ${ia}${flags & IN6_IFF.TENTATIVE ? ' (tentative)' : ''}`);
    for (const h of this.hooks.addrAdded) h(ia);
    return ok(ia);
  }

  deleteAddress(ifp: Ifnet, addr: Uint8Array): Result<In6Ifaddr, string> {
    const st = this.if6.get(ifp.index);
    const ia = st?.findAddr(addr);
    if (!st || !ia) return err(`${formatIn6(addr)} is not configured on ${ifp.name}`);
    st.addrs.splice(st.addrs.indexOf(ia), 1);
    this.lifetimeTimers.get(ia)?.cancel();
    this.lifetimeTimers.delete(ia);
    this.leaveGroup(ifp, solicitedNode(addr));
    if (!isLinkLocal(addr)) this.routes.delete(addr, 128, { ifindex: this.lo.index });
    const stillCovered = st.addrs.some((o) => o.plen === ia.plen && maskPrefix(o.addr, o.plen).every((v, i) => v === maskPrefix(addr, ia.plen)[i]));
    // Only the route this address brought: an on-link prefix learned from an RA (origin 'ra') stays.
    if (!stillCovered && ia.plen < 128 && !isLinkLocal(addr)) {
      const key = maskPrefix(addr, ia.plen);
      this.routes.deleteWhere((r) => r.origin === 'connected' && r.plen === ia.plen && r.ifindex === ifp.index && !r.gateway && r.dst.every((v, i) => v === key[i]));
    }
    this.log.log('info', 'ip6', `${ifp.name}: removed ${ia}`);
    for (const h of this.hooks.addrRemoved) h(ia);
    return ok(ia);
  }

  /** Own address `a` on interface `zone` (or any interface when zone is 0 and `a` is not scoped). */
  findAddr(a: Uint8Array, zone: number, off = 0): In6Ifaddr | undefined {
    if (zone) {
      const hit = this.if6.get(zone)?.findAddr(a, off);
      if (hit || isLinkLocal(a, off)) return hit;
    }
    return this.findAddrAnyIf(a, off);
  }

  private findAddrAnyIf(a: Uint8Array, off = 0): In6Ifaddr | undefined {
    for (const st of this.if6.values()) {
      const ia = st.findAddr(a, off);
      if (ia) return ia;
    }
    return undefined;
  }

  /**
   * Configuring a duplicated address again retries DAD (KAME: `ifconfig IF
   * inet6 ADDR` after the conflict is fixed): it is tentative again and ND
   * probes for it anew.
   */
  retryDad(ia: In6Ifaddr): In6Ifaddr {
    ia.flags = (ia.flags & ~IN6_IFF.DUPLICATED) | IN6_IFF.TENTATIVE;
    this.log.log('info', 'nd6', `${ia.ifp.name}: retrying DAD for ${formatIn6(ia.addr)}`);
    for (const h of this.hooks.addrAdded) h(ia);
    return ia;
  }

  /**
   * Sends an ICMPv6 error about a packet that never went out (IPv6 header at
   * its data start), e.g. Destination Unreachable when address resolution
   * failed (RFC 4861 §7.2.2). Subject to the usual rules and rate limit.
   */
  errorAbout(pkt: Pkt, ifp: Ifnet, type: number, code: number, param: number): void {
    if (!this.icmpError) return;
    const b = pkt.data();
    if (b.length < 40) return;
    this.icmpError(
      {
        pkt,
        ifp,
        b,
        off: 40,
        nxtOff: 6,
        src: b.subarray(8, 24),
        dst: b.subarray(24, 40),
        zone: ifp.index,
        nest: 0,
        mcast: b[24] === 0xff,
      },
      type,
      code,
      param,
    );
  }

  /** Called by ND when DAD for `ia` ends. */
  dadDone(ia: In6Ifaddr, duplicated: boolean): void {
    const st = this.if6.get(ia.ifp.index);
    if (duplicated) {
      ia.flags = (ia.flags & ~(IN6_IFF.TENTATIVE | IN6_IFF.OPTIMISTIC)) | IN6_IFF.DUPLICATED;
      this.log.log('warn', 'nd6', `${ia.ifp.name}: DAD detected duplicate IPv6 address ${formatIn6(ia.addr)}: address marked duplicated`);
      if (st && isLinkLocal(ia.addr) && this.disableOnLinkLocalDad) {
        st.disabled = true;
        this.log.log('error', 'nd6', `${ia.ifp.name}: duplicated link-local address: IPv6 disabled on the interface (RFC 4862 §5.4.5); fix the conflict and re-add the address to retry`);
      }
      for (const h of this.hooks.dadFailed) h(ia);
    } else {
      ia.flags &= ~(IN6_IFF.TENTATIVE | IN6_IFF.OPTIMISTIC);
      if (st?.disabled && isLinkLocal(ia.addr)) {
        st.disabled = false;
        this.log.log('info', 'nd6', `${ia.ifp.name}: IPv6 enabled again`);
      }
      this.log.log('info', 'nd6', `${ia.ifp.name}: ${formatIn6(ia.addr)} is preferred (DAD complete)`);
    }
  }

  private armLifetimes(ia: In6Ifaddr): void {
    const now = this.clock.now();
    const next = Math.min(ia.preferredUntil > now && !(ia.flags & IN6_IFF.DEPRECATED) ? ia.preferredUntil : Infinity, ia.validUntil);
    this.lifetimeTimers.get(ia)?.cancel();
    if (next === Infinity) {
      this.lifetimeTimers.delete(ia);
      return;
    }
    this.lifetimeTimers.set(
      ia,
      this.clock.timer(next - now, () => {
        const t = this.clock.now();
        if (t >= ia.validUntil) {
          this.deleteAddress(ia.ifp, ia.addr);
          return;
        }
        if (t >= ia.preferredUntil && !(ia.flags & IN6_IFF.DEPRECATED)) {
          ia.flags |= IN6_IFF.DEPRECATED;
          this.log.log('info', 'ip6', `${ia.ifp.name}: ${ia} deprecated (preferred lifetime over)`);
        }
        this.armLifetimes(ia);
      }),
    );
  }

  /** Updates lifetimes (seconds) of an existing address, e.g. from a new RA. */
  setLifetimes(ia: In6Ifaddr, pltimeS: number, vltimeS: number): void {
    const now = this.clock.now();
    ia.preferredUntil = now + pltimeS * 1000;
    ia.validUntil = now + vltimeS * 1000;
    if (pltimeS > 0) ia.flags &= ~IN6_IFF.DEPRECATED;
    else ia.flags |= IN6_IFF.DEPRECATED;
    this.armLifetimes(ia);
  }

  // ---- multicast membership ----------------------------------------------

  /** Joins `group` on `ifp` (reference counted). The link layer filter follows. */
  joinGroup(ifp: Ifnet, group: Uint8Array): Result<void, string> {
    const st = this.if6.get(ifp.index);
    if (!st) return err(`${ifp.name}: IPv6 is not attached`);
    if (!isMulticast(group)) return err(`${formatIn6(group)} is not a multicast address`);
    const m = st.groups.get(group);
    if (m) {
      m.refs++;
      return ok(undefined);
    }
    st.groups.set(group, 0, { refs: 1 });
    if (ifp.lladdr) ifp.addMulti(ip6MulticastMac(group));
    for (const h of this.hooks.groupJoined) h(ifp, group);
    return ok(undefined);
  }

  leaveGroup(ifp: Ifnet, group: Uint8Array): Result<void, string> {
    const st = this.if6.get(ifp.index);
    const m = st?.groups.get(group);
    if (!st || !m) return err(`${formatIn6(group)} is not joined on ${ifp.name}`);
    if (--m.refs > 0) return ok(undefined);
    st.groups.delete(group);
    if (ifp.lladdr) ifp.delMulti(ip6MulticastMac(group));
    for (const h of this.hooks.groupLeft) h(ifp, group);
    return ok(undefined);
  }

  // ---- source selection --------------------------------------------------

  /**
   * Chooses a source address for `dst` sent out of `ifp` (RFC 6724 §5, see
   * in6_src.ts): `dst` itself when it is our own usable (not anycast)
   * address, otherwise the best of every interface's addresses, a
   * link-scope address counting only on `ifp` (it never leaves its zone).
   * Interfaces with IPv6 disabled lend no addresses to others. Rule 6
   * follows `policy`, rule 7 `preferTemporary`.
   */
  selectSource(dst: Uint8Array, ifp: Ifnet): In6Ifaddr | undefined {
    const own = this.findAddr(dst, ifp.index);
    if (own && usableSource(own.flags)) return own;
    if (!this.if6.has(ifp.index)) return undefined;
    const cands = this.srcScratch;
    for (const st of this.if6.values()) {
      if (st.disabled && st.ifp !== ifp) continue;
      for (const ia of st.addrs) cands.push(ia);
    }
    const best = selectSourceAddr(dst, cands, { outIfindex: ifp.index, policy: this.policy, preferTemporary: this.preferTemporary });
    cands.length = 0;
    return best;
  }

  // ---- data path ------------------------------------------------------------

  input(ifp: Ifnet, pkt: Pkt): void {
    ip6Input(this, ifp, pkt);
  }

  /** Resumes the next-header loop for a packet an input routine kept (IPPROTO_PENDING). */
  resume(ctx: Ip6InputCtx, nxt: number): void {
    ip6Resume(this, ctx, nxt);
  }

  /** ip6_output: see output.ts. Returns null on success or the errno-style reason. */
  output(pkt: Pkt, opts: Ip6OutputOpts): OutputError | null {
    return ip6Output(this, pkt, opts);
  }

  /**
   * The outgoing interface and its MTU for a destination (what a transport
   * needs before sending: source selection, MSS). An errno name if there is
   * no way there.
   */
  routeFor(dst: Uint8Array, zone: number): { ifp: Ifnet; mtu: number } | 'EINVAL' | 'ENETUNREACH' | 'ENETDOWN' {
    let ifp: Ifnet | undefined;
    if (needsZone(dst)) {
      if (!zone) return 'EINVAL';
      ifp = this.ifs.get(zone);
    } else if (isLoopback(dst) || this.findAddr(dst, 0)) {
      ifp = this.lo;
    } else {
      const rt = this.routes.lookup(dst, 0, this.clock.now());
      if (rt) ifp = this.ifs.get(rt.ifindex);
    }
    if (!ifp) return 'ENETUNREACH';
    if (!ifp.up) return 'ENETDOWN';
    const link = this.if6.get(ifp.index)?.mtu ?? ifp.mtu;
    const learned = this.pmtu.get(dst, needsZone(dst) ? zone : 0);
    // A transport segment never needs to be larger than 64 KiB, even on lo0.
    return { ifp, mtu: Math.min(learned ?? link, link, 65535) };
  }

  /** True if `a` needs a zone and `zone` names an attached interface. */
  zoneOk(a: Uint8Array, zone: number): boolean {
    return !needsZone(a) || this.if6.has(zone);
  }

  /** Hop limit for a destination sent out of `ifp` (RFC 4861 CurHopLimit, or 1 for multicast by default). */
  hopLimitFor(dst: Uint8Array, ifp: Ifnet): number {
    if (isMulticast(dst)) return 1;
    return this.if6.get(ifp.index)?.curHopLimit ?? this.defaultHopLimit;
  }

  get scopeLink(): number {
    return Scope.LINK;
  }
}

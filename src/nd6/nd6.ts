/**
 * Neighbor Discovery, the part needed to talk (RFC 4861 §7, RFC 4862 §5.4):
 * Neighbor Solicitation and Advertisement input and output, address
 * resolution with a bounded queue per INCOMPLETE entry, the reachability
 * state machine (REACHABLE → STALE → DELAY → PROBE), and Duplicate Address
 * Detection for every new address. Router discovery, redirects and SLAAC
 * come with issue 4.
 *
 * Every ND message is validated as §7.1 says (hop limit 255, code 0, length,
 * options) and every drop is counted. ND output never loops back to us
 * (otherwise a node would see its own DAD probe), and DAD probes carry a
 * nonce (RFC 7527) so that a probe reflected by the link is recognised.
 */
import { getU16 } from '../core/bytes.ts';
import type { Pkt } from '../core/pkt.ts';
import type { Icmp6, Icmp6Msg } from '../icmp6/icmp6.ts';
import { Icmp6Type } from '../icmp6/wire.ts';
import { formatIn6, isMulticast, isUnspecified, solicitedNode } from '../ip6/addr.ts';
import { IP6_HLIM } from '../ip6/header.ts';
import { IN6_IFF, type In6Ifaddr } from '../ip6/ifaddr.ts';
import { ALL_NODES, type Ip6 } from '../ip6/ip6.ts';
import type { Ip6InputCtx } from '../ip6/protosw.ts';
import { EtherType } from '../link/ether.ts';
import type { Ifnet } from '../link/ifnet.ts';
import { formatMac } from '../link/mac.ts';
import { type Neighbor, NeighborCache, type NdState } from './cache.ts';
import { LLA_OPT_LEN, NdOpt, emitLlaOption, emitNonceOption, parseNdOptions } from './options.ts';
import { type Nd6Stats, nd6Counters } from './stats.ts';

/** RFC 4861 §10 protocol constants. */
export const MAX_MULTICAST_SOLICIT = 3;
export const MAX_UNICAST_SOLICIT = 3;
export const DELAY_FIRST_PROBE_TIME = 5_000;
export const MAX_RTR_SOLICITATION_DELAY = 1_000;
export const MIN_RANDOM_FACTOR = 0.5;
export const MAX_RANDOM_FACTOR = 1.5;

/** NS/NA fixed part after the ICMPv6 header: reserved/flags (4) + target (16). */
const ND_BODY_LEN = 20;
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_SOLICITED = 0x40;
const NA_FLAG_OVERRIDE = 0x20;

export interface NeighborInfo {
  addr: Uint8Array;
  zone: number;
  ifname: string;
  lladdr: Uint8Array | null;
  state: NdState;
  isRouter: boolean;
  /** ms until the current state times out or lapses, null if it does not. */
  expiresInMs: number | null;
}

interface DadState {
  ia: In6Ifaddr;
  sent: number;
  nonce: Uint8Array;
  timer: { cancel(): void };
}

export interface Nd6Options {
  /** Neighbor cache bound (default 1024). */
  maxNeighbors?: number;
  /** Packets queued per INCOMPLETE entry (default 16, KAME's nd6_maxqueuelen). */
  maxQueue?: number;
}

export class Nd6 {
  readonly stats: Nd6Stats = nd6Counters();
  readonly cache: NeighborCache;
  readonly maxQueue: number;
  private readonly dad = new Map<In6Ifaddr, DadState>();

  constructor(
    readonly ip6: Ip6,
    readonly icmp6: Icmp6,
    o: Nd6Options = {},
  ) {
    this.cache = new NeighborCache(o.maxNeighbors ?? 1024);
    this.maxQueue = o.maxQueue ?? 16;
    icmp6.on(Icmp6Type.NEIGHBOR_SOLICIT, (ctx, m) => this.nsInput(ctx, m));
    icmp6.on(Icmp6Type.NEIGHBOR_ADVERT, (ctx, m) => this.naInput(ctx, m));
    ip6.resolver = (ifp, nexthop, pkt) => this.resolve(ifp, nexthop, pkt);
    ip6.hooks.addrAdded.push((ia) => this.dadStart(ia));
    ip6.hooks.addrRemoved.push((ia) => this.dadStop(ia));
    ip6.hooks.ifUp.push((ifp) => this.randomizeReachable(ifp));
  }

  private get now(): number {
    return this.ip6.clock.now();
  }

  // ---- address resolution (nd6_output) -------------------------------------

  /** Sends `pkt` (IPv6 header in front) to `nexthop` on `ifp`, resolving it first if needed. */
  resolve(ifp: Ifnet, nexthop: Uint8Array, pkt: Pkt): void {
    let n = this.cache.get(ifp, nexthop);
    if (!n) {
      n = this.newEntry(ifp, nexthop);
      this.enqueue(n, pkt);
      this.solicit(n);
      return;
    }
    n.touched = this.now;
    if (n.state === 'INCOMPLETE') {
      this.enqueue(n, pkt);
      return;
    }
    // §7.3.3: REACHABLE lapses to STALE after ReachableTime (checked here, lazily).
    if (n.state === 'REACHABLE' && this.now >= n.reachableUntil) this.setState(n, 'STALE');
    // Sending to a STALE neighbor starts the DELAY timer.
    if (n.state === 'STALE') {
      this.setState(n, 'DELAY');
      this.arm(n, DELAY_FIRST_PROBE_TIME, () => this.delayExpired(n!));
    }
    this.transmit(n, pkt);
  }

  private transmit(n: Neighbor, pkt: Pkt): void {
    if (!n.ifp.output(pkt, EtherType.IPV6, n.lladdr)) this.ip6.stats.c.oDropped++;
  }

  private newEntry(ifp: Ifnet, addr: Uint8Array): Neighbor {
    if (this.cache.full) {
      const v = this.cache.victim();
      if (v) {
        this.stats.c.cacheEvicted++;
        this.stats.c.unresolvedDropped += v.queue.length;
        this.cache.delete(v);
      }
    }
    return this.cache.create(ifp, addr, this.now);
  }

  private enqueue(n: Neighbor, pkt: Pkt): void {
    if (n.queue.length >= this.maxQueue) {
      n.queue.shift();
      this.stats.c.holdDropped++;
    }
    n.queue.push(pkt);
  }

  /** Multicast NS for INCOMPLETE entries, every RetransTimer, MAX_MULTICAST_SOLICIT times. */
  private solicit(n: Neighbor): void {
    if (n.probes >= MAX_MULTICAST_SOLICIT) {
      this.stats.c.resolveFailed++;
      this.stats.c.unresolvedDropped += n.queue.length;
      this.ip6.log.log('debug', 'nd6', `${n.ifp.name}: ${formatIn6(n.addr)} did not answer ${n.probes} solicitations`);
      const q = n.queue;
      n.queue = [];
      this.cache.delete(n);
      // §7.2.2: Destination Unreachable (address unreachable) to the sender of each queued packet —
      // ourselves for a host, through lo0, so the sending protocol learns of it (rate limited).
      for (const p of q) this.ip6.errorAbout(p, n.ifp, 1, 3, 0);
      return;
    }
    n.probes++;
    this.sendNs(n.ifp, n.addr, solicitedNode(n.addr), null);
    this.arm(n, this.retransTimer(n.ifp), () => this.solicit(n));
  }

  private delayExpired(n: Neighbor): void {
    if (n.state !== 'DELAY') return;
    this.setState(n, 'PROBE');
    n.probes = 0;
    this.probe(n);
  }

  /** Unicast NS in PROBE state, MAX_UNICAST_SOLICIT times, then the entry goes (§7.3.3). */
  private probe(n: Neighbor): void {
    if (n.state !== 'PROBE') return;
    if (n.probes >= MAX_UNICAST_SOLICIT) {
      this.stats.c.nudFailed++;
      this.cache.delete(n);
      return;
    }
    n.probes++;
    this.sendNs(n.ifp, n.addr, n.addr, null);
    this.arm(n, this.retransTimer(n.ifp), () => this.probe(n));
  }

  private arm(n: Neighbor, ms: number, fn: () => void): void {
    n.timer?.cancel();
    n.timerDue = this.now + ms;
    n.timer = this.ip6.clock.timer(ms, () => {
      n.timer = null;
      fn();
    });
  }

  private setState(n: Neighbor, s: NdState): void {
    n.state = s;
    if (s === 'REACHABLE') n.reachableUntil = this.now + this.reachableTime(n.ifp);
    if (s === 'REACHABLE' || s === 'STALE') {
      n.timer?.cancel();
      n.timer = null;
      n.probes = 0;
    }
  }

  /** Upper-layer reachability confirmation (§7.3.1), e.g. TCP making progress. */
  confirm(ifp: Ifnet, addr: Uint8Array): void {
    const n = this.cache.get(ifp, addr);
    if (n && n.state !== 'INCOMPLETE' && n.lladdr) this.setState(n, 'REACHABLE');
  }

  private flushQueue(n: Neighbor): void {
    const q = n.queue;
    n.queue = [];
    // §7.3.3: the first packet sent to a STALE entry moves it to DELAY; the queued
    // packets of an entry completed by an unsolicited NA or an NS's SLLA are such packets.
    if (q.length && n.state === 'STALE') {
      this.setState(n, 'DELAY');
      this.arm(n, DELAY_FIRST_PROBE_TIME, () => this.delayExpired(n));
    }
    for (const p of q) this.transmit(n, p);
    if (q.length) this.stats.c.resolved++;
  }

  private retransTimer(ifp: Ifnet): number {
    return this.ip6.if6Of(ifp)?.retransTimer ?? 1000;
  }

  private reachableTime(ifp: Ifnet): number {
    return this.ip6.if6Of(ifp)?.reachableTime ?? 30_000;
  }

  /** §6.3.2: ReachableTime is a uniform random multiple (0.5–1.5) of BaseReachableTime. */
  randomizeReachable(ifp: Ifnet): void {
    const st = this.ip6.if6Of(ifp);
    if (st) st.reachableTime = Math.round(this.ip6.rng.uniform(MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR) * st.baseReachableTime);
  }

  // ---- validation shared by NS and NA (§7.1.1, §7.1.2) -----------------

  private validate(ctx: Ip6InputCtx, msg: Icmp6Msg): boolean {
    const c = this.stats.c;
    if (ctx.b[IP6_HLIM] !== 255) {
      c.badHopLimit++;
      return false;
    }
    if (msg.code !== 0) {
      c.badCode++;
      return false;
    }
    if (msg.len < 4 + ND_BODY_LEN) {
      c.badLength++;
      return false;
    }
    if (isMulticast(ctx.b, msg.off + 8)) {
      c.badTarget++;
      return false;
    }
    return true;
  }

  // ---- Neighbor Solicitation -----------------------------------------------

  private nsInput(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats.c;
    c.nsIn++;
    if (!this.validate(ctx, msg)) return;
    const b = ctx.b;
    const opts = parseNdOptions(b, msg.off + 4 + ND_BODY_LEN, msg.off + msg.len);
    if (!opts.ok) {
      c.badOptions++;
      return;
    }
    const dadProbe = isUnspecified(ctx.src);
    if (dadProbe && (!isSolicitedNode(ctx.dst) || opts.value.srcLl)) {
      c.badDadNs++;
      return;
    }
    const targetOff = msg.off + 8;
    const ia = this.ip6.if6Of(ctx.ifp)?.findAddr(b, targetOff);
    if (!ia || ia.flags & IN6_IFF.DUPLICATED) {
      c.notOurTarget++;
      return;
    }
    if (ia.flags & IN6_IFF.TENTATIVE) {
      // RFC 4862 §5.4.3: a DAD probe for our tentative address means someone else wants it.
      if (dadProbe) {
        const d = this.dad.get(ia);
        if (d && opts.value.nonce && bytesEq(opts.value.nonce.subarray(0, 6), d.nonce)) {
          c.dadOwnLooped++;
          return;
        }
        this.dadFailed(ia, 'a DAD probe from another node');
      } else c.tentativeTarget++;
      return;
    }
    // §7.2.3: record the sender's link-layer address.
    if (!dadProbe && opts.value.srcLl) this.learn(ctx.ifp, ctx.src, opts.value.srcLl, false);
    // Reply: solicited to the sender, or to all-nodes when answering a DAD probe.
    const solicited = !dadProbe;
    this.sendNa(ctx.ifp, ia.addr, dadProbe ? ALL_NODES : ctx.src.slice(), {
      solicited,
      override: !(ia.flags & IN6_IFF.ANYCAST),
      router: false,
    });
  }

  /** Creates or updates an entry from a Source Link-Layer Address option (§7.2.3). */
  private learn(ifp: Ifnet, addr: Uint8Array, ll: Uint8Array, isRouterKnown: boolean): void {
    let n = this.cache.get(ifp, addr);
    if (!n) {
      n = this.newEntry(ifp, addr);
      n.lladdr = ll.slice();
      this.setState(n, 'STALE');
      return;
    }
    n.touched = this.now;
    if (n.state === 'INCOMPLETE') {
      n.lladdr = ll.slice();
      this.setState(n, 'STALE');
      this.flushQueue(n);
      return;
    }
    if (!n.lladdr || !bytesEq(n.lladdr, ll)) {
      n.lladdr = ll.slice();
      this.setState(n, 'STALE');
    }
    void isRouterKnown;
  }

  /** A router's link-layer address, from an RA's source link-layer option (§6.3.4): IsRouter is set. */
  learnRouter(ifp: Ifnet, addr: Uint8Array, ll: Uint8Array): void {
    this.learn(ifp, addr, ll, true);
    const n = this.cache.get(ifp, addr);
    if (n) n.isRouter = true;
  }

  /** An RA without a link-layer option still tells us the sender is a router. */
  markRouter(ifp: Ifnet, addr: Uint8Array): void {
    const n = this.cache.get(ifp, addr);
    if (n) n.isRouter = true;
  }

  /** §8.3: a redirect's target link-layer option; the target is a router unless it is the destination. */
  learnFromRedirect(ifp: Ifnet, target: Uint8Array, ll: Uint8Array, isRouter: boolean): void {
    this.learn(ifp, target, ll, isRouter);
    const n = this.cache.get(ifp, target);
    if (n) n.isRouter = isRouter;
  }

  sendNs(ifp: Ifnet, target: Uint8Array, dst: Uint8Array, nonce: Uint8Array | null): void {
    const dad = nonce !== null;
    // §4.3: SLLA is included unless the source is unspecified (DAD).
    const lla = !dad && ifp.lladdr ? LLA_OPT_LEN : 0;
    const body = new Uint8Array(ND_BODY_LEN + lla + (dad ? 8 : 0));
    body.set(target.subarray(0, 16), 4);
    if (lla) emitLlaOption(NdOpt.SOURCE_LL, ifp.lladdr!, body, ND_BODY_LEN);
    if (dad) emitNonceOption(nonce, body, ND_BODY_LEN);
    const e = this.icmp6.send({
      type: Icmp6Type.NEIGHBOR_SOLICIT,
      code: 0,
      body,
      dst,
      zone: ifp.index,
      ifindex: ifp.index,
      hlim: 255,
      src: dad ? new Uint8Array(16) : (this.ip6.selectSource(dst, ifp)?.addr ?? null),
      allowUnspecSrc: dad,
      mcastLoop: false,
    });
    if (!e) this.stats.c.nsOut++;
  }

  // ---- Neighbor Advertisement ------------------------------------------------

  private naInput(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats.c;
    c.naIn++;
    if (!this.validate(ctx, msg)) return;
    const b = ctx.b;
    const flags = b[msg.off + 4]!;
    const solicited = (flags & NA_FLAG_SOLICITED) !== 0;
    if (solicited && ctx.mcast) {
      c.badNaSolicited++;
      return;
    }
    const opts = parseNdOptions(b, msg.off + 4 + ND_BODY_LEN, msg.off + msg.len);
    if (!opts.ok) {
      c.badOptions++;
      return;
    }
    const targetOff = msg.off + 8;
    const own = this.ip6.if6Of(ctx.ifp)?.findAddr(b, targetOff);
    if (own) {
      if (own.flags & IN6_IFF.TENTATIVE) this.dadFailed(own, 'a neighbor advertisement');
      else {
        c.naForOurAddress++;
        this.ip6.log.log('warn', 'nd6', `${ctx.ifp.name}: another node (${opts.value.tgtLl ? formatMac(opts.value.tgtLl) : 'unknown MAC'}) advertises our address ${formatIn6(own.addr)}`);
      }
      return;
    }
    const n = this.cache.get(ctx.ifp, b, targetOff);
    if (!n) {
      c.naNoEntry++;
      return;
    }
    const ll = opts.value.tgtLl;
    const override = (flags & NA_FLAG_OVERRIDE) !== 0;
    n.touched = this.now;
    if (n.state === 'INCOMPLETE') {
      // §7.2.5: without a target link-layer address the advertisement is useless here.
      if (!ll) {
        c.naNoLla++;
        return;
      }
      n.lladdr = ll.slice();
      n.isRouter = (flags & NA_FLAG_ROUTER) !== 0;
      this.setState(n, solicited ? 'REACHABLE' : 'STALE');
      this.flushQueue(n);
      return;
    }
    const differs = ll !== null && (!n.lladdr || !bytesEq(ll, n.lladdr));
    if (!override && differs) {
      // Keep the cached address; a REACHABLE entry becomes STALE.
      if (n.state === 'REACHABLE') this.setState(n, 'STALE');
      return;
    }
    if (override || !differs) {
      if (ll && differs) n.lladdr = ll.slice();
      if (solicited) this.setState(n, 'REACHABLE');
      else if (differs) this.setState(n, 'STALE');
      n.isRouter = (flags & NA_FLAG_ROUTER) !== 0;
    }
  }

  sendNa(ifp: Ifnet, target: Uint8Array, dst: Uint8Array, f: { solicited: boolean; override: boolean; router: boolean }): void {
    const lla = ifp.lladdr ? LLA_OPT_LEN : 0;
    const body = new Uint8Array(ND_BODY_LEN + lla);
    body[0] = (f.router ? NA_FLAG_ROUTER : 0) | (f.solicited ? NA_FLAG_SOLICITED : 0) | (f.override ? NA_FLAG_OVERRIDE : 0);
    body.set(target.subarray(0, 16), 4);
    // §7.2.4: the target link-layer address is included (always, for simplicity and as KAME does).
    if (lla) emitLlaOption(NdOpt.TARGET_LL, ifp.lladdr!, body, ND_BODY_LEN);
    const e = this.icmp6.send({
      type: Icmp6Type.NEIGHBOR_ADVERT,
      code: 0,
      body,
      dst,
      zone: ifp.index,
      ifindex: ifp.index,
      hlim: 255,
      src: target,
      mcastLoop: false,
    });
    if (!e) this.stats.c.naOut++;
  }

  // ---- Duplicate Address Detection (RFC 4862 §5.4) -------------------------

  private dadStart(ia: In6Ifaddr): void {
    if (!(ia.flags & IN6_IFF.TENTATIVE)) return;
    const st = this.ip6.if6Of(ia.ifp);
    if (!st) return;
    this.stats.c.dadStarted++;
    const nonce = this.ip6.rng.fill(new Uint8Array(6));
    // §5.4.2: a random delay before the first probe, so that hosts starting together do not collide.
    const delay = this.ip6.rng.uniform(0, MAX_RTR_SOLICITATION_DELAY);
    const d: DadState = { ia, sent: 0, nonce, timer: this.ip6.clock.timer(delay, () => this.dadTick(d)) };
    this.dad.set(ia, d);
  }

  private dadTick(d: DadState): void {
    const st = this.ip6.if6Of(d.ia.ifp);
    if (!st || this.dad.get(d.ia) !== d) return;
    if (d.sent >= st.dadTransmits) {
      this.dad.delete(d.ia);
      this.ip6.dadDone(d.ia, false);
      return;
    }
    d.sent++;
    this.sendNs(d.ia.ifp, d.ia.addr, solicitedNode(d.ia.addr), d.nonce);
    d.timer = this.ip6.clock.timer(st.retransTimer, () => this.dadTick(d));
  }

  private dadFailed(ia: In6Ifaddr, why: string): void {
    const d = this.dad.get(ia);
    d?.timer.cancel();
    this.dad.delete(ia);
    this.stats.c.dadDuplicate++;
    this.ip6.log.log('warn', 'nd6', `${ia.ifp.name}: DAD for ${formatIn6(ia.addr)} failed: ${why}`);
    this.ip6.dadDone(ia, true);
  }

  private dadStop(ia: In6Ifaddr): void {
    this.dad.get(ia)?.timer.cancel();
    this.dad.delete(ia);
  }

  /** Addresses whose DAD is still running. */
  get dadInProgress(): number {
    return this.dad.size;
  }

  // ---- inspection -----------------------------------------------------------

  neighbors(): NeighborInfo[] {
    const now = this.now;
    return this.cache.all().map((n) => {
      let expires: number | null = null;
      if (n.state === 'REACHABLE') expires = Math.max(0, n.reachableUntil - now);
      else if (n.timer) expires = Math.max(0, n.timerDue - now);
      return {
        addr: n.addr,
        zone: n.ifp.index,
        ifname: n.ifp.name,
        lladdr: n.lladdr,
        state: n.state === 'REACHABLE' && now >= n.reachableUntil ? 'STALE' : n.state,
        isRouter: n.isRouter,
        expiresInMs: expires,
      };
    });
  }

  close(): void {
    for (const d of this.dad.values()) d.timer.cancel();
    this.dad.clear();
    for (const n of this.cache.all()) this.cache.delete(n);
  }
}

function isSolicitedNode(a: Uint8Array): boolean {
  return a[0] === 0xff && a[1] === 0x02 && getU16(a, 10) === 0x0001 && a[12] === 0xff && a.subarray(2, 10).every((x) => x === 0);
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}



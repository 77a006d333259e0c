/**
 * Router and prefix discovery (RFC 4861 §6.3), default router preferences
 * and more-specific routes (RFC 4191), RDNSS and DNSSL (RFC 8106), and
 * redirects (RFC 4861 §8): KAME's nd6_rtr.c and the redirect half of
 * icmp6.c, for a host.
 *
 * Every RA and redirect is validated as §6.1.2 / §8.1 say and every refusal
 * is counted. The default router list, the prefix list and the route
 * information entries are bounded (KAME's DoS guards) and expire on the
 * injected clock.
 */
import type { Timer } from '../core/clock.ts';
import type { Icmp6, Icmp6Msg } from '../icmp6/icmp6.ts';
import { Icmp6Type } from '../icmp6/wire.ts';
import { formatIn6, in6, in6Equal, isLinkLocal, isMulticast } from '../ip6/addr.ts';
import { IP6_HLIM } from '../ip6/header.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import type { Ip6InputCtx } from '../ip6/protosw.ts';
import { RTF, type Rt6, maskPrefix } from '../ip6/route.ts';
import type { Ifnet } from '../link/ifnet.ts';
import type { Nd6 } from './nd6.ts';
import { parseNdOptions } from './options.ts';
import { type RaRepr, parseRa, rsBody } from './ra.ts';
import type { Slaac } from './slaac.ts';

/** RFC 4861 §10 host constants. */
export const MAX_RTR_SOLICITATIONS = 3;
export const RTR_SOLICITATION_INTERVAL = 4_000;
const INFINITE = 0xffffffff;
const DEFAULT_ROUTE = new Uint8Array(16);
const ALL_ROUTERS = in6('ff02::2');

export interface RtrLimits {
  /** Default routers kept per stack (default 16). */
  maxRouters: number;
  /** On-link prefixes learned from RAs (default 64). */
  maxPrefixes: number;
  /** Route Information entries (default 64). */
  maxRouteInfo: number;
  /** ND options walked per RA (default 10, KAME's nd6_maxndopt). */
  maxOptions: number;
  /** RDNSS servers and DNSSL domains kept per interface (default 8 each). */
  maxDns: number;
}

export interface RouterInfo {
  addr: Uint8Array;
  ifp: Ifnet;
  preference: -1 | 0 | 1;
  expiresAt: number;
  /** RA flags of this router's last advertisement. */
  managed: boolean;
  other: boolean;
}

interface Expiring {
  expiresAt: number;
  timer: Timer | null;
}
interface Router extends RouterInfo, Expiring {}
interface Prefix extends Expiring {
  prefix: Uint8Array;
  plen: number;
  ifp: Ifnet;
}
interface RouteInfoEntry extends Expiring {
  prefix: Uint8Array;
  plen: number;
  router: Uint8Array;
  ifp: Ifnet;
  preference: -1 | 0 | 1;
}
export interface DnsEntry extends Expiring {
  ifp: Ifnet;
  kind: 'rdnss' | 'dnssl';
  value: string;
}

/** Per-interface switches (KAME's nd6 flags). */
export interface RtrIfConfig {
  acceptRtadv: boolean;
}

interface RsState {
  sent: number;
  timer: Timer | null;
}

export class RouterDiscovery {
  readonly limits: RtrLimits;
  private readonly routers: Router[] = [];
  private readonly prefixes: Prefix[] = [];
  private readonly rinfo: RouteInfoEntry[] = [];
  private readonly dnsEntries: DnsEntry[] = [];
  private readonly rs = new Map<number, RsState>();
  private readonly ifcfg = new Map<number, RtrIfConfig>();

  constructor(
    private readonly ip6: Ip6,
    private readonly icmp6: Icmp6,
    private readonly nd6: Nd6,
    private readonly slaac: Slaac,
    limits: Partial<RtrLimits> = {},
  ) {
    this.limits = { maxRouters: 16, maxPrefixes: 64, maxRouteInfo: 64, maxOptions: 10, maxDns: 8, ...limits };
    icmp6.on(Icmp6Type.ROUTER_ADVERT, (ctx, m) => this.raInput(ctx, m));
    icmp6.on(Icmp6Type.REDIRECT, (ctx, m) => this.redirectInput(ctx, m));
    icmp6.on(Icmp6Type.ROUTER_SOLICIT, () => {
      /* a host ignores router solicitations (§6.2.6 is for routers) */
    });
    ip6.hooks.ifUp.push((ifp) => {
      if (ifp.lladdr) this.startSolicit(ifp);
    });
  }

  private get stats() {
    return this.nd6.stats.c;
  }

  private get now(): number {
    return this.ip6.clock.now();
  }

  config(ifp: Ifnet): RtrIfConfig {
    let c = this.ifcfg.get(ifp.index);
    if (!c) this.ifcfg.set(ifp.index, (c = { acceptRtadv: true }));
    return c;
  }

  private accepting(ifp: Ifnet): boolean {
    return this.config(ifp).acceptRtadv && !this.ip6.forwarding;
  }

  // ---- Router Solicitation (§6.3.7) ------------------------------------------

  /** Starts (or restarts: `tap6 rtsol`) soliciting on an interface. */
  startSolicit(ifp: Ifnet): boolean {
    if (!this.accepting(ifp)) return false;
    this.rs.get(ifp.index)?.timer?.cancel();
    const st: RsState = { sent: 0, timer: null };
    this.rs.set(ifp.index, st);
    // A random delay of up to MAX_RTR_SOLICITATION_DELAY before the first one.
    st.timer = this.ip6.clock.timer(this.ip6.rng.uniform(0, 1000), () => this.rsTick(ifp, st));
    return true;
  }

  private rsTick(ifp: Ifnet, st: RsState): void {
    st.timer = null;
    if (this.rs.get(ifp.index) !== st || !ifp.up || !this.accepting(ifp)) return;
    const if6 = this.ip6.if6Of(ifp);
    const ll = if6?.linkLocal();
    // Wait for the link-local address to pass DAD rather than soliciting from ::.
    if (!ll && if6?.addrs.some((a) => isLinkLocal(a.addr) && a.flags & 0x02)) {
      st.timer = this.ip6.clock.timer(if6.retransTimer, () => this.rsTick(ifp, st));
      return;
    }
    this.sendRs(ifp, ll?.addr ?? null);
    st.sent++;
    if (st.sent < MAX_RTR_SOLICITATIONS) st.timer = this.ip6.clock.timer(RTR_SOLICITATION_INTERVAL, () => this.rsTick(ifp, st));
  }

  sendRs(ifp: Ifnet, src: Uint8Array | null): void {
    // §4.1: no source link-layer option when the source is unspecified.
    const e = this.icmp6.send({
      type: Icmp6Type.ROUTER_SOLICIT,
      code: 0,
      body: rsBody(src ? ifp.lladdr : null),
      dst: ALL_ROUTERS,
      zone: ifp.index,
      ifindex: ifp.index,
      hlim: 255,
      src: src ?? new Uint8Array(16),
      allowUnspecSrc: src === null,
      mcastLoop: false,
    });
    if (!e) this.stats.rsOut++;
  }

  // ---- Router Advertisement (§6.1.2, §6.3.4) ---------------------------------

  private raInput(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats;
    c.raIn++;
    if (!isLinkLocal(ctx.src)) {
      c.raBadSource++;
      return;
    }
    if (ctx.b[IP6_HLIM] !== 255) {
      c.badHopLimit++;
      return;
    }
    if (msg.code !== 0) {
      c.badCode++;
      return;
    }
    const r = parseRa(ctx.b, msg.off, msg.len, this.limits.maxOptions);
    if (!r.ok) {
      if (r.error === 'badLength') c.badLength++;
      else c.raBadOptions++;
      return;
    }
    if (!this.accepting(ctx.ifp)) {
      c.raIgnored++;
      return;
    }
    this.process(ctx.ifp, ctx.src.slice(), r.value);
  }

  private process(ifp: Ifnet, from: Uint8Array, ra: RaRepr): void {
    const c = this.stats;
    const st = this.ip6.if6Of(ifp);
    if (!st) return;
    // An RA ends solicitation on this interface.
    const rs = this.rs.get(ifp.index);
    rs?.timer?.cancel();
    this.rs.delete(ifp.index);

    // RFC 4191 §3.1: the preference and lifetime of a ::/0 Route Information
    // option override those of the RA header (it is the default route).
    const def = ra.routes.find((ri) => ri.plen === 0 && !ri.reservedPrf);
    this.updateRouter(ifp, from, ra, def ? def.preference : ra.preference, def ? def.lifetime : ra.routerLifetime);
    if (ra.curHopLimit !== 0) st.curHopLimit = ra.curHopLimit;
    if (ra.reachableTime !== 0 && ra.reachableTime !== st.baseReachableTime) {
      st.baseReachableTime = ra.reachableTime;
      this.nd6.randomizeReachable(ifp);
    }
    if (ra.retransTimer !== 0) st.retransTimer = ra.retransTimer;
    if (ra.srcLl) this.nd6.learnRouter(ifp, from, ra.srcLl);
    else this.nd6.markRouter(ifp, from);
    if (ra.mtu !== null) {
      // §6.3.4: a valid MTU is at least the IPv6 minimum and at most the link's.
      if (ra.mtu >= 1280 && ra.mtu <= ifp.mtu) st.linkMtu = ra.mtu;
      else c.raMtuBad++;
    }
    for (const p of ra.prefixes) {
      // §6.3.4 and RFC 4862 §5.5.3(b): a link-local prefix is ignored for on-link
      // determination and autoconfiguration alike; one option, counted once.
      if (isLinkLocal(p.prefix)) {
        c.pioLinkLocal++;
        continue;
      }
      if (p.onLink) this.updatePrefix(ifp, p.prefix, p.plen, p.validLifetime);
      if (p.autonomous) this.slaac.onPrefix(ifp, p.prefix, p.plen, p.validLifetime, p.preferredLifetime);
    }
    for (const ri of ra.routes) {
      if (ri.reservedPrf) {
        c.routeInfoRefused++;
        continue;
      }
      if (ri !== def) this.updateRouteInfo(ifp, from, ri.prefix, ri.plen, ri.preference, ri.lifetime);
    }
    for (const d of ra.rdnss) for (const s of d.servers) this.updateDns(ifp, 'rdnss', formatIn6(s), d.lifetime);
    for (const d of ra.dnssl) for (const s of d.domains) this.updateDns(ifp, 'dnssl', s, d.lifetime);
  }

  private expiry(seconds: number): number {
    return seconds === INFINITE ? Infinity : this.now + seconds * 1000;
  }

  private arm(e: Expiring, onExpire: () => void): void {
    e.timer?.cancel();
    e.timer = e.expiresAt === Infinity ? null : this.ip6.clock.timer(e.expiresAt - this.now, onExpire);
  }

  /** `lifetime` in seconds (0xffffffff, possible from a ::/0 Route Information option, is infinity). */
  private updateRouter(ifp: Ifnet, from: Uint8Array, ra: RaRepr, preference: -1 | 0 | 1, lifetime: number): void {
    const i = this.routers.findIndex((r) => r.ifp === ifp && in6Equal(r.addr, 0, from));
    if (lifetime === 0) {
      if (i >= 0) this.removeRouter(this.routers[i]!);
      return;
    }
    let r = this.routers[i];
    if (!r) {
      if (this.routers.length >= this.limits.maxRouters) {
        this.stats.routersRefused++;
        return;
      }
      r = { addr: from, ifp, preference, expiresAt: 0, managed: ra.managed, other: ra.other, timer: null };
      this.routers.push(r);
      this.stats.routersAdded++;
      this.ip6.log.log('info', 'nd6', `${ifp.name}: default router ${formatIn6(from)} (preference ${preference})`);
    }
    r.preference = preference;
    r.managed = ra.managed;
    r.other = ra.other;
    r.expiresAt = this.expiry(lifetime);
    this.arm(r, () => this.removeRouter(r!));
    this.installDefaultRoutes();
  }

  private removeRouter(r: Router): void {
    r.timer?.cancel();
    const i = this.routers.indexOf(r);
    if (i < 0) return;
    this.routers.splice(i, 1);
    this.stats.routersExpired++;
    this.ip6.log.log('info', 'nd6', `${r.ifp.name}: default router ${formatIn6(r.addr)} removed`);
    this.installDefaultRoutes();
  }

  /** ::/0 routes through the routers, best preference first (RFC 4191 §3.2; ties keep arrival order). */
  private installDefaultRoutes(): void {
    this.ip6.routes.deleteWhere((rt) => rt.plen === 0 && rt.origin === 'ra');
    const order = [...this.routers].sort((a, b) => b.preference - a.preference);
    for (const r of order) {
      this.ip6.routes.add({ dst: DEFAULT_ROUTE, plen: 0, gateway: r.addr, ifindex: r.ifp.index, origin: 'ra', expiresAt: r.expiresAt });
    }
  }

  private updatePrefix(ifp: Ifnet, prefix: Uint8Array, plen: number, valid: number): void {
    if (plen > 128) {
      this.stats.pioBadPrefix++;
      return;
    }
    if (isLinkLocal(prefix)) return; // counted once by process()
    const key = maskPrefix(prefix, plen);
    const i = this.prefixes.findIndex((p) => p.ifp === ifp && p.plen === plen && in6Equal(p.prefix, 0, key));
    const remove = (p: Prefix) => {
      p.timer?.cancel();
      const j = this.prefixes.indexOf(p);
      if (j >= 0) this.prefixes.splice(j, 1);
      // The prefix may still be on-link through an address configured on it: keep such routes.
      this.ip6.routes.deleteWhere((rt) => rt.origin === 'ra' && rt.plen === plen && rt.ifindex === ifp.index && !rt.gateway && in6Equal(rt.dst, 0, key));
    };
    if (valid === 0) {
      if (i >= 0) remove(this.prefixes[i]!);
      return;
    }
    let p = this.prefixes[i];
    if (!p) {
      if (this.prefixes.length >= this.limits.maxPrefixes) {
        this.stats.prefixesRefused++;
        return;
      }
      p = { prefix: key, plen, ifp, expiresAt: 0, timer: null };
      this.prefixes.push(p);
      if (!this.ip6.routes.find(key, plen, ifp.index)) {
        this.ip6.routes.add({ dst: key, plen, ifindex: ifp.index, origin: 'ra', flags: RTF.CONNECTED });
      }
    }
    p.expiresAt = this.expiry(valid);
    const rt = this.ip6.routes.find(key, plen, ifp.index);
    if (rt && rt.origin === 'ra') rt.expiresAt = p.expiresAt;
    this.arm(p, () => remove(p!));
  }

  private updateRouteInfo(ifp: Ifnet, router: Uint8Array, prefix: Uint8Array, plen: number, preference: -1 | 0 | 1, lifetime: number): void {
    const key = maskPrefix(prefix, plen);
    const same = (e: RouteInfoEntry) => e.ifp === ifp && e.plen === plen && in6Equal(e.prefix, 0, key) && in6Equal(e.router, 0, router);
    const i = this.rinfo.findIndex(same);
    const remove = (e: RouteInfoEntry) => {
      e.timer?.cancel();
      const j = this.rinfo.indexOf(e);
      if (j >= 0) this.rinfo.splice(j, 1);
      this.installRouteInfo(e.prefix, e.plen);
    };
    if (lifetime === 0) {
      if (i >= 0) remove(this.rinfo[i]!);
      return;
    }
    let e = this.rinfo[i];
    if (!e) {
      if (this.rinfo.length >= this.limits.maxRouteInfo) {
        this.stats.routeInfoRefused++;
        return;
      }
      e = { prefix: key, plen, router, ifp, preference, expiresAt: 0, timer: null };
      this.rinfo.push(e);
    }
    e.preference = preference;
    e.expiresAt = this.expiry(lifetime);
    this.arm(e, () => remove(e!));
    this.installRouteInfo(key, plen);
  }

  /** Re-installs the routes for one prefix, best preference first. */
  private installRouteInfo(prefix: Uint8Array, plen: number): void {
    this.ip6.routes.deleteWhere((rt) => rt.origin === 'ra' && rt.plen === plen && rt.gateway !== null && in6Equal(rt.dst, 0, prefix) && plen > 0);
    const list = this.rinfo.filter((e) => e.plen === plen && in6Equal(e.prefix, 0, prefix)).sort((a, b) => b.preference - a.preference);
    for (const e of list) this.ip6.routes.add({ dst: e.prefix, plen, gateway: e.router, ifindex: e.ifp.index, origin: 'ra', expiresAt: e.expiresAt });
  }

  private updateDns(ifp: Ifnet, kind: 'rdnss' | 'dnssl', value: string, lifetime: number): void {
    const i = this.dnsEntries.findIndex((d) => d.ifp === ifp && d.kind === kind && d.value === value);
    const remove = (d: DnsEntry) => {
      d.timer?.cancel();
      const j = this.dnsEntries.indexOf(d);
      if (j >= 0) this.dnsEntries.splice(j, 1);
    };
    if (lifetime === 0) {
      if (i >= 0) remove(this.dnsEntries[i]!);
      return;
    }
    let d = this.dnsEntries[i];
    if (!d) {
      if (this.dnsEntries.filter((x) => x.ifp === ifp && x.kind === kind).length >= this.limits.maxDns) {
        this.stats.dnsRefused++;
        return;
      }
      d = { ifp, kind, value, expiresAt: 0, timer: null };
      this.dnsEntries.push(d);
    }
    d.expiresAt = this.expiry(lifetime);
    this.arm(d, () => remove(d!));
  }

  // ---- Redirect (§8.1, §8.3) ----------------------------------------------

  private redirectInput(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats;
    c.redirectIn++;
    const b = ctx.b;
    // §8.1: link-local source, hop limit 255, code 0, at least 40 bytes.
    if (!isLinkLocal(ctx.src) || b[IP6_HLIM] !== 255 || msg.code !== 0 || msg.len < 40) {
      c.redirectBad++;
      return;
    }
    const target = b.slice(msg.off + 8, msg.off + 24);
    const dest = b.slice(msg.off + 24, msg.off + 40);
    // The destination is not multicast; the target is link-local or the destination itself (on-link).
    const onLink = in6Equal(target, 0, dest);
    if (isMulticast(dest) || (!isLinkLocal(target) && !onLink)) {
      c.redirectBad++;
      return;
    }
    const opts = parseNdOptions(b, msg.off + 40, msg.off + msg.len);
    if (!opts.ok) {
      c.redirectBad++;
      return;
    }
    if (this.ip6.forwarding || !this.accepting(ctx.ifp)) {
      c.redirectIgnored++;
      return;
    }
    // The source must be the current first-hop router for the destination.
    const rt: Rt6 | undefined = isLinkLocal(dest) ? undefined : this.ip6.routes.lookup(dest, 0, this.now);
    if (!rt || !rt.gateway || rt.ifindex !== ctx.ifp.index || !in6Equal(rt.gateway, 0, ctx.src)) {
      c.redirectNotFromRouter++;
      return;
    }
    this.ip6.routes.delete(dest, 128, { ifindex: ctx.ifp.index });
    this.ip6.routes.add({
      dst: dest,
      plen: 128,
      gateway: onLink ? null : target,
      ifindex: ctx.ifp.index,
      origin: 'redirect',
      flags: RTF.DYNAMIC,
    });
    if (opts.value.tgtLl) this.nd6.learnFromRedirect(ctx.ifp, target, opts.value.tgtLl, !onLink);
    c.redirectAccepted++;
    this.ip6.log.log('info', 'nd6', `${ctx.ifp.name}: redirect: ${formatIn6(dest)} via ${onLink ? 'on-link' : formatIn6(target)}`);
  }

  // ---- inspection ------------------------------------------------------------

  routerList(): RouterInfo[] {
    return this.routers.map(({ addr, ifp, preference, expiresAt, managed, other }) => ({ addr, ifp, preference, expiresAt, managed, other }));
  }

  prefixList(): { prefix: Uint8Array; plen: number; ifp: Ifnet; expiresAt: number }[] {
    return this.prefixes.map(({ prefix, plen, ifp, expiresAt }) => ({ prefix, plen, ifp, expiresAt }));
  }

  routeInfoList(): { prefix: Uint8Array; plen: number; router: Uint8Array; ifp: Ifnet; preference: number; expiresAt: number }[] {
    return this.rinfo.map(({ prefix, plen, router, ifp, preference, expiresAt }) => ({ prefix, plen, router, ifp, preference, expiresAt }));
  }

  dns(): { ifp: Ifnet; kind: 'rdnss' | 'dnssl'; value: string; expiresAt: number }[] {
    return this.dnsEntries.map(({ ifp, kind, value, expiresAt }) => ({ ifp, kind, value, expiresAt }));
  }

  close(): void {
    for (const e of [...this.routers, ...this.prefixes, ...this.rinfo, ...this.dnsEntries]) e.timer?.cancel();
    for (const s of this.rs.values()) s.timer?.cancel();
    this.rs.clear();
  }
}

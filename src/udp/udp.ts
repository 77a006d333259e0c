/**
 * UDP over IPv6 (RFC 768, RFC 8200 §8.1): the protocol control blocks, input
 * demultiplexing, output, ephemeral ports (RFC 6056) and ICMPv6 error
 * delivery. The socket API (socket.ts) sits on top of this.
 *
 * Demultiplexing, as BSD's in6_pcblookup: a unicast datagram goes to the
 * most specific match — local address and port, then connected peer —
 * where a socket bound to a scoped (link-local) address matches only in its
 * zone. A multicast datagram goes to every socket on the port that joined the
 * group on the receiving interface (KAME's rule; Linux would also deliver to
 * sockets that did not join). With no socket, unicast gets ICMPv6 Port
 * Unreachable through the rate limiter.
 */
import { getU16 } from '../core/bytes.ts';
import { in6Cksum } from '../core/checksum.ts';
import { DEFAULT_HEADROOM, Pkt } from '../core/pkt.ts';
import type { Icmp6ErrorInfo } from '../icmp6/ctlinput.ts';
import type { Icmp6 } from '../icmp6/icmp6.ts';
import { in6Equal, isLinkLocal, isMulticast, isUnspecified } from '../ip6/addr.ts';
import { needsZone } from '../ip6/ifaddr.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import type { OutputError } from '../ip6/output.ts';
import { IPPROTO, IPPROTO_DONE, type Ip6InputCtx } from '../ip6/protosw.ts';
import { type UdpStats, udpCounters } from './stats.ts';
import { UDP_HDR_LEN, UDP_MAX_PAYLOAD, emitUdp, parseUdp } from './wire.ts';

/** RFC 6056 §2.1: the suggested ephemeral range (IANA dynamic ports). */
export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

/** Per-socket IPsec policy (RFC 4301 / KAME's IPSEC_POLICY_*): see src/ipsec/spd.ts. */
export type SocketIpsecPolicy = { kind: 'default' } | { kind: 'bypass' } | { kind: 'entrust' } | { kind: 'ipsec'; requests: string[] };

export interface UdpDatagram {
  data: Uint8Array;
  src: Uint8Array;
  zone: number;
  sport: number;
  dst: Uint8Array;
  /** Interface the datagram arrived on. */
  ifindex: number;
  hlim: number;
}

export interface UdpPcbOwner {
  /** A datagram for this socket (the data is a copy the socket may keep). Returns false if it had to drop it. */
  deliver(d: UdpDatagram): boolean;
  /** An ICMPv6 error about a datagram this socket sent. */
  error(e: Icmp6ErrorInfo): void;
}

export class UdpPcb {
  laddr = new Uint8Array(16);
  lzone = 0;
  lport = 0;
  faddr: Uint8Array | null = null;
  fzone = 0;
  fport = 0;
  /** IPV6_MULTICAST_IF, IPV6_MULTICAST_LOOP, IPV6_MULTICAST_HOPS, IPV6_UNICAST_HOPS. */
  mcastIf = 0;
  mcastLoop = true;
  mcastHops = 1;
  unicastHops = -1;
  /** SO_REUSEADDR / SO_REUSEPORT: several sockets may share a port. */
  reuse = false;
  /** Groups joined by this socket: (group, interface index). */
  readonly groups: { group: Uint8Array; ifindex: number }[] = [];
  /** IPV6_DONTFRAG. */
  dontFrag = false;
  ipsec: SocketIpsecPolicy = { kind: 'default' };

  constructor(readonly owner: UdpPcbOwner) {}

  get bound(): boolean {
    return this.lport !== 0;
  }

  joined(group: Uint8Array, ifindex: number): boolean {
    return this.groups.some((g) => g.ifindex === ifindex && in6Equal(g.group, 0, group));
  }
}

export class Udp6 {
  readonly stats: UdpStats = udpCounters();
  private readonly byPort = new Map<number, UdpPcb[]>();
  /** Bound on sockets (each holds memory): EMFILE past it. */
  readonly maxSockets: number;
  private count = 0;

  constructor(
    readonly ip6: Ip6,
    readonly icmp6: Icmp6,
    opts: { maxSockets?: number } = {},
  ) {
    this.maxSockets = opts.maxSockets ?? 4096;
    ip6.registerProtocol(IPPROTO.UDP, { name: 'udp', input: (ctx) => this.input(ctx) });
    icmp6.errors.on(IPPROTO.UDP, (e) => this.ctlinput(e));
  }

  /** All bound sockets (netstat). */
  pcbs(): UdpPcb[] {
    return [...this.byPort.values()].flat();
  }

  // ---- binding ---------------------------------------------------------------

  /** Binds `pcb` to (addr%zone, port); port 0 picks an ephemeral port. Returns an errno name or null. */
  bind(pcb: UdpPcb, addr: Uint8Array, zone: number, port: number): string | null {
    if (pcb.bound) return 'EINVAL';
    if (!Number.isInteger(port) || port < 0 || port > 65535) return 'EINVAL';
    if (!isUnspecified(addr) && !isMulticast(addr)) {
      if (needsZone(addr) && !zone) return 'EINVAL';
      const ia = this.ip6.findAddr(addr, zone);
      if (!ia || (isLinkLocal(addr) && ia.ifp.index !== zone)) return 'EADDRNOTAVAIL';
    }
    if (this.count >= this.maxSockets) return 'EMFILE';
    if (port === 0) {
      const p = this.ephemeral(addr, zone);
      if (p === 0) return 'EADDRINUSE';
      port = p;
    } else if (this.conflicts(pcb, addr, zone, port)) return 'EADDRINUSE';
    pcb.laddr = addr.slice(0, 16);
    pcb.lzone = needsZone(addr) ? zone : 0;
    pcb.lport = port;
    let list = this.byPort.get(port);
    if (!list) this.byPort.set(port, (list = []));
    list.push(pcb);
    this.count++;
    return null;
  }

  private conflicts(pcb: UdpPcb, addr: Uint8Array, zone: number, port: number): boolean {
    const list = this.byPort.get(port);
    if (!list) return false;
    for (const o of list) {
      if (pcb.reuse && o.reuse) continue;
      // The wildcard overlaps every address; two specific addresses overlap only if equal (same zone).
      if (isUnspecified(o.laddr) || isUnspecified(addr) || (in6Equal(o.laddr, 0, addr) && o.lzone === (needsZone(addr) ? zone : 0))) return true;
    }
    return false;
  }

  /** RFC 6056 §3.3.1 (Algorithm 1, simple port randomisation) over the dynamic range. */
  private ephemeral(addr: Uint8Array, zone: number): number {
    const n = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    let p = EPHEMERAL_LOW + this.ip6.rng.below(n);
    for (let i = 0; i < n; i++) {
      if (!this.byPort.has(p) || !this.conflictsAny(addr, zone, p)) return p;
      p = p === EPHEMERAL_HIGH ? EPHEMERAL_LOW : p + 1;
    }
    return 0;
  }

  private conflictsAny(addr: Uint8Array, zone: number, port: number): boolean {
    const probe = new UdpPcb({ deliver: () => false, error: () => {} });
    return this.conflicts(probe, addr, zone, port);
  }

  unbind(pcb: UdpPcb): void {
    // Memberships first: a socket may have joined groups without ever being bound.
    for (const g of pcb.groups.splice(0)) {
      const ifp = this.ip6.ifs.get(g.ifindex);
      if (ifp) this.ip6.leaveGroup(ifp, g.group);
    }
    const list = this.byPort.get(pcb.lport);
    if (!list) return;
    const i = list.indexOf(pcb);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.byPort.delete(pcb.lport);
    this.count--;
    pcb.lport = 0;
  }

  // ---- output --------------------------------------------------------------

  /**
   * Sends `data` from `pcb` to (dst%zone, port), or to its connected peer.
   * Returns null or an errno name (EMSGSIZE, ENETUNREACH, EHOSTUNREACH,
   * EADDRNOTAVAIL, EINVAL, ENETDOWN, ENOBUFS).
   */
  output(pcb: UdpPcb, data: Uint8Array, dst: Uint8Array, zone: number, dport: number): OutputError | 'EINVAL' | null {
    if (data.length > UDP_MAX_PAYLOAD) return 'EMSGSIZE';
    if (!Number.isInteger(dport) || dport <= 0 || dport > 65535) return 'EINVAL';
    const pkt = Pkt.alloc(UDP_HDR_LEN + data.length, DEFAULT_HEADROOM);
    emitUdp({ sport: pcb.lport, dport, length: UDP_HDR_LEN + data.length, checksum: 0 }, pkt.buf, pkt.off);
    pkt.buf.set(data, pkt.off + UDP_HDR_LEN);
    const mcast = isMulticast(dst);
    const src = isUnspecified(pcb.laddr) || isMulticast(pcb.laddr) ? null : pcb.laddr;
    const e = this.ip6.output(pkt, {
      dst,
      zone: zone || (src && pcb.lzone) || 0,
      src,
      nxt: IPPROTO.UDP,
      hlim: mcast ? pcb.mcastHops : pcb.unicastHops >= 0 ? pcb.unicastHops : undefined,
      ifindex: mcast ? pcb.mcastIf : 0,
      mcastLoop: pcb.mcastLoop,
      cksumOff: 6,
      cksumZeroIsFfff: true,
      dontFrag: pcb.dontFrag,
      ipsecPolicy: pcb.ipsec,
    });
    if (e) {
      this.stats.c.oerrors++;
      return e;
    }
    this.stats.c.opackets++;
    return null;
  }

  // ---- input ---------------------------------------------------------------

  private input(ctx: Ip6InputCtx): number {
    const c = this.stats.c;
    const b = ctx.b;
    const off = ctx.off;
    const avail = b.length - off;
    c.ipackets++;
    const r = parseUdp(b, off, avail);
    if (!r.ok) {
      if (r.error === 'short') c.hdrops++;
      else c.badlen++;
      return IPPROTO_DONE;
    }
    const u = r.value;
    if (u.checksum === 0) {
      c.noChecksum++;
      return IPPROTO_DONE;
    }
    if (in6Cksum(b, off, u.length, IPPROTO.UDP, ctx.src, ctx.dst) !== 0) {
      c.badsum++;
      return IPPROTO_DONE;
    }
    const data = b.subarray(off + UDP_HDR_LEN, off + u.length);
    const list = this.byPort.get(u.dport);
    const mk = (): UdpDatagram => ({
      data: data.slice(),
      src: ctx.src.slice(),
      zone: ctx.zone,
      sport: u.sport,
      dst: ctx.dst.slice(),
      ifindex: ctx.ifp.index,
      hlim: b[7]!,
    });
    if (ctx.mcast) {
      let n = 0;
      for (const pcb of list ?? []) {
        if (!isUnspecified(pcb.laddr) && !in6Equal(pcb.laddr, 0, ctx.dst)) continue;
        if (!pcb.joined(ctx.dst, ctx.ifp.index)) continue;
        if (pcb.faddr && (!in6Equal(pcb.faddr, 0, ctx.src) || pcb.fport !== u.sport)) continue;
        if (this.ipsecRefuses(ctx, pcb)) continue;
        n++;
        this.hand(pcb, mk());
      }
      if (n === 0) c.noportmcast++;
      return IPPROTO_DONE;
    }
    const pcb = list && this.lookup(list, ctx, u.sport);
    if (this.ipsecRefuses(ctx, pcb ?? null)) return IPPROTO_DONE;
    if (!pcb) {
      c.noport++;
      // RFC 4443 §3.1: Port Unreachable (code 4), through the rate limiter.
      this.ip6.icmpError?.(ctx, 1, 4, 0);
      return IPPROTO_DONE;
    }
    this.hand(pcb, mk());
    return IPPROTO_DONE;
  }

  /**
   * RFC 4301 §5.2 (KAME ipsec6_in_reject): cleartext a `require` policy
   * covers is dropped — with the socket's own policy, or the system SPD's
   * when no socket matched (no Port Unreachable then). Counted in ipsecstat.
   */
  private ipsecRefuses(ctx: Ip6InputCtx, pcb: UdpPcb | null): boolean {
    const sec = this.ip6.ipsec;
    if (sec === null) return false;
    const pol = pcb?.ipsec;
    if (!sec.spd.active && (pol === undefined || pol.kind !== 'ipsec')) return false;
    return !sec.inputAllowed(ctx, IPPROTO.UDP, pol);
  }

  private hand(pcb: UdpPcb, d: UdpDatagram): void {
    if (pcb.owner.deliver(d)) this.stats.c.delivered++;
    else this.stats.c.fullsock++;
  }

  /** The most specific socket for a unicast datagram (in6_pcblookup's wildcard count). */
  private lookup(list: UdpPcb[], ctx: Ip6InputCtx, sport: number): UdpPcb | undefined {
    let best: UdpPcb | undefined;
    let bestScore = -1;
    for (const pcb of list) {
      let score = 0;
      if (!isUnspecified(pcb.laddr)) {
        if (!in6Equal(pcb.laddr, 0, ctx.dst) || (pcb.lzone && pcb.lzone !== ctx.zone)) continue;
        score += 2;
      }
      if (pcb.faddr) {
        if (!in6Equal(pcb.faddr, 0, ctx.src) || pcb.fport !== sport || (pcb.fzone && pcb.fzone !== ctx.zone)) continue;
        score += 4;
      }
      if (score > bestScore) {
        best = pcb;
        bestScore = score;
      }
    }
    return best;
  }

  // ---- ICMPv6 errors ---------------------------------------------------------

  /** An error quoting one of our datagrams goes to the socket that sent it. */
  private ctlinput(e: Icmp6ErrorInfo): void {
    const q = e.quoted;
    if (e.upperOff + 4 > q.length) {
      this.stats.c.errNoSocket++;
      return;
    }
    const sport = getU16(q, e.upperOff);
    const dport = getU16(q, e.upperOff + 2);
    const list = this.byPort.get(sport) ?? [];
    const pcb =
      list.find((p) => p.faddr && p.fport === dport && in6Equal(p.faddr, 0, e.dst)) ??
      list.find((p) => !p.faddr && (isUnspecified(p.laddr) || in6Equal(p.laddr, 0, e.src)));
    if (!pcb) {
      this.stats.c.errNoSocket++;
      return;
    }
    this.stats.c.errIn++;
    pcb.owner.error(e);
  }
}

/**
 * TCP over IPv6: the connection and listener tables, segment input
 * (checksum, demultiplexing, passive opens with a bounded SYN queue and SYN
 * cookies beyond it, RSTs for segments that belong to no connection) and
 * segment output through ip6_output. The per-connection state machine is in
 * tcpcb.ts; the node:net-shaped API in socket.ts.
 */
import type { Timer } from '../core/clock.ts';
import { in6Cksum } from '../core/checksum.ts';
import type { RxBurst } from '../core/burst.ts';
import { DEFAULT_HEADROOM, Pkt } from '../core/pkt.ts';
import type { Icmp6ErrorInfo } from '../icmp6/ctlinput.ts';
import type { Icmp6 } from '../icmp6/icmp6.ts';
import { in6Equal, isMulticast, isUnspecified } from '../ip6/addr.ts';
import { needsZone } from '../ip6/ifaddr.ts';
import { in6Hash } from '../ip6/in6map.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import { IPPROTO, IPPROTO_DONE, type Ip6InputCtx } from '../ip6/protosw.ts';
import type { Ip6SocketPolicy } from '../ip6/security.ts';
import { IsnGenerator, SynCookies } from './isn.ts';
import { seqAdd } from './seq.ts';
import { type TcpStats, tcpCounters } from './stats.ts';
import { type TcpConfig, TcpCb, type TcpHost, type TcpOwner } from './tcpcb.ts';
import { TH_ACK, TH_FIN, TH_RST, TH_SYN, type TcpRepr, emitTcp, parseTcp, tcpHeaderLen } from './wire.ts';

export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  msl: 30_000,
  minRto: 200,
  maxRto: 120_000,
  maxRexmits: 12,
  maxSynRexmits: 6,
  delAckMs: 40,
  keepIdleMs: 2 * 3600_000,
  keepIntvlMs: 75_000,
  keepCnt: 8,
  finWait2Ms: 60_000,
  cc: 'cubic',
  rcvBuf: 128 << 10,
  sndBuf: 256 << 10,
  maxRcvBuf: 4 << 20,
  maxSndBuf: 4 << 20,
  autotune: true,
  timestamps: true,
  sack: true,
  rack: true,
  orphanRetries: 8,
};

/** What a listener tells its server. */
export interface ListenerOwner {
  /** A connection completed the handshake and was accepted. */
  connection(cb: TcpCb): void;
}

/**
 * The owner of a connection that completed the handshake but is not accepted
 * yet: it keeps what the connection reports (data, FIN, errors), in order,
 * and replays it to the socket that accepts it. The bytes still count
 * against the receive window, so a peer cannot overrun an unaccepted queue.
 */
class AcceptPending implements TcpOwner {
  private readonly events: ((o: TcpOwner) => void)[] = [];
  connected(): void {}
  data(chunk: Uint8Array): void {
    this.events.push((o) => o.data(chunk));
  }
  eof(): void {
    this.events.push((o) => o.eof());
  }
  writable(): void {}
  error(code: string): void {
    this.events.push((o) => o.error(code));
  }
  closed(): void {
    this.events.push((o) => o.closed());
  }
  replay(o: TcpOwner): void {
    for (const e of this.events.splice(0)) e(o);
  }
}

export class TcpListener {
  readonly synQueue = new Set<TcpCb>();
  readonly acceptQueue: TcpCb[] = [];
  /** Per-socket IPsec policy, inherited by the connections it accepts. */
  ipsec: Ip6SocketPolicy | undefined = undefined;
  constructor(
    readonly laddr: Uint8Array,
    readonly lzone: number,
    readonly lport: number,
    readonly backlog: number,
    readonly owner: ListenerOwner,
  ) {}
}

export class Tcp6 implements TcpHost {
  readonly stats: TcpStats = tcpCounters();
  readonly config: TcpConfig;
  private readonly conns = new Map<number, TcpCb[]>();
  private readonly listeners = new Map<number, TcpListener[]>();
  private readonly isn: IsnGenerator;
  private readonly cookies: SynCookies;
  private count = 0;
  /** Per-connection IPsec policies (kept here, so the engine stays unaware); looked up only once one was set. */
  private readonly policies = new WeakMap<TcpCb, Ip6SocketPolicy>();
  private anyPolicy = false;
  /** Half-open connections per listener before SYN cookies take over. */
  synQueueLimit = 128;
  readonly maxConnections: number;

  /** Connections owing an ACK at the end of the current receive burst. */
  private ackq: TcpCb[] = [];
  private readonly burst: RxBurst | null;
  private readonly flushAcks = (): void => {
    const q = this.ackq;
    this.ackq = [];
    for (const cb of q) cb.flushStretchAck();
  };

  constructor(
    readonly ip6: Ip6,
    icmp6: Icmp6,
    config: Partial<TcpConfig> = {},
    opts: { maxConnections?: number; burst?: RxBurst } = {},
  ) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...config };
    this.burst = opts.burst ?? null;
    this.maxConnections = opts.maxConnections ?? 65536;
    this.isn = new IsnGenerator({ rng: ip6.rng, now: () => ip6.clock.now() });
    this.cookies = new SynCookies({ rng: ip6.rng });
    ip6.registerProtocol(IPPROTO.TCP, { name: 'tcp', input: (ctx) => this.input(ctx) });
    icmp6.errors.on(IPPROTO.TCP, (e) => this.ctlinput(e));
    // A quoted TCP segment comes to ctlinput, which checks its sequence number first (RFC 5927 §4.3);
    // the rest (ESP, AH, IPComp, a tunnel's IPv6-in-IPv6: ports unreadable) through this hook.
    ip6.hooks.pmtuLowered.push((dst, zone, _mtu, proto) => {
      if (proto !== IPPROTO.TCP) this.pmtuLowered(dst, zone);
    });
  }

  now(): number {
    return this.ip6.clock.now();
  }

  deferAck(cb: TcpCb): boolean {
    const b = this.burst;
    if (!b?.active) return false;
    if (this.ackq.length === 0 && !b.atEnd(this.flushAcks)) return false;
    this.ackq.push(cb);
    return true;
  }

  timer(ms: number, fn: () => void): Timer {
    return this.ip6.clock.timer(ms, fn);
  }

  connections(): TcpCb[] {
    return [...this.conns.values()].flat();
  }

  listenerList(): TcpListener[] {
    return [...this.listeners.values()].flat();
  }

  // ---- tables ------------------------------------------------------------------

  private key(laddr: Uint8Array, lport: number, faddr: Uint8Array, fport: number): number {
    return (in6Hash(faddr, 0, fport) ^ Math.imul(lport + 1, 0x9e3779b1) ^ in6Hash(laddr, 0, 0)) >>> 0;
  }

  private find(laddr: Uint8Array, lport: number, faddr: Uint8Array, fport: number, zone: number): TcpCb | undefined {
    const list = this.conns.get(this.key(laddr, lport, faddr, fport));
    return list?.find((c) => c.lport === lport && c.fport === fport && in6Equal(c.laddr, 0, laddr) && in6Equal(c.faddr, 0, faddr) && (!c.zone || !zone || c.zone === zone));
  }

  private insert(cb: TcpCb): void {
    const k = this.key(cb.laddr, cb.lport, cb.faddr, cb.fport);
    let list = this.conns.get(k);
    if (!list) this.conns.set(k, (list = []));
    list.push(cb);
    this.count++;
  }

  release(cb: TcpCb): void {
    const k = this.key(cb.laddr, cb.lport, cb.faddr, cb.fport);
    const list = this.conns.get(k);
    const i = list?.indexOf(cb) ?? -1;
    if (list && i >= 0) {
      list.splice(i, 1);
      if (list.length === 0) this.conns.delete(k);
      this.count--;
    }
    const l = cb.parent as TcpListener | null;
    if (l) {
      l.synQueue.delete(cb);
      const j = l.acceptQueue.indexOf(cb);
      if (j >= 0) l.acceptQueue.splice(j, 1);
    }
  }

  /** Binds a listener; returns an errno name or null. */
  listen(addr: Uint8Array, zone: number, port: number, backlog: number, owner: ListenerOwner): TcpListener | string {
    if (!Number.isInteger(port) || port < 0 || port > 65535) return 'EINVAL';
    if (!isUnspecified(addr)) {
      if (needsZone(addr) && !zone) return 'EINVAL';
      if (!this.ip6.findAddr(addr, zone)) return 'EADDRNOTAVAIL';
    }
    if (port === 0) port = this.ephemeral();
    if (port === 0) return 'EADDRINUSE';
    const list = this.listeners.get(port) ?? [];
    if (list.some((l) => isUnspecified(l.laddr) || isUnspecified(addr) || in6Equal(l.laddr, 0, addr))) return 'EADDRINUSE';
    const l = new TcpListener(addr.slice(), needsZone(addr) ? zone : 0, port, Math.max(1, Math.min(backlog, 4096)), owner);
    list.push(l);
    this.listeners.set(port, list);
    return l;
  }

  unlisten(l: TcpListener): void {
    const list = this.listeners.get(l.lport);
    if (list) {
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.listeners.delete(l.lport);
    }
    for (const cb of [...l.synQueue, ...l.acceptQueue]) cb.abort();
    l.synQueue.clear();
    l.acceptQueue.length = 0;
  }

  private portInUse(port: number): boolean {
    if (this.listeners.has(port)) return true;
    for (const list of this.conns.values()) for (const c of list) if (c.lport === port) return true;
    return false;
  }

  /** RFC 6056 §3.3.1: a random port from the dynamic range. */
  private ephemeral(): number {
    const n = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    let p = EPHEMERAL_LOW + this.ip6.rng.below(n);
    for (let i = 0; i < n; i++) {
      if (!this.portInUse(p)) return p;
      p = p === EPHEMERAL_HIGH ? EPHEMERAL_LOW : p + 1;
    }
    return 0;
  }

  /**
   * Active open: picks the source address and an ephemeral port (unless
   * given), creates the connection and sends the SYN. Returns an errno name
   * on failure.
   */
  connect(o: { dst: Uint8Array; zone: number; port: number; src?: Uint8Array | null; srcPort?: number; ipsec?: Ip6SocketPolicy }): TcpCb | string {
    if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535) return 'EINVAL';
    if (isMulticast(o.dst) || isUnspecified(o.dst)) return 'EINVAL';
    if (needsZone(o.dst) && !o.zone) return 'EINVAL';
    if (this.count >= this.maxConnections) return 'EMFILE';
    const route = this.ip6.routeFor(o.dst, o.zone);
    if (typeof route === 'string') return route;
    let src = o.src && !isUnspecified(o.src) ? o.src : null;
    if (src) {
      if (!this.ip6.findAddr(src, o.zone)) return 'EADDRNOTAVAIL';
    } else {
      const ia = this.ip6.selectSource(o.dst, route.ifp);
      if (!ia) return 'EADDRNOTAVAIL';
      src = ia.addr;
    }
    const lport = o.srcPort || this.ephemeral();
    if (!lport) return 'EADDRNOTAVAIL';
    if (this.find(src, lport, o.dst, o.port, o.zone)) return 'EADDRINUSE';
    const cb = new TcpCb(this, src.slice(), lport, o.dst.slice(), o.port, needsZone(o.dst) ? o.zone : 0);
    this.insert(cb);
    if (o.ipsec) this.setIpsecPolicy(cb, o.ipsec);
    const outer = this.ipsecOuterDst(src, lport, o.dst, o.port, o.ipsec);
    const mtu = Math.min(route.mtu, outer ? this.routeMtu(outer, 0) : 65535) - this.ipsecOverhead(src, lport, o.dst, o.port, o.ipsec);
    cb.connect(this.isn.isn({ localAddr: src, localPort: lport, remoteAddr: o.dst, remotePort: o.port }), mtu);
    return cb;
  }

  established(cb: TcpCb): void {
    const l = cb.parent as TcpListener | null;
    if (!l) return;
    l.synQueue.delete(cb);
    if (l.acceptQueue.length >= l.backlog) {
      this.stats.c.listenOverflow++;
      cb.abort();
      return;
    }
    this.stats.c.accepts++;
    // The application accepts on a later turn (as accept(2) after poll(2)): connections completed in one
    // burst wait in the accept queue, which the backlog bounds; what arrives meanwhile is kept for the socket.
    cb.owner = new AcceptPending();
    l.acceptQueue.push(cb);
    if (l.acceptQueue.length === 1) this.timer(0, () => this.drainAccept(l));
  }

  private drainAccept(l: TcpListener): void {
    for (let cb = l.acceptQueue.shift(); cb; cb = l.acceptQueue.shift()) {
      const pending = cb.owner;
      cb.owner = null;
      cb.parent = null;
      if (cb.state === 'CLOSED') continue;
      l.owner.connection(cb);
      if (pending instanceof AcceptPending && cb.owner) pending.replay(cb.owner);
    }
  }

  // ---- IPsec ---------------------------------------------------------------------

  /** Sets the IPsec policy of a connection or a listener (KAME's IPSEC_POLICY socket option). */
  setIpsecPolicy(target: TcpCb | TcpListener, p: Ip6SocketPolicy): void {
    if (target instanceof TcpListener) {
      target.ipsec = p;
      return;
    }
    this.anyPolicy = true;
    this.policies.set(target, p);
  }

  ipsecPolicyOf(cb: TcpCb): Ip6SocketPolicy | undefined {
    return this.anyPolicy ? this.policies.get(cb) : undefined;
  }

  /** RFC 4301 §5.2: refuse a segment a policy wants protected but that came in the clear (counted in ipsecstat). */
  private ipsecRefuses(ctx: Ip6InputCtx, pol: Ip6SocketPolicy | undefined): boolean {
    const sec = this.ip6.ipsec;
    if (sec === null || (!sec.spd.active && (pol === undefined || pol.kind !== 'ipsec'))) return false;
    return !sec.inputAllowed(ctx, IPPROTO.TCP, pol);
  }

  /**
   * A Packet Too Big lowered the path MTU towards `dst` — maybe one quoting
   * an ESP packet (whose ports are encrypted) or a tunnel's outer packet:
   * every connection whose packets go there re-sizes its segments
   * (pmtuChanged ignores a size that is not smaller).
   */
  private pmtuLowered(dst: Uint8Array, zone: number): void {
    for (const list of this.conns.values()) {
      for (const cb of list) {
        if (cb.state === 'CLOSED' || cb.state === 'LISTEN' || cb.state === 'TIME_WAIT') continue;
        const pol = this.ipsecPolicyOf(cb);
        const outer = this.ipsecOuterDst(cb.laddr, cb.lport, cb.faddr, cb.fport, pol);
        const to = outer ?? cb.faddr;
        if (!in6Equal(to, 0, dst) || (needsZone(dst) && zone !== 0 && cb.zone !== zone)) continue;
        const mtu = Math.min(this.routeMtu(cb.faddr, cb.zone), outer ? this.routeMtu(outer, 0) : 65535) - this.ipsecOverhead(cb.laddr, cb.lport, cb.faddr, cb.fport, pol);
        this.stats.c.pmtuNotified++;
        cb.pmtuChanged(mtu);
      }
    }
  }

  /** Path MTU towards `dst` as output would route it (1280 when there is no route). */
  private routeMtu(dst: Uint8Array, zone: number): number {
    const r = this.ip6.routeFor(dst, zone);
    return typeof r === 'string' ? 1280 : Math.max(1280, r.mtu);
  }

  /** The far end of the tunnel this connection's packets go through, if any. */
  private ipsecOuterDst(laddr: Uint8Array, lport: number, faddr: Uint8Array, fport: number, pol: Ip6SocketPolicy | undefined): Uint8Array | null {
    const sec = this.ip6.ipsec;
    if (sec === null || (!sec.spd.active && (pol === undefined || pol.kind !== 'ipsec'))) return null;
    return sec.outerDst({ src: laddr, dst: faddr, proto: IPPROTO.TCP, sport: lport, dport: fport }, pol);
  }

  /** Bytes IPsec adds to this connection's packets: the MSS is taken from the path MTU less this. */
  private ipsecOverhead(laddr: Uint8Array, lport: number, faddr: Uint8Array, fport: number, pol: Ip6SocketPolicy | undefined): number {
    const sec = this.ip6.ipsec;
    if (sec === null || (!sec.spd.active && (pol === undefined || pol.kind !== 'ipsec'))) return 0;
    return sec.overhead({ src: laddr, dst: faddr, proto: IPPROTO.TCP, sport: lport, dport: fport }, pol);
  }

  // ---- output ------------------------------------------------------------------

  send(cb: TcpCb, repr: TcpRepr, _payload: Uint8Array | null, off: number, len: number): boolean {
    const hl = tcpHeaderLen(repr);
    const pkt = Pkt.alloc(hl + len, DEFAULT_HEADROOM);
    emitTcp(repr, pkt.buf, pkt.off);
    if (len > 0) cb.copyPayload(off, len, pkt.buf, pkt.off + hl);
    const e = this.ip6.output(pkt, { dst: cb.faddr, zone: cb.zone, src: cb.laddr, nxt: IPPROTO.TCP, cksumOff: 16, ipsecPolicy: this.ipsecPolicyOf(cb) });
    if (e) cb.softError = e;
    return e === null;
  }

  /** A segment outside any connection (RST answers, cookie SYN-ACKs). */
  private sendBare(src: Uint8Array, dst: Uint8Array, zone: number, repr: TcpRepr, ipsecPolicy?: Ip6SocketPolicy): void {
    const pkt = Pkt.alloc(tcpHeaderLen(repr), DEFAULT_HEADROOM);
    emitTcp(repr, pkt.buf, pkt.off);
    this.ip6.output(pkt, { dst, zone, src, nxt: IPPROTO.TCP, cksumOff: 16, ...(ipsecPolicy ? { ipsecPolicy } : {}) });
  }

  /** RFC 9293 §3.10.7.1: the reset for a segment that belongs to no connection. */
  private respondRst(ctx: Ip6InputCtx, seg: TcpRepr, dataLen: number): void {
    if (seg.flags & TH_RST) return;
    this.stats.c.sndRst++;
    const segLen = dataLen + (seg.flags & TH_SYN ? 1 : 0) + (seg.flags & TH_FIN ? 1 : 0);
    const repr: TcpRepr =
      seg.flags & TH_ACK
        ? { sport: seg.dport, dport: seg.sport, seq: seg.ack, ack: 0, flags: TH_RST, window: 0, urgent: 0, options: {} }
        : { sport: seg.dport, dport: seg.sport, seq: 0, ack: seqAdd(seg.seq, segLen), flags: TH_RST | TH_ACK, window: 0, urgent: 0, options: {} };
    this.sendBare(ctx.dst.slice(), ctx.src.slice(), ctx.zone, repr);
  }

  // ---- input ---------------------------------------------------------------------

  private input(ctx: Ip6InputCtx): number {
    const c = this.stats.c;
    c.rcvTotal++;
    const b = ctx.b;
    const off = ctx.off;
    const len = b.length - off;
    if (ctx.mcast) {
      c.rcvMcast++;
      return IPPROTO_DONE;
    }
    const r = parseTcp(b, off, len);
    if (!r.ok) {
      if (r.error === 'badOption') c.rcvBadOpt++;
      else c.rcvShort++;
      return IPPROTO_DONE;
    }
    if (in6Cksum(b, off, len, IPPROTO.TCP, ctx.src, ctx.dst) !== 0) {
      c.rcvBadSum++;
      return IPPROTO_DONE;
    }
    const seg = r.value.repr;
    const dataOff = r.value.dataOff;
    const dataLen = off + len - dataOff;
    const cb = this.find(ctx.dst, seg.dport, ctx.src, seg.sport, ctx.zone);
    let mtu = this.pathMtu(ctx.src, ctx.zone, ctx.ifp.index);
    if (cb && cb.state !== 'CLOSED') {
      const pol = this.ipsecPolicyOf(cb);
      if (this.ipsecRefuses(ctx, pol)) return IPPROTO_DONE;
      mtu -= this.ipsecOverhead(ctx.dst, seg.dport, ctx.src, seg.sport, pol);
      // A new SYN for a connection in TIME-WAIT may reopen it (RFC 9293 §3.6.1 allows it with a higher ISN).
      if (cb.state === 'TIME_WAIT' && seg.flags & TH_SYN && !(seg.flags & TH_ACK)) {
        c.timeWaitKilled++;
        cb.closeNow();
      } else {
        cb.input(seg, b, dataOff, dataLen, mtu);
        return IPPROTO_DONE;
      }
    }
    const l = this.findListener(ctx.dst, ctx.zone, seg.dport);
    if (this.ipsecRefuses(ctx, l?.ipsec)) return IPPROTO_DONE;
    if (l) mtu -= this.ipsecOverhead(ctx.dst, seg.dport, ctx.src, seg.sport, l.ipsec);
    if (!l) {
      c.rcvNoSocket++;
      this.respondRst(ctx, seg, dataLen);
      return IPPROTO_DONE;
    }
    const f = seg.flags;
    if (f & TH_RST) return IPPROTO_DONE;
    if (f & TH_ACK) {
      // §3.10.7.2: an ACK to a listener is bad — unless it completes a SYN cookie.
      const mss = this.cookies.check({ localAddr: ctx.dst, localPort: seg.dport, remoteAddr: ctx.src, remotePort: seg.sport }, seqAdd(seg.ack, -1), this.now());
      if (mss === null) {
        c.cookiesBad++;
        this.respondRst(ctx, seg, dataLen);
        return IPPROTO_DONE;
      }
      c.cookiesOk++;
      const child = new TcpCb(this, ctx.dst.slice(), seg.dport, ctx.src.slice(), seg.sport, needsZone(ctx.src) ? ctx.zone : 0);
      this.insert(child);
      if (l.ipsec) this.setIpsecPolicy(child, l.ipsec);
      child.parent = l;
      child.fromCookie(seg, mss, mtu);
      this.established(child);
      if (child.state !== 'CLOSED' && (dataLen > 0 || f & TH_FIN)) child.input(seg, b, dataOff, dataLen, mtu);
      return IPPROTO_DONE;
    }
    if (!(f & TH_SYN)) {
      c.rcvBadFlags++;
      return IPPROTO_DONE;
    }
    const tuple = { localAddr: ctx.dst, localPort: seg.dport, remoteAddr: ctx.src, remotePort: seg.sport };
    if (l.synQueue.size >= this.synQueueLimit || this.count >= this.maxConnections) {
      // SYN flood defence: answer statelessly with a cookie (RFC 4987 §3.6); options are not kept.
      c.synQueueFull++;
      c.cookiesSent++;
      const iss = this.cookies.encode(tuple, seg.options.mss ?? 1220, this.now());
      this.sendBare(ctx.dst.slice(), ctx.src.slice(), ctx.zone, {
        sport: seg.dport,
        dport: seg.sport,
        seq: iss,
        ack: seqAdd(seg.seq, 1),
        flags: TH_SYN | TH_ACK,
        window: 0xffff,
        urgent: 0,
        options: { mss: mtu - 60 },
      }, l.ipsec);
      return IPPROTO_DONE;
    }
    const child = new TcpCb(this, ctx.dst.slice(), seg.dport, ctx.src.slice(), seg.sport, needsZone(ctx.src) ? ctx.zone : 0);
    this.insert(child);
    if (l.ipsec) this.setIpsecPolicy(child, l.ipsec);
    child.parent = l;
    l.synQueue.add(child);
    child.acceptSyn(seg, this.isn.isn(tuple), mtu);
    return IPPROTO_DONE;
  }

  private findListener(addr: Uint8Array, zone: number, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (!list) return undefined;
    return list.find((l) => !isUnspecified(l.laddr) && in6Equal(l.laddr, 0, addr) && (!l.lzone || l.lzone === zone)) ?? list.find((l) => isUnspecified(l.laddr));
  }

  /** The path MTU towards a peer: PMTU cache, else the outgoing interface's. */
  pathMtu(dst: Uint8Array, zone: number, ifindex: number): number {
    const learned = this.ip6.pmtu.get(dst, needsZone(dst) ? zone : 0);
    const ifp = this.ip6.ifs.get(ifindex);
    const link = ifp ? (this.ip6.if6Of(ifp)?.mtu ?? ifp.mtu) : 1280;
    return Math.max(1280, Math.min(learned ?? link, link, 65535));
  }

  // ---- ICMPv6 errors (RFC 5927) ---------------------------------------------------

  private ctlinput(e: Icmp6ErrorInfo): void {
    const q = e.quoted;
    if (e.upperOff + 8 > q.length) return;
    const sport = (q[e.upperOff]! << 8) | q[e.upperOff + 1]!;
    const dport = (q[e.upperOff + 2]! << 8) | q[e.upperOff + 3]!;
    const seq = ((q[e.upperOff + 4]! << 24) | (q[e.upperOff + 5]! << 16) | (q[e.upperOff + 6]! << 8) | q[e.upperOff + 7]!) >>> 0;
    const cb = this.find(e.src, sport, e.dst, dport, e.zone);
    if (!cb) return;
    // RFC 5927 §4.3: the quoted sequence number must be in flight.
    const inFlight = ((seq - cb.sndUna) >>> 0) <= ((cb.sndMax - cb.sndUna) >>> 0);
    if (!inFlight) return;
    if (e.type === 2) {
      cb.pmtuChanged(Math.max(1280, e.param));
      return;
    }
    const code = e.type === 1 ? (e.code === 4 ? 'ECONNREFUSED' : e.code === 0 ? 'ENETUNREACH' : 'EHOSTUNREACH') : 'EHOSTUNREACH';
    // Hard errors (Port Unreachable, RFC 1122 §4.2.3.9) abort a connection that is still opening;
    // everything else, and anything for a synchronized connection, is soft (RFC 5927 §5.2).
    if (cb.state === 'SYN_SENT' && e.type === 1 && e.code === 4) {
      this.stats.c.icmpHardErrors++;
      cb.hardError(code);
      return;
    }
    this.stats.c.icmpSoftErrors++;
    cb.softError = code;
  }
}

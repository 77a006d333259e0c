/**
 * ip6_output: choose the interface and next hop (zone for scoped
 * destinations, the routing table otherwise), choose or check the source,
 * fill the upper-layer checksum if asked, prepend the IPv6 header into the
 * packet's headroom, and hand the packet to lo0 (own addresses, multicast
 * loopback), to the interface (multicast), or to address resolution.
 *
 * Errors come back as errno names the socket layer passes on unchanged.
 *
 * IPsec (`ip6.ipsec`, security.ts) runs once the source is chosen and the
 * checksum filled, before Hop-by-Hop framing and fragmentation: with an
 * empty SPD and no socket policy it costs one test. It returns the whole
 * protected packet; a tunnel's packet is routed to the tunnel's far end.
 * Fragmentation then cuts the protected packet (RFC 4301 §7: IPsec
 * protects whole datagrams).
 */
import { putU16, putU32 } from '../core/bytes.ts';
import { in6Cksum } from '../core/checksum.ts';
import { Pkt } from '../core/pkt.ts';
import { EtherType } from '../link/ether.ts';
import type { Ifnet } from '../link/ifnet.ts';
import { ip6MulticastMac } from '../link/mac.ts';
import { isLinkLocal, isLoopback, isMulticast, isUnspecified, multicastScope } from './addr.ts';
import { IP6OPT, buildOptionsHeader } from './dest6.ts';
import { FRAG_HDR_LEN } from './frag6.ts';
import { IP6_HDR_LEN, emitIp6 } from './header.ts';
import { IPPROTO } from './protosw.ts';
import { IN6_IFF, needsZone } from './ifaddr.ts';
import type { Ip6 } from './ip6.ts';
import { RTF } from './route.ts';
import type { Ip6SecurityOutput, Ip6SocketPolicy } from './security.ts';

/** EACCES: an IPsec discard policy refused the packet. */
export type OutputError = 'EINVAL' | 'ENETUNREACH' | 'EHOSTUNREACH' | 'EADDRNOTAVAIL' | 'EMSGSIZE' | 'ENETDOWN' | 'ENOBUFS' | 'EACCES';

export interface Ip6OutputOpts {
  dst: Uint8Array;
  /** Zone (interface index) of a scoped destination, or of a scoped source. */
  zone?: number;
  /** Source address; chosen by source address selection when absent. */
  src?: Uint8Array | null;
  /** Next header of the payload (the upper-layer protocol). */
  nxt: number;
  /** Hop limit; by default CurHopLimit of the interface (1 for multicast). */
  hlim?: number;
  /** Outgoing interface for multicast (IPV6_MULTICAST_IF), or a forced interface. */
  ifindex?: number;
  /** Loop multicast back to local members (IPV6_MULTICAST_LOOP, default true). */
  mcastLoop?: boolean;
  trafficClass?: number;
  flowLabel?: number;
  /** Offset within the payload of a 16-bit checksum to fill in once the source is known. */
  cksumOff?: number;
  /** UDP's rule: a computed checksum of 0 is sent as 0xffff (RFC 768, RFC 8200 §8.1). */
  cksumZeroIsFfff?: boolean;
  /** Do not fragment: fail with EMSGSIZE instead (IPV6_DONTFRAG, RFC 3542 §11.2). */
  dontFrag?: boolean;
  /** Hop-by-Hop options (complete TLVs, e.g. Router Alert for MLD); padded and framed by output. */
  hopOpts?: Uint8Array;
  /** DAD: the unspecified source is allowed (RFC 4862 §5.4.2). */
  allowUnspecSrc?: boolean;
  /** The sending socket's IPsec policy (bypass / entrust / ipsec …); absent: the system SPD decides. */
  ipsecPolicy?: Ip6SocketPolicy;
}

/** Length of a Hop-by-Hop header carrying `n` bytes of options (padded to 8). */
function hbhLen(n: number): number {
  return Math.ceil((2 + n) / 8) * 8;
}

export function ip6Output(ip6: Ip6, pkt: Pkt, o: Ip6OutputOpts): OutputError | null {
  const s = ip6.stats.c;
  let dst = o.dst;
  if (dst.length !== 16 || isUnspecified(dst)) return 'EINVAL';
  let ifp: Ifnet | undefined;
  let nexthop = dst;
  /** Delivered to ourselves through lo0, as if received on `origin`. */
  let loopTo: Ifnet | null = null;
  let mtu = 0;
  let mcast = isMulticast(dst);

  if (mcast) {
    const scope = multicastScope(dst);
    const idx = o.ifindex || (needsZone(dst) ? o.zone : 0) || 0;
    if (idx) ifp = ip6.ifs.get(idx);
    else if (scope === 1) ifp = ip6.lo;
    else ifp = defaultMulticastIf(ip6, dst);
    if (!ifp) {
      s.noZone++;
      return needsZone(dst) && !idx ? 'EINVAL' : 'ENETUNREACH';
    }
  } else {
    const r = unicastRoute(ip6, dst, o.zone || o.ifindex || 0, o.ifindex || 0);
    if (r === null) return null; // blackhole: dropped without an error
    if (typeof r === 'string') return r;
    ({ ifp, nexthop, loopTo, mtu } = r);
  }
  if (!ifp.up) {
    s.ifDown++;
    return 'ENETDOWN';
  }
  // A disabled interface (duplicated link-local) still carries ND (hop limit 255), so DAD can be retried.
  if (ip6.if6Of(ifp)?.disabled && o.hlim !== 255) {
    s.ifDisabled++;
    return 'ENETDOWN';
  }

  // Source.
  let src: Uint8Array;
  if (o.src && !isUnspecified(o.src)) {
    const ia = ip6.findAddr(o.src, isLinkLocal(o.src) ? ifp.index : 0);
    if (!ia || ia.flags & (IN6_IFF.DUPLICATED | IN6_IFF.ANYCAST) || (ia.flags & IN6_IFF.TENTATIVE && !(ia.flags & IN6_IFF.OPTIMISTIC))) {
      s.badSrcOut++;
      return 'EADDRNOTAVAIL';
    }
    src = ia.addr;
  } else if (o.src && o.allowUnspecSrc) {
    src = o.src;
  } else {
    const ia = ip6.selectSource(dst, loopTo && loopTo !== ip6.lo ? loopTo : ifp);
    if (!ia) {
      s.noSource++;
      return 'EADDRNOTAVAIL';
    }
    src = ia.addr;
  }

  const plen = pkt.len;
  if (o.cksumOff !== undefined) {
    if (o.cksumOff < 0 || o.cksumOff + 2 > plen) throw new RangeError(`ip6Output: checksum offset ${o.cksumOff} outside the payload`);
    const at = pkt.off + o.cksumOff;
    putU16(pkt.buf, at, 0);
    let ck = in6Cksum(pkt.buf, pkt.off, plen, o.nxt, src, dst);
    if (ck === 0 && o.cksumZeroIsFfff) ck = 0xffff;
    putU16(pkt.buf, at, ck);
  }
  const hlim = o.hlim ?? ip6.hopLimitFor(dst, ifp);
  // IPsec output (KAME ipsec6_output_trans/_tunnel): one test while the SPD is empty.
  const sec = ip6.ipsec;
  let sp: Ip6SecurityOutput | null = null;
  if (sec !== null && (sec.spd.active || (o.ipsecPolicy !== undefined && o.ipsecPolicy.kind === 'ipsec'))) {
    const r = sec.output({
      src,
      dst,
      zone: o.zone || ifp.index,
      nxt: o.nxt,
      payload: pkt.data(),
      hlim,
      trafficClass: o.trafficClass ?? 0,
      flowLabel: o.flowLabel ?? 0,
      hopOpts: o.hopOpts ?? null,
      policy: o.ipsecPolicy,
    });
    if (typeof r === 'string') return r; // counted in ipsecstat
    sp = r;
  }
  let unfragLen: number;
  let nxtOff: number;
  let jumbo = false;
  if (sp !== null) {
    pkt = Pkt.adopt(sp.packet);
    unfragLen = sp.unfragLen;
    nxtOff = unfragLen > IP6_HDR_LEN ? IP6_HDR_LEN : 6;
    if (sp.outerDst !== null) {
      // Tunnel mode: the packet now goes to the tunnel's far end.
      dst = sp.outerDst;
      mcast = false;
      const r = unicastRoute(ip6, dst, o.zone || ifp.index, 0);
      if (r === null) return null;
      if (typeof r === 'string') return r;
      ({ ifp, nexthop, loopTo, mtu } = r);
      if (!ifp.up) {
        s.ifDown++;
        return 'ENETDOWN';
      }
    }
  } else {
    // Hop-by-Hop options: the caller's (MLD's Router Alert), and a Jumbo Payload
    // option (RFC 2675) when the payload does not fit the 16-bit length.
    let nxt = o.nxt;
    let opts = o.hopOpts ?? null;
    jumbo = plen + (opts ? hbhLen(opts.length) : 0) > 0xffff;
    if (jumbo) {
      if (plen > 0xffffffff - 64) {
        s.tooBig++;
        return 'EMSGSIZE';
      }
      const j = new Uint8Array(6 + (opts?.length ?? 0));
      j[0] = IP6OPT.JUMBO;
      j[1] = 4;
      if (opts) j.set(opts, 6);
      opts = j;
    }
    if (opts) {
      const h = buildOptionsHeader(nxt, opts);
      const at = pkt.prepend(h.length);
      pkt.buf.set(h, at);
      if (jumbo) putU32(pkt.buf, at + 4, pkt.len);
      nxt = IPPROTO.HOPOPTS;
    }
    const payloadLen = jumbo ? 0 : pkt.len;
    const at = pkt.prepend(IP6_HDR_LEN);
    emitIp6(
      { trafficClass: o.trafficClass ?? 0, flowLabel: o.flowLabel ?? 0, payloadLen, nextHeader: nxt, hopLimit: hlim, src, dst },
      pkt.buf,
      at,
    );
    if (jumbo) s.jumboOut++;
    unfragLen = IP6_HDR_LEN + (nxt === IPPROTO.HOPOPTS ? (pkt.buf[at + IP6_HDR_LEN + 1]! + 1) * 8 : 0);
    nxtOff = nxt === IPPROTO.HOPOPTS ? IP6_HDR_LEN : 6;
  }
  // Path MTU: the route's, the link's, and what Packet Too Big taught us (RFC 8201).
  const outIf = loopTo ? ip6.lo : ifp;
  const linkMtu = ip6.if6Of(outIf)?.mtu ?? outIf.mtu;
  let pmtu = mtu > 0 ? Math.min(mtu, linkMtu) : linkMtu;
  if (!loopTo) {
    const learned = ip6.pmtu.get(dst, mcast || isLinkLocal(dst) ? ifp.index : 0);
    if (learned !== undefined) pmtu = Math.min(pmtu, learned);
  }
  if (pkt.len > pmtu) {
    // Never fragment jumbograms (RFC 2675) or when asked not to (IPV6_DONTFRAG).
    if (jumbo || o.dontFrag) {
      s.cantFrag++;
      return 'EMSGSIZE';
    }
    const frags = fragment(ip6, pkt, unfragLen, nxtOff, pmtu);
    if (!frags) {
      s.cantFrag++;
      return 'EMSGSIZE';
    }
    s.fragmentedOut++;
    s.fragsCreated += frags.length;
    s.localOut++;
    let err: OutputError | null = null;
    for (const f of frags) err = deliver(ip6, f, { ifp, loopTo, mcast, dst, nexthop, mcastLoop: o.mcastLoop !== false }) ?? err;
    return err;
  }
  // Counted once the packet is known to leave: a packet dropped above counts only under its reason.
  s.localOut++;
  return deliver(ip6, pkt, { ifp, loopTo, mcast, dst, nexthop, mcastLoop: o.mcastLoop !== false });
}

interface Hop {
  ifp: Ifnet;
  nexthop: Uint8Array;
  loopTo: Ifnet | null;
  /** The route's MTU (0: the link's). */
  mtu: number;
}

/**
 * The way to a unicast destination: lo0 for ::1 and our own addresses (as
 * received on the interface they belong to), the zone's interface for a
 * link-local one, the routing table otherwise. Null for a blackhole route
 * (dropped silently); `ifindex` forces the interface of a routed destination.
 */
function unicastRoute(ip6: Ip6, dst: Uint8Array, zone: number, ifindex: number): Hop | OutputError | null {
  const s = ip6.stats.c;
  if (isLoopback(dst)) return { ifp: ip6.lo, nexthop: dst, loopTo: ip6.lo, mtu: 0 };
  if (isLinkLocal(dst)) {
    const ifp = zone ? ip6.ifs.get(zone) : undefined;
    if (!ifp) {
      s.noZone++;
      return 'EINVAL';
    }
    return { ifp, nexthop: dst, loopTo: ip6.if6Of(ifp)?.findAddr(dst) ? ifp : null, mtu: 0 };
  }
  const rt = ip6.routes.lookup(dst, 0, ip6.clock.now());
  if (!rt) {
    s.noRoute++;
    return 'ENETUNREACH';
  }
  if (rt.flags & (RTF.REJECT | RTF.BLACKHOLE)) {
    s.noRoute++;
    return rt.flags & RTF.REJECT ? 'EHOSTUNREACH' : null;
  }
  rt.use++;
  if (rt.flags & RTF.LOCAL) {
    const ia = ip6.findAddr(dst, 0);
    const loopTo = ia ? ia.ifp : ip6.lo;
    return { ifp: loopTo, nexthop: dst, loopTo, mtu: rt.mtu };
  }
  const ifp = ifindex ? ip6.ifs.get(ifindex) : ip6.ifs.get(rt.ifindex);
  if (!ifp) {
    s.noRoute++;
    return 'ENETUNREACH';
  }
  return { ifp, nexthop: rt.gateway ?? dst, loopTo: null, mtu: rt.mtu };
}

interface Route {
  ifp: Ifnet;
  loopTo: Ifnet | null;
  mcast: boolean;
  dst: Uint8Array;
  nexthop: Uint8Array;
  mcastLoop: boolean;
}

/** The last step of output: lo0 for ourselves, the interface for multicast, resolution for unicast. */
function deliver(ip6: Ip6, pkt: Pkt, r: Route): OutputError | null {
  const s = ip6.stats.c;
  if (r.loopTo) {
    s.looped++;
    return loopback(ip6, pkt, r.loopTo);
  }
  const ifp = r.ifp;
  if (r.mcast) {
    if (r.mcastLoop && ip6.if6Of(ifp)?.isMember(r.dst)) {
      s.mcastLooped++;
      loopback(ip6, pkt.clone(), ifp);
    }
    // Interface-local multicast never leaves the node (RFC 4291 §2.7).
    if (multicastScope(r.dst) === 1 || ifp === ip6.lo) return null;
    return ifp.output(pkt, EtherType.IPV6, ifp.lladdr ? ip6MulticastMac(r.dst) : null) ? null : drop(ip6);
  }
  if (!ifp.lladdr) return ifp.output(pkt, EtherType.IPV6, null) ? null : drop(ip6);
  if (!ip6.resolver) {
    s.noResolver++;
    return 'EHOSTUNREACH';
  }
  ip6.resolver(ifp, r.nexthop, pkt);
  return null;
}

/**
 * Source fragmentation (RFC 8200 §4.5): the unfragmentable part (IPv6
 * header and Hop-by-Hop options) is repeated in every fragment, the rest is
 * cut in multiples of 8 octets that fit `mtu`. The identification is
 * unpredictable (RFC 7739). Null if not even 8 octets of data fit.
 */
function fragment(ip6: Ip6, pkt: Pkt, unfragLen: number, nxtOff: number, mtu: number): Pkt[] | null {
  const b = pkt.data();
  const per = Math.floor((mtu - unfragLen - FRAG_HDR_LEN) / 8) * 8;
  if (per < 8) return null;
  const nxt = b[nxtOff]!;
  const id = ip6.rng.u32();
  const dataLen = b.length - unfragLen;
  const out: Pkt[] = [];
  for (let off = 0; off < dataLen; off += per) {
    const n = Math.min(per, dataLen - off);
    const more = off + n < dataLen;
    const f = Pkt.alloc(unfragLen + FRAG_HDR_LEN + n);
    const o = f.off;
    f.buf.set(b.subarray(0, unfragLen), o);
    f.buf[o + nxtOff] = IPPROTO.FRAGMENT;
    putU16(f.buf, o + 4, unfragLen - IP6_HDR_LEN + FRAG_HDR_LEN + n);
    const h = o + unfragLen;
    f.buf[h] = nxt;
    f.buf[h + 1] = 0;
    putU16(f.buf, h + 2, off | (more ? 1 : 0));
    putU32(f.buf, h + 4, id);
    f.buf.set(b.subarray(unfragLen + off, unfragLen + off + n), h + FRAG_HDR_LEN);
    f.sndif = pkt.sndif;
    out.push(f);
  }
  return out;
}

/** Hands a packet for ourselves to lo0, remembering the interface it is "received" on. */
function loopback(ip6: Ip6, pkt: Pkt, origin: Ifnet): OutputError | null {
  pkt.sndif = origin.index;
  return ip6.lo.output(pkt, EtherType.IPV6, null) ? null : drop(ip6);
}

function drop(ip6: Ip6): OutputError {
  ip6.stats.c.oDropped++;
  return 'ENOBUFS';
}

/** Without IPV6_MULTICAST_IF: the interface of a route to the group, else the first up interface with a link address. */
function defaultMulticastIf(ip6: Ip6, dst: Uint8Array): Ifnet | undefined {
  const rt = ip6.routes.lookup(dst, 0, ip6.clock.now());
  if (rt) return ip6.ifs.get(rt.ifindex);
  return ip6.ifs.list().find((i) => i.up && i.lladdr !== null);
}


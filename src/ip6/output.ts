/**
 * ip6_output: choose the interface and next hop (zone for scoped
 * destinations, the routing table otherwise), choose or check the source,
 * fill the upper-layer checksum if asked, prepend the IPv6 header into the
 * packet's headroom, and hand the packet to lo0 (own addresses, multicast
 * loopback), to the interface (multicast), or to address resolution.
 *
 * Errors come back as errno names the socket layer passes on unchanged.
 * Fragmentation is not done yet (issue 5): larger packets get EMSGSIZE.
 */
import { putU16, putU32 } from '../core/bytes.ts';
import { in6Cksum } from '../core/checksum.ts';
import type { Pkt } from '../core/pkt.ts';
import { EtherType } from '../link/ether.ts';
import type { Ifnet } from '../link/ifnet.ts';
import { ip6MulticastMac } from '../link/mac.ts';
import { isLinkLocal, isLoopback, isMulticast, isUnspecified, multicastScope } from './addr.ts';
import { IP6OPT, buildOptionsHeader } from './dest6.ts';
import { IP6_HDR_LEN, emitIp6 } from './header.ts';
import { IPPROTO } from './protosw.ts';
import { IN6_IFF, needsZone } from './ifaddr.ts';
import type { Ip6 } from './ip6.ts';
import { RTF } from './route.ts';

export type OutputError = 'EINVAL' | 'ENETUNREACH' | 'EHOSTUNREACH' | 'EADDRNOTAVAIL' | 'EMSGSIZE' | 'ENETDOWN' | 'ENOBUFS';

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
  /** Hop-by-Hop options (complete TLVs, e.g. Router Alert for MLD); padded and framed by output. */
  hopOpts?: Uint8Array;
  /** DAD: the unspecified source is allowed (RFC 4862 §5.4.2). */
  allowUnspecSrc?: boolean;
}

export function ip6Output(ip6: Ip6, pkt: Pkt, o: Ip6OutputOpts): OutputError | null {
  const s = ip6.stats.c;
  const dst = o.dst;
  if (dst.length !== 16 || isUnspecified(dst)) return 'EINVAL';
  let ifp: Ifnet | undefined;
  let nexthop = dst;
  /** Delivered to ourselves through lo0, as if received on `origin`. */
  let loopTo: Ifnet | null = null;
  let mtu = 0;
  const mcast = isMulticast(dst);

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
  } else if (isLoopback(dst)) {
    ifp = ip6.lo;
    loopTo = ip6.lo;
  } else if (isLinkLocal(dst)) {
    const zone = o.zone || o.ifindex || 0;
    ifp = zone ? ip6.ifs.get(zone) : undefined;
    if (!ifp) {
      s.noZone++;
      return 'EINVAL';
    }
    if (ip6.if6Of(ifp)?.findAddr(dst)) loopTo = ifp;
  } else {
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
    mtu = rt.mtu;
    if (rt.flags & RTF.LOCAL) {
      const ia = ip6.findAddr(dst, 0);
      loopTo = ia ? ia.ifp : ip6.lo;
      ifp = loopTo;
    } else {
      ifp = o.ifindex ? ip6.ifs.get(o.ifindex) : ip6.ifs.get(rt.ifindex);
      if (rt.gateway) nexthop = rt.gateway;
    }
    if (!ifp) {
      s.noRoute++;
      return 'ENETUNREACH';
    }
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
  // Hop-by-Hop options: the caller's (MLD's Router Alert), and a Jumbo Payload
  // option (RFC 2675) when the payload does not fit the 16-bit length.
  let nxt = o.nxt;
  let opts = o.hopOpts ?? null;
  const hbhLen = (n: number) => Math.ceil((2 + n) / 8) * 8;
  const jumbo = plen + (opts ? hbhLen(opts.length) : 0) > 0xffff;
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
  const hlim = o.hlim ?? ip6.hopLimitFor(dst, ifp);
  const payloadLen = jumbo ? 0 : pkt.len;
  const at = pkt.prepend(IP6_HDR_LEN);
  emitIp6(
    { trafficClass: o.trafficClass ?? 0, flowLabel: o.flowLabel ?? 0, payloadLen, nextHeader: nxt, hopLimit: hlim, src, dst },
    pkt.buf,
    at,
  );
  if (jumbo) s.jumboOut++;
  if (loopTo) {
    s.localOut++;
    s.looped++;
    return loopback(ip6, pkt, loopTo);
  }
  const linkMtu = ip6.if6Of(ifp)?.mtu ?? ifp.mtu;
  if (pkt.len > (mtu > 0 ? Math.min(mtu, linkMtu) : linkMtu)) {
    s.tooBig++;
    return 'EMSGSIZE';
  }
  // Counted once the packet is known to leave: a packet dropped above counts only under its reason.
  s.localOut++;
  if (mcast) {
    if (o.mcastLoop !== false && ip6.if6Of(ifp)?.isMember(dst)) {
      s.mcastLooped++;
      loopback(ip6, pkt.clone(), ifp);
    }
    // Interface-local multicast never leaves the node (RFC 4291 §2.7).
    if (multicastScope(dst) === 1 || ifp === ip6.lo) return null;
    return ifp.output(pkt, EtherType.IPV6, ifp.lladdr ? ip6MulticastMac(dst) : null) ? null : drop(ip6);
  }
  if (!ifp.lladdr) return ifp.output(pkt, EtherType.IPV6, null) ? null : drop(ip6);
  if (!ip6.resolver) {
    s.noResolver++;
    return 'EHOSTUNREACH';
  }
  ip6.resolver(ifp, nexthop, pkt);
  return null;
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


/**
 * ip6_input (RFC 8200): header checks, the delivery decision of a host, and
 * the next-header loop through the protocol switch.
 *
 * Every early return increments one ip6stat counter. No recursion: extension
 * headers return the next header to the loop; a packet whose chain exceeds
 * `maxHeaders` is dropped. An unknown next header gets ICMPv6 Parameter
 * Problem code 1 pointing at the byte that named it (RFC 8200 §4, RFC 4443
 * §3.4).
 */
import { getU16 } from '../core/bytes.ts';
import { type Pkt, PktFlag } from '../core/pkt.ts';
import { IFF, type Ifnet } from '../link/ifnet.ts';
import { isLoopback, isUnspecified } from './addr.ts';
import { IP6_DST, IP6_HDR_LEN, IP6_NXT, IP6_PLEN, IP6_SRC } from './header.ts';
import type { Ip6 } from './ip6.ts';
import { IPPROTO, IPPROTO_DONE, IPPROTO_PENDING, type Ip6InputCtx } from './protosw.ts';

/** Next-header values that are extension headers (not "delivered" to an upper layer). */
const EXTENSION = new Uint8Array(256);
for (const n of [IPPROTO.HOPOPTS, IPPROTO.ROUTING, IPPROTO.FRAGMENT, IPPROTO.DSTOPTS, IPPROTO.AH, IPPROTO.ESP, 108 /* IPComp */]) EXTENSION[n] = 1;

/** ICMPv6 Parameter Problem (RFC 4443 §3.4). */
export const ICMP6_PARAM_PROB = 4;
export const ICMP6_PARAMPROB_NEXTHEADER = 1;

export function ip6Input(ip6: Ip6, rcvIf: Ifnet, pkt: Pkt): void {
  const s = ip6.stats.c;
  s.total++;
  let b = pkt.data();
  if (b.length < IP6_HDR_LEN) {
    s.tooShort++;
    return;
  }
  if (b[0]! >>> 4 !== 6) {
    s.badVersion++;
    return;
  }
  const plen = getU16(b, IP6_PLEN);
  if (IP6_HDR_LEN + plen > b.length) {
    s.tooSmall++;
    return;
  }
  // A payload length of 0 with Hop-by-Hop may be a jumbogram (RFC 2675): dest6 checks and trims it.
  const maybeJumbo = plen === 0 && b[IP6_NXT] === IPPROTO.HOPOPTS;
  if (IP6_HDR_LEN + plen < b.length && !maybeJumbo) {
    // Link-layer padding (Ethernet minimum frame) or trailing junk: trim to the payload length.
    pkt.trimTo(IP6_HDR_LEN + plen);
    b = pkt.data();
  }
  const looped = (pkt.flags & PktFlag.LOOP) !== 0;
  // A looped packet is treated as received on the interface it was sent on (its zone).
  const ifp = looped && pkt.sndif ? (ip6.ifs.get(pkt.sndif) ?? rcvIf) : rcvIf;

  const st6 = ip6.if6Of(ifp);
  if (st6?.disabled && !isNdPacket(b)) {
    s.ifDisabled++;
    return;
  }
  // RFC 4291 §2.7: a multicast address is never a source.
  if (b[IP6_SRC] === 0xff) {
    s.badSource++;
    return;
  }
  // RFC 4291 §2.5.3: ::1 never arrives from a link; interface-local multicast never leaves a node.
  if (!looped && !(rcvIf.flags & IFF.LOOPBACK)) {
    if (isLoopback(b, IP6_SRC) || isLoopback(b, IP6_DST) || (b[IP6_DST] === 0xff && (b[IP6_DST + 1]! & 0x0f) === 1)) {
      s.badScope++;
      return;
    }
  }
  // RFC 4291 §2.5.5.2: IPv4-mapped addresses are not used on the wire (KAME drops them too).
  if (isV4Mapped(b, IP6_SRC) || isV4Mapped(b, IP6_DST)) {
    s.badScope++;
    return;
  }

  let mcast = false;
  if (b[IP6_DST] === 0xff) {
    if (!ip6.if6Of(ifp)?.isMember(b, IP6_DST)) {
      s.notMember++;
      return;
    }
    mcast = true;
    pkt.flags |= PktFlag.MCAST;
  } else {
    if (isUnspecified(b, IP6_DST)) {
      s.notForUs++;
      return;
    }
    const ia = ip6.findAddr(b, ifp.index, IP6_DST);
    if (!ia) {
      s.notForUs++;
      return;
    }
    // RFC 4862 §5.4: packets to a tentative address are silently discarded.
    if (!ia.usable) {
      s.tentative++;
      return;
    }
  }

  const ctx: Ip6InputCtx = {
    pkt,
    ifp,
    b,
    off: IP6_HDR_LEN,
    nxtOff: IP6_NXT,
    src: b.subarray(IP6_SRC, IP6_SRC + 16),
    dst: b.subarray(IP6_DST, IP6_DST + 16),
    zone: ifp.index,
    nest: 0,
    mcast,
  };
  run(ip6, ctx, b[IP6_NXT]!);
}

/** Continues the loop for a packet an input routine held (IPPROTO_PENDING). */
export function ip6Resume(ip6: Ip6, ctx: Ip6InputCtx, nxt: number): void {
  run(ip6, ctx, nxt);
}

function run(ip6: Ip6, ctx: Ip6InputCtx, nxt: number): void {
  const s = ip6.stats.c;
  while (nxt >= 0) {
    if (++ctx.nest > ip6.maxHeaders) {
      s.tooManyHeaders++;
      return;
    }
    // The extension headers walked so far (every byte before this header) stay within the byte cap.
    if (ctx.off - IP6_HDR_LEN > ip6.maxHeaderChain) {
      s.chainTooLong++;
      return;
    }
    if (nxt === IPPROTO.NONE) {
      s.noNextHeader++;
      return;
    }
    const pr = ip6.protosw[nxt];
    if (!pr) {
      s.noProto++;
      ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_NEXTHEADER, ctx.nxtOff);
      return;
    }
    if (!EXTENSION[nxt]) s.delivered++;
    nxt = pr.input(ctx);
  }
  if (nxt === IPPROTO_PENDING) s.pending++;
  else if (nxt !== IPPROTO_DONE) throw new Error(`protocol returned bad next header ${nxt}`);
}

/** ND messages still flow on a disabled interface, so that a retried DAD can succeed. */
function isNdPacket(b: Uint8Array): boolean {
  return b[IP6_NXT] === IPPROTO.ICMPV6 && b.length > IP6_HDR_LEN && (b[IP6_HDR_LEN] === 135 || b[IP6_HDR_LEN] === 136);
}

function isV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/**
 * Hop-by-Hop and Destination Options headers (RFC 8200 §4.3, §4.6): KAME's
 * ip6_hopopts_input and dest6_input.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |  Hdr Ext Len  |                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *   |              Options (TLV: type, length, data) ...            |
 *
 * Hdr Ext Len counts 8-octet units after the first 8. Option types carry
 * their action in the two high-order bits (§4.2): 00 skip, 01 discard,
 * 10 discard and send Parameter Problem code 2, 11 the same unless the
 * destination is multicast. Known options: Pad1, PadN, Router Alert
 * (RFC 2711, recorded for MLD) and Jumbo Payload (RFC 2675, Hop-by-Hop only).
 * Hop-by-Hop must come right after the IPv6 header; anywhere else it is an
 * unrecognised next header (Parameter Problem code 1, §4.1).
 */
import { getU16, getU32 } from '../core/bytes.ts';
import { IP6_HDR_LEN, IP6_PLEN } from './header.ts';
import type { Ip6 } from './ip6.ts';
import { IPPROTO_DONE, type Ip6InputCtx } from './protosw.ts';

export const IP6OPT = {
  PAD1: 0x00,
  PADN: 0x01,
  JUMBO: 0xc2,
  ROUTER_ALERT: 0x05,
} as const;

/** Router Alert values (RFC 2711 §2.1; RFC 2710 for MLD). */
export const IP6OPT_RTALERT_MLD = 0;

const ICMP6_PARAM_PROB = 4;
const PARAMPROB_HEADER = 0;
const PARAMPROB_NEXTHEADER = 1;
const PARAMPROB_OPTION = 2;

/** Input routine for next header 0 (Hop-by-Hop Options). */
export function hbhInput(ip6: Ip6, ctx: Ip6InputCtx): number {
  // §4.1: Hop-by-Hop only immediately after the IPv6 header.
  if (ctx.off !== IP6_HDR_LEN || ctx.nest !== 1) {
    ip6.stats.c.hbhNotFirst++;
    ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_NEXTHEADER, ctx.nxtOff);
    return IPPROTO_DONE;
  }
  return optionsInput(ip6, ctx, true);
}

/** Input routine for next header 60 (Destination Options). */
export function dstOptsInput(ip6: Ip6, ctx: Ip6InputCtx): number {
  return optionsInput(ip6, ctx, false);
}

/**
 * Length in bytes of the extension header at ctx.off whose Hdr Ext Len counts
 * 8-octet units after the first 8 (options and routing headers), or -1 —
 * counted as extTooShort — when the packet is shorter than `minFixed` bytes
 * from there or than the header says.
 */
export function extHeaderLength(ip6: Ip6, ctx: Ip6InputCtx, minFixed: number): number {
  const b = ctx.b;
  const off = ctx.off;
  if (off + minFixed > b.length || off + (b[off + 1]! + 1) * 8 > b.length) {
    ip6.stats.c.extTooShort++;
    return -1;
  }
  return (b[off + 1]! + 1) * 8;
}

function optionsInput(ip6: Ip6, ctx: Ip6InputCtx, hbh: boolean): number {
  const s = ip6.stats.c;
  const b = ctx.b;
  const off = ctx.off;
  const len = extHeaderLength(ip6, ctx, 2);
  if (len < 0) return IPPROTO_DONE;
  let jumbo = false;
  const end = off + len;
  for (let p = off + 2; p < end; ) {
    const type = b[p]!;
    if (type === IP6OPT.PAD1) {
      p++;
      continue;
    }
    if (p + 2 > end || p + 2 + b[p + 1]! > end) {
      // An option running past its header: the header is malformed. The pointer names the
      // length byte, or the type when the header ends before its length byte.
      s.badOptLen++;
      ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, p + 2 > end ? p : p + 1);
      return IPPROTO_DONE;
    }
    const olen = b[p + 1]!;
    switch (type) {
      case IP6OPT.PADN:
        break;
      case IP6OPT.ROUTER_ALERT:
        if (olen !== 2) {
          s.badOptLen++;
          ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, p + 1);
          return IPPROTO_DONE;
        }
        ctx.routerAlert = getU16(b, p + 2);
        break;
      case IP6OPT.JUMBO:
        if (!hbh) return unknownOption(ip6, ctx, p);
        if (olen !== 4 || ((p - off) & 3) !== 2) {
          // RFC 2675 §2: alignment 4n+2, length 4.
          s.badOptLen++;
          ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, p + 1);
          return IPPROTO_DONE;
        }
        // One Jumbo Payload option at most: a second one would make the length ambiguous.
        if (jumbo) {
          s.badJumbo++;
          ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, p);
          return IPPROTO_DONE;
        }
        if (!jumboCheck(ip6, ctx, p)) return IPPROTO_DONE;
        jumbo = true;
        break;
      default:
        if (unknownOption(ip6, ctx, p) === IPPROTO_DONE) return IPPROTO_DONE;
    }
    p += 2 + olen;
  }
  // RFC 2675 §3: payload length 0 with a Hop-by-Hop header but no Jumbo option. Whatever
  // follows the IPv6 header then lies beyond the payload length (link padding, even when it
  // happens to hold exactly one well-formed header): never process it.
  if (hbh && !jumbo && getU16(b, IP6_PLEN) === 0 && ctx.jumboLen === undefined) {
    s.badJumbo++;
    ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, IP6_PLEN);
    return IPPROTO_DONE;
  }
  const nxt = b[off]!;
  ctx.nxtOff = off;
  ctx.off = end;
  return nxt;
}

/** §4.2 actions for an option we do not know. Returns DONE when the packet is dropped, else 0. */
function unknownOption(ip6: Ip6, ctx: Ip6InputCtx, p: number): number {
  const s = ip6.stats.c;
  switch (ctx.b[p]! >>> 6) {
    case 0:
      s.optSkipped++;
      return 0;
    case 1:
      s.optDiscard++;
      return IPPROTO_DONE;
    case 2:
      s.optDiscard++;
      ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_OPTION, p);
      return IPPROTO_DONE;
    default:
      s.optDiscard++;
      if (!ctx.mcast) ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_OPTION, p);
      return IPPROTO_DONE;
  }
}

/**
 * RFC 2675 §3 checks of a Jumbo Payload option at `p`: the IPv6 payload
 * length must be 0 and the jumbo length at least 65,536 and within the data
 * received (ip6_input kept the packet untrimmed for this). Trims link padding.
 */
function jumboCheck(ip6: Ip6, ctx: Ip6InputCtx, p: number): boolean {
  const s = ip6.stats.c;
  const b = ctx.b;
  if (getU16(b, IP6_PLEN) !== 0) {
    s.badJumbo++;
    ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, p);
    return false;
  }
  const jlen = getU32(b, p + 2);
  if (jlen <= 0xffff) {
    s.badJumbo++;
    ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, PARAMPROB_HEADER, p + 2);
    return false;
  }
  const have = b.length - IP6_HDR_LEN;
  if (jlen > have) {
    // KAME's "data size < data length".
    s.jumboTooSmall++;
    return false;
  }
  if (jlen < have) {
    ctx.pkt.trimTo(IP6_HDR_LEN + jlen);
    ctx.b = ctx.pkt.data();
  }
  ctx.jumboLen = jlen;
  s.jumbograms++;
  return true;
}

/**
 * Builds an options header body (the bytes after next header and length are
 * filled by the caller): the given options padded with PadN/Pad1 to a
 * multiple of 8 bytes in all. `options` are complete TLVs.
 */
export function buildOptionsHeader(nxt: number, options: Uint8Array): Uint8Array {
  const total = Math.ceil((2 + options.length) / 8) * 8;
  const h = new Uint8Array(total);
  h[0] = nxt;
  h[1] = total / 8 - 1;
  h.set(options, 2);
  const pad = total - 2 - options.length;
  if (pad === 1) h[2 + options.length] = IP6OPT.PAD1;
  else if (pad > 1) {
    h[2 + options.length] = IP6OPT.PADN;
    h[3 + options.length] = pad - 2;
  }
  return h;
}

/** The Router Alert option TLV (RFC 2711), value 0 for MLD. */
export function routerAlertOption(value = IP6OPT_RTALERT_MLD): Uint8Array {
  return Uint8Array.of(IP6OPT.ROUTER_ALERT, 2, value >>> 8, value & 0xff);
}

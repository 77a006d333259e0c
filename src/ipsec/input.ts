/**
 * The ESP, AH and IPComp input routines for the protocol switch (KAME's
 * esp6_input, ah6_input, ipcomp6_input): next headers 50, 51 and 108 in
 * ip6's next-header loop; and IPv6-in-IPv6 (41) from an IPComp tunnel's
 * far end.
 *
 * Each routine reads the SPI, finds the SA by (SPI, destination, protocol),
 * and runs esp.ts/ah.ts. Then:
 *   - transport mode: ESP's plaintext already sits where the ESP header was
 *     (esp.ts writes it there), so the routine only rewrites the next-header
 *     byte that named ESP, the payload length, trims the packet and returns
 *     the inner next header: the loop goes on in place. AH is skipped
 *     (`ctx.off` moves past it) and its next header returned.
 *   - tunnel mode: the inner packet (trimmed to its own length, dropping any
 *     traffic-flow-confidentiality padding, RFC 4303 §2.7) is handed to
 *     `hooks.reinput`, which runs ip6 input on it as a new packet received
 *     on the same interface (KAME requeues it the same way); the routine
 *     returns DONE.
 * The packet is marked PktFlag.DECRYPTED (ESP) or PktFlag.AUTHED (AH); the
 * flags travel with the inner packet, and the upper layer's inbound policy
 * check (`Ipsec.inputAllowed`) reads them.
 *
 * Tunnel egress: before the inner packet goes back to ip6 input, its ECN
 * field takes the outer one per RFC 6040 §4.2 (ecn.ts; outer CE over a
 * Not-ECT inner packet is dropped, inEcnDrop); its DSCP and hop limit are
 * left as they are.
 *
 * IPComp (RFC 3173 §3): the SA is found by (CPI, destination, 108); the
 * decompressed payload replaces the IPComp header and compressed data in a
 * new buffer (the headers before it copied), the byte that named IPComp
 * names the next header, and the loop goes on. A tunnel-mode IPComp
 * packet then has next header 41, like the uncompressed packets of that
 * tunnel (§2.2): `ip6in6Input` takes IPv6-in-IPv6 from the far end of an
 * IPComp tunnel SA and hands the inner packet on, as ESP's tunnel mode
 * does. IPComp sets no flag: it protects nothing, and the inbound policy
 * check never requires it.
 *
 * Asynchronous crypto (the FAST_IPSEC continuation): with `hooks.defer`, the
 * routine returns IPPROTO_PENDING and does the crypto when `defer` runs its
 * callback, then calls `hooks.resume(ctx, nxt)` to continue the loop. The
 * packet must own its buffer by then (copy a driver-borrowed frame first).
 */
import { getU32, putU16 } from '../core/bytes.ts';
import { Pkt, PktFlag } from '../core/pkt.ts';
import { IP6_DST, IP6_HDR_LEN, IP6_PLEN, IP6_SRC } from '../ip6/header.ts';
import { IPPROTO, IPPROTO_DONE, IPPROTO_PENDING, type Ip6InputCtx } from '../ip6/protosw.ts';
import type { Ifnet } from '../link/ifnet.ts';
import { AH_ICV, AH_SPI, ahDecapsulate } from './ah.ts';
import { ecnDecapsulate, trafficClassAt } from './ecn.ts';
import { count } from './env.ts';
import { ESP_HDR_LEN, espDecapsulate } from './esp.ts';
import { IPCOMP_HDR_LEN, ipcompCpi, ipcompDecompress } from './ipcomp.ts';
import type { Ipsec } from './ipsec.ts';
import type { SecAssoc } from './sad.ts';

export interface IpsecInputHooks {
  /** ip6 input for a decapsulated tunnel-mode inner packet (`nxt` 41, or 4 for IPv4), as received on `ifp`. */
  reinput(pkt: Pkt, ifp: Ifnet, nxt: number): void;
  /** Run the crypto later (an asynchronous backend, or a test proving the continuation). */
  defer?: (run: () => void) => void;
  /** Continue the next-header loop of a packet returned PENDING (Ip6.resume). */
  resume?: (ctx: Ip6InputCtx, nxt: number) => void;
}

/** Next header 50. */
export function esp6Input(ipsec: Ipsec, ctx: Ip6InputCtx, hooks: IpsecInputHooks): number {
  const b = ctx.b;
  const off = ctx.off;
  if (off + ESP_HDR_LEN > b.length) return drop(ipsec, 'inBadLength');
  const sa = ipsec.sad.lookupIn(getU32(b, off), ctx.dst, 'esp', ctx.zone);
  if (!sa) return drop(ipsec, 'inNoSa');
  return later(ctx, hooks, () => espFinish(ipsec, sa, ctx, hooks));
}

function espFinish(ipsec: Ipsec, sa: SecAssoc, ctx: Ip6InputCtx, hooks: IpsecInputHooks): number {
  const b = ctx.b;
  const off = ctx.off;
  const r = espDecapsulate(ipsec, sa, b, off, b.length - off);
  if (!r.ok) return IPPROTO_DONE; // counted by esp.ts
  ctx.pkt.flags |= PktFlag.DECRYPTED;
  if (sa.mode === 'tunnel') return tunnelOut(ipsec, ctx, hooks, off, r.value.payload.length, r.value.nxt);
  b[ctx.nxtOff] = r.value.nxt;
  const end = off + r.value.payload.length;
  ctx.pkt.trimTo(end);
  if (ctx.jumboLen !== undefined) ctx.jumboLen = end - IP6_HDR_LEN;
  else putU16(b, IP6_PLEN, end - IP6_HDR_LEN);
  ctx.b = ctx.pkt.data();
  return r.value.nxt;
}

/** Next header 51. */
export function ah6Input(ipsec: Ipsec, ctx: Ip6InputCtx, hooks: IpsecInputHooks): number {
  const b = ctx.b;
  const off = ctx.off;
  if (off + AH_ICV > b.length) return drop(ipsec, 'inBadLength');
  const sa = ipsec.sad.lookupIn(getU32(b, off + AH_SPI), ctx.dst, 'ah', ctx.zone);
  if (!sa) return drop(ipsec, 'inNoSa');
  return later(ctx, hooks, () => ahFinish(ipsec, sa, ctx, hooks));
}

function ahFinish(ipsec: Ipsec, sa: SecAssoc, ctx: Ip6InputCtx, hooks: IpsecInputHooks): number {
  const off = ctx.off;
  const r = ahDecapsulate(ipsec, sa, ctx.b, off);
  if (!r.ok) return IPPROTO_DONE; // counted by ah.ts
  ctx.pkt.flags |= PktFlag.AUTHED;
  const inner = off + r.value.len;
  if (sa.mode === 'tunnel') return tunnelOut(ipsec, ctx, hooks, inner, ctx.b.length - inner, r.value.nxt);
  ctx.nxtOff = off;
  ctx.off = inner;
  return r.value.nxt;
}

/** Next header 108 (RFC 3173 §3): decompresses in place of the IPComp header and goes on with the loop. */
export function ipcomp6Input(ipsec: Ipsec, ctx: Ip6InputCtx): number {
  const b = ctx.b;
  const off = ctx.off;
  if (off + IPCOMP_HDR_LEN > b.length) return drop(ipsec, 'inBadLength');
  const sa = ipsec.sad.lookupIpcompIn(ipcompCpi(b, off), ctx.dst, ctx.zone);
  if (!sa) return drop(ipsec, 'inNoSa');
  // The whole packet must still fit an IPv6 payload length.
  const r = ipcompDecompress(ipsec, b, off, b.length, 0xffff - (off - IP6_HDR_LEN));
  if (!r.ok) return IPPROTO_DONE; // counted by ipcomp.ts
  const { nxt, data } = r.value;
  sa.account(data.length, ipsec.clock.now());
  const pkt = Pkt.alloc(off + data.length);
  const out = pkt.buf;
  out.set(b.subarray(0, off), pkt.off);
  out.set(data, pkt.off + off);
  out[pkt.off + ctx.nxtOff] = nxt;
  if (ctx.jumboLen !== undefined) ctx.jumboLen = off + data.length - IP6_HDR_LEN;
  else putU16(out, pkt.off + IP6_PLEN, off + data.length - IP6_HDR_LEN);
  pkt.rcvif = ctx.pkt.rcvif;
  pkt.sndif = ctx.pkt.sndif;
  pkt.flags = ctx.pkt.flags;
  pkt.llSrc = ctx.pkt.llSrc;
  pkt.llDst = ctx.pkt.llDst;
  const nb = pkt.data();
  ctx.pkt = pkt;
  ctx.b = nb;
  ctx.src = nb.subarray(IP6_SRC, IP6_SRC + 16);
  ctx.dst = nb.subarray(IP6_DST, IP6_DST + 16);
  ipsec.stats.c.inSuccess++;
  return nxt;
}

/**
 * Next header 41: IPv6-in-IPv6 from the far end of an IPComp tunnel SA (a
 * payload the peer did not compress, RFC 3173 §2.2) or decompressed from
 * one, handed to ip6 input like ESP's tunnel mode. 'unknown' when no IPComp
 * tunnel leads here from the packet's source: the caller treats 41 as the
 * unknown next header it is without IPComp.
 */
export function ip6in6Input(ipsec: Ipsec, ctx: Ip6InputCtx, hooks: IpsecInputHooks): number | 'unknown' {
  if (!ipsec.sad.ipcompTunnel(ctx.src, ctx.dst, ctx.zone)) return 'unknown';
  return tunnelOut(ipsec, ctx, hooks, ctx.off, ctx.b.length - ctx.off, IPPROTO.IPV6);
}

/**
 * Hands the inner packet at `ctx.b[at, at+len)` to ip6 input again, its
 * ECN field combined with the outer one (RFC 6040 §4.2).
 */
function tunnelOut(ipsec: Ipsec, ctx: Ip6InputCtx, hooks: IpsecInputHooks, at: number, len: number, nxt: number): number {
  if (nxt === IPPROTO.IPV6 && len >= IP6_HDR_LEN) {
    switch (ecnDecapsulate(ipsec.ecn, trafficClassAt(ctx.b, 0), ctx.b, at)) {
      case 'drop':
        count(ipsec, 'inEcnDrop');
        return IPPROTO_DONE;
      case 'ce':
        ipsec.stats.c.inEcnCe++;
        break;
      case 'anomaly':
        ipsec.stats.c.inEcnAnomaly++;
        break;
      default:
        break;
    }
  }
  const pkt = ctx.pkt;
  pkt.adj(at);
  let n = len;
  if (nxt === IPPROTO.IPV6 && len >= IP6_HDR_LEN) {
    const d = pkt.data();
    const plen = (d[IP6_PLEN]! << 8) | d[IP6_PLEN + 1]!;
    // Keep a jumbogram's bytes (payload length 0); otherwise drop TFC padding past the inner packet.
    if (plen !== 0 && IP6_HDR_LEN + plen <= len) n = IP6_HDR_LEN + plen;
  }
  pkt.trimTo(n);
  hooks.reinput(pkt, ctx.ifp, nxt);
  return IPPROTO_DONE;
}

function later(ctx: Ip6InputCtx, hooks: IpsecInputHooks, run: () => number): number {
  if (!hooks.defer) return run();
  const resume = hooks.resume;
  if (!resume) throw new Error('ipsec input: defer needs resume');
  hooks.defer(() => {
    const nxt = run();
    if (nxt !== IPPROTO_DONE) resume(ctx, nxt);
  });
  return IPPROTO_PENDING;
}

function drop(ipsec: Ipsec, reason: 'inBadLength' | 'inNoSa'): number {
  count(ipsec, reason);
  return IPPROTO_DONE;
}

/**
 * ICMPv6 error input (RFC 4443 §2.4(b), §3): the quoted packet is walked to
 * its upper-layer header and the error is handed to the protocol that sent
 * it (KAME's pr_ctlinput), registered by next-header value. Packet Too Big
 * also updates the Path MTU cache (RFC 8201 §4). An error is believed only
 * if the packet it quotes came from one of our addresses (RFC 5927 §4.3's
 * first check; transports check the rest: ports, sequence numbers).
 */
import { getU32 } from '../core/bytes.ts';
import { formatIn6, isLinkLocal, isMulticast } from '../ip6/addr.ts';
import { IP6_DST, IP6_HDR_LEN, IP6_SRC } from '../ip6/header.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import { IPPROTO, type Ip6InputCtx } from '../ip6/protosw.ts';
import type { Icmp6Msg } from './icmp6.ts';
import type { Icmp6Stats } from './stats.ts';

export interface Icmp6ErrorInfo {
  type: number;
  code: number;
  /** Pointer (Parameter Problem), MTU (Packet Too Big), else 0. */
  param: number;
  /** Who sent the error, and its zone. */
  from: Uint8Array;
  zone: number;
  /** The quoted packet from its IPv6 header (a view), its source and destination. */
  quoted: Uint8Array;
  src: Uint8Array;
  dst: Uint8Array;
  /** Upper-layer protocol of the quoted packet and the offset of its header in `quoted` (may be truncated). */
  proto: number;
  upperOff: number;
}

export type CtlInput = (e: Icmp6ErrorInfo) => void;

export class ErrorDispatch {
  private readonly handlers: (CtlInput | undefined)[] = new Array(256);

  constructor(
    private readonly ip6: Ip6,
    private readonly stats: Icmp6Stats,
  ) {}

  /** Registers the error handler of an upper-layer protocol (one per protocol). */
  on(proto: number, h: CtlInput): void {
    if (this.handlers[proto]) throw new Error(`ICMPv6 errors for protocol ${proto} already handled`);
    this.handlers[proto] = h;
  }

  input(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    const c = this.stats.c;
    const b = ctx.b;
    // 4 bytes of type/code/checksum, 4 of parameter, then at least an IPv6 header.
    if (msg.len < 8 + IP6_HDR_LEN) {
      c.errInTooShort++;
      return;
    }
    const q = b.subarray(msg.off + 8, msg.off + msg.len);
    const src = q.subarray(IP6_SRC, IP6_SRC + 16);
    const dst = q.subarray(IP6_DST, IP6_DST + 16);
    if (q[0]! >>> 4 !== 6 || !this.ip6.findAddr(src, isLinkLocal(src) ? ctx.zone : 0)) {
      c.errInNotOurs++;
      return;
    }
    const param = getU32(b, msg.off + 4);
    const { proto, off } = upperLayer(q);
    if (msg.type === 2) this.packetTooBig(ctx, dst, param, proto);
    const h = this.handlers[proto];
    if (!h) {
      c.errInNoHandler++;
      return;
    }
    c.errInDelivered++;
    h({ type: msg.type, code: msg.code, param, from: ctx.src.slice(), zone: ctx.zone, quoted: q, src, dst, proto, upperOff: off });
  }

  private packetTooBig(ctx: Ip6InputCtx, dst: Uint8Array, mtu: number, proto: number): void {
    const zone = isLinkLocal(dst) || isMulticast(dst) ? ctx.zone : 0;
    const linkMtu = this.ip6.if6Of(ctx.ifp)?.mtu ?? ctx.ifp.mtu;
    const now = this.ip6.pmtu.update(dst, zone, mtu, linkMtu);
    if (now !== undefined) {
      this.stats.c.pmtuLowered++;
      this.ip6.log.log('info', 'icmp6', `path MTU to ${formatIn6(dst)} is now ${now}`);
      for (const f of this.ip6.hooks.pmtuLowered) f(dst, zone, now, proto);
    }
  }
}

/** Walks the quoted packet's extension headers (bounded) to the upper-layer protocol. */
function upperLayer(q: Uint8Array): { proto: number; off: number } {
  let nxt = q[6]!;
  let off = IP6_HDR_LEN;
  for (let i = 0; i < 16; i++) {
    if (nxt === IPPROTO.HOPOPTS || nxt === IPPROTO.ROUTING || nxt === IPPROTO.DSTOPTS) {
      if (off + 2 > q.length) break;
      const n = q[off]!;
      off += (q[off + 1]! + 1) * 8;
      nxt = n;
    } else if (nxt === IPPROTO.FRAGMENT) {
      if (off + 8 > q.length) break;
      nxt = q[off]!;
      off += 8;
    } else break;
  }
  return { proto: nxt, off };
}

/**
 * The Routing header (RFC 8200 §4.4): KAME's route6_input, for a host that
 * implements no routing type.
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |  Hdr Ext Len  |  Routing Type | Segments Left |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       type-specific data                      |
 *
 * Type 0 is deprecated (RFC 5095) and handled as an unrecognised type.
 * An unrecognised type with Segments Left 0 is ignored and processing goes
 * on with the next header; with Segments Left > 0 the packet is dropped with
 * Parameter Problem code 0 pointing at the Routing Type field.
 */
import { extHeaderLength } from './dest6.ts';
import type { Ip6 } from './ip6.ts';
import { IPPROTO_DONE, type Ip6InputCtx } from './protosw.ts';

export function routingInput(ip6: Ip6, ctx: Ip6InputCtx): number {
  const s = ip6.stats.c;
  const b = ctx.b;
  const off = ctx.off;
  const len = extHeaderLength(ip6, ctx, 4);
  if (len < 0) return IPPROTO_DONE;
  if (b[off + 3] !== 0) {
    if (b[off + 2] === 0) s.rthdr0++;
    else s.rthdrUnknown++;
    ip6.icmpError?.(ctx, 4, 0, off + 2);
    return IPPROTO_DONE;
  }
  s.rthdrIgnored++;
  ctx.nxtOff = off;
  ctx.off = off + len;
  return b[off]!;
}

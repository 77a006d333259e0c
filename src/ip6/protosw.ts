/**
 * The protocol switch (KAME's inet6sw): one input routine per next-header
 * value. ip6_input calls them in a loop, never recursively:
 *
 *     while (nxt !== IPPROTO_DONE) nxt = protosw[nxt].input(ctx)
 *
 * An input routine returns the next header to process (extension headers,
 * after advancing ctx.off and ctx.nxtOff), IPPROTO_DONE when it consumed or
 * dropped the packet, or IPPROTO_PENDING when it kept the packet to resume
 * later (reassembly waiting for fragments, asynchronous crypto): it then
 * calls Ip6.resume(ctx, nxt) when ready.
 */
import type { Pkt } from '../core/pkt.ts';
import type { Ifnet } from '../link/ifnet.ts';

export const IPPROTO_DONE = -1;
export const IPPROTO_PENDING = -2;

export const IPPROTO = {
  HOPOPTS: 0,
  IPV4: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
} as const;

export interface Ip6InputCtx {
  pkt: Pkt;
  /** The interface the packet is treated as received on (the original one for looped packets). */
  ifp: Ifnet;
  /** The packet's bytes from the IPv6 header on (re-derive after changing pkt). */
  b: Uint8Array;
  /** Offset in `b` of the header being processed. */
  off: number;
  /** Offset in `b` of the byte that named the current header (Parameter Problem pointer). */
  nxtOff: number;
  /** Source and destination (views into `b`). */
  src: Uint8Array;
  dst: Uint8Array;
  /** Zone (interface index) of scoped addresses in this packet. */
  zone: number;
  /** Headers processed so far. */
  nest: number;
  /** True if the destination is a multicast group. */
  mcast: boolean;
  /** Value of a Router Alert option in the Hop-by-Hop header (RFC 2711), if any. */
  routerAlert?: number;
  /** Jumbo Payload length (RFC 2675) when the packet is a jumbogram. */
  jumboLen?: number;
}

export type Ip6ProtoInput = (ctx: Ip6InputCtx) => number;

export interface Ip6Protocol {
  readonly name: string;
  readonly input: Ip6ProtoInput;
}

/**
 * The IPsec hooks of the IPv6 layer (KAME's ipsec6_output / ipsec6_in_reject
 * call points), as an interface: src/ipsec sits above ip6 and implements it
 * (src/ipsec/hooks.ts); the stack plugs it in as `ip6.ipsec`. Nothing here
 * knows about SAs or algorithms.
 *
 * Cost when IPsec is unused: output tests `ip6.ipsec !== null &&
 * (ipsec.spd.active || socket policy is 'ipsec')` — a field read or two per
 * packet; the transports do the same before their inbound check.
 */
import type { Ip6InputCtx } from './protosw.ts';

/** A socket's IPsec policy (KAME's IPSEC_POLICY_* on a socket): the shape src/udp and src/tcp keep. */
export type Ip6SocketPolicy = { kind: 'default' } | { kind: 'bypass' } | { kind: 'entrust' } | { kind: 'ipsec'; requests: readonly string[] };

export interface Ip6SecurityOutputArgs {
  src: Uint8Array;
  dst: Uint8Array;
  /** Zone of scoped addresses. */
  zone: number;
  nxt: number;
  /** The upper-layer header and data (checksum already filled). */
  payload: Uint8Array;
  hlim: number;
  trafficClass: number;
  flowLabel: number;
  /** Hop-by-Hop options (complete TLVs, unframed), if any. */
  hopOpts: Uint8Array | null;
  /** The sending socket's policy, if it has one. */
  policy: Ip6SocketPolicy | undefined;
}

export interface Ip6SecurityOutput {
  /** The whole protected IPv6 packet (header first), with headroom before it in its buffer (for Pkt.adopt). */
  packet: Uint8Array;
  /** IPv6 header plus Hop-by-Hop: what fragmentation repeats. */
  unfragLen: number;
  /** The destination to route the packet to when it differs from the inner one (a tunnel's far end), else null. */
  outerDst: Uint8Array | null;
}

/** Errors the hook returns, as errno names (every one already counted in ipsecstat). */
export type Ip6SecurityError = 'EACCES' | 'EHOSTUNREACH' | 'ENOBUFS' | 'EMSGSIZE';

export interface Ip6Security {
  /** False while the SPD has no entry and the default policy is none. */
  readonly spd: { readonly active: boolean };
  /**
   * Outbound: null to send the packet as it is (no policy, bypass, or an
   * ND/MLD message), the protected packet, or an error.
   */
  output(a: Ip6SecurityOutputArgs): Ip6SecurityOutput | null | Ip6SecurityError;
  /**
   * Inbound, after the upper layer found its socket: may the packet in `ctx`
   * (upper-layer header of protocol `proto` at ctx.off) be delivered? A
   * refusal is counted by the hook.
   */
  inputAllowed(ctx: Ip6InputCtx, proto: number, sock?: Ip6SocketPolicy | null): boolean;
  /**
   * Bytes the policy for this flow adds to each packet (for the effective
   * MTU a transport sizes its segments by): 0 when nothing applies.
   */
  overhead(f: { src: Uint8Array; dst: Uint8Array; proto: number; sport: number; dport: number }, sock?: Ip6SocketPolicy | null): number;
  /**
   * Where this flow's packets are really sent: the far end of the outermost
   * tunnel its policy applies, or null (transport mode or no policy: the
   * flow's own destination). Its path MTU bounds the flow's.
   */
  outerDst(f: { src: Uint8Array; dst: Uint8Array; proto: number; sport: number; dport: number }, sock?: Ip6SocketPolicy | null): Uint8Array | null;
}

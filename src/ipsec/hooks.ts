/**
 * IPsec plugged into ip6 (the integration contract of index.ts): the
 * `Ip6Security` hooks ip6_output and the transports call, and the
 * registration of ESP (50), AH (51), IPComp (108) and IPv6-in-IPv6 (41,
 * for an IPComp tunnel's uncompressed packets) in the protocol switch.
 *
 *   output:  ND/MLD messages bypass (never protected); otherwise the SPD (or
 *            the socket's policy) chooses the SAs and ipsecOutput builds the
 *            protected packet. A tunnel's packet is routed by ip6 to the
 *            tunnel's far end.
 *   input:   ESP/AH decapsulate in the next-header loop; a tunnel's inner
 *            packet goes through ip6 input again, as received on the same
 *            interface, flags kept (at most MAX_NESTING tunnels deep: the
 *            re-input is a nested call, KAME requeues instead).
 *            The transports then ask `inputAllowed` with their socket's
 *            policy (RFC 4301 §5.2, KAME ipsec6_in_reject). ND/MLD messages
 *            are never refused, and neither are ICMPv6 errors: Packet Too
 *            Big from a router without an SA must still reach PMTU
 *            discovery (RFC 4301 §6 would have them checked against the
 *            SPD; see IMPLEMENTATION.md).
 */
import { in6Equal } from '../ip6/addr.ts';
import { buildOptionsHeader } from '../ip6/dest6.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import { ICMP6_PARAM_PROB, ICMP6_PARAMPROB_NEXTHEADER } from '../ip6/input.ts';
import { IPPROTO, IPPROTO_DONE, type Ip6InputCtx } from '../ip6/protosw.ts';
import type { Ip6Security, Ip6SecurityError, Ip6SecurityOutput, Ip6SecurityOutputArgs, Ip6SocketPolicy } from '../ip6/security.ts';
import { count } from './env.ts';
import { type IpsecInputHooks, ah6Input, esp6Input, ip6in6Input, ipcomp6Input } from './input.ts';
import { IPPROTO_IPCOMP } from './ipcomp.ts';
import type { Ipsec } from './ipsec.ts';
import { ipsecOutput, saOverhead } from './output.ts';
import { ANY, type FlowKey, type Spd, fillFlow } from './spd.ts';

/** Tunnels inside tunnels: more than this many is dropped (inTooDeep). */
export const MAX_NESTING = 4;

/**
 * ICMPv6 messages IPsec never touches (KAME leaves ND to the policy writer;
 * we exempt it so that no policy can cut a link): MLD query/report/done
 * (130-132, 143), RS, RA, NS, NA, Redirect (133-137).
 */
const ND_MLD = new Uint8Array(256);
for (const t of [130, 131, 132, 133, 134, 135, 136, 137, 143]) ND_MLD[t] = 1;

export function isNdOrMld(icmp6Type: number): boolean {
  return ND_MLD[icmp6Type] === 1;
}

export class IpsecHooks implements Ip6Security {
  readonly spd: Spd;
  private readonly flow: FlowKey = { src: new Uint8Array(16), dst: new Uint8Array(16), proto: ANY, sport: ANY, dport: ANY };

  /**
   * @param tunnelHlim the hop limit of tunnel outer headers (the stack's
   *   default hop limit, net.inet6.ip6.hlim, read at each packet)
   */
  constructor(
    readonly ipsec: Ipsec,
    private readonly tunnelHlim: () => number = () => 64,
  ) {
    this.spd = ipsec.spd;
  }

  output(a: Ip6SecurityOutputArgs): Ip6SecurityOutput | null | Ip6SecurityError {
    if (a.nxt === IPPROTO.ICMPV6 && a.payload.length > 0 && ND_MLD[a.payload[0]!] === 1) return null;
    const ipsec = this.ipsec;
    const f = fillFlow(this.flow, a.src, a.dst, a.nxt, a.payload, 0);
    const sas = ipsec.outputSas(ipsec.policy('out', f, a.policy), a.src, a.dst);
    if (!sas.ok) return sas.error === 'outDiscard' ? 'EACCES' : 'EHOSTUNREACH';
    const list = sas.value;
    if (list.length === 0) return null;
    let outer: Uint8Array | null = null;
    for (const sa of list) if (sa.mode === 'tunnel') outer = sa.dst;
    const r = ipsecOutput(ipsec, list, {
      src: a.src,
      dst: a.dst,
      nxt: a.nxt,
      payload: a.payload,
      hlim: a.hlim,
      trafficClass: a.trafficClass,
      flowLabel: a.flowLabel,
      hbh: a.hopOpts ? buildOptionsHeader(a.nxt, a.hopOpts) : null,
      tunnelHlim: outer ? this.tunnelHlim() : 64,
      ecn: ipsec.ecn,
    });
    if (!r.ok) return r.error === 'outTooBig' ? 'EMSGSIZE' : 'ENOBUFS';
    return { packet: r.value.packet, unfragLen: r.value.unfragLen, outerDst: outer && !in6Equal(outer, 0, a.dst) ? outer : null };
  }

  inputAllowed(ctx: Ip6InputCtx, proto: number, sock?: Ip6SocketPolicy | null): boolean {
    if (proto === IPPROTO.ICMPV6 && ctx.off < ctx.b.length) {
      const type = ctx.b[ctx.off]!;
      if (type < 128 || ND_MLD[type] === 1) return true;
    }
    return this.ipsec.inputAllowed(fillFlow(this.flow, ctx.src, ctx.dst, proto, ctx.b, ctx.off), ctx.pkt.flags, sock);
  }

  /** The outbound policy for a transport's flow (the shared flow key, filled in place). */
  private policyFor(f: OutFlow, sock: Ip6SocketPolicy | null | undefined) {
    const k = this.flow;
    k.src = f.src;
    k.dst = f.dst;
    k.proto = f.proto;
    k.sport = f.sport;
    k.dport = f.dport;
    return this.spd.resolve('out', k, sock, false);
  }

  overhead(f: OutFlow, sock?: Ip6SocketPolicy | null): number {
    const p = this.policyFor(f, sock);
    if (p.action !== 'ipsec') return 0;
    let n = 0;
    let s = f.src;
    let d = f.dst;
    for (const r of p.requests) {
      if (r.mode === 'tunnel') {
        s = r.src!;
        d = r.dst!;
      }
      const sa = this.ipsec.sad.lookupOut(r.proto, r.mode, s, d, r.reqid);
      if (sa) n += saOverhead(sa);
    }
    return n;
  }

  outerDst(f: OutFlow, sock?: Ip6SocketPolicy | null): Uint8Array | null {
    const p = this.policyFor(f, sock);
    if (p.action !== 'ipsec') return null;
    let d: Uint8Array | null = null;
    for (const r of p.requests) if (r.mode === 'tunnel' && r.dst) d = r.dst;
    return d;
  }
}

/** A transport's flow as overhead() and outerDst() take it. */
type OutFlow = { src: Uint8Array; dst: Uint8Array; proto: number; sport: number; dport: number };

export interface AttachOptions {
  /**
   * Run ESP/AH crypto later (the FAST_IPSEC continuation): the input
   * routines return PENDING and resume the next-header loop when `defer`
   * runs them. Absent: synchronous.
   */
  defer?: (run: () => void) => void;
}

/** Plugs `ipsec` into `ip6`: the hooks, and ESP/AH/IPComp/IPv6-in-IPv6 in the protocol switch. */
export function attachIpsec(ip6: Ip6, ipsec: Ipsec, o: AttachOptions = {}): IpsecHooks {
  const hooks = new IpsecHooks(ipsec, () => ip6.defaultHopLimit);
  ip6.ipsec = hooks;
  let depth = 0;
  const inHooks: IpsecInputHooks = {
    reinput(pkt, ifp, nxt) {
      if (nxt !== IPPROTO.IPV6) {
        count(ipsec, 'inNoIp4');
        return;
      }
      if (depth >= MAX_NESTING) {
        count(ipsec, 'inTooDeep');
        return;
      }
      depth++;
      try {
        ip6.input(ifp, pkt);
      } finally {
        depth--;
      }
    },
    ...(o.defer ? { defer: o.defer, resume: (ctx: Ip6InputCtx, nxt: number) => ip6.resume(ctx, nxt) } : {}),
  };
  ip6.registerProtocol(IPPROTO.ESP, { name: 'esp', input: (ctx) => esp6Input(ipsec, ctx, inHooks) });
  ip6.registerProtocol(IPPROTO.AH, { name: 'ah', input: (ctx) => ah6Input(ipsec, ctx, inHooks) });
  ip6.registerProtocol(IPPROTO_IPCOMP, { name: 'ipcomp', input: (ctx) => ipcomp6Input(ipsec, ctx) });
  // IPv6-in-IPv6: only an IPComp tunnel's uncompressed packets; anything else is an unknown next header, as before.
  ip6.registerProtocol(IPPROTO.IPV6, {
    name: 'ipv6-in-ipv6',
    input: (ctx) => {
      const r = ip6in6Input(ipsec, ctx, inHooks);
      if (r === 'unknown') {
        ip6.stats.c.noProto++;
        ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_NEXTHEADER, ctx.nxtOff);
        return IPPROTO_DONE;
      }
      return r;
    },
  });
  return hooks;
}

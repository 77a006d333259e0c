/**
 * ICMPv6 (RFC 4443): input with checksum verification and dispatch by type,
 * output with the checksum filled in by ip6_output once the source is known,
 * echo reply, the echo request API (echo.ts), and error generation with the
 * §2.4 rules and a token-bucket rate limit (§2.4(f)).
 *
 * ND, MLD and the transports plug in by registering handlers per type; this
 * module imports none of them.
 */
import { getU16, putU16 } from '../core/bytes.ts';
import { in6Cksum } from '../core/checksum.ts';
import { DEFAULT_HEADROOM, Pkt, PktFlag } from '../core/pkt.ts';
import { isMulticast, isUnspecified } from '../ip6/addr.ts';
import { IP6_HDR_LEN } from '../ip6/header.ts';
import type { Ip6 } from '../ip6/ip6.ts';
import type { OutputError } from '../ip6/output.ts';
import { IPPROTO, IPPROTO_DONE, type Ip6InputCtx } from '../ip6/protosw.ts';
import { ErrorDispatch } from './ctlinput.ts';
import { EchoService } from './echo.ts';
import { type Icmp6Stats, icmp6Counters } from './stats.ts';
import { ICMP6_HDR_LEN, Icmp6Type } from './wire.ts';

/** A received message: `b[off..off+len)` is the ICMPv6 message, header included. */
export interface Icmp6Msg {
  type: number;
  code: number;
  off: number;
  len: number;
}

export type Icmp6Handler = (ctx: Ip6InputCtx, msg: Icmp6Msg) => void;

export interface Icmp6SendOpts {
  type: number;
  code: number;
  /** The message after the 4-byte type/code/checksum header. */
  body: Uint8Array;
  dst: Uint8Array;
  zone?: number;
  src?: Uint8Array | null;
  hlim?: number;
  ifindex?: number;
  allowUnspecSrc?: boolean;
  /** Loop multicast back to local members (default true; ND turns it off). */
  mcastLoop?: boolean;
  /** Hop-by-Hop options (complete TLVs), e.g. Router Alert for MLD (RFC 3810 §5). */
  hopOpts?: Uint8Array;
  /** Room for extension headers in front. */
  headroom?: number;
}

/** Minimum IPv6 MTU: an error message never exceeds it (RFC 4443 §2.4(c)). */
export const IPV6_MIN_MTU = 1280;

export interface RateLimit {
  /** Tokens added per second (error messages per second on average). */
  ratePerSec: number;
  /** Bucket size (burst). */
  burst: number;
}

export class Icmp6 {
  readonly stats: Icmp6Stats = icmp6Counters();
  /** Per-type counts of messages received and sent. */
  readonly inHist = new Float64Array(256);
  readonly outHist = new Float64Array(256);
  readonly echo: EchoService;
  /** Received errors, handed to the protocol that sent the quoted packet. */
  readonly errors: ErrorDispatch;
  /** Reply to echo requests (sysctl-like switch, default on). */
  echoReplyEnabled = true;
  private readonly handlers: (Icmp6Handler | undefined)[] = new Array(256);
  private errLimit: RateLimit = { ratePerSec: 100, burst: 10 };
  private tokens = 10;
  private lastRefill = 0;

  constructor(readonly ip6: Ip6) {
    ip6.registerProtocol(IPPROTO.ICMPV6, { name: 'icmp6', input: (ctx) => this.input(ctx) });
    ip6.icmpError = (ctx, type, code, param) => this.error(ctx, type, code, param);
    this.echo = new EchoService(this);
    this.on(Icmp6Type.ECHO_REQUEST, (ctx, msg) => this.echoRequest(ctx, msg));
    this.on(Icmp6Type.ECHO_REPLY, (ctx, msg) => this.echo.reply(ctx, msg));
    this.errors = new ErrorDispatch(ip6, this.stats);
    for (const t of [Icmp6Type.DST_UNREACH, Icmp6Type.PACKET_TOO_BIG, Icmp6Type.TIME_EXCEEDED, Icmp6Type.PARAM_PROB]) {
      this.on(t, (ctx, msg) => this.errors.input(ctx, msg));
    }
    this.errors.on(IPPROTO.ICMPV6, (e) => this.echo.error(e));
    this.lastRefill = ip6.clock.now();
  }

  /** Registers the handler of one message type (one per type). */
  on(type: number, h: Icmp6Handler): void {
    if (this.handlers[type]) throw new Error(`ICMPv6 type ${type} already handled`);
    this.handlers[type] = h;
  }

  setRateLimit(r: RateLimit): void {
    if (!(r.ratePerSec >= 0) || !(r.burst >= 0)) throw new RangeError('rate limit: rate and burst must be >= 0');
    // Tokens earned so far are earned at the old rate; the new one counts from now.
    this.refill();
    this.errLimit = { ...r };
    this.tokens = Math.min(this.tokens, r.burst);
  }

  get rateLimit(): Readonly<RateLimit> {
    return this.errLimit;
  }

  private input(ctx: Ip6InputCtx): number {
    const s = this.stats.c;
    const b = ctx.b;
    const len = b.length - ctx.off;
    s.inMsgs++;
    if (len < ICMP6_HDR_LEN) {
      s.tooShort++;
      return IPPROTO_DONE;
    }
    if (in6Cksum(b, ctx.off, len, IPPROTO.ICMPV6, ctx.src, ctx.dst) !== 0) {
      s.badChecksum++;
      return IPPROTO_DONE;
    }
    const type = b[ctx.off]!;
    this.inHist[type]!++;
    // RFC 4301 §5.2: echo and other informational messages a require policy covers must come protected
    // (the hook exempts ND, MLD and errors); the refusal is counted in ipsecstat.
    const sec = this.ip6.ipsec;
    if (sec !== null && sec.spd.active && !sec.inputAllowed(ctx, IPPROTO.ICMPV6)) return IPPROTO_DONE;
    const h = this.handlers[type];
    if (!h) {
      // RFC 4443 §2.4(b): unknown informational messages are silently discarded;
      // unknown errors are passed to the upper layer (none here yet).
      s.noHandler++;
      return IPPROTO_DONE;
    }
    h(ctx, { type, code: b[ctx.off + 1]!, off: ctx.off, len });
    return IPPROTO_DONE;
  }

  /** RFC 4443 §4.2: the reply carries the request's identifier, sequence and data. */
  private echoRequest(ctx: Ip6InputCtx, msg: Icmp6Msg): void {
    if (!this.echoReplyEnabled) return;
    if (msg.len < 8) {
      this.stats.c.tooShort++;
      return;
    }
    const body = ctx.b.slice(msg.off + ICMP6_HDR_LEN, msg.off + msg.len);
    // To a multicast request we answer from a unicast address of the interface (§4.2).
    const src = ctx.mcast ? null : ctx.dst.slice();
    const err = this.send({ type: Icmp6Type.ECHO_REPLY, code: 0, body, dst: ctx.src.slice(), zone: ctx.zone, src });
    if (!err) this.stats.c.echoReplies++;
  }

  /** Builds and sends one message; returns null or the output error. */
  send(o: Icmp6SendOpts): OutputError | null {
    const pkt = Pkt.alloc(ICMP6_HDR_LEN + o.body.length, o.headroom ?? DEFAULT_HEADROOM);
    const b = pkt.buf;
    b[pkt.off] = o.type;
    b[pkt.off + 1] = o.code;
    putU16(b, pkt.off + 2, 0);
    b.set(o.body, pkt.off + ICMP6_HDR_LEN);
    const e = this.ip6.output(pkt, {
      dst: o.dst,
      zone: o.zone ?? 0,
      src: o.src ?? null,
      nxt: IPPROTO.ICMPV6,
      hlim: o.hlim,
      ifindex: o.ifindex ?? 0,
      cksumOff: 2,
      allowUnspecSrc: o.allowUnspecSrc ?? false,
      mcastLoop: o.mcastLoop ?? true,
      hopOpts: o.hopOpts,
    });
    if (e) {
      this.stats.c.outErrors++;
      return e;
    }
    this.stats.c.outMsgs++;
    this.outHist[o.type]!++;
    return null;
  }

  /**
   * icmp6_error: reports a problem with the received packet in `ctx`,
   * quoting as much of it as fits in the minimum MTU, unchanged. Not sent
   * (and counted) in the cases of RFC 4443 §2.4(e); rate limited (§2.4(f)).
   */
  error(ctx: Ip6InputCtx, type: number, code: number, param: number): void {
    const s = this.stats.c;
    const b = ctx.b;
    // (e.1, e.2) Never about an ICMPv6 error message or a redirect.
    if (isIcmpErrorOrRedirect(b)) {
      s.errAboutError++;
      return;
    }
    // (e.3, e.4) Not to multicast or link-layer multicast destinations, except Packet
    // Too Big and Parameter Problem code 2 (unrecognised option with the "always" bits).
    if ((ctx.mcast || ctx.pkt.flags & (PktFlag.MCAST | PktFlag.BCAST)) && !(type === Icmp6Type.PACKET_TOO_BIG || (type === Icmp6Type.PARAM_PROB && code === 2))) {
      s.errToMulticast++;
      return;
    }
    // (e.5) Not to a source that does not identify a single node.
    if (isUnspecified(ctx.src) || isMulticast(ctx.src)) {
      s.errBadSource++;
      return;
    }
    if (!this.takeToken()) {
      s.errRateLimited++;
      return;
    }
    const quoteLen = Math.min(b.length, IPV6_MIN_MTU - IP6_HDR_LEN - 8);
    const body = new Uint8Array(4 + quoteLen);
    body[0] = (param >>> 24) & 0xff;
    body[1] = (param >>> 16) & 0xff;
    body[2] = (param >>> 8) & 0xff;
    body[3] = param & 0xff;
    body.set(b.subarray(0, quoteLen), 4);
    // icmp6_reflect: answer from the offending packet's destination if it is ours, else let selection choose.
    const src = !ctx.mcast && this.ip6.findAddr(ctx.dst, ctx.zone) ? ctx.dst.slice() : null;
    if (!this.send({ type, code, body, dst: ctx.src.slice(), zone: ctx.zone, src })) s.errSent++;
  }

  private refill(): void {
    const now = this.ip6.clock.now();
    const r = this.errLimit;
    this.tokens = Math.min(r.burst, this.tokens + ((now - this.lastRefill) / 1000) * r.ratePerSec);
    this.lastRefill = now;
  }

  private takeToken(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Whether the packet (IPv6 header at 0) is an ICMPv6 error or redirect, looking past extension headers. */
function isIcmpErrorOrRedirect(b: Uint8Array): boolean {
  let nxt = b[6]!;
  let off = IP6_HDR_LEN;
  for (let i = 0; i < 16; i++) {
    if (nxt === IPPROTO.ICMPV6) {
      if (off >= b.length) return false;
      const t = b[off]!;
      return t < 128 || t === Icmp6Type.REDIRECT;
    }
    if (nxt === IPPROTO.HOPOPTS || nxt === IPPROTO.ROUTING || nxt === IPPROTO.DSTOPTS) {
      if (off + 2 > b.length) return false;
      nxt = b[off]!;
      off += (b[off + 1]! + 1) * 8;
    } else if (nxt === IPPROTO.FRAGMENT) {
      if (off + 8 > b.length) return false;
      // Only the first fragment carries the upper-layer header.
      if ((getU16(b, off + 2) & 0xfff8) !== 0) return false;
      nxt = b[off]!;
      off += 8;
    } else return false;
  }
  return false;
}

/**
 * Fragment reassembly (RFC 8200 §4.5) with the later hardening: overlapping
 * fragments drop the whole datagram (RFC 5722), atomic fragments are
 * processed on their own (RFC 6946), a first fragment must carry the whole
 * header chain (RFC 7112). KAME's frag6.c.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         Identification                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Datagrams wait in queues keyed by (source, destination, identification)
 * for at most 60 s; if the first fragment had arrived, the timeout sends
 * Time Exceeded code 1. Memory is bounded: at most `maxQueues` datagrams,
 * `maxBytes` buffered in all and `maxFragsPerQueue` fragments each; when a
 * bound is hit the oldest datagram is evicted first. Every drop is counted.
 */
import { getU16, getU32, putU16 } from '../core/bytes.ts';
import type { Timer } from '../core/clock.ts';
import { Pkt, PktFlag } from '../core/pkt.ts';
import { in6Equal } from './addr.ts';
import { IP6_DST, IP6_HDR_LEN, IP6_PLEN, IP6_SRC } from './header.ts';
import { in6Hash } from './in6map.ts';
import type { Ip6 } from './ip6.ts';
import { IPPROTO, IPPROTO_DONE, IPPROTO_PENDING, type Ip6InputCtx } from './protosw.ts';

export const FRAG_HDR_LEN = 8;
/** RFC 8200 §4.5: 60 seconds to reassemble. */
export const REASS_TIMEOUT_MS = 60_000;

export interface ReassemblyLimits {
  maxQueues: number;
  maxBytes: number;
  maxFragsPerQueue: number;
  timeoutMs: number;
}

interface Frag {
  off: number;
  len: number;
  data: Uint8Array;
}

interface Queue {
  key: number;
  src: Uint8Array;
  dst: Uint8Array;
  id: number;
  zone: number;
  frags: Frag[];
  bytes: number;
  /** Total payload length once the last fragment (M = 0) arrived. */
  total: number;
  /** The first fragment's unfragmentable part and the offset of its next-header byte. */
  unfrag: Uint8Array | null;
  unfragNxtOff: number;
  nxt: number;
  /** The start of the first fragment as received, as much as Time Exceeded quotes. */
  first: Uint8Array | null;
  /** RFC 5722: an overlap was seen; later fragments of this datagram are dropped too. */
  dead: boolean;
  timer: Timer;
  ifindex: number;
}

const ICMP6_PARAM_PROB = 4;
const ICMP6_TIME_EXCEEDED = 3;
/** What Time Exceeded can quote of the first fragment (RFC 4443 §2.4(c): 1280 - 40 - 8); no need to keep more. */
const TIME_EXCEEDED_QUOTE = 1280 - IP6_HDR_LEN - 8;

export class Reassembly {
  readonly limits: ReassemblyLimits;
  /** In arrival order: the first entry is the oldest (evicted first). */
  private readonly queues = new Map<number, Queue[]>();
  private readonly order: Queue[] = [];
  private bytes = 0;

  constructor(
    private readonly ip6: Ip6,
    limits: Partial<ReassemblyLimits> = {},
  ) {
    this.limits = { maxQueues: 256, maxBytes: 4 << 20, maxFragsPerQueue: 256, timeoutMs: REASS_TIMEOUT_MS, ...limits };
  }

  get queueCount(): number {
    return this.order.length;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  /** Input routine for next header 44. */
  input(ctx: Ip6InputCtx): number {
    const s = this.ip6.stats.c;
    const b = ctx.b;
    const off = ctx.off;
    s.fragments++;
    if (off + FRAG_HDR_LEN > b.length) {
      s.extTooShort++;
      return IPPROTO_DONE;
    }
    // RFC 2675 §3: no Fragment header in a jumbogram.
    if (ctx.jumboLen !== undefined) {
      s.badJumbo++;
      this.ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, 0, off);
      return IPPROTO_DONE;
    }
    const nxt = b[off]!;
    const offlg = getU16(b, off + 2);
    const fragOff = offlg & 0xfff8;
    const more = (offlg & 1) === 1;
    const id = getU32(b, off + 4);
    const dataOff = off + FRAG_HDR_LEN;
    const fragLen = b.length - dataOff;

    // RFC 6946: an atomic fragment is processed as a whole packet, outside any queue.
    if (fragOff === 0 && !more) {
      s.atomicFrags++;
      ctx.nxtOff = off;
      ctx.off = dataOff;
      return nxt;
    }
    // §4.5: a fragment that is not the last must be a multiple of 8 octets long.
    if (more && (fragLen === 0 || fragLen % 8 !== 0)) {
      s.fragBadLen++;
      this.ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, 0, IP6_PLEN);
      return IPPROTO_DONE;
    }
    // §4.5: the packet reassembled from this fragment (the headers before the Fragment header,
    // then offset + length of the fragmentable part) would exceed a payload of 65,535 octets.
    if (off - IP6_HDR_LEN + fragOff + fragLen > 0xffff) {
      s.fragTooBig++;
      this.ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, 0, off + 2);
      return IPPROTO_DONE;
    }
    // RFC 7112: the first fragment carries the whole header chain.
    if (fragOff === 0 && !chainComplete(b, dataOff, nxt)) {
      s.fragIncompleteChain++;
      this.ip6.icmpError?.(ctx, ICMP6_PARAM_PROB, 3, 0);
      return IPPROTO_DONE;
    }

    let q = this.find(ctx.src, ctx.dst, id, ctx.zone);
    if (!q) {
      q = this.create(ctx, id);
      if (!q) return IPPROTO_DONE;
    }
    if (q.dead) {
      s.fragOverlap++;
      return IPPROTO_DONE;
    }
    const end = fragOff + fragLen;
    // The last fragment fixes the total; fragments past it, or a different total, are inconsistent.
    if (!more) {
      if ((q.total >= 0 && q.total !== end) || q.frags.some((f) => f.off + f.len > end)) return this.kill(q, 'fragInconsistent');
      q.total = end;
    } else if (q.total >= 0 && end > q.total) {
      return this.kill(q, 'fragInconsistent');
    }
    // Exact duplicates are dropped alone (RFC 8200 §4.5 allows it); any other overlap kills the datagram (RFC 5722).
    for (const f of q.frags) {
      if (f.off === fragOff && f.len === fragLen && bytesSame(f.data, b, dataOff)) {
        s.fragDup++;
        return IPPROTO_DONE;
      }
      if (fragOff < f.off + f.len && f.off < end) return this.kill(q, 'fragOverlap');
    }
    if (q.frags.length >= this.limits.maxFragsPerQueue) return this.kill(q, 'fragTooMany');
    while (this.bytes + fragLen > this.limits.maxBytes && this.order.length > 0 && this.order[0] !== q) this.evictOldest();
    if (this.bytes + fragLen > this.limits.maxBytes) return this.kill(q, 'fragNoSpace');
    q.frags.push({ off: fragOff, len: fragLen, data: b.slice(dataOff) });
    q.bytes += fragLen;
    this.bytes += fragLen;
    if (fragOff === 0) {
      q.unfrag = b.slice(0, off);
      q.unfragNxtOff = ctx.nxtOff;
      q.nxt = nxt;
      q.first = b.slice(0, Math.min(b.length, TIME_EXCEEDED_QUOTE));
    }
    if (q.total < 0 || !q.unfrag) return IPPROTO_PENDING;
    // Complete when the fragments cover [0, total) without gaps.
    q.frags.sort((a, c) => a.off - c.off);
    let covered = 0;
    for (const f of q.frags) {
      if (f.off !== covered) return IPPROTO_PENDING;
      covered += f.len;
    }
    if (covered !== q.total) return IPPROTO_PENDING;
    // The first fragment's unfragmentable part may be longer than the other fragments' were.
    if (q.unfrag.length - IP6_HDR_LEN + q.total > 0xffff) return this.kill(q, 'fragTooBig');
    return this.complete(q, ctx);
  }

  /** Builds the reassembled packet and hands it back to the loop in `ctx`. */
  private complete(q: Queue, ctx: Ip6InputCtx): number {
    const s = this.ip6.stats.c;
    const unfrag = q.unfrag!;
    const pkt = Pkt.alloc(unfrag.length + q.total);
    const out = pkt.buf;
    out.set(unfrag, pkt.off);
    for (const f of q.frags) out.set(f.data, pkt.off + unfrag.length + f.off);
    // The header that pointed at the Fragment header now points at what followed it.
    out[pkt.off + q.unfragNxtOff] = q.nxt;
    putU16(out, pkt.off + IP6_PLEN, unfrag.length - IP6_HDR_LEN + q.total);
    pkt.rcvif = ctx.pkt.rcvif;
    pkt.sndif = ctx.pkt.sndif;
    pkt.flags = ctx.pkt.flags | PktFlag.REASSEMBLED;
    this.remove(q);
    s.reassembled++;
    const b = pkt.data();
    ctx.pkt = pkt;
    ctx.b = b;
    ctx.src = b.subarray(IP6_SRC, IP6_SRC + 16);
    ctx.dst = b.subarray(IP6_DST, IP6_DST + 16);
    ctx.off = unfrag.length;
    ctx.nxtOff = q.unfragNxtOff;
    return q.nxt;
  }

  private find(src: Uint8Array, dst: Uint8Array, id: number, zone: number): Queue | undefined {
    const key = (in6Hash(src, 0, zone) ^ Math.imul(id, 0x9e3779b1)) >>> 0;
    return this.queues.get(key)?.find((q) => q.id === id && q.zone === zone && in6Equal(q.src, 0, src) && in6Equal(q.dst, 0, dst));
  }

  private create(ctx: Ip6InputCtx, id: number): Queue | undefined {
    while (this.order.length >= this.limits.maxQueues) this.evictOldest();
    const key = (in6Hash(ctx.src, 0, ctx.zone) ^ Math.imul(id, 0x9e3779b1)) >>> 0;
    const q: Queue = {
      key,
      src: ctx.src.slice(),
      dst: ctx.dst.slice(),
      id,
      zone: ctx.zone,
      frags: [],
      bytes: 0,
      total: -1,
      unfrag: null,
      unfragNxtOff: 0,
      nxt: 0,
      first: null,
      dead: false,
      ifindex: ctx.ifp.index,
      timer: this.ip6.clock.timer(this.limits.timeoutMs, () => this.timeout(q)),
    };
    let list = this.queues.get(key);
    if (!list) this.queues.set(key, (list = []));
    list.push(q);
    this.order.push(q);
    return q;
  }

  /** Drops the datagram's fragments; the queue stays (dead) until its timer so that later fragments are dropped too. */
  private kill(q: Queue, reason: 'fragOverlap' | 'fragInconsistent' | 'fragTooMany' | 'fragNoSpace' | 'fragTooBig'): number {
    this.ip6.stats.c[reason]++;
    this.bytes -= q.bytes;
    q.bytes = 0;
    q.frags = [];
    q.first = null;
    q.unfrag = null;
    q.dead = true;
    return IPPROTO_DONE;
  }

  private timeout(q: Queue): void {
    const s = this.ip6.stats.c;
    const first = q.first;
    this.remove(q);
    if (q.dead) return;
    s.fragTimeout++;
    // §4.5: Time Exceeded code 1 only if the first fragment was received, quoting it.
    const ifp = this.ip6.ifs.get(q.ifindex);
    if (first && ifp) this.ip6.errorAbout(Pkt.copyOf(first), ifp, ICMP6_TIME_EXCEEDED, 1, 0);
  }

  private evictOldest(): void {
    const q = this.order[0];
    if (!q) return;
    this.ip6.stats.c.fragEvicted++;
    this.remove(q);
  }

  private remove(q: Queue): void {
    q.timer.cancel();
    this.bytes -= q.bytes;
    q.bytes = 0;
    const i = this.order.indexOf(q);
    if (i >= 0) this.order.splice(i, 1);
    const list = this.queues.get(q.key);
    if (list) {
      const j = list.indexOf(q);
      if (j >= 0) list.splice(j, 1);
      if (list.length === 0) this.queues.delete(q.key);
    }
  }

  close(): void {
    for (const q of [...this.order]) this.remove(q);
  }
}

/**
 * RFC 7112: does the first fragment's data hold every extension header and
 * the upper-layer header? Walks at most 32 headers.
 */
function chainComplete(b: Uint8Array, off: number, nxt: number): boolean {
  for (let i = 0; i < 32; i++) {
    switch (nxt) {
      case IPPROTO.HOPOPTS:
      case IPPROTO.ROUTING:
      case IPPROTO.DSTOPTS: {
        if (off + 2 > b.length) return false;
        const len = (b[off + 1]! + 1) * 8;
        if (off + len > b.length) return false;
        nxt = b[off]!;
        off += len;
        continue;
      }
      case IPPROTO.AH: {
        if (off + 2 > b.length) return false;
        const len = (b[off + 1]! + 2) * 4;
        if (off + len > b.length) return false;
        nxt = b[off]!;
        off += len;
        continue;
      }
      case IPPROTO.FRAGMENT:
        return off + FRAG_HDR_LEN <= b.length;
      case IPPROTO.NONE:
        return true;
      default:
        return off + upperHeaderLen(nxt) <= b.length;
    }
  }
  return false;
}

/** Bytes of an upper-layer header that must be in the first fragment. */
function upperHeaderLen(nxt: number): number {
  switch (nxt) {
    case IPPROTO.TCP:
      return 20;
    case IPPROTO.UDP:
    case IPPROTO.ESP:
      return 8;
    case IPPROTO.ICMPV6:
      return 4;
    case IPPROTO.IPV6:
      return IP6_HDR_LEN;
    case IPPROTO.IPV4:
      return 20;
    default:
      return 1;
  }
}

function bytesSame(a: Uint8Array, b: Uint8Array, bOff: number): boolean {
  if (b.length - bOff !== a.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[bOff + i]) return false;
  return true;
}

/**
 * lo0, the loopback interface (BSD if_loop.c).
 *
 * A packet sent on lo0 is queued and delivered to the stack's input on the
 * next clock tick (a zero-delay timer), never by recursion from output, as
 * BSD's if_simloop hands it to the netisr queue. The queue is bounded in
 * packets and bytes; overflow is counted. Frames carry no link header: pcap
 * records them as LINKTYPE_RAW, and input dispatches on the IP version nibble.
 */
import type { Clock, Timer } from '../core/clock.ts';
import { getU16, putU16 } from '../core/bytes.ts';
import { Pkt, PktFlag } from '../core/pkt.ts';
import { EtherType } from './ether.ts';
import { IFF, Ifnet } from './ifnet.ts';

/**
 * lo0's default MTU. BSD uses 16384 and Linux 65536; ours is above 65,535 so
 * that jumbograms (RFC 2675) work on lo0 out of the box (`tap6 ping6 -s 70000
 * ::1`). Settable from 1280 up to 1 GiB.
 */
export const LOOPBACK_DEFAULT_MTU = 131072;
export const LOOPBACK_MTU_RANGE: readonly [number, number] = [1280, 1 << 30];
/** Length of lo0's private link header. */
export const LOOP_HDR_LEN = 4;

export interface LoopbackOptions {
  clock: Clock;
  name?: string;
  mtu?: number;
  /** Queue bound in packets (default 1024) and bytes (default 16 MiB). */
  queuePackets?: number;
  queueBytes?: number;
}

export class LoopbackIf extends Ifnet {
  readonly lladdr = null;
  readonly pcapLink = { linkType: 101 /* LINKTYPE_RAW */, strip: LOOP_HDR_LEN };
  private readonly clock: Clock;
  private readonly queue: Pkt[] = [];
  private qhead = 0;
  private queuedBytes = 0;
  private readonly maxPackets: number;
  private readonly maxBytes: number;
  private timer: Timer | null = null;
  /** Counts loop queue overflows separately from the generic counters. */
  qdrops = 0;

  constructor(opts: LoopbackOptions) {
    super(opts.name ?? 'lo0', 'loop', opts.mtu ?? LOOPBACK_DEFAULT_MTU, IFF.LOOPBACK | IFF.MULTICAST, LOOPBACK_MTU_RANGE);
    this.clock = opts.clock;
    this.maxPackets = opts.queuePackets ?? 1024;
    this.maxBytes = opts.queueBytes ?? 16 << 20;
  }

  /** Packets waiting to be looped back. */
  get queueLength(): number {
    return this.queue.length - this.qhead;
  }

  output(pkt: Pkt, etherType: number, _dst: Uint8Array | null): boolean {
    const c = this.stats.c;
    if (!this.up) {
      c.txDown++;
      return false;
    }
    if (pkt.len > this.mtu) {
      c.txTooBig++;
      return false;
    }
    if (etherType !== EtherType.IPV6 && etherType !== EtherType.IPV4) {
      c.txNoProto++;
      return false;
    }
    c.opackets++;
    const at = pkt.prepend(LOOP_HDR_LEN);
    // Counted with the private header, as input counts it.
    c.obytes += pkt.len;
    putU16(pkt.buf, at, pkt.sndif || this.index);
    putU16(pkt.buf, at + 2, etherType);
    this.current = pkt;
    try {
      this.filters.tx(pkt.buf.subarray(at, at + pkt.len));
    } finally {
      this.current = null;
    }
    return true;
  }

  /**
   * The packet whose frame is passing through the filters now (output or
   * drain): when the frame reaches the wire unchanged it is that packet's
   * own bytes, taken over with their headroom and no copy. A frame a filter
   * copied (a delayed one) is copied again.
   */
  private current: Pkt | null = null;

  private take(frame: Uint8Array): Pkt {
    const p = this.current;
    if (p && frame.buffer === p.buf.buffer && frame.byteOffset === p.buf.byteOffset + p.off && frame.length === p.len) return Pkt.over(p.buf, p.off, p.len);
    return Pkt.adopt(frame);
  }

  override close(): void {
    super.close();
    this.timer?.cancel();
    this.timer = null;
    this.queue.length = 0;
    this.qhead = 0;
    this.queuedBytes = 0;
  }

  /** The "wire" of lo0 is its own queue. The frame is ours to keep (tx side). */
  protected wireTx(frame: Uint8Array): void {
    if (this.queueLength >= this.maxPackets || this.queuedBytes + frame.length > this.maxBytes) {
      this.qdrops++;
      this.stats.c.txDriverDrop++;
      return;
    }
    // The frame is a view into the sender's Pkt buffer: keep its headroom usable.
    const p = this.take(frame);
    p.flags = PktFlag.LOOP;
    this.queue.push(p);
    this.queuedBytes += frame.length;
    if (!this.timer) this.timer = this.clock.timer(0, () => this.drain());
  }

  protected wireRx(frame: Uint8Array): void {
    const c = this.stats.c;
    if (!this.up) {
      c.rxDown++;
      return;
    }
    c.ipackets++;
    c.ibytes += frame.length;
    if (frame.length < LOOP_HDR_LEN) {
      c.rxShort++;
      return;
    }
    const origin = getU16(frame, 0);
    const type = getU16(frame, 2);
    const p = this.take(frame);
    p.adj(LOOP_HDR_LEN);
    p.flags = PktFlag.LOOP;
    p.rcvif = this.index;
    p.sndif = origin;
    this.deliver(type, p);
  }

  private drain(): void {
    this.timer = null;
    // Only what is queued now: packets looped by the handlers wait for the next tick.
    const end = this.queue.length;
    // close() from a handler empties the queue under us: stop there.
    while (this.qhead < end && this.qhead < this.queue.length) {
      const p = this.queue[this.qhead]!;
      this.queue[this.qhead++] = undefined as unknown as Pkt;
      this.queuedBytes -= p.len;
      this.current = p;
      try {
        this.filters.rx(p.data());
      } finally {
        this.current = null;
      }
    }
    if (this.qhead === this.queue.length) {
      this.queue.length = 0;
      this.qhead = 0;
    } else if (!this.timer) {
      this.timer = this.clock.timer(0, () => this.drain());
    }
  }
}

/**
 * An Ethernet interface over a LinkDriver (a TAP, or a port of the virtual
 * link): ether_input / ether_output.
 *
 * Input filters on the destination (our unicast address, broadcast, joined
 * 33:33:… groups; everything in promiscuous mode) and on the EtherType, and
 * counts each drop by reason. Accepted frames are copied once, out of the
 * driver's borrowed buffer, into a Pkt whose data starts at the network
 * header; frames for others cost no copy.
 *
 * Output prepends the 14-byte header into the Pkt's headroom (no copy unless
 * the headroom is short), passes the frame through the filter chain and hands
 * it to the driver.
 */
import type { RxBurst } from '../core/burst.ts';
import { getU16 } from '../core/bytes.ts';
import { DEFAULT_HEADROOM, Pkt, PktFlag } from '../core/pkt.ts';
import type { LinkDriver } from './driver.ts';
import { ETHER_HDR_LEN, ETHER_SRC, ETHER_TYPE, ETHERTYPE_MIN, EtherType } from './ether.ts';
import { IFF, Ifnet } from './ifnet.ts';
import { MAC_LEN, bytesEqualMac, formatMac, isBroadcastMac, isGroupMac } from './mac.ts';

/** IPv6 minimum link MTU (RFC 8200 §5) is the floor; 65535 - 14 the ceiling a TAP frame can carry. */
export const ETHER_MTU_RANGE: readonly [number, number] = [1280, 65521];

export interface EtherIfOptions {
  name: string;
  driver: LinkDriver;
  /** Our MAC (not the kernel's): a locally administered unicast address. */
  mac: Uint8Array;
  mtu?: number;
  /**
   * The stack's receive burst. With a driver that reports the end of its
   * receive batches, frames delivered in one batch form a burst, and frames
   * sent during it go to the driver together when it ends (`transmitBatch`).
   */
  burst?: RxBurst;
}

/** Frames held for one batched transmit at most (then they go at once). */
const TX_BATCH_MAX = 256;

export class EtherIf extends Ifnet {
  readonly driver: LinkDriver;
  private readonly mac: Uint8Array;
  private readonly burst: RxBurst | null;
  private inBurst = false;
  private txq: Uint8Array[] = [];
  private readonly flushTx = (): void => this.transmitQueued();

  constructor(opts: EtherIfOptions) {
    const mtu = opts.mtu ?? Math.min(1500, opts.driver.maxFrameLen - ETHER_HDR_LEN);
    super(opts.name, 'ether', mtu, IFF.BROADCAST | IFF.MULTICAST, ETHER_MTU_RANGE);
    if (opts.mac.length !== MAC_LEN || isGroupMac(opts.mac)) throw new RangeError(`${opts.name}: ${opts.mac.length === MAC_LEN ? formatMac(opts.mac) : `a ${opts.mac.length}-byte value`} is not a unicast MAC address`);
    if (mtu + ETHER_HDR_LEN > opts.driver.maxFrameLen) throw new RangeError(`${opts.name}: MTU ${mtu} exceeds what the ${opts.driver.kind} driver carries (${opts.driver.maxFrameLen - ETHER_HDR_LEN})`);
    this.mac = opts.mac.slice();
    this.driver = opts.driver;
    const burst = opts.burst && this.driver.setBatchEnd ? opts.burst : null;
    this.burst = burst;
    if (burst) {
      this.driver.setReceiver((f) => {
        if (!this.inBurst) {
          this.inBurst = true;
          burst.enter();
        }
        this.filters.rx(f);
      });
      this.driver.setBatchEnd!(() => {
        if (!this.inBurst) return;
        this.inBurst = false;
        burst.leave();
      });
    } else this.driver.setReceiver((f) => this.filters.rx(f));
  }

  readonly pcapLink = { linkType: 1 /* LINKTYPE_ETHERNET */, strip: 0 };

  get lladdr(): Uint8Array {
    return this.mac;
  }

  override set mtu(v: number) {
    if (v + ETHER_HDR_LEN > this.driver.maxFrameLen) throw new RangeError(`${this.name}: MTU ${v} exceeds what the ${this.driver.kind} driver carries`);
    super.mtu = v;
  }

  override get mtu(): number {
    return super.mtu;
  }

  setPromisc(on: boolean): void {
    this.flags = on ? this.flags | IFF.PROMISC : this.flags & ~IFF.PROMISC;
  }

  setAllMulti(on: boolean): void {
    this.flags = on ? this.flags | IFF.ALLMULTI : this.flags & ~IFF.ALLMULTI;
  }

  output(pkt: Pkt, etherType: number, dst: Uint8Array | null): boolean {
    const c = this.stats.c;
    if (!this.up) {
      c.txDown++;
      return false;
    }
    if (pkt.len > this.mtu) {
      c.txTooBig++;
      return false;
    }
    if (!dst || dst.length !== MAC_LEN) throw new RangeError(`${this.name}: output needs a 6-byte destination MAC`);
    const at = pkt.prepend(ETHER_HDR_LEN);
    const b = pkt.buf;
    b.set(dst, at);
    b.set(this.mac, at + ETHER_SRC);
    b[at + ETHER_TYPE] = etherType >>> 8;
    b[at + ETHER_TYPE + 1] = etherType & 0xff;
    c.opackets++;
    c.obytes += pkt.len;
    if (isGroupMac(dst)) c.omcasts++;
    this.filters.tx(b.subarray(at, at + pkt.len));
    return true;
  }

  /** Sends a complete frame built by the caller (tests, raw tools). */
  outputFrame(frame: Uint8Array): boolean {
    if (!this.up) {
      this.stats.c.txDown++;
      return false;
    }
    if (frame.length < ETHER_HDR_LEN) throw new RangeError(`${this.name}: a frame is at least ${ETHER_HDR_LEN} bytes`);
    if (frame.length - ETHER_HDR_LEN > this.mtu) {
      this.stats.c.txTooBig++;
      return false;
    }
    this.stats.c.opackets++;
    this.stats.c.obytes += frame.length;
    if (isGroupMac(frame)) this.stats.c.omcasts++;
    this.filters.tx(frame);
    return true;
  }

  override close(): void {
    super.close();
    this.txq.length = 0;
    this.driver.setReceiver(null);
    this.driver.setBatchEnd?.(null);
    this.driver.close();
  }

  protected wireTx(frame: Uint8Array): void {
    // Inside a receive burst, frames wait for its end and go to the driver in one call.
    if (this.burst?.active && this.driver.transmitBatch && this.txq.length < TX_BATCH_MAX) {
      if (this.txq.length > 0 || this.burst.atEnd(this.flushTx)) {
        this.txq.push(frame);
        return;
      }
    }
    if (this.txq.length > 0) this.transmitQueued(); // keep the order
    if (!this.driver.transmit(frame)) this.stats.c.txDriverDrop++;
  }

  private transmitQueued(): void {
    const q = this.txq;
    if (q.length === 0) return;
    this.txq = [];
    const sent = this.driver.transmitBatch!(q);
    if (sent < q.length) this.stats.c.txDriverDrop += q.length - sent;
  }

  /** ether_input: `frame` is borrowed from the driver. */
  protected wireRx(frame: Uint8Array): void {
    const c = this.stats.c;
    if (!this.up) {
      c.rxDown++;
      return;
    }
    const len = frame.length;
    c.ipackets++;
    c.ibytes += len;
    if (len < ETHER_HDR_LEN) {
      c.rxShort++;
      return;
    }
    let flags = 0;
    if (isGroupMac(frame)) {
      if (isBroadcastMac(frame)) flags = PktFlag.BCAST;
      else if (this.flags & (IFF.ALLMULTI | IFF.PROMISC) || this.inMulti(frame)) flags = PktFlag.MCAST;
      else {
        c.rxNotForUs++;
        return;
      }
    } else if (bytesEqualMac(frame, 0, this.mac)) {
      flags = PktFlag.TOUS;
    } else if (!(this.flags & IFF.PROMISC)) {
      c.rxNotForUs++;
      return;
    }
    // A segment (bridge, hub, virtual link) may reflect our own multicast back to us.
    if (bytesEqualMac(frame, ETHER_SRC, this.mac)) {
      c.rxOwnSource++;
      return;
    }
    const type = getU16(frame, ETHER_TYPE);
    if (type < ETHERTYPE_MIN) {
      c.rxLlc++;
      return;
    }
    if (type === EtherType.VLAN || type === EtherType.QINQ) {
      c.rxVlan++;
      return;
    }
    if (len - ETHER_HDR_LEN > this.mtu) {
      c.rxOversize++;
      return;
    }
    if (flags & (PktFlag.BCAST | PktFlag.MCAST)) c.imcasts++;
    // One copy out of the borrowed buffer; the Ethernet header stays in front so
    // the link addresses remain readable and a reply can be built in place.
    const pkt = Pkt.copyOf(frame, DEFAULT_HEADROOM - ETHER_HDR_LEN);
    pkt.llDst = pkt.buf.subarray(pkt.off, pkt.off + MAC_LEN);
    pkt.llSrc = pkt.buf.subarray(pkt.off + ETHER_SRC, pkt.off + ETHER_SRC + MAC_LEN);
    pkt.adj(ETHER_HDR_LEN);
    pkt.rcvif = this.index;
    pkt.flags = flags;
    this.deliver(type, pkt);
  }
}

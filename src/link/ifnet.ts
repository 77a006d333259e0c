/**
 * Ifnet: a network interface (BSD's struct ifnet), the unit the IPv6 layer
 * routes to and receives from. Three kinds exist: Ethernet (over a TAP or the
 * virtual link), loopback (lo0) and, later, gif tunnels.
 *
 * Upper layers register an input handler per EtherType with attachProto();
 * the Ifnet never imports them (imports point downward only). Frames between
 * the Ifnet and its driver pass through an ordered chain of FrameFilters
 * (fault injection, then pcap on transmit; pcap, then nothing, on receive is
 * decided by each filter's position), see FilterChain.
 */
import { CounterSet, counterSet } from '../core/counters.ts';
import type { Pkt } from '../core/pkt.ts';
import type { Dir, FrameFilter } from './driver.ts';
import { macKey } from './mac.ts';

/** Interface flags (BSD IFF_*). */
export const IFF = {
  UP: 0x1,
  BROADCAST: 0x2,
  LOOPBACK: 0x8,
  POINTOPOINT: 0x10,
  RUNNING: 0x40,
  PROMISC: 0x100,
  ALLMULTI: 0x200,
  MULTICAST: 0x8000,
} as const;

export function formatFlags(flags: number): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(IFF)) if (flags & v) names.push(k);
  return `flags=${flags.toString(16)}<${names.join(',')}>`;
}

export type IfType = 'ether' | 'loop' | 'gif';

/** Per-protocol input routine; the packet is the network-layer payload. */
export type ProtoInput = (ifp: Ifnet, pkt: Pkt) => void;

const IFNAME_RE = /^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/;

export function checkIfName(name: string): string | null {
  return IFNAME_RE.test(name) ? null : `bad interface name '${name}': 1-15 characters, a letter first, then letters, digits, '_', '.', '-'`;
}

/** Counters every interface keeps (if_data), plus the reasons frames are dropped. */
export function ifCounterDescriptions() {
  return {
    ipackets: 'packets received',
    ibytes: 'bytes received',
    imcasts: 'multicast/broadcast packets received',
    opackets: 'packets sent',
    obytes: 'bytes sent',
    omcasts: 'multicast/broadcast packets sent',
    rxDown: 'frames dropped: interface down',
    rxShort: 'frames dropped: shorter than the link header',
    rxOversize: 'frames dropped: longer than the MTU',
    rxNotForUs: 'frames dropped: destination not ours (unicast or unjoined multicast)',
    rxOwnSource: 'frames dropped: our own source address looped back',
    rxVlan: 'frames dropped: 802.1Q/802.1ad tagged (VLANs not supported)',
    rxLlc: 'frames dropped: IEEE 802.3 length field (LLC), not Ethernet II',
    rxNoProto: 'frames dropped: no protocol for the EtherType',
    txDown: 'packets dropped: interface down',
    txTooBig: 'packets dropped: longer than the MTU',
    txNoProto: 'packets dropped: network protocol the interface cannot carry',
    txDriverDrop: 'packets dropped by the driver (queue full or write error)',
  } as const;
}
export type IfCounter = keyof ReturnType<typeof ifCounterDescriptions>;

/** The filter chain: tx runs filters first to last then the sink; rx runs them last to first. */
export class FilterChain {
  private filters: FrameFilter[] = [];
  private txEntry: (f: Uint8Array) => void;
  private rxEntry: (f: Uint8Array) => void;

  constructor(
    private readonly txSink: (f: Uint8Array) => void,
    private readonly rxSink: (f: Uint8Array) => void,
  ) {
    this.txEntry = txSink;
    this.rxEntry = rxSink;
  }

  get list(): readonly FrameFilter[] {
    return this.filters;
  }

  /**
   * Adds a filter; tx passes filters in list order, rx in reverse (so the last
   * added is nearest the wire). `nearStack` puts it first in the list instead
   * (the fault injector, so that a capture records what crossed the wire).
   */
  add(f: FrameFilter, opts: { nearStack?: boolean } = {}): void {
    if (this.filters.some((x) => x.name === f.name)) throw new Error(`filter '${f.name}' is already attached`);
    if (opts.nearStack) this.filters.unshift(f);
    else this.filters.push(f);
    this.rebuild();
  }

  remove(name: string): boolean {
    const i = this.filters.findIndex((x) => x.name === name);
    if (i < 0) return false;
    const [f] = this.filters.splice(i, 1);
    f!.close?.();
    this.rebuild();
    return true;
  }

  clear(): void {
    for (const f of this.filters) f.close?.();
    this.filters = [];
    this.rebuild();
  }

  tx(frame: Uint8Array): void {
    this.txEntry(frame);
  }

  rx(frame: Uint8Array): void {
    this.rxEntry(frame);
  }

  private rebuild(): void {
    this.txEntry = this.compose('tx', this.filters.slice().reverse(), this.txSink);
    this.rxEntry = this.compose('rx', this.filters, this.rxSink);
  }

  /** Builds sink ∘ f_n ∘ … ∘ f_1 once, so a frame costs one call per filter and no allocation. */
  private compose(dir: Dir, order: FrameFilter[], sink: (f: Uint8Array) => void): (f: Uint8Array) => void {
    let next = sink;
    for (const f of order) {
      const after = next;
      next = (frame) => f.filter(dir, frame, after);
    }
    return next;
  }
}

export abstract class Ifnet {
  /** Set by the IfnetTable when attached; 0 until then. */
  index = 0;
  flags: number;
  readonly stats: CounterSet<IfCounter>;
  readonly filters: FilterChain;
  protected readonly protos = new Map<number, ProtoInput>();
  /** Joined link-layer multicast groups, by macKey, with a reference count. */
  protected readonly multi = new Map<number, { mac: Uint8Array; refs: number }>();
  private _mtu: number;

  protected constructor(
    readonly name: string,
    readonly type: IfType,
    mtu: number,
    flags: number,
    /** Smallest and largest MTU this kind of interface accepts. */
    readonly mtuRange: readonly [number, number],
  ) {
    const bad = checkIfName(name);
    if (bad) throw new Error(bad);
    this.checkMtu(mtu);
    this._mtu = mtu;
    this.flags = flags;
    this.stats = counterSet(`if ${name}`, ifCounterDescriptions());
    this.filters = new FilterChain(
      (f) => this.wireTx(f),
      (f) => this.wireRx(f),
    );
  }

  /** How pcap records this interface's frames: the link type and the bytes of private header to leave out. */
  abstract readonly pcapLink: { readonly linkType: number; readonly strip: number };
  /** Link-layer address, null for interfaces without one (loopback, tunnels). */
  abstract readonly lladdr: Uint8Array | null;
  get mtu(): number {
    return this._mtu;
  }

  set mtu(v: number) {
    this.checkMtu(v);
    this._mtu = v;
  }

  get up(): boolean {
    return (this.flags & IFF.UP) !== 0;
  }

  setUp(up: boolean): void {
    this.flags = up ? this.flags | IFF.UP | IFF.RUNNING : this.flags & ~(IFF.UP | IFF.RUNNING);
  }

  /** Registers the input routine for an EtherType (IPv6: 0x86dd). One per type. */
  attachProto(etherType: number, input: ProtoInput): void {
    if (this.protos.has(etherType)) throw new Error(`${this.name}: EtherType 0x${etherType.toString(16)} already attached`);
    this.protos.set(etherType, input);
  }

  detachProto(etherType: number): void {
    this.protos.delete(etherType);
  }

  /** Joins a link-layer multicast group (reference counted, like if_addmulti). */
  addMulti(mac: Uint8Array): void {
    if (mac.length !== 6) throw new RangeError(`${this.name}: a link-layer group address is 6 bytes, got ${mac.length}`);
    const k = macKey(mac);
    const e = this.multi.get(k);
    if (e) e.refs++;
    else this.multi.set(k, { mac: mac.slice(), refs: 1 });
  }

  /** Leaves a group; returns false if it was not joined. */
  delMulti(mac: Uint8Array): boolean {
    const k = macKey(mac);
    const e = this.multi.get(k);
    if (!e) return false;
    if (--e.refs === 0) this.multi.delete(k);
    return true;
  }

  inMulti(mac: Uint8Array, off = 0): boolean {
    return this.multi.has(macKey(mac, off));
  }

  /** Joined link-layer groups with their reference counts. */
  multiList(): { mac: Uint8Array; refs: number }[] {
    return [...this.multi.values()].map((e) => ({ mac: e.mac, refs: e.refs }));
  }

  /**
   * Sends a network-layer packet. `dst` is the link-layer destination (ignored
   * by interfaces without link addresses). Returns false if the packet was
   * dropped (counted). The Pkt is consumed either way.
   */
  abstract output(pkt: Pkt, etherType: number, dst: Uint8Array | null): boolean;

  /** Detaches from the driver and closes filters; idempotent. */
  close(): void {
    this.setUp(false);
    this.filters.clear();
  }

  /** Frame leaving the filter chain towards the wire. */
  protected abstract wireTx(frame: Uint8Array): void;
  /** Frame leaving the filter chain towards the stack. */
  protected abstract wireRx(frame: Uint8Array): void;

  protected deliver(etherType: number, pkt: Pkt): boolean {
    const input = this.protos.get(etherType);
    if (!input) {
      this.stats.c.rxNoProto++;
      return false;
    }
    input(this, pkt);
    return true;
  }

  private checkMtu(v: number): void {
    const [lo, hi] = this.mtuRange;
    if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${this.name}: MTU ${v} out of range ${lo}..${hi}`);
  }
}

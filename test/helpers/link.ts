/**
 * Shared helpers for the link-layer tests: a frame builder, a driver that
 * records what it is asked to transmit and lets a test inject received frames,
 * and a rig of Ethernet interfaces joined by a virtual link on a VirtualClock.
 */
import fc from 'fast-check';
import { VirtualClock, type Clock, type Timer } from '../../src/core/clock.ts';
import { Pkt } from '../../src/core/pkt.ts';
import type { LinkDriver } from '../../src/link/driver.ts';
import { ETHER_HDR_LEN, EtherType } from '../../src/link/ether.ts';
import { EtherIf } from '../../src/link/ethernet.ts';
import type { Ifnet } from '../../src/link/ifnet.ts';
import { IfnetTable } from '../../src/link/iftable.ts';
import { VirtualLink, type VirtualLinkOptions } from '../../src/link/vlink.ts';

/** Runs a fast-check property; fast-check throws (with seed and counterexample) on failure. */
export function holds(t: { pass(): void }, p: fc.IProperty<any>, params: fc.Parameters<any> = {}): void {
  fc.assert(p, params);
  t.pass();
}

/** A locally administered unicast MAC 02:00:00:00:00:nn. */
export function mac(n: number): Uint8Array {
  return new Uint8Array([0x02, 0, 0, 0, (n >>> 8) & 0xff, n & 0xff]);
}

export const BCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The RFC 2464 MAC of ff02::1:ffXX:YYZZ style groups: 33:33:a:b:c:d. */
export function mcastMac(a: number, b: number, c: number, d: number): Uint8Array {
  return new Uint8Array([0x33, 0x33, a, b, c, d]);
}

/** A payload of `len` bytes that starts like an IPv6 header (version 6) and is otherwise a counting pattern. */
export function ip6Payload(len: number, seed = 0): Uint8Array {
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (i + seed) & 0xff;
  if (len > 0) p[0] = 0x60;
  return p;
}

export interface FrameSpec {
  dst: Uint8Array;
  src: Uint8Array;
  type?: number;
  payload?: Uint8Array;
}

/** Builds a complete Ethernet II frame (no FCS, no padding). */
export function frame(s: FrameSpec): Uint8Array {
  const payload = s.payload ?? ip6Payload(40);
  const type = s.type ?? EtherType.IPV6;
  const f = new Uint8Array(ETHER_HDR_LEN + payload.length);
  f.set(s.dst, 0);
  f.set(s.src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, ETHER_HDR_LEN);
  return f;
}

/** A network-layer packet with the default headroom holding `payload`. */
export function pktOf(payload: Uint8Array): Pkt {
  return Pkt.copyOf(payload);
}

/**
 * A LinkDriver for unit tests: transmitted frames are copied into `sent`;
 * `inject()` hands a frame to the receiver as a driver would (borrowed).
 */
export class CaptureDriver implements LinkDriver {
  readonly kind = 'capture';
  readonly sent: Uint8Array[] = [];
  /** What transmit() returns (false simulates a full queue). */
  accept = true;
  closed = 0;
  batchEnds = 0;
  private rx: ((frame: Uint8Array) => void) | null = null;
  private batchEnd: (() => void) | null = null;

  constructor(readonly maxFrameLen = 1514) {}

  transmit(frame: Uint8Array): boolean {
    if (!this.accept) return false;
    this.sent.push(frame.slice());
    return true;
  }

  setReceiver(rx: ((frame: Uint8Array) => void) | null): void {
    this.rx = rx;
  }

  setBatchEnd(fn: (() => void) | null): void {
    this.batchEnd = fn;
  }

  get hasReceiver(): boolean {
    return this.rx !== null;
  }

  /** Delivers `frame` to the receiver, then overwrites it with 0xEE to catch receivers that keep borrowed bytes. */
  inject(frame: Uint8Array): void {
    this.rx?.(frame);
    this.batchEnd?.();
    frame.fill(0xee);
  }

  close(): void {
    this.closed++;
  }
}

/** What a protocol input handler saw: a copy of the data plus the metadata. */
export interface Delivered {
  pkt: Pkt;
  data: Uint8Array;
  ifp: Ifnet;
}

/** Attaches an IPv6 input that records every packet it receives. */
export function recordIp6(ifp: Ifnet, type: number = EtherType.IPV6): Delivered[] {
  const got: Delivered[] = [];
  ifp.attachProto(type, (i, pkt) => got.push({ pkt, data: pkt.data().slice(), ifp: i }));
  return got;
}

export interface Rig {
  clock: VirtualClock;
  link: VirtualLink;
  table: IfnetTable;
  ifs: EtherIf[];
  got: Delivered[][];
}

/** `n` Ethernet interfaces (MACs 02::1 .. 02::n, names veth0..) on one virtual link, up, each recording IPv6 input. */
export function rig(n: number, linkOpts: Partial<VirtualLinkOptions> = {}, mtu?: number): Rig {
  const clock = new VirtualClock();
  const link = new VirtualLink({ clock, ...linkOpts });
  const table = new IfnetTable();
  const ifs: EtherIf[] = [];
  const got: Delivered[][] = [];
  for (let i = 0; i < n; i++) {
    const ifp = new EtherIf({ name: `veth${i}`, driver: link.port(), mac: mac(i + 1), ...(mtu !== undefined ? { mtu } : {}) });
    table.attach(ifp);
    ifp.setUp(true);
    ifs.push(ifp);
    got.push(recordIp6(ifp));
  }
  return { clock, link, table, ifs, got };
}

/**
 * A Clock whose time never moves and whose timers fire only when the test
 * calls tick(): each tick runs the timers armed before it, in arming order,
 * so "work deferred to the next tick" can be told apart from "work done now".
 */
export class StepClock implements Clock {
  private pending: { fn: () => void; active: boolean }[] = [];
  now(): number {
    return 0;
  }
  wallMs(): number {
    return 0;
  }
  timer(_ms: number, fn: () => void): Timer {
    const e = { fn, active: true };
    this.pending.push(e);
    return {
      get active() {
        return e.active;
      },
      cancel: () => {
        e.active = false;
      },
      reset: () => {
        throw new Error('StepClock: reset not supported');
      },
    };
  }
  /** Timers armed and not yet fired or cancelled. */
  get armed(): number {
    return this.pending.filter((e) => e.active).length;
  }
  /** Fires the timers armed so far; returns how many fired. */
  tick(): number {
    const batch = this.pending;
    this.pending = [];
    let n = 0;
    for (const e of batch) {
      if (!e.active) continue;
      e.active = false;
      n++;
      e.fn();
    }
    return n;
  }
}

/**
 * A minimal well-formed IPv6 packet (RFC 8200 §3): version 6, the given
 * addresses (16 bytes each), Next Header 59 (No Next Header) unless told,
 * and `payload` after the header with Payload Length set to match.
 */
export function ip6Packet(src: Uint8Array, dst: Uint8Array, payload: Uint8Array = new Uint8Array(0), nxt = 59): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60;
  p[4] = payload.length >>> 8;
  p[5] = payload.length & 0xff;
  p[6] = nxt;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(payload, 40);
  return p;
}

/** fe80::n and ff02::1 as 16-byte arrays. */
export function linkLocal(n: number): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a[15] = n;
  return a;
}
export const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

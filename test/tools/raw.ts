/**
 * A raw port on a rig's virtual link, for the few tools tests that need a
 * router or a failing path: it sends hand-built Router Advertisements and
 * answers for a made-up neighbour with an ICMPv6 Destination Unreachable.
 * Every byte is written here (RFC 8200 §3, RFC 4443 §3.1, RFC 4861 §4.2, §4.4).
 */
import { in6Cksum } from '../../src/core/checksum.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { type RaEmit, raBody } from '../../src/nd6/ra.ts';
import type { VirtualLink, VirtualPort } from '../../src/link/vlink.ts';

export const ROUTER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xee);
export const ROUTER_LL = in6('fe80::1');
const ALL_NODES = in6('ff02::1');

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** An Ethernet frame with an IPv6 packet carrying an ICMPv6 message (checksum filled in). */
export function icmp6Frame(o: { ethDst: Uint8Array; ethSrc: Uint8Array; src: Uint8Array; dst: Uint8Array; hlim: number; type: number; code: number; body: Uint8Array }): Uint8Array {
  const msgLen = 4 + o.body.length;
  const f = new Uint8Array(14 + 40 + msgLen);
  f.set(o.ethDst, 0);
  f.set(o.ethSrc, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  const ip = f.subarray(14);
  ip[0] = 0x60;
  ip[4] = msgLen >>> 8;
  ip[5] = msgLen & 0xff;
  ip[6] = 58;
  ip[7] = o.hlim;
  ip.set(o.src, 8);
  ip.set(o.dst, 24);
  const m = ip.subarray(40);
  m[0] = o.type;
  m[1] = o.code;
  m.set(o.body, 4);
  const ck = in6Cksum(m, 0, m.length, 58, o.src, o.dst);
  m[2] = ck >>> 8;
  m[3] = ck & 0xff;
  return f;
}

/** A DNSSL option (RFC 8106 §5.2): names in DNS wire format, padded to 8 octets. */
export function dnsslOption(lifetime: number, domains: string[]): Uint8Array {
  const names: number[] = [];
  for (const d of domains) {
    for (const label of d.split('.')) names.push(label.length, ...Buffer.from(label, 'ascii'));
    names.push(0);
  }
  const len = Math.ceil((8 + names.length) / 8);
  const o = new Uint8Array(len * 8);
  o[0] = 31;
  o[1] = len;
  new DataView(o.buffer).setUint32(4, lifetime);
  o.set(names, 8);
  return o;
}

export class RawRouter {
  readonly port: VirtualPort;
  /** Frames seen on the link. */
  readonly frames: Uint8Array[] = [];
  private readonly unreachable: Uint8Array[] = [];

  constructor(link: VirtualLink) {
    this.port = link.port('raw');
    this.port.setReceiver((f) => this.rx(f.slice()));
  }

  /** A Router Advertisement from fe80::1 to all nodes; `extra` options go after raBody's. */
  advertise(ra: RaEmit, extra: Uint8Array = new Uint8Array(0)): void {
    const body = raBody({ srcLl: ROUTER_MAC, ...ra });
    const all = new Uint8Array(body.length + extra.length);
    all.set(body);
    all.set(extra, body.length);
    this.port.transmit(
      icmp6Frame({ ethDst: Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), ethSrc: ROUTER_MAC, src: ROUTER_LL, dst: ALL_NODES, hlim: 255, type: 134, code: 0, body: all }),
    );
  }

  /**
   * Pretends `addr` is a neighbour (answers its Neighbor Solicitations) and
   * answers every echo request to it with Destination Unreachable, code 3
   * (address unreachable), sent by the router fe80::1.
   */
  failFor(addr: Uint8Array): void {
    this.unreachable.push(addr);
  }

  private rx(f: Uint8Array): void {
    this.frames.push(f);
    if (f.length < 14 + 40 + 4 || f[12] !== 0x86 || f[13] !== 0xdd) return;
    const ip = f.subarray(14);
    const plen = (ip[4]! << 8) | ip[5]!;
    if (ip[6] !== 58) return;
    const src = ip.subarray(8, 24);
    const dst = ip.subarray(24, 40);
    const m = ip.subarray(40, 40 + plen);
    const ethSrc = f.subarray(6, 12);
    if (m[0] === 135 && m.length >= 24) {
      const target = m.subarray(8, 24);
      if (!this.unreachable.some((a) => eq(a, target))) return;
      // Solicited NA: R=0 S=1 O=1, target, Target Link-Layer Address option.
      const body = new Uint8Array(4 + 16 + 8);
      body[0] = 0x60;
      body.set(target, 4);
      body[20] = 2;
      body[21] = 1;
      body.set(ROUTER_MAC, 22);
      this.port.transmit(icmp6Frame({ ethDst: ethSrc.slice(), ethSrc: ROUTER_MAC, src: target.slice(), dst: src.slice(), hlim: 255, type: 136, code: 0, body }));
    } else if (m[0] === 128 && this.unreachable.some((a) => eq(a, dst))) {
      // 4 unused bytes, then as much of the request as fits.
      const quoted = ip.subarray(0, 40 + plen);
      const body = new Uint8Array(4 + quoted.length);
      body.set(quoted, 4);
      this.port.transmit(icmp6Frame({ ethDst: ethSrc.slice(), ethSrc: ROUTER_MAC, src: ROUTER_LL, dst: src.slice(), hlim: 64, type: 1, code: 3, body }));
    }
  }
}

/** Polls until `cond` holds (real clock), at most `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  for (let t = 0; t < ms; t += 5) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}

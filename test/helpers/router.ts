/**
 * A fake router for the router discovery, SLAAC and redirect tests: the raw
 * port of test/helpers/stack.ts sends Router Advertisements built with
 * src/nd6/ra.ts raBody() (plus hand-encoded options appended: Route
 * Information of every length, DNSSL, malformed ones) and Redirects written
 * byte by byte here, from a link-local source with hop limit 255 unless a
 * test says otherwise. `routerNet` builds stacks with any StackOptions
 * (secret, identifier mode, temporaries, optimistic DAD), which makeNet
 * does not take.
 */
import { VirtualClock } from '../../src/core/clock.ts';
import { MemoryLogger } from '../../src/core/log.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { linkLocalFromMac } from '../../src/ip6/addr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { type RaEmit, raBody } from '../../src/nd6/ra.ts';
import { Stack, type StackOptions } from '../../src/stack.ts';
import {
  ALL_NODES,
  DAD_DONE_MS,
  type Host,
  type Net,
  NXT_ICMPV6,
  RAW_LL,
  RAW_MAC,
  RawPort,
  hostMac,
  icmp6Msg,
  ip6Frame,
} from './stack.ts';

export const ICMP_RS = 133;
export const ICMP_RA = 134;
export const ICMP_REDIRECT = 137;

export const OPT = { SLLA: 1, TLLA: 2, PIO: 3, RHDR: 4, MTU: 5, RIO: 24, RDNSS: 25, DNSSL: 31 } as const;

/** RFC 4191 §2.1 preference bits: 01 high, 00 medium, 11 low, 10 reserved. */
export const PRF = { HIGH: 1, MEDIUM: 0, LOW: 3, RESERVED: 2 } as const;

export const INFINITE = 0xffffffff;

export interface RouterNetOptions {
  hosts?: number;
  seed?: number;
  /** Options of every stack (clock and rng are the net's). */
  stack?: StackOptions;
  /** Router discovery on (default true). */
  acceptRtadv?: boolean;
  /** Called after the interface is added, before it comes up. */
  beforeUp?: (h: Host, i: number) => void;
  /** Advance past DAD of the link-local addresses (default true). */
  settleDad?: boolean;
  /** Answer NS for RAW_LL from the raw port (default true). */
  rawAnswers?: boolean;
}

/** Like makeNet, with StackOptions and router discovery on by default. */
export function routerNet(o: RouterNetOptions = {}): Net {
  const clock = new VirtualClock();
  const rng = new SeededRng(o.seed ?? 1);
  const link = new VirtualLink({ clock });
  const raw = new RawPort(link.port('raw'), RAW_MAC, () => clock.now());
  if (o.rawAnswers !== false) raw.answerNs(RAW_LL);
  const hosts: Host[] = [];
  for (let i = 0; i < (o.hosts ?? 1); i++) {
    const log = new MemoryLogger();
    const s = new Stack({ ...o.stack, clock, rng: rng.fork(), log });
    const mac = hostMac(i);
    const ifp = s.addEthernet({ name: 'vl0', driver: link.port(`h${i}`), mac });
    if (o.acceptRtadv === false) s.rtr.config(ifp).acceptRtadv = false;
    const h: Host = { s, ifp, log, mac, ll: linkLocalFromMac(mac) };
    o.beforeUp?.(h, i);
    s.up(ifp);
    hosts.push(h);
  }
  if (o.settleDad !== false) clock.advance(DAD_DONE_MS);
  return { clock, link, hosts, raw, run: (ms = 10) => clock.advance(ms) };
}

// ---- option encoders (written here, independently of src/) ------------------

function u32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Route Information (RFC 4191 §2.3); `len` in 8-octet units (default: the shortest that holds plen). */
export function rioOpt(o: { prefix: Uint8Array; plen: number; prf?: number; lifetime: number; len?: number }): Uint8Array {
  const len = o.len ?? (o.plen === 0 ? 1 : o.plen <= 64 ? 2 : 3);
  const b = new Uint8Array(len * 8);
  b[0] = OPT.RIO;
  b[1] = len;
  b[2] = o.plen;
  b[3] = ((o.prf ?? PRF.MEDIUM) & 3) << 3;
  u32(b, 4, o.lifetime);
  b.set(o.prefix.subarray(0, Math.max(0, len * 8 - 8)), 8);
  return b;
}

/** DNS names in RFC 1035 wire form, padded with zeros to a multiple of 8 bytes. */
export function dnsNames(names: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const n of names) {
    for (const label of n.split('.')) {
      bytes.push(label.length);
      for (const ch of label) bytes.push(ch.charCodeAt(0));
    }
    bytes.push(0);
  }
  while (bytes.length % 8) bytes.push(0);
  return Uint8Array.from(bytes);
}

/** DNS Search List (RFC 8106 §5.2); `names` may be raw bytes to write malformed lists. */
export function dnsslOpt(lifetime: number, names: string[] | Uint8Array): Uint8Array {
  const data = names instanceof Uint8Array ? names : dnsNames(names);
  const b = new Uint8Array(8 + data.length);
  b[0] = OPT.DNSSL;
  b[1] = b.length / 8;
  u32(b, 4, lifetime);
  b.set(data, 8);
  return b;
}

/** Recursive DNS Server (RFC 8106 §5.1). */
export function rdnssOpt(lifetime: number, servers: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(8 + 16 * servers.length);
  b[0] = OPT.RDNSS;
  b[1] = b.length / 8;
  u32(b, 4, lifetime);
  servers.forEach((s, i) => b.set(s, 8 + 16 * i));
  return b;
}

/** Prefix Information (RFC 4861 §4.6.2). */
export function pioOpt(o: { prefix: Uint8Array; plen?: number; L?: boolean; A?: boolean; valid: number; preferred: number }): Uint8Array {
  const b = new Uint8Array(32);
  b[0] = OPT.PIO;
  b[1] = 4;
  b[2] = o.plen ?? 64;
  b[3] = (o.L ? 0x80 : 0) | (o.A ? 0x40 : 0);
  u32(b, 4, o.valid);
  u32(b, 8, o.preferred);
  b.set(o.prefix.subarray(0, 16), 16);
  return b;
}

/** An option of any type and length (in 8-octet units) with zero data. */
export function rawOpt(type: number, len: number, bytes = len * 8): Uint8Array {
  const b = new Uint8Array(bytes);
  b[0] = type;
  if (bytes > 1) b[1] = len;
  return b;
}

// ---- Router Advertisement ----------------------------------------------------

export interface RaSpec extends Partial<RaEmit> {
  /** IPv6 source (default RAW_LL) and destination (default ff02::1). */
  src?: Uint8Array;
  dst?: Uint8Array;
  ethSrc?: Uint8Array;
  ethDst?: Uint8Array;
  hlim?: number;
  code?: number;
  /** RA header preference bits as on the wire (overrides `preference`, e.g. PRF.RESERVED). */
  prfBits?: number;
  /** Options appended after those raBody() writes. */
  extra?: Uint8Array;
  /** Cut the ICMPv6 message to this many bytes (checksum computed over what is sent). */
  truncate?: number;
}

/** The ICMPv6 RA message (header included) with a correct checksum. */
export function raMsg(s: RaSpec = {}): Uint8Array {
  let body = concat(raBody({ routerLifetime: 1800, ...s }), s.extra ?? new Uint8Array(0));
  if (s.prfBits !== undefined) body[1] = (body[1]! & ~0x18) | ((s.prfBits & 3) << 3);
  if (s.truncate !== undefined) body = body.subarray(0, Math.max(0, s.truncate - 4));
  return icmp6Msg(ICMP_RA, s.code ?? 0, body, s.src ?? RAW_LL, s.dst ?? ALL_NODES);
}

export function raFrame(s: RaSpec = {}): Uint8Array {
  const src = s.src ?? RAW_LL;
  const dst = s.dst ?? ALL_NODES;
  return ip6Frame({ src, dst, ethDst: s.ethDst, ethSrc: s.ethSrc ?? RAW_MAC, hlim: s.hlim ?? 255, nxt: NXT_ICMPV6, payload: raMsg(s) });
}

/** Sends an RA from the raw port and runs the clock long enough for it to be processed. */
export function sendRa(net: Net, s: RaSpec = {}): void {
  net.raw.send(raFrame(s));
  net.run();
}

// ---- Redirect ------------------------------------------------------------------

export interface RedirectSpec {
  target: Uint8Array;
  dest: Uint8Array;
  /** Target Link-Layer Address option. */
  tlla?: Uint8Array;
  /** Options appended (a Redirected Header, malformed options). */
  extra?: Uint8Array;
  /** Default RAW_LL. */
  src?: Uint8Array;
  /** The host's link-local address and MAC. */
  dst: Uint8Array;
  ethDst: Uint8Array;
  ethSrc?: Uint8Array;
  hlim?: number;
  code?: number;
  truncate?: number;
}

/** A Redirect (RFC 4861 §4.5): reserved, target, destination, options. */
export function redirectFrame(s: RedirectSpec): Uint8Array {
  const fixed = new Uint8Array(36);
  fixed.set(s.target, 4);
  fixed.set(s.dest, 20);
  const tlla = s.tlla ? concat(Uint8Array.of(OPT.TLLA, 1), s.tlla) : new Uint8Array(0);
  let body = concat(fixed, tlla, s.extra ?? new Uint8Array(0));
  if (s.truncate !== undefined) body = body.subarray(0, Math.max(0, s.truncate - 4));
  const src = s.src ?? RAW_LL;
  return ip6Frame({
    src,
    dst: s.dst,
    ethDst: s.ethDst,
    ethSrc: s.ethSrc ?? RAW_MAC,
    hlim: s.hlim ?? 255,
    nxt: NXT_ICMPV6,
    payload: icmp6Msg(ICMP_REDIRECT, s.code ?? 0, body, src, s.dst),
  });
}

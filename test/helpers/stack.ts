/**
 * Shared rig for the IPv6, ICMPv6 and ND tests (DESIGN §3 rule 8): N stacks
 * on one VirtualLink with fixed MACs and seeded Rngs, driven by a
 * VirtualClock, plus a "raw port" on the same link that records every frame
 * the stacks send and transmits hand-crafted frames, so that a test can
 * inject exactly the bytes it means and check exactly what comes out.
 *
 * The builders below write every byte themselves (they do not reuse the
 * stack's emitters), so a test checks the stack against an independent
 * encoding of the RFCs.
 */
import { VirtualClock } from '../../src/core/clock.ts';
import { in6Cksum } from '../../src/core/checksum.ts';
import { MemoryLogger } from '../../src/core/log.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { in6, linkLocalFromMac } from '../../src/ip6/addr.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { VirtualLink, type VirtualPort } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';

export const ETHERTYPE_IPV6 = 0x86dd;
export const NXT_ICMPV6 = 58;
export const NXT_NONE = 59;
export const NXT_DSTOPTS = 60;

export const ICMP = {
  DST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROB: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  NS: 135,
  NA: 136,
} as const;

/** NA flag bits (RFC 4861 §4.4), in the first byte after the ICMPv6 header. */
export const NA_R = 0x80;
export const NA_S = 0x40;
export const NA_O = 0x20;

/** The raw port's MAC and the addresses it uses by default. */
export const RAW_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xee);
export const RAW_LL = in6('fe80::ee');
export const ALL_NODES = in6('ff02::1');
export const UNSPEC = new Uint8Array(16);

/** Host i gets MAC 02:00:00:00:00:(0a + i). */
export function hostMac(i: number): Uint8Array {
  return Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a + i);
}

export interface Host {
  s: Stack;
  ifp: EtherIf;
  log: MemoryLogger;
  mac: Uint8Array;
  /** The EUI-64 link-local address the stack derives from `mac`. */
  ll: Uint8Array;
}

export interface NetOptions {
  hosts?: number;
  seed?: number;
  latencyMs?: number;
  /** Bring the interfaces up (default true). */
  up?: boolean;
  /** Advance the clock past DAD of the link-local addresses (default true when up). */
  settleDad?: boolean;
  /** Answer NS for RAW_LL from the raw port (default true). */
  rawAnswers?: boolean;
  /**
   * Router discovery (RS at start, RA processing). Off by default so that no
   * Router Solicitation lands in the middle of a test's counters.
   */
  routerDiscovery?: boolean;
  /** The link delivers frames due together as one receive batch (VirtualLinkOptions.batch). */
  batch?: boolean;
}

export interface Net {
  clock: VirtualClock;
  link: VirtualLink;
  hosts: Host[];
  raw: RawPort;
  /** Advance the virtual clock (default 10 ms: enough for every zero-latency hop). */
  run(ms?: number): void;
}

/** DAD of an address takes at most MAX_RTR_SOLICITATION_DELAY + RetransTimer: 2 s with defaults. */
export const DAD_DONE_MS = 3000;

export function makeNet(o: NetOptions = {}): Net {
  const clock = new VirtualClock();
  const rng = new SeededRng(o.seed ?? 1);
  const link = new VirtualLink({ clock, latencyMs: o.latencyMs ?? 0, batch: o.batch ?? false });
  const raw = new RawPort(link.port('raw'), RAW_MAC, () => clock.now());
  if (o.rawAnswers !== false) raw.answerNs(RAW_LL);
  const hosts: Host[] = [];
  const up = o.up !== false;
  for (let i = 0; i < (o.hosts ?? 1); i++) {
    const log = new MemoryLogger();
    const s = new Stack({ clock, rng: rng.fork(), log });
    const mac = hostMac(i);
    const ifp = s.addEthernet({ name: 'vl0', driver: link.port(`h${i}`), mac });
    if (!o.routerDiscovery) s.rtr.config(ifp).acceptRtadv = false;
    if (up) s.up(ifp);
    hosts.push({ s, ifp, log, mac, ll: linkLocalFromMac(mac) });
  }
  if (up && o.settleDad !== false) clock.advance(DAD_DONE_MS);
  return { clock, link, hosts, raw, run: (ms = 10) => clock.advance(ms) };
}

/** Runs the clock until a promise settles (bounded), letting its callbacks run between steps. */
export async function settle<T>(clock: VirtualClock, p: Promise<T>, stepMs = 10, maxMs = 60_000): Promise<T> {
  let done = false;
  let v!: T;
  let e: unknown;
  let failed = false;
  p.then(
    (x) => {
      done = true;
      v = x;
    },
    (x) => {
      done = true;
      failed = true;
      e = x;
    },
  );
  await Promise.resolve();
  for (let t = 0; t <= maxMs && !done; t += stepMs) {
    clock.advance(stepMs);
    await Promise.resolve();
    await Promise.resolve();
  }
  if (failed) throw e;
  if (!done) throw new Error('did not settle');
  return v;
}

// ---- parsing what the stacks send ----------------------------------------

export interface Icmp6Seen {
  type: number;
  code: number;
  /** Checksum verified against the pseudo-header. */
  cksumOk: boolean;
  /** The whole ICMPv6 message. */
  msg: Uint8Array;
  /** The message after the 4-byte type/code/checksum header. */
  body: Uint8Array;
}

export interface Ip6Seen {
  tc: number;
  flow: number;
  plen: number;
  nxt: number;
  hlim: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** The IPv6 packet (header included), trimmed to the payload length. */
  packet: Uint8Array;
  payload: Uint8Array;
}

export interface FrameSeen {
  at: number;
  /** MLD or Router Solicitation: what a stack sends on its own, unasked (see RawPort.traffic). */
  background: boolean;
  bytes: Uint8Array;
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  etherType: number;
  ip6: Ip6Seen | null;
  icmp: Icmp6Seen | null;
}

/** MLD query, reports and done (RFC 2710, RFC 3810), Router Solicitation. */
const BACKGROUND = new Set([130, 131, 132, 133, 143]);

export function parseFrame(bytes: Uint8Array, at = 0): FrameSeen {
  const f: FrameSeen = {
    at,
    bytes,
    ethDst: bytes.subarray(0, 6),
    ethSrc: bytes.subarray(6, 12),
    etherType: bytes.length >= 14 ? (bytes[12]! << 8) | bytes[13]! : -1,
    ip6: null,
    icmp: null,
    background: false,
  };
  if (f.etherType !== ETHERTYPE_IPV6 || bytes.length < 54) return f;
  const p = bytes.subarray(14);
  const plen = (p[4]! << 8) | p[5]!;
  if (p[0]! >>> 4 !== 6 || 40 + plen > p.length) return f;
  const packet = p.subarray(0, 40 + plen);
  f.ip6 = {
    tc: ((p[0]! & 0x0f) << 4) | (p[1]! >>> 4),
    flow: ((p[1]! & 0x0f) << 16) | (p[2]! << 8) | p[3]!,
    plen,
    nxt: p[6]!,
    hlim: p[7]!,
    src: p.subarray(8, 24),
    dst: p.subarray(24, 40),
    packet,
    payload: packet.subarray(40),
  };
  // ICMPv6 right after the header, or after one Hop-by-Hop header (MLD carries Router Alert).
  let upper = f.ip6.payload;
  let nxt = f.ip6.nxt;
  if (nxt === 0 && upper.length >= 8 && (upper[1]! + 1) * 8 <= upper.length) {
    nxt = upper[0]!;
    upper = upper.subarray((upper[1]! + 1) * 8);
  }
  if (nxt === NXT_ICMPV6 && upper.length >= 4) {
    const msg = upper;
    f.icmp = {
      type: msg[0]!,
      code: msg[1]!,
      cksumOk: in6Cksum(msg, 0, msg.length, NXT_ICMPV6, f.ip6.src, f.ip6.dst) === 0,
      msg,
      body: msg.subarray(4),
    };
    f.background = BACKGROUND.has(msg[0]!);
  }
  return f;
}

/** One ND option as found in a message. */
export interface NdOptSeen {
  type: number;
  /** Length in units of 8 octets, as on the wire. */
  len: number;
  data: Uint8Array;
}

/** Walks ND options of an NS/NA body (after the 4-byte ICMPv6 header: flags 4 + target 16). */
export function ndOptions(body: Uint8Array, from = 20): NdOptSeen[] {
  const out: NdOptSeen[] = [];
  let off = from;
  while (off + 2 <= body.length && out.length < 100) {
    const len = body[off + 1]!;
    if (len === 0 || off + len * 8 > body.length) break;
    out.push({ type: body[off]!, len, data: body.subarray(off + 2, off + len * 8) });
    off += len * 8;
  }
  return out;
}

// ---- the raw port ----------------------------------------------------------

/**
 * A port of the virtual link used directly as a LinkDriver: no Ethernet
 * interface, no stack. Every frame on the link is copied into `frames`;
 * `send` puts a hand-made frame on the link. Optionally answers Neighbor
 * Solicitations for its own addresses (so that a stack can send to it).
 */
export class RawPort {
  readonly frames: FrameSeen[] = [];
  private readonly answers: Uint8Array[] = [];
  /** NS answered by the responder. */
  answered = 0;

  constructor(
    readonly port: VirtualPort,
    readonly mac: Uint8Array,
    /** Time source for `FrameSeen.at`. */
    private readonly now: () => number = () => 0,
  ) {
    port.setReceiver((f) => this.rx(f));
  }

  /** Answers NS for `addr` with a solicited NA carrying our MAC (off by default for a bare RawPort). */
  answerNs(addr: Uint8Array): void {
    this.answers.push(addr.slice());
  }

  stopAnswering(): void {
    this.answers.length = 0;
  }

  /** Puts a copy of `frame` on the link; true if the link took it. */
  send(frame: Uint8Array): boolean {
    return this.port.transmit(frame.slice());
  }

  clear(): void {
    this.frames.length = 0;
  }

  /**
   * Frames seen, without the background a stack sends on its own whenever
   * its timers say so (MLD reports, Router Solicitations): what a test caused.
   */
  traffic(): FrameSeen[] {
    return this.frames.filter((f) => !f.background);
  }

  /** IPv6 packets seen (background excluded). */
  ip6(): FrameSeen[] {
    return this.traffic().filter((f) => f.ip6 !== null);
  }

  /** ICMPv6 messages seen, optionally of one type, optionally only those sent from `fromMac`. */
  icmp(type?: number, fromMac?: Uint8Array): FrameSeen[] {
    return this.frames.filter((f) => f.icmp && (type === undefined ? !f.background : f.icmp.type === type) && (!fromMac || eq(f.ethSrc, fromMac)));
  }

  private rx(frame: Uint8Array): void {
    const f = parseFrame(frame.slice(), this.now());
    this.frames.push(f);
    if (!f.icmp || f.icmp.type !== ICMP.NS || !f.icmp.cksumOk || f.icmp.body.length < 20) return;
    const target = f.icmp.body.subarray(4, 20);
    if (!this.answers.some((a) => eq(a, target))) return;
    const dad = isUnspec(f.ip6!.src);
    const dst = dad ? ALL_NODES : f.ip6!.src.slice();
    this.answered++;
    this.send(
      ip6Frame({
        ethDst: dad ? multicastMac(ALL_NODES) : f.ethSrc.slice(),
        ethSrc: this.mac,
        src: target,
        dst,
        hlim: 255,
        nxt: NXT_ICMPV6,
        payload: icmp6Msg(ICMP.NA, 0, naBody(target, (dad ? 0 : NA_S) | NA_O, this.mac), target, dst),
      }),
    );
  }
}

// ---- builders ---------------------------------------------------------------

export function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function isUnspec(a: Uint8Array): boolean {
  return a.every((x) => x === 0);
}

/** RFC 2464 §7: 33:33 and the low 32 bits of the group. */
export function multicastMac(group: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, group[12]!, group[13]!, group[14]!, group[15]!);
}

export interface Ip6Spec {
  src: Uint8Array;
  dst: Uint8Array;
  nxt?: number;
  hlim?: number;
  payload?: Uint8Array;
  /** Payload Length to write (default: the payload's length). */
  plen?: number;
  version?: number;
  tc?: number;
  flow?: number;
}

/** An IPv6 packet, every byte written here. */
export function ip6Packet(s: Ip6Spec): Uint8Array {
  const payload = s.payload ?? new Uint8Array(0);
  const p = new Uint8Array(40 + payload.length);
  const tc = s.tc ?? 0;
  const flow = s.flow ?? 0;
  const plen = s.plen ?? payload.length;
  p[0] = ((s.version ?? 6) << 4) | (tc >>> 4);
  p[1] = ((tc & 0x0f) << 4) | ((flow >>> 16) & 0x0f);
  p[2] = (flow >>> 8) & 0xff;
  p[3] = flow & 0xff;
  p[4] = plen >>> 8;
  p[5] = plen & 0xff;
  p[6] = s.nxt ?? NXT_NONE;
  p[7] = s.hlim ?? 64;
  p.set(s.src, 8);
  p.set(s.dst, 24);
  p.set(payload, 40);
  return p;
}

export function etherFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

export interface Ip6FrameSpec extends Ip6Spec {
  /** Ethernet destination: default the group MAC of a multicast destination; required otherwise. */
  ethDst?: Uint8Array;
  ethSrc?: Uint8Array;
  /** Extra bytes after the packet (link padding). */
  trailer?: number;
}

/** An Ethernet frame carrying an IPv6 packet from the raw port. */
export function ip6Frame(s: Ip6FrameSpec): Uint8Array {
  const ethDst = s.ethDst ?? (s.dst[0] === 0xff ? multicastMac(s.dst) : undefined);
  if (!ethDst) throw new Error('ip6Frame: a unicast destination needs ethDst');
  const pkt = ip6Packet(s);
  const payload = new Uint8Array(pkt.length + (s.trailer ?? 0));
  payload.set(pkt);
  return etherFrame(ethDst, s.ethSrc ?? RAW_MAC, ETHERTYPE_IPV6, payload);
}

/** An ICMPv6 message with a correct checksum for src → dst (or a wrong one if `badCksum`). */
export function icmp6Msg(type: number, code: number, body: Uint8Array, src: Uint8Array, dst: Uint8Array, badCksum = false): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  let ck = in6Cksum(m, 0, m.length, NXT_ICMPV6, src, dst);
  if (badCksum) ck ^= 0x5a5a;
  m[2] = ck >>> 8;
  m[3] = ck & 0xff;
  return m;
}

export function echoBody(id: number, seq: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(4 + data.length);
  b[0] = id >>> 8;
  b[1] = id & 0xff;
  b[2] = seq >>> 8;
  b[3] = seq & 0xff;
  b.set(data, 4);
  return b;
}

/** An ND option: type, length in 8-octet units, data padded with zeros. */
export function ndOpt(type: number, data: Uint8Array): Uint8Array {
  const len = Math.ceil((data.length + 2) / 8);
  const o = new Uint8Array(len * 8);
  o[0] = type;
  o[1] = len;
  o.set(data, 2);
  return o;
}

export const OPT_SLLA = 1;
export const OPT_TLLA = 2;
export const OPT_NONCE = 14;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** NS body (after the ICMPv6 header): reserved, target, then options. */
export function nsBody(target: Uint8Array, o: { slla?: Uint8Array; nonce?: Uint8Array; extra?: Uint8Array } = {}): Uint8Array {
  const fixed = new Uint8Array(20);
  fixed.set(target, 4);
  return concat(fixed, o.slla ? ndOpt(OPT_SLLA, o.slla) : new Uint8Array(0), o.nonce ? ndOpt(OPT_NONCE, o.nonce) : new Uint8Array(0), o.extra ?? new Uint8Array(0));
}

/** NA body: flags, reserved, target, then the TLLA option if given. */
export function naBody(target: Uint8Array, flags: number, tlla?: Uint8Array | null, extra?: Uint8Array): Uint8Array {
  const fixed = new Uint8Array(20);
  fixed[0] = flags;
  fixed.set(target, 4);
  return concat(fixed, tlla ? ndOpt(OPT_TLLA, tlla) : new Uint8Array(0), extra ?? new Uint8Array(0));
}

/** Solicited-node group of `a` (RFC 4291 §2.7.1), written independently of src/. */
export function snode(a: Uint8Array): Uint8Array {
  const g = in6('ff02::1:ff00:0');
  g[13] = a[13]!;
  g[14] = a[14]!;
  g[15] = a[15]!;
  return g;
}

export interface NdSpec {
  src: Uint8Array;
  dst: Uint8Array;
  /** Ethernet destination for a unicast IPv6 destination. */
  ethDst?: Uint8Array;
  ethSrc?: Uint8Array;
  hlim?: number;
  code?: number;
}

/** A complete NS frame from the raw port. */
export function nsFrame(target: Uint8Array, s: NdSpec & { slla?: Uint8Array; nonce?: Uint8Array; extra?: Uint8Array }): Uint8Array {
  const body = nsBody(target, s);
  return ip6Frame({ ...s, nxt: NXT_ICMPV6, hlim: s.hlim ?? 255, payload: icmp6Msg(ICMP.NS, s.code ?? 0, body, s.src, s.dst) });
}

/** A complete NA frame from the raw port. */
export function naFrame(target: Uint8Array, flags: number, s: NdSpec & { tlla?: Uint8Array | null; extra?: Uint8Array }): Uint8Array {
  const body = naBody(target, flags, s.tlla, s.extra);
  return ip6Frame({ ...s, nxt: NXT_ICMPV6, hlim: s.hlim ?? 255, payload: icmp6Msg(ICMP.NA, s.code ?? 0, body, s.src, s.dst) });
}

/** A complete ICMPv6 frame from the raw port. */
export function icmpFrame(type: number, code: number, body: Uint8Array, s: NdSpec & { badCksum?: boolean; trailer?: number }): Uint8Array {
  return ip6Frame({ ...s, nxt: NXT_ICMPV6, hlim: s.hlim ?? 64, payload: icmp6Msg(type, code, body, s.src, s.dst, s.badCksum) });
}

/** The counters that changed between two snapshots, with their deltas, leaving out those named in `ignore`. */
export function changed(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>, ignore: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) {
    const d = after[k]! - (before[k] ?? 0);
    if (d !== 0 && !ignore.includes(k)) out[k] = d;
  }
  return out;
}

/**
 * Lets `h` learn the raw port's MAC for `addr` (an NS with a Source
 * Link-Layer Address option, RFC 4861 §7.2.3), so that what it sends to the
 * raw port goes out at once, without a resolution exchange in the middle of
 * a test's counters. The entry is STALE; the first packet moves it to DELAY.
 */
export function introduce(net: Net, h: Host, addr: Uint8Array = RAW_LL): void {
  net.raw.send(nsFrame(h.ll, { src: addr, dst: h.ll, ethDst: h.mac, slla: net.raw.mac }));
  net.run();
}

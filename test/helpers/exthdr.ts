/**
 * Crafting packets with extension headers for the tests of dest6, route6,
 * frag6, PMTU and jumbograms: a header chain builder over the wire module
 * (src/ip6/exthdr.ts, itself checked by test/ip6/exthdr.test.ts), fragment
 * builders, and a virtual network whose link MTU can be raised past 1500
 * (for chains longer than an Ethernet frame).
 */
import type { ExecutionContext } from 'ava';
import { VirtualClock } from '../../src/core/clock.ts';
import { MemoryLogger } from '../../src/core/log.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { linkLocalFromMac } from '../../src/ip6/addr.ts';
import { type Ip6Option, emitFragment, emitOptions, emitRouting, optionsBufferLen, parseFragment, routingBufferLen } from '../../src/ip6/exthdr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import {
  DAD_DONE_MS,
  ETHERTYPE_IPV6,
  type FrameSeen,
  type Host,
  ICMP,
  type Net,
  RAW_LL,
  RAW_MAC,
  RawPort,
  changed,
  echoBody,
  eq,
  etherFrame,
  hostMac,
  icmp6Msg,
  introduce,
  ip6Frame,
  ip6Packet,
  makeNet,
  multicastMac,
} from './stack.ts';

export const NXT = { HOPOPTS: 0, ROUTING: 43, FRAGMENT: 44, ICMPV6: 58, NONE: 59, DSTOPTS: 60, TEST: 253 } as const;

/** RFC 4727 experimental option types, one per action (the two high-order bits, RFC 8200 §4.2). */
export const OPT_EXP = [0x1e, 0x5e, 0x9e, 0xde] as const;

export type ExtSpec =
  | { kind: 'hbh' | 'dst'; options?: Ip6Option[] }
  | { kind: 'rt'; type: number; segmentsLeft: number; data?: Uint8Array }
  | { kind: 'frag'; offset: number; more: boolean; id: number }
  /** Hand-made bytes (malformed headers); byte 0 is overwritten with the next header. */
  | { kind: 'raw'; bytes: Uint8Array };

export function opt(type: number, ...data: number[]): Ip6Option {
  return { type, data: Uint8Array.from(data) };
}

const NXT_OF = { hbh: NXT.HOPOPTS, dst: NXT.DSTOPTS, rt: NXT.ROUTING, frag: NXT.FRAGMENT } as const;

export interface Chain {
  /** Next header for the IPv6 header. */
  nxt: number;
  /** Everything after the IPv6 header. */
  payload: Uint8Array;
  /** Offset of each extension header from the start of the IPv6 packet (what a Parameter Problem pointer counts). */
  at: number[];
  /** Offset of the upper-layer data from the start of the IPv6 packet. */
  upperAt: number;
}

function specLen(s: ExtSpec): number {
  switch (s.kind) {
    case 'hbh':
    case 'dst':
      return optionsBufferLen({ nextHeader: 0, options: s.options ?? [] });
    case 'rt':
      return routingBufferLen({ nextHeader: 0, type: s.type, segmentsLeft: s.segmentsLeft, data: s.data ?? new Uint8Array(4) });
    case 'frag':
      return 8;
    case 'raw':
      return s.bytes.length;
  }
}

/**
 * The headers in `specs`, in order, then `upper` as the data of protocol
 * `last`. `rawNxt` names the protocol a 'raw' header stands for (default
 * Destination Options).
 */
export function chain(specs: ExtSpec[], last: number, upper: Uint8Array = new Uint8Array(0), rawNxt: number = NXT.DSTOPTS): Chain {
  const lens = specs.map(specLen);
  const payload = new Uint8Array(lens.reduce((a, n) => a + n, 0) + upper.length);
  const at: number[] = [];
  let off = 0;
  specs.forEach((s, i) => {
    const next = i + 1 < specs.length ? kindNxt(specs[i + 1]!, rawNxt) : last;
    at.push(40 + off);
    switch (s.kind) {
      case 'hbh':
      case 'dst':
        emitOptions({ nextHeader: next, options: s.options ?? [] }, payload, off);
        break;
      case 'rt':
        emitRouting({ nextHeader: next, type: s.type, segmentsLeft: s.segmentsLeft, data: s.data ?? new Uint8Array(4) }, payload, off);
        break;
      case 'frag':
        emitFragment({ nextHeader: next, offset: s.offset, more: s.more, id: s.id }, payload, off);
        break;
      case 'raw':
        payload.set(s.bytes, off);
        payload[off] = next;
        break;
    }
    off += lens[i]!;
  });
  payload.set(upper, off);
  return { nxt: specs.length ? kindNxt(specs[0]!, rawNxt) : last, payload, at, upperAt: 40 + off };
}

function kindNxt(s: ExtSpec, rawNxt: number): number {
  return s.kind === 'raw' ? rawNxt : NXT_OF[s.kind];
}

export interface FragSpec {
  src: Uint8Array;
  dst: Uint8Array;
  ethDst: Uint8Array;
  /** Protocol of the fragmentable part (default ICMPv6). */
  nxt?: number;
  id: number;
  /** Headers repeated in front of the Fragment header (the unfragmentable part). */
  unfrag?: ExtSpec[];
}

/** One fragment frame: `data` is the piece of the fragmentable part that starts at byte `offset`. */
export function fragFrame(s: FragSpec, offset: number, data: Uint8Array, more: boolean): Uint8Array {
  const c = chain([...(s.unfrag ?? []), { kind: 'frag', offset, more, id: s.id }], s.nxt ?? NXT.ICMPV6, data);
  return ip6Frame({ src: s.src, dst: s.dst, ethDst: s.ethDst, nxt: c.nxt, payload: c.payload });
}

/** Cuts `whole` into pieces of the given sizes (the last piece takes the rest) and returns one frame per piece, in order. */
export function fragFrames(s: FragSpec, whole: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (let i = 0; off < whole.length || i === 0; i++) {
    const n = i < sizes.length ? Math.min(sizes[i]!, whole.length - off) : whole.length - off;
    out.push(fragFrame(s, off, whole.subarray(off, off + n), off + n < whole.length));
    off += n;
  }
  return out;
}

/** What a fragment the stack sent looks like (IPv6 header then the Fragment header). */
export interface FragSeen {
  id: number;
  offset: number;
  more: boolean;
  nxt: number;
  /** Fragment data (after the Fragment header). */
  data: Uint8Array;
  /** Length of the whole IPv6 packet. */
  packetLen: number;
}

export function fragmentsSent(frames: FrameSeen[]): FragSeen[] {
  const out: FragSeen[] = [];
  for (const f of frames) {
    if (!f.ip6 || f.ip6.nxt !== NXT.FRAGMENT) continue;
    const r = parseFragment(f.ip6.payload, 0);
    if (!r.ok) continue;
    const { nextHeader, offset, more, id } = r.value.repr;
    out.push({ id, offset, more, nxt: nextHeader, data: f.ip6.payload.subarray(8), packetLen: f.ip6.packet.length });
  }
  return out;
}

/** Puts fragments of one datagram back together (in offset order); null if there is a hole. */
export function reassemble(frags: FragSeen[]): Uint8Array | null {
  const sorted = [...frags].sort((a, b) => a.offset - b.offset);
  const last = sorted[sorted.length - 1];
  if (!last || last.more) return null;
  const out = new Uint8Array(last.offset + last.data.length);
  let covered = 0;
  for (const f of sorted) {
    if (f.offset !== covered) return null;
    out.set(f.data, f.offset);
    covered += f.data.length;
  }
  return out;
}

/** The 32-bit parameter (pointer, MTU) of an ICMPv6 error body. */
export function param(body: Uint8Array): number {
  return ((body[0]! << 24) | (body[1]! << 16) | (body[2]! << 8) | body[3]!) >>> 0;
}

/** ICMPv6 error messages (types 1 to 4) among `frames`. */
export function errorsIn(frames: FrameSeen[]): FrameSeen[] {
  return frames.filter((f) => f.icmp && f.icmp.type >= 1 && f.icmp.type <= 4);
}

/**
 * Like makeNet (test/helpers/stack.ts) with one host, but the link and the
 * host's interface carry `mtu` bytes: for chains of headers longer than an
 * Ethernet frame.
 */
export function makeNetMtu(mtu: number, seed = 1): Net {
  const clock = new VirtualClock();
  const rng = new SeededRng(seed);
  const link = new VirtualLink({ clock, mtu });
  const raw = new RawPort(link.port('raw'), RAW_MAC, () => clock.now());
  raw.answerNs(RAW_LL);
  const log = new MemoryLogger();
  const s = new Stack({ clock, rng: rng.fork(), log });
  const mac = hostMac(0);
  const ifp = s.addEthernet({ name: 'vl0', driver: link.port('h0'), mac, mtu });
  s.rtr.config(ifp).acceptRtadv = false;
  s.up(ifp);
  const host: Host = { s, ifp, log, mac, ll: linkLocalFromMac(mac) };
  clock.advance(DAD_DONE_MS);
  return { clock, link, hosts: [host], raw, run: (ms = 10) => clock.advance(ms) };
}

// ---- a rig: one host, the raw port, and what came back -------------------------

export interface Sent {
  /** ip6stat and icmp6stat counters that moved, with their deltas (absent: did not move). */
  ip6: Partial<Record<string, number>>;
  icmp6: Partial<Record<string, number>>;
  /** Every frame the raw port saw meanwhile. */
  seen: FrameSeen[];
  /** ICMPv6 errors (types 1-4) and echo replies among them. */
  errors: FrameSeen[];
  replies: FrameSeen[];
}

export interface Crafted {
  /** The IPv6 packet as sent (what an error must quote). */
  packet: Uint8Array;
  frame: Uint8Array;
}

export interface XRig {
  net: Net;
  h: Host;
  /** Puts frames on the link, runs the clock `ms` (default 10), and reports what changed and came back. */
  send(frames: Uint8Array | Uint8Array[], ms?: number): Sent;
  /** A packet from the raw port (RAW_LL) carrying `c`, to the host's link-local address unless told. */
  craft(c: Chain, o?: { dst?: Uint8Array; src?: Uint8Array; plen?: number }): Crafted;
  /** An Echo Request message (checksummed for src → dst). */
  echo(o?: { id?: number; seq?: number; data?: Uint8Array; dst?: Uint8Array; src?: Uint8Array }): Uint8Array;
}

/**
 * One host on a virtual link with the raw port as its neighbour (already
 * known, so that answers go out at once), and an error rate limit high
 * enough not to get in the way (ratelimit.test.ts tests it).
 */
export function xrig(o: { mtu?: number; seed?: number } = {}): XRig {
  const net = o.mtu ? makeNetMtu(o.mtu, o.seed) : makeNet({ seed: o.seed ?? 1 });
  const h = net.hosts[0]!;
  introduce(net, h);
  h.s.icmp6.setRateLimit({ ratePerSec: 100_000, burst: 100_000 });
  net.run(1000);
  net.raw.clear();
  return {
    net,
    h,
    send(frames, ms = 10) {
      const b6 = h.s.ip6.stats.snapshot();
      const bi = h.s.icmp6.stats.snapshot();
      const from = net.raw.frames.length;
      for (const f of Array.isArray(frames) ? frames : [frames]) net.raw.send(f);
      net.run(ms);
      const seen = net.raw.frames.slice(from);
      return {
        ip6: changed(b6, h.s.ip6.stats.snapshot()),
        icmp6: changed(bi, h.s.icmp6.stats.snapshot()),
        seen,
        errors: errorsIn(seen),
        replies: seen.filter((f) => f.icmp?.type === ICMP.ECHO_REPLY),
      };
    },
    craft(c, x = {}) {
      const dst = x.dst ?? h.ll;
      const packet = ip6Packet({ src: x.src ?? RAW_LL, dst, nxt: c.nxt, payload: c.payload, plen: x.plen });
      const ethDst = dst[0] === 0xff ? multicastMac(dst) : h.mac;
      return { packet, frame: etherFrame(ethDst, RAW_MAC, ETHERTYPE_IPV6, packet) };
    },
    echo(x = {}) {
      return icmp6Msg(ICMP.ECHO_REQUEST, 0, echoBody(x.id ?? 0x1234, x.seq ?? 1, x.data ?? Uint8Array.from({ length: 16 }, (_, i) => i)), x.src ?? RAW_LL, x.dst ?? h.ll);
    },
  };
}

/** Largest quote that keeps an error within the IPv6 minimum MTU: 1280 - 40 - 8. */
export const MAX_QUOTE = 1232;

export interface ErrorWant {
  type: number;
  code: number;
  /** Pointer (Parameter Problem), MTU (Packet Too Big), 0 otherwise. */
  param: number;
}

/**
 * Checks one ICMPv6 error: type, code, parameter, a correct checksum, sent to
 * the raw port, at most 1280 bytes, quoting `packet` unchanged (as much as fits).
 */
export function checkError(t: ExecutionContext, e: FrameSeen | undefined, want: ErrorWant, packet: Uint8Array, what = ''): void {
  const m = what ? `${what}: ` : '';
  if (!e?.icmp || !e.ip6) {
    t.fail(`${m}no ICMPv6 error came back`);
    return;
  }
  t.deepEqual({ type: e.icmp.type, code: e.icmp.code, param: param(e.icmp.body) }, want, `${m}type, code and parameter`);
  t.true(e.icmp.cksumOk, `${m}checksum`);
  t.true(eq(e.ip6.dst, RAW_LL), `${m}sent to the offending source`);
  t.true(e.ip6.packet.length <= 1280, `${m}within the minimum MTU`);
  const quoted = e.icmp.body.subarray(4);
  const want2 = packet.subarray(0, Math.min(packet.length, MAX_QUOTE));
  t.is(quoted.length, want2.length, `${m}quote length`);
  t.true(eq(quoted, want2), `${m}the offending packet is quoted unchanged`);
}

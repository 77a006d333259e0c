/**
 * AH, the Authentication Header (RFC 4302), for transport and tunnel mode
 * over IPv6.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Header   |  Payload Len  |          RESERVED             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Security Parameters Index (SPI)               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Sequence Number Field                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   +                Integrity Check Value-ICV (variable)           |
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Offsets: next header 0, payload len 1 (AH length in 32-bit words minus 2),
 * reserved 2 (zero on output, ignored on input), SPI 4, sequence 8, ICV 12.
 * In IPv6 the header is a multiple of 8 bytes (§3.3.3.2.1): HMAC-SHA1-96
 * gives 12 + 12 = 24; HMAC-SHA-256-128 gives 12 + 16 + 4 bytes of zero ICV
 * padding = 32.
 *
 * The ICV (§3.3.3) covers the whole IPv6 packet with the fields that change
 * in transit taken as zero:
 *   - IPv6 header: Traffic Class, Flow Label and Hop Limit zeroed; Version,
 *     Payload Length, Next Header, Source included. Destination: with a
 *     Routing header whose Segments Left > 0 it would be the final
 *     destination (§3.3.3.1.2) — this stack implements no routing type: on
 *     output such a header is refused, on input one that is not yet
 *     processed is dropped (route6 has already dropped those before AH).
 *   - Hop-by-Hop and Destination Options: each option whose type has the
 *     0x20 bit (RFC 8200 §4.2: "may change en route") has its data zeroed.
 *   - Routing header (Segments Left 0 here): included as it stands, which is
 *     what the sender predicted for the final destination.
 *   - Fragment header before AH: refused — AH is applied before
 *     fragmentation and verified after reassembly, so only an atomic
 *     fragment (RFC 6946, deprecated by RFC 8021) would carry one.
 *   - AH itself with the ICV field (and its padding) zeroed; then the payload.
 *   - With ESN the high 32 bits of the sequence number are appended for the
 *     computation only (§3.3.3.2.1, Appendix B).
 * The packet's mutable bytes are zeroed in place for the computation and
 * restored after, so the caller's buffer is unchanged and nothing the size
 * of the payload is copied.
 *
 * Output (`ahEncapsulate`): given the IPv6 header and the extension headers
 * that precede AH, the payload after it (the transport payload, or the inner
 * packet in tunnel mode with next header 41), returns the whole new packet.
 * Input (`ahDecapsulate`): `b` begins with the IPv6 header and `off` is the
 * AH header; returns the next header and the AH length to skip. Same replay
 * rules as ESP: check, verify, then update the window.
 */
import { getU32, putU16, putU32 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';
import { IP6_HDR_LEN, IP6_HLIM, IP6_NXT, IP6_PLEN } from '../ip6/header.ts';
import { IPPROTO } from '../ip6/protosw.ts';
import type { AhXform } from './crypto.ts';
import { type IpsecEnv, count } from './env.ts';
import { REPLAY_DUP, REPLAY_OLD } from './replay.ts';
import type { SecAssoc } from './sad.ts';

export const AH_NXT = 0;
export const AH_LEN = 1;
export const AH_RESERVED = 2;
export const AH_SPI = 4;
export const AH_SEQ = 8;
export const AH_ICV = 12;
/** The option type bit meaning "option data may change en route" (RFC 8200 §4.2). */
export const OPT_MUTABLE = 0x20;

const TWO32 = 0x1_0000_0000;

export type AhOutError = 'outSaUnusable' | 'outSeqOverflow' | 'outBadRthdr' | 'outBadHeader' | 'outTooBig';
export type AhInError = 'inSaUnusable' | 'inBadLength' | 'inReplay' | 'inTooOld' | 'inAuthFail' | 'inAhRthdr' | 'inBadHeader' | 'inBadMode';

export interface AhInput {
  /** Next header after AH. */
  nxt: number;
  /** Bytes of AH to skip. */
  len: number;
  /** The full (64-bit with ESN) sequence number. */
  seq: number;
}

export interface AhOutputArgs {
  /** IPv6 header and the extension headers that go before AH (payload length is rewritten). */
  hdr: Uint8Array;
  /** What AH protects after itself: the upper-layer payload, or the inner packet (tunnel). */
  payload: Uint8Array;
  /** Next header of `payload` (41 in tunnel mode). */
  nxt: number;
  /** Free bytes in front of the packet in the returned buffer (for the link header). */
  headroom?: number;
}

function xformOf(sa: SecAssoc): AhXform {
  if (!sa.ah) throw new Error(`${sa}: not an AH SA`);
  return sa.ah;
}

/** Bytes of the AH header for a transform: 12 + ICV, padded to 8 (IPv6). */
export function ahLength(xf: AhXform): number {
  return (AH_ICV + xf.icvLen + 7) & ~7;
}

export function ahOverhead(sa: SecAssoc): number {
  return ahLength(xformOf(sa));
}

/** Builds the packet hdr ‖ AH ‖ payload and fills in the ICV. */
export function ahEncapsulate(env: IpsecEnv, sa: SecAssoc, a: AhOutputArgs): Result<Uint8Array, AhOutError> {
  const xf = xformOf(sa);
  if (!sa.usable) return err(count(env, 'outSaUnusable'));
  const hdr = a.hdr;
  const ahLen = ahLength(xf);
  const total = hdr.length + ahLen + a.payload.length;
  if (hdr.length < IP6_HDR_LEN || hdr[0]! >>> 4 !== 6) return err(count(env, 'outBadHeader'));
  if (total - IP6_HDR_LEN > 0xffff) return err(count(env, 'outTooBig'));
  const headroom = a.headroom ?? 0;
  const buf = new Uint8Array(headroom + total);
  const out = headroom ? buf.subarray(headroom) : buf;
  out.set(hdr, 0);
  // Walk the headers before AH: the last next-header byte will name AH.
  const walk = walkHeaders(out, hdr.length);
  if (walk < 0) return err(count(env, walk === WALK_RTHDR ? 'outBadRthdr' : 'outBadHeader'));
  if (walk !== hdr.length) return err(count(env, 'outBadHeader'));
  const seq = sa.seq >= sa.seqMax ? -1 : ++sa.seq;
  if (seq < 0) return err(count(env, 'outSeqOverflow'));
  out[lastNxtOff(out, hdr.length)] = IPPROTO.AH;
  putU16(out, IP6_PLEN, total - IP6_HDR_LEN);
  const ah = hdr.length;
  out[ah + AH_NXT] = a.nxt;
  out[ah + AH_LEN] = ahLen / 4 - 2;
  putU16(out, ah + AH_RESERVED, 0);
  putU32(out, ah + AH_SPI, sa.spi);
  putU32(out, ah + AH_SEQ, seq >>> 0);
  out.fill(0, ah + AH_ICV, ah + ahLen);
  out.set(a.payload, ah + ahLen);
  const saved = out.slice(0, ah);
  zeroMutable(out, ah);
  xf.mac.compute(out, 0, total, sa.esn ? seqHi(sa, seq) : null, out, ah + AH_ICV);
  out.set(saved, 0);
  sa.account(a.payload.length, env.clock.now());
  env.stats.c.outAh++;
  env.stats.c.outSuccess++;
  return ok(out);
}

/**
 * Verifies the AH header at `b[off]` of the IPv6 packet `b` (which begins
 * with its IPv6 header and ends with its payload) with `sa`, found by the
 * caller from the SPI.
 */
export function ahDecapsulate(env: IpsecEnv, sa: SecAssoc, b: Uint8Array, off: number): Result<AhInput, AhInError> {
  const xf = xformOf(sa);
  env.stats.c.inAh++;
  if (!sa.usable) return err(count(env, 'inSaUnusable'));
  const ahLen = ahLength(xf);
  if (off < IP6_HDR_LEN || off + ahLen > b.length || (b[off + AH_LEN]! + 2) * 4 !== ahLen) return err(count(env, 'inBadLength'));
  const walk = walkHeaders(b, off);
  if (walk === WALK_RTHDR) return err(count(env, 'inAhRthdr'));
  if (walk !== off || b[lastNxtOff(b, off)] !== IPPROTO.AH) return err(count(env, 'inBadHeader'));
  const seq = sa.replay.check(getU32(b, off + AH_SEQ));
  if (seq === REPLAY_DUP) {
    sa.counters.replay++;
    return err(count(env, 'inReplay'));
  }
  if (seq === REPLAY_OLD) {
    sa.counters.tooOld++;
    return err(count(env, 'inTooOld'));
  }
  // Zero the mutable fields and the ICV field in place, verify, restore.
  const saved = b.slice(0, off + ahLen);
  zeroMutable(b, off);
  b.fill(0, off + AH_ICV, off + ahLen);
  const good = xf.mac.verify(b, 0, b.length, sa.esn ? seqHi(sa, seq) : null, saved, off + AH_ICV);
  b.set(saved, 0);
  if (!good) {
    sa.counters.authFail++;
    return err(count(env, 'inAuthFail'));
  }
  sa.replay.update(seq);
  const nxt = b[off + AH_NXT]!;
  if (sa.mode === 'tunnel' && nxt !== IPPROTO.IPV6 && nxt !== IPPROTO.IPV4) return err(count(env, 'inBadMode'));
  sa.account(b.length - off - ahLen, env.clock.now());
  env.stats.c.inSuccess++;
  return ok({ nxt, len: ahLen, seq });
}

function seqHi(sa: SecAssoc, seq: number): Uint8Array {
  putU32(sa.scratch.hi, 0, Math.floor(seq / TWO32));
  return sa.scratch.hi;
}

const WALK_BAD = -1;
const WALK_RTHDR = -2;

/**
 * Walks the extension headers from the IPv6 header up to `end` (where AH
 * is or goes). Returns the offset reached (== end when the chain lines up),
 * WALK_RTHDR for a Routing header with Segments Left > 0, WALK_BAD for a
 * header that is not allowed before AH or overruns the bytes. Bounded by
 * `end` (every header is at least 8 bytes).
 */
function walkHeaders(b: Uint8Array, end: number): number {
  let nxt = b[IP6_NXT]!;
  let off = IP6_HDR_LEN;
  while (off < end) {
    if (off + 8 > end) return WALK_BAD;
    const len = (b[off + 1]! + 1) * 8;
    if (off + len > end) return WALK_BAD;
    switch (nxt) {
      case IPPROTO.HOPOPTS:
      case IPPROTO.DSTOPTS:
        if (!optionsOk(b, off, len)) return WALK_BAD;
        break;
      case IPPROTO.ROUTING:
        if (b[off + 3] !== 0) return WALK_RTHDR;
        break;
      default:
        // Fragment, ESP, AH (nesting), upper layers: not before AH.
        return WALK_BAD;
    }
    nxt = b[off]!;
    off += len;
  }
  return off;
}

/** Offset of the next-header byte that names the header at `end`. */
function lastNxtOff(b: Uint8Array, end: number): number {
  let at = IP6_NXT;
  let off = IP6_HDR_LEN;
  while (off < end) {
    at = off;
    off += (b[off + 1]! + 1) * 8;
  }
  return at;
}

/** TLV lengths of an options header stay inside it. */
function optionsOk(b: Uint8Array, off: number, len: number): boolean {
  const end = off + len;
  let i = off + 2;
  while (i < end) {
    if (b[i] === 0) {
      i++;
      continue;
    }
    if (i + 2 > end || i + 2 + b[i + 1]! > end) return false;
    i += 2 + b[i + 1]!;
  }
  return true;
}

/** Zeroes, in place, the mutable fields of the headers before `end` (checked by walkHeaders). */
function zeroMutable(b: Uint8Array, end: number): void {
  b[0] = 0x60; // version 6; traffic class high nibble 0
  b[1] = 0; // traffic class low nibble, flow label
  b[2] = 0;
  b[3] = 0;
  b[IP6_HLIM] = 0;
  let nxt = b[IP6_NXT]!;
  let off = IP6_HDR_LEN;
  while (off < end) {
    const len = (b[off + 1]! + 1) * 8;
    if (nxt === IPPROTO.HOPOPTS || nxt === IPPROTO.DSTOPTS) {
      let i = off + 2;
      while (i < off + len) {
        const type = b[i]!;
        if (type === 0) {
          i++;
          continue;
        }
        const olen = b[i + 1]!;
        if (type & OPT_MUTABLE) b.fill(0, i + 2, i + 2 + olen);
        i += 2 + olen;
      }
    }
    nxt = b[off]!;
    off += len;
  }
}

/**
 * IPComp, IP Payload Compression (RFC 3173), with DEFLATE (RFC 2394) from
 * node:zlib (raw deflate: no zlib header or checksum), KAME-style.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |     Flags     | Compression Parameter Index   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   ~           compressed payload (one raw DEFLATE stream)         ~
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Offsets: next header 0, flags 1 (sent 0, ignored on receipt, §2.2), CPI 2.
 * Protocol number 108. CPIs 1-63 are well-known algorithm numbers (2:
 * DEFLATE), 64-255 reserved, 256-61439 negotiated, 61440-65535 private
 * (§3.3).
 *
 * Output (`ipcompCompress`): each datagram is compressed on its own, no
 * history (RFC 2394 §2). A payload shorter than IPCOMP_MINLEN (KAME's
 * threshold for DEFLATE, 90 bytes) is sent as it is, and so is one whose
 * compressed form with the IPComp header would not be smaller (§2.2: the
 * original MUST be sent when the compressed block is not smaller; we also
 * refuse to grow the packet by the 4-byte header). Both are counted; an
 * IPComp request is level `use`, so sending uncompressed is always allowed.
 *
 * Input (`ipcompDecompress`): the decompressed size is bounded by what an
 * IPv6 payload may hold (65,535 bytes less the headers before IPComp):
 * inflating past it stops and the packet is dropped (inIpcompTooBig), so a
 * small packet cannot expand into an unbounded buffer. Corrupt or truncated
 * DEFLATE data is inIpcompBadData; IPComp inside IPComp is refused
 * (inIpcompNested: a second layer could only multiply the expansion).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { getU16, putU16 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';
import { type IpsecEnv, count } from './env.ts';
import type { SecAssoc } from './sad.ts';

export const IPPROTO_IPCOMP = 108;
export const IPCOMP_NXT = 0;
export const IPCOMP_FLAGS = 1;
export const IPCOMP_CPI = 2;
export const IPCOMP_HDR_LEN = 4;
/** Well-known CPI of DEFLATE (RFC 2394 §3, the IPCOMP transform identifier). */
export const IPCOMP_CPI_DEFLATE = 2;
/** First CPI that is not a well-known or reserved value (RFC 3173 §3.3). */
export const IPCOMP_CPI_NEGOTIATE_MIN = 256;
/** Payloads shorter than this are not compressed (KAME's minlen for DEFLATE). */
export const IPCOMP_MINLEN = 90;
/** Largest IPv6 payload (no jumbograms here). */
const MAX_PLEN = 0xffff;

export type IpcompInError = 'inBadLength' | 'inIpcompBadData' | 'inIpcompTooBig' | 'inIpcompNested';

/**
 * Compresses `payload` (next header `nxt`) for `sa`: the IPComp header and
 * the compressed data in a new buffer, or null when the payload is sent as
 * it is (too short, or not smaller: counted outIpcompSmall /
 * outIpcompIncompressible).
 */
export function ipcompCompress(env: IpsecEnv, sa: SecAssoc, payload: Uint8Array, nxt: number): Uint8Array | null {
  if (payload.length < IPCOMP_MINLEN) {
    env.stats.c.outIpcompSmall++;
    return null;
  }
  const z = deflateRawSync(payload);
  if (IPCOMP_HDR_LEN + z.length >= payload.length) {
    env.stats.c.outIpcompIncompressible++;
    return null;
  }
  const out = new Uint8Array(IPCOMP_HDR_LEN + z.length);
  out[IPCOMP_NXT] = nxt;
  out[IPCOMP_FLAGS] = 0;
  putU16(out, IPCOMP_CPI, sa.cpi);
  out.set(z, IPCOMP_HDR_LEN);
  sa.account(payload.length, env.clock.now());
  env.stats.c.outIpcomp++;
  env.stats.c.outSuccess++;
  return out;
}

export interface IpcompInput {
  nxt: number;
  /** The decompressed payload (a new buffer). */
  data: Uint8Array;
}

/** Reads the CPI of the IPComp header at `b[off]` (the caller checked 4 bytes are there). */
export function ipcompCpi(b: Uint8Array, off: number): number {
  return getU16(b, off + IPCOMP_CPI);
}

/**
 * Decompresses the IPComp header and data in `b[off, end)`; `maxLen` is the
 * most the decompressed payload may hold. Counts its drops.
 */
export function ipcompDecompress(env: IpsecEnv, b: Uint8Array, off: number, end: number, maxLen: number): Result<IpcompInput, IpcompInError> {
  if (off + IPCOMP_HDR_LEN > end) return err(count(env, 'inBadLength'));
  const nxt = b[off + IPCOMP_NXT]!;
  if (nxt === IPPROTO_IPCOMP) return err(count(env, 'inIpcompNested'));
  if (maxLen < 1) return err(count(env, 'inIpcompTooBig'));
  let data: Uint8Array;
  try {
    data = inflateRawSync(b.subarray(off + IPCOMP_HDR_LEN, end), { maxOutputLength: Math.min(maxLen, MAX_PLEN) });
  } catch (e) {
    return err(count(env, (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'inIpcompTooBig' : 'inIpcompBadData'));
  }
  env.stats.c.inIpcomp++;
  return ok({ nxt, data });
}

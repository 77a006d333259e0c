/**
 * Neighbor Discovery options (RFC 4861 §4.6).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |    Length     |              ...              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length is in units of 8 octets; 0 is invalid and the whole message must be
 * discarded (§4.6). Source/Target Link-Layer Address (types 1 and 2, §4.6.1)
 * carry a 6-byte MAC on Ethernet; the Nonce option (type 14, RFC 3971 §5.3.2)
 * lets DAD recognise its own looped-back probes (RFC 7527).
 */
import { err, ok, type Result } from '../core/result.ts';

export const NdOpt = {
  SOURCE_LL: 1,
  TARGET_LL: 2,
  PREFIX_INFO: 3,
  REDIRECTED_HDR: 4,
  MTU: 5,
  NONCE: 14,
} as const;

/** At most this many options are walked per message by default (KAME's nd6_maxndopt: a bound on work per packet). */
export const MAX_ND_OPTIONS = 10;

export type NdOptError = 'optZeroLength' | 'optTruncated' | 'optTooMany';

export interface NdOptions {
  /** Link-layer address bytes (views) of the Source/Target LLA options, if present. */
  srcLl: Uint8Array | null;
  tgtLl: Uint8Array | null;
  nonce: Uint8Array | null;
  /** Options seen that this parser does not interpret (they are ignored, §4.6). */
  other: number;
}

/** Walks the options in `b[off..end)`. Never throws. */
export function parseNdOptions(b: Uint8Array, off: number, end: number, maxOptions = MAX_ND_OPTIONS): Result<NdOptions, NdOptError> {
  const o: NdOptions = { srcLl: null, tgtLl: null, nonce: null, other: 0 };
  let n = 0;
  while (off < end) {
    if (++n > maxOptions) return err('optTooMany');
    if (off + 2 > end) return err('optTruncated');
    const type = b[off]!;
    const len = b[off + 1]! * 8;
    if (len === 0) return err('optZeroLength');
    if (off + len > end) return err('optTruncated');
    const data = b.subarray(off + 2, off + len);
    switch (type) {
      case NdOpt.SOURCE_LL:
        o.srcLl = data.subarray(0, 6);
        break;
      case NdOpt.TARGET_LL:
        o.tgtLl = data.subarray(0, 6);
        break;
      case NdOpt.NONCE:
        o.nonce = data;
        break;
      default:
        o.other++;
    }
    off += len;
  }
  return ok(o);
}

/** Bytes of a link-layer address option for a 6-byte MAC. */
export const LLA_OPT_LEN = 8;

/** Writes a Source or Target Link-Layer Address option (8 bytes) at `off`. */
export function emitLlaOption(type: number, mac: Uint8Array, out: Uint8Array, off: number): void {
  out[off] = type;
  out[off + 1] = 1;
  out.set(mac.subarray(0, 6), off + 2);
}

/** Writes a Nonce option carrying 6 bytes (8 bytes in all) at `off`. */
export function emitNonceOption(nonce: Uint8Array, out: Uint8Array, off: number): void {
  out[off] = NdOpt.NONCE;
  out[off + 1] = 1;
  out.set(nonce.subarray(0, 6), off + 2);
}

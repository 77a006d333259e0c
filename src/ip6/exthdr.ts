/**
 * IPv6 extension headers on the wire (RFC 8200 §4): the options headers
 * (Hop-by-Hop §4.3, Destination Options §4.6), the Routing header (§4.4) and
 * the Fragment header (§4.5). Layout only: what a header means to the stack
 * is decided in dest6.ts, route6.ts and frag6.ts.
 *
 * Options header (Hop-by-Hop and Destination Options have the same shape):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |  Hdr Ext Len  |                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *   |                            Options                            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Hdr Ext Len counts the 8-octet units after the first 8, so a header is 8
 * to 2,048 bytes long. Each option is a TLV (§4.2):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
 *   |  Option Type  |  Opt Data Len |  Option Data
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
 *
 * except Pad1 (type 0), a single byte. Pad1 and PadN (type 1) only fill:
 * `parseOptions` drops them and returns the other options; `emitOptions`
 * inserts them where the alignment rules of known options ask (Jumbo Payload
 * 4n+2, RFC 2675 §2; Router Alert 2n+0, RFC 2711 §2.1) and at the end to
 * reach a multiple of 8 bytes.
 *
 * Routing header:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |  Hdr Ext Len  |  Routing Type | Segments Left |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   .                       type-specific data                      .
 *   |                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Fragment header (always 8 bytes):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         Identification                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Contract: `parseX(b, off)` checks every length against the bytes present
 * and never throws; it returns the header's repr (option data and
 * type-specific data are views into `b`, not copies) and its length on the
 * wire. Reserved bits are ignored on input (§4.5) and written as zero.
 * `emitX(repr, out, off)` writes every byte of the header (`xBufferLen(repr)`
 * of them) and throws only for a repr that no header can carry.
 */
import { getU16, getU32, putU16, putU32 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';

/** Offsets common to the options and Routing headers. */
export const EXT_NXT = 0;
export const EXT_LEN = 1;
/** Offsets within an option TLV. */
export const OPT_TYPE = 0;
export const OPT_LEN = 1;
export const OPT_DATA = 2;
/** Offsets in the Routing header. */
export const RTHDR_TYPE = 2;
export const RTHDR_SEGLEFT = 3;
export const RTHDR_DATA = 4;
/** Offsets in the Fragment header. */
export const FRAG_RESERVED = 1;
export const FRAG_OFFLG = 2;
export const FRAG_IDENT = 4;
export const FRAG_HDR_LEN = 8;
/** The largest options or Routing header: Hdr Ext Len 255. */
export const EXT_MAX_LEN = 2048;
/** Largest Fragment Offset in bytes (13 bits of 8-octet units). */
export const FRAG_MAX_OFFSET = 0xfff8;

export const OPT_PAD1 = 0x00;
export const OPT_PADN = 0x01;
export const OPT_ROUTER_ALERT = 0x05;
export const OPT_JUMBO = 0xc2;

/** Reasons double as ip6stat counter names. */
export type ExtHdrError = 'extTooShort' | 'badOptLen';

export interface Ip6Option {
  type: number;
  data: Uint8Array;
}

export interface OptionsRepr {
  nextHeader: number;
  /** Options other than Pad1 and PadN, in order. */
  options: Ip6Option[];
}

export interface RoutingRepr {
  nextHeader: number;
  type: number;
  segmentsLeft: number;
  /** The bytes after Segments Left; 4 + data.length is a multiple of 8. */
  data: Uint8Array;
}

export interface FragmentRepr {
  nextHeader: number;
  /** Fragment Offset in bytes: a multiple of 8, at most 65,528. */
  offset: number;
  /** M flag: more fragments follow. */
  more: boolean;
  /** Identification (32 bits). */
  id: number;
}

export interface Parsed<R> {
  repr: R;
  /** Bytes of the header on the wire. */
  len: number;
}

/** Length in bytes of an options or Routing header at `off`, or an error if its first two bytes or its body are missing. */
function extLen(b: Uint8Array, off: number): Result<number, 'extTooShort'> {
  if (!Number.isInteger(off) || off < 0 || off + 2 > b.length) return err('extTooShort');
  const len = (b[off + EXT_LEN]! + 1) * 8;
  if (off + len > b.length) return err('extTooShort');
  return ok(len);
}

// ---- options headers --------------------------------------------------------

/** Alignment requirement xn+y of an option type (RFC 8200 §4.2), as [x, y]. */
export function optionAlignment(type: number): readonly [number, number] {
  switch (type) {
    case OPT_JUMBO:
      return [4, 2];
    case OPT_ROUTER_ALERT:
      return [2, 0];
    default:
      return [1, 0];
  }
}

/** Where each option starts (from the header start) and the padded header length. */
function layout(r: OptionsRepr): { at: number[]; len: number } {
  const at: number[] = [];
  let p = 2;
  for (const o of r.options) {
    if (!Number.isInteger(o.type) || o.type < 0 || o.type > 0xff) throw new RangeError(`option type ${o.type} is not a byte`);
    if (o.type === OPT_PAD1 || o.type === OPT_PADN) throw new RangeError('Pad1 and PadN are inserted by emitOptions, not given');
    if (o.data.length > 0xff) throw new RangeError(`option ${o.type}: ${o.data.length} bytes of data (at most 255)`);
    const [x, y] = optionAlignment(o.type);
    while (p % x !== y) p++;
    at.push(p);
    p += OPT_DATA + o.data.length;
  }
  const len = Math.ceil(p / 8) * 8;
  if (len > EXT_MAX_LEN) throw new RangeError(`options header of ${len} bytes (at most ${EXT_MAX_LEN})`);
  return { at, len };
}

export function optionsBufferLen(r: OptionsRepr): number {
  return layout(r).len;
}

/** Fills `n` bytes at `p` with Pad1 (n = 1) or one PadN. */
function pad(out: Uint8Array, p: number, n: number): void {
  if (n === 0) return;
  if (n === 1) {
    out[p] = OPT_PAD1;
    return;
  }
  out[p] = OPT_PADN;
  out[p + 1] = n - 2;
  out.fill(0, p + 2, p + n);
}

/** Writes a Hop-by-Hop or Destination Options header at `off`; returns its length. */
export function emitOptions(r: OptionsRepr, out: Uint8Array, off = 0): number {
  const { at, len } = layout(r);
  if (!Number.isInteger(r.nextHeader) || r.nextHeader < 0 || r.nextHeader > 0xff) throw new RangeError(`next header ${r.nextHeader} is not a byte`);
  if (!Number.isInteger(off) || off < 0 || off + len > out.length) throw new RangeError(`emitOptions: ${len} bytes do not fit at ${off}`);
  out[off + EXT_NXT] = r.nextHeader;
  out[off + EXT_LEN] = len / 8 - 1;
  let p = 2;
  r.options.forEach((o, i) => {
    const start = at[i]!;
    pad(out, off + p, start - p);
    out[off + start + OPT_TYPE] = o.type;
    out[off + start + OPT_LEN] = o.data.length;
    out.set(o.data, off + start + OPT_DATA);
    p = start + OPT_DATA + o.data.length;
  });
  pad(out, off + p, len - p);
  return len;
}

/**
 * Parses a Hop-by-Hop or Destination Options header at `off`: the header
 * must fit in `b` (extTooShort) and every option in the header (badOptLen).
 */
export function parseOptions(b: Uint8Array, off = 0): Result<Parsed<OptionsRepr>, ExtHdrError> {
  const l = extLen(b, off);
  if (!l.ok) return l;
  const len = l.value;
  const end = off + len;
  const options: Ip6Option[] = [];
  for (let p = off + 2; p < end; ) {
    const type = b[p]!;
    if (type === OPT_PAD1) {
      p++;
      continue;
    }
    if (p + OPT_DATA > end) return err('badOptLen');
    const olen = b[p + OPT_LEN]!;
    if (p + OPT_DATA + olen > end) return err('badOptLen');
    if (type !== OPT_PADN) options.push({ type, data: b.subarray(p + OPT_DATA, p + OPT_DATA + olen) });
    p += OPT_DATA + olen;
  }
  return ok({ repr: { nextHeader: b[off + EXT_NXT]!, options }, len });
}

// ---- Routing header -----------------------------------------------------------

export function routingBufferLen(r: RoutingRepr): number {
  const len = RTHDR_DATA + r.data.length;
  if (len % 8 !== 0 || len > EXT_MAX_LEN) throw new RangeError(`routing header of ${len} bytes (a multiple of 8, at most ${EXT_MAX_LEN})`);
  return len;
}

/** Writes a Routing header at `off`; returns its length. */
export function emitRouting(r: RoutingRepr, out: Uint8Array, off = 0): number {
  const len = routingBufferLen(r);
  for (const [name, v] of [
    ['next header', r.nextHeader],
    ['routing type', r.type],
    ['segments left', r.segmentsLeft],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} ${v} is not a byte`);
  }
  if (!Number.isInteger(off) || off < 0 || off + len > out.length) throw new RangeError(`emitRouting: ${len} bytes do not fit at ${off}`);
  out[off + EXT_NXT] = r.nextHeader;
  out[off + EXT_LEN] = len / 8 - 1;
  out[off + RTHDR_TYPE] = r.type;
  out[off + RTHDR_SEGLEFT] = r.segmentsLeft;
  out.set(r.data, off + RTHDR_DATA);
  return len;
}

/** Parses a Routing header at `off` (at least 8 bytes, and as long as Hdr Ext Len says). */
export function parseRouting(b: Uint8Array, off = 0): Result<Parsed<RoutingRepr>, ExtHdrError> {
  const l = extLen(b, off);
  if (!l.ok) return l;
  const len = l.value;
  return ok({
    repr: { nextHeader: b[off + EXT_NXT]!, type: b[off + RTHDR_TYPE]!, segmentsLeft: b[off + RTHDR_SEGLEFT]!, data: b.subarray(off + RTHDR_DATA, off + len) },
    len,
  });
}

// ---- Fragment header ----------------------------------------------------------

export function fragmentBufferLen(_r?: FragmentRepr): number {
  return FRAG_HDR_LEN;
}

/** Writes a Fragment header at `off` (reserved fields zero); returns 8. */
export function emitFragment(r: FragmentRepr, out: Uint8Array, off = 0): number {
  if (!Number.isInteger(r.nextHeader) || r.nextHeader < 0 || r.nextHeader > 0xff) throw new RangeError(`next header ${r.nextHeader} is not a byte`);
  if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset > FRAG_MAX_OFFSET || r.offset % 8 !== 0) throw new RangeError(`fragment offset ${r.offset}: a multiple of 8 up to ${FRAG_MAX_OFFSET}`);
  if (!Number.isInteger(r.id) || r.id < 0 || r.id > 0xffffffff) throw new RangeError(`identification ${r.id} is not 32 bits`);
  if (!Number.isInteger(off) || off < 0 || off + FRAG_HDR_LEN > out.length) throw new RangeError(`emitFragment: 8 bytes do not fit at ${off}`);
  out[off + EXT_NXT] = r.nextHeader;
  out[off + FRAG_RESERVED] = 0;
  putU16(out, off + FRAG_OFFLG, r.offset | (r.more ? 1 : 0));
  putU32(out, off + FRAG_IDENT, r.id);
  return FRAG_HDR_LEN;
}

/** Parses a Fragment header at `off`. */
export function parseFragment(b: Uint8Array, off = 0): Result<Parsed<FragmentRepr>, ExtHdrError> {
  if (!Number.isInteger(off) || off < 0 || off + FRAG_HDR_LEN > b.length) return err('extTooShort');
  const offlg = getU16(b, off + FRAG_OFFLG);
  return ok({ repr: { nextHeader: b[off + EXT_NXT]!, offset: offlg & FRAG_MAX_OFFSET, more: (offlg & 1) === 1, id: getU32(b, off + FRAG_IDENT) }, len: FRAG_HDR_LEN });
}

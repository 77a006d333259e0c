/**
 * The TCP header (RFC 9293 §3.1) and the options this stack speaks.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          Source Port          |       Destination Port        |   0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                        Sequence Number                        |   4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Acknowledgment Number                      |   8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Data |       |C|E|U|A|P|R|S|F|                               |
 *   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |  12
 *   |       |       |R|E|G|K|H|T|N|N|                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Checksum            |         Urgent Pointer        |  16
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Options                    |    Padding    |  20
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Data Offset counts 32-bit words of header (5..15, so 20..60 bytes). The
 * reserved bits are sent as zero and ignored on receipt (§3.1).
 *
 * Options (§3.2): kind 0 (EOL) and 1 (NOP) are one byte; every other kind is
 * kind, length (counting both), data.
 *
 *   kind 2  len 4   MSS (RFC 9293 §3.2, §3.7.1)          | 2 | 4 |  mss (16)  |
 *   kind 3  len 3   Window Scale (RFC 7323 §2.2)         | 3 | 3 | shift |
 *   kind 4  len 2   SACK-Permitted (RFC 2018 §2)         | 4 | 2 |
 *   kind 5  len 2+8n SACK, n blocks (RFC 2018 §3)        | 5 | L | left (32) right (32) … |
 *   kind 8  len 10  Timestamps (RFC 7323 §3.2)           | 8 | 10 | TSval (32) | TSecr (32) |
 *
 * Contract: parseTcp never throws and never reads outside b[off, off+len);
 * the option walk stops at the end of the header. emitTcp writes every byte of
 * tcpHeaderLen(repr) (checksum 0: ip6_output fills it).
 */
import { getU16, getU32, putU16, putU32 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';

export const IPPROTO_TCP = 6;

export const TCP_SPORT = 0;
export const TCP_DPORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_OFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WIN = 14;
export const TCP_SUM = 16;
export const TCP_URP = 18;
export const TCP_HDR_LEN = 20;
export const TCP_MAX_HDR_LEN = 60;
/** Room for options: 40 bytes. */
export const TCP_MAX_OPT_LEN = TCP_MAX_HDR_LEN - TCP_HDR_LEN;

export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PSH = 0x08;
export const TH_ACK = 0x10;
export const TH_URG = 0x20;
export const TH_ECE = 0x40;
export const TH_CWR = 0x80;

export const TcpOpt = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

export const TCPOLEN_MSS = 4;
export const TCPOLEN_WSCALE = 3;
export const TCPOLEN_SACK_PERMITTED = 2;
export const TCPOLEN_SACK_BLOCK = 8;
export const TCPOLEN_TIMESTAMPS = 10;
/** RFC 7323 §2.3: a received shift above 14 is used as 14 (the engine applies it; the parser keeps the wire value). */
export const TCP_MAX_WINSHIFT = 14;
/** Most SACK blocks that fit: 4 alone, 3 next to Timestamps (RFC 2018 §3). */
export const TCP_MAX_SACK_BLOCKS = 4;

export interface TcpOptions {
  mss?: number;
  /** Shift count as on the wire (0..255); clamp to TCP_MAX_WINSHIFT before use. */
  wscale?: number;
  sackPermitted?: boolean;
  /** [left, right) edges: right is the sequence number just after the block (RFC 2018 §3). */
  sack?: [number, number][];
  ts?: { val: number; ecr: number };
}

export interface TcpRepr {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** TH_* bit mask. */
  flags: number;
  window: number;
  urgent: number;
  options: TcpOptions;
}

export interface TcpParsed {
  repr: TcpRepr;
  /** Header length in bytes (Data Offset × 4). */
  hdrLen: number;
  /** Index in `b` where the payload starts (off + hdrLen). */
  dataOff: number;
}

export type TcpError = 'short' | 'badDataOffset' | 'badOption';

/** Checks the segment `b[off, off+len)` and parses its header and options. Never throws. */
export function parseTcp(b: Uint8Array, off: number, len: number): Result<TcpParsed, TcpError> {
  if (off < 0 || len < TCP_HDR_LEN || off + len > b.length) return err('short');
  const hdrLen = (b[off + TCP_OFF]! >>> 4) * 4;
  if (hdrLen < TCP_HDR_LEN || hdrLen > len) return err('badDataOffset');
  const options: TcpOptions = {};
  if (!parseOptions(b, off + TCP_HDR_LEN, off + hdrLen, options)) return err('badOption');
  const repr: TcpRepr = {
    sport: getU16(b, off + TCP_SPORT),
    dport: getU16(b, off + TCP_DPORT),
    seq: getU32(b, off + TCP_SEQ),
    ack: getU32(b, off + TCP_ACK),
    flags: b[off + TCP_FLAGS]!,
    window: getU16(b, off + TCP_WIN),
    urgent: getU16(b, off + TCP_URP),
    options,
  };
  return ok({ repr, hdrLen, dataOff: off + hdrLen });
}

/**
 * Walks the options in b[i, end) into `o`. False on a malformed option: a
 * length byte missing, below 2 or past the header, or a known kind with the
 * wrong length (RFC 9293 §3.2 asks receivers to be ready for illegal lengths).
 * Unknown kinds are skipped by their length (MUST-7). Each step advances at
 * least one byte, so the walk is bounded by the 40 option bytes.
 */
function parseOptions(b: Uint8Array, i: number, end: number, o: TcpOptions): boolean {
  while (i < end) {
    const kind = b[i]!;
    if (kind === TcpOpt.EOL) return true;
    if (kind === TcpOpt.NOP) {
      i++;
      continue;
    }
    if (i + 2 > end) return false;
    const olen = b[i + 1]!;
    if (olen < 2 || i + olen > end) return false;
    if (!parseOption(b, i, kind, olen, o)) return false;
    i += olen;
  }
  return true;
}

function parseOption(b: Uint8Array, i: number, kind: number, olen: number, o: TcpOptions): boolean {
  switch (kind) {
    case TcpOpt.MSS:
      if (olen !== TCPOLEN_MSS) return false;
      o.mss = getU16(b, i + 2);
      return true;
    case TcpOpt.WSCALE:
      if (olen !== TCPOLEN_WSCALE) return false;
      o.wscale = b[i + 2]!;
      return true;
    case TcpOpt.SACK_PERMITTED:
      if (olen !== TCPOLEN_SACK_PERMITTED) return false;
      o.sackPermitted = true;
      return true;
    case TcpOpt.SACK: {
      const n = (olen - 2) / TCPOLEN_SACK_BLOCK;
      if (n < 1 || !Number.isInteger(n)) return false;
      const blocks: [number, number][] = [];
      for (let k = 0; k < n; k++) blocks.push([getU32(b, i + 2 + 8 * k), getU32(b, i + 6 + 8 * k)]);
      o.sack = blocks;
      return true;
    }
    case TcpOpt.TIMESTAMPS:
      if (olen !== TCPOLEN_TIMESTAMPS) return false;
      o.ts = { val: getU32(b, i + 2), ecr: getU32(b, i + 6) };
      return true;
    default:
      return true;
  }
}

/**
 * Bytes the options take on the wire. Each option is laid out in its own
 * 32-bit-aligned chunk (NOPs in front), the layout most stacks send:
 *   MSS                         2 4 mss
 *   SACK-Permitted + Timestamps 4 2 8 10 val ecr     (or NOP NOP 8 10 … alone)
 *   Window Scale                NOP 3 3 shift
 *   SACK-Permitted alone        NOP NOP 4 2
 *   SACK                        NOP NOP 5 L blocks
 */
export function tcpOptionsLen(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.ts) n += 12;
  if (o.wscale !== undefined) n += 4;
  if (o.sackPermitted && !o.ts) n += 4;
  if (o.sack && o.sack.length > 0) n += 4 + TCPOLEN_SACK_BLOCK * o.sack.length;
  return n;
}

/** Header length for `r` (20 + options, a multiple of 4). Throws if the options do not fit in 40 bytes (a caller bug). */
export function tcpHeaderLen(r: TcpRepr): number {
  const n = tcpOptionsLen(r.options);
  if (n > TCP_MAX_OPT_LEN) throw new RangeError(`tcpHeaderLen: ${n} bytes of options exceed ${TCP_MAX_OPT_LEN}`);
  return TCP_HDR_LEN + n;
}

/** Writes the header and options at `off`; returns the header length. Checksum is left 0. */
export function emitTcp(r: TcpRepr, out: Uint8Array, off: number): number {
  const hdrLen = tcpHeaderLen(r);
  if (off < 0 || off + hdrLen > out.length) throw new RangeError(`emitTcp: ${hdrLen} bytes do not fit at ${off}`);
  putU16(out, off + TCP_SPORT, r.sport);
  putU16(out, off + TCP_DPORT, r.dport);
  putU32(out, off + TCP_SEQ, r.seq);
  putU32(out, off + TCP_ACK, r.ack);
  out[off + TCP_OFF] = (hdrLen / 4) << 4;
  out[off + TCP_FLAGS] = r.flags & 0xff;
  putU16(out, off + TCP_WIN, r.window);
  putU16(out, off + TCP_SUM, 0);
  putU16(out, off + TCP_URP, r.urgent);
  emitOptions(r.options, out, off + TCP_HDR_LEN);
  return hdrLen;
}

function emitOptions(o: TcpOptions, out: Uint8Array, i: number): void {
  if (o.mss !== undefined) {
    put2(out, i, TcpOpt.MSS, TCPOLEN_MSS);
    putU16(out, i + 2, o.mss);
    i += 4;
  }
  if (o.ts) {
    if (o.sackPermitted) put2(out, i, TcpOpt.SACK_PERMITTED, TCPOLEN_SACK_PERMITTED);
    else put2(out, i, TcpOpt.NOP, TcpOpt.NOP);
    put2(out, i + 2, TcpOpt.TIMESTAMPS, TCPOLEN_TIMESTAMPS);
    putU32(out, i + 4, o.ts.val);
    putU32(out, i + 8, o.ts.ecr);
    i += 12;
  }
  if (o.wscale !== undefined) {
    put2(out, i, TcpOpt.NOP, TcpOpt.WSCALE);
    put2(out, i + 2, TCPOLEN_WSCALE, o.wscale);
    i += 4;
  }
  if (o.sackPermitted && !o.ts) {
    put2(out, i, TcpOpt.NOP, TcpOpt.NOP);
    put2(out, i + 2, TcpOpt.SACK_PERMITTED, TCPOLEN_SACK_PERMITTED);
    i += 4;
  }
  if (o.sack && o.sack.length > 0) {
    put2(out, i, TcpOpt.NOP, TcpOpt.NOP);
    put2(out, i + 2, TcpOpt.SACK, 2 + TCPOLEN_SACK_BLOCK * o.sack.length);
    i += 4;
    for (const [left, right] of o.sack) {
      putU32(out, i, left);
      putU32(out, i + 4, right);
      i += 8;
    }
  }
}

/** Two single bytes (no array allocated on the output path). */
function put2(out: Uint8Array, i: number, a: number, b: number): void {
  out[i] = a & 0xff;
  out[i + 1] = b & 0xff;
}

const FLAG_LETTERS: [number, string][] = [
  [TH_FIN, 'F'],
  [TH_SYN, 'S'],
  [TH_RST, 'R'],
  [TH_PSH, 'P'],
  [TH_ACK, 'A'],
  [TH_URG, 'U'],
  [TH_ECE, 'E'],
  [TH_CWR, 'W'],
];

/** Flags as letters in bit order, tcpdump's letters: "SA", "FPA", "R"; "none" when no flag is set. */
export function flagsText(flags: number): string {
  let s = '';
  for (const [bit, letter] of FLAG_LETTERS) if (flags & bit) s += letter;
  return s || 'none';
}

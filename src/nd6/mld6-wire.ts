/**
 * Multicast Listener Discovery messages: MLDv1 (RFC 2710 §3) and MLDv2
 * (RFC 3810 §5). Offsets are from the start of the ICMPv6 message.
 *
 * MLDv1 Query (130), Report (131) and Done (132), 24 bytes:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Maximum Response Delay    |          Reserved             |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Multicast Address (16 bytes)                     |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * MLDv2 Query (130), 28 + 16·N bytes:
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Type = 130   |      Code     |           Checksum            |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |    Maximum Response Code      |           Reserved            |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Multicast Address (16 bytes)                     |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Resv  |S| QRV |     QQIC      |     Number of Sources (N)     | 24
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Source Address [1..N] (16 bytes each)            | 28
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * MLDv2 Report (143), 8 bytes and M records:
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Type = 143   |    Reserved   |           Checksum            |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Reserved            |Nr of Mcast Address Records (M)|  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Multicast Address Record [1..M]                  |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Multicast Address Record (§5.2.4), 20 + 16·N + 4·AuxDataLen bytes:
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Record Type  |  Aux Data Len |     Number of Sources (N)     |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Multicast Address (16 bytes)                     |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Source Address [1..N] (16 bytes each)            | 20
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              Auxiliary Data (Aux Data Len 32-bit words)       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A Query's version is told by its length (RFC 3810 §8.1): 24 bytes is
 * MLDv1, 28 or more MLDv2, anything else is not a valid Query. Bytes after
 * the fields described are covered by the checksum and otherwise ignored
 * (§5.1.12, §5.2.11). Code and reserved fields are written as zero and
 * ignored on input, so they are not part of the representation.
 *
 * Contract: `parseMld` never throws and returns views into the input;
 * `emitMld` writes every byte of `mldBufferLen(repr)` and throws only on a
 * representation our own code should never build.
 */
import { getU16, putU16 } from '../core/bytes.ts';
import { in6Cksum } from '../core/checksum.ts';
import { err, ok, type Result } from '../core/result.ts';

export const MLD_QUERY = 130;
export const MLDV1_REPORT = 131;
export const MLDV1_DONE = 132;
export const MLDV2_REPORT = 143;

/** Field offsets (ICMPv6 header included). */
export const MLD_OFF = {
  TYPE: 0,
  CODE: 1,
  CKSUM: 2,
  MAX_RESP: 4,
  GROUP: 8,
  FLAGS: 24,
  QQIC: 25,
  NSRC: 26,
  SOURCES: 28,
  NRECORDS: 6,
  RECORDS: 8,
} as const;

export const MLDV1_LEN = 24;
export const MLDV2_QUERY_MIN_LEN = 28;
export const MLDV2_REPORT_HDR_LEN = 8;
export const MLDV2_RECORD_HDR_LEN = 20;

/** Multicast Address Record types (RFC 3810 §5.2.12). */
export const MldRecordType = {
  MODE_IS_INCLUDE: 1,
  MODE_IS_EXCLUDE: 2,
  CHANGE_TO_INCLUDE_MODE: 3,
  CHANGE_TO_EXCLUDE_MODE: 4,
  ALLOW_NEW_SOURCES: 5,
  BLOCK_OLD_SOURCES: 6,
} as const;

/** An MLDv1 Query, Report or Done. */
export interface Mldv1Repr {
  kind: 'v1';
  type: typeof MLD_QUERY | typeof MLDV1_REPORT | typeof MLDV1_DONE;
  /** Milliseconds (meaningful in Queries; senders put 0 in Reports and Dones). */
  maxRespDelay: number;
  /** The multicast address (all zeros in a General Query). */
  group: Uint8Array;
}

export interface Mldv2QueryRepr {
  kind: 'v2query';
  /** Maximum Response Code as on the wire; `decodeMaxRespCode` gives milliseconds (§5.1.3). */
  maxRespCode: number;
  group: Uint8Array;
  /** S flag: Suppress Router-Side Processing (§5.1.7). */
  suppress: boolean;
  /** Querier's Robustness Variable, 0–7 (§5.1.8). */
  qrv: number;
  /** Querier's Query Interval Code as on the wire; `decodeQqic` gives seconds (§5.1.9). */
  qqic: number;
  sources: Uint8Array[];
}

export interface MldRecord {
  /** Record type (MldRecordType); other values are carried, not interpreted. */
  type: number;
  group: Uint8Array;
  sources: Uint8Array[];
  /** Auxiliary data, a multiple of 4 bytes (at most 1020). */
  aux: Uint8Array;
}

export interface Mldv2ReportRepr {
  kind: 'v2report';
  records: MldRecord[];
}

export type MldRepr = Mldv1Repr | Mldv2QueryRepr | Mldv2ReportRepr;

export type MldError =
  /** Fewer bytes than the message type needs (or than the ICMPv6 header). */
  | 'short'
  /** A Query of 25–27 bytes: neither MLDv1 nor MLDv2 (§8.1). */
  | 'badQueryLength'
  /** Number of Sources runs past the end of the message. */
  | 'truncatedSources'
  /** A report record (or its sources or aux data) runs past the end. */
  | 'truncatedRecord'
  /** Not an MLD message type. */
  | 'badType';

// ---- the exponential codes -------------------------------------------------

/**
 * Maximum Response Code → Maximum Response Delay in ms (§5.1.3): below 32768
 * the code is the delay; above, 1|exp(3)|mant(12) means (mant | 0x1000) << (exp + 3).
 */
export function decodeMaxRespCode(code: number): number {
  if (code < 0x8000) return code;
  return ((code & 0x0fff) | 0x1000) * 2 ** (((code >>> 12) & 7) + 3);
}

/** The code for `ms`, rounded down to what the encoding can express; above the largest value, the largest code. */
export function encodeMaxRespCode(ms: number): number {
  const v = Math.max(0, Math.floor(ms));
  if (v < 0x8000) return v;
  for (let exp = 0; exp < 8; exp++) {
    const mant = Math.floor(v / 2 ** (exp + 3));
    if (mant <= 0x1fff) return 0x8000 | (exp << 12) | (mant & 0x0fff);
  }
  return 0xffff;
}

/** QQIC → Querier's Query Interval in seconds (§5.1.9): below 128 the code; above, (mant | 0x10) << (exp + 3). */
export function decodeQqic(code: number): number {
  if (code < 0x80) return code;
  return ((code & 0x0f) | 0x10) * 2 ** (((code >>> 4) & 7) + 3);
}

export function encodeQqic(seconds: number): number {
  const v = Math.max(0, Math.floor(seconds));
  if (v < 0x80) return v;
  for (let exp = 0; exp < 8; exp++) {
    const mant = Math.floor(v / 2 ** (exp + 3));
    if (mant <= 0x1f) return 0x80 | (exp << 4) | (mant & 0x0f);
  }
  return 0xff;
}

/** Maximum Response Delay of a Query in ms, whatever its version. */
export function queryMaxRespDelay(q: Mldv1Repr | Mldv2QueryRepr): number {
  return q.kind === 'v1' ? q.maxRespDelay : decodeMaxRespCode(q.maxRespCode);
}

// ---- parse -------------------------------------------------------------------

/** Parses the MLD message `b[off..off+len)` (ICMPv6 header included; the checksum is the caller's). */
export function parseMld(b: Uint8Array, off: number, len: number): Result<MldRepr, MldError> {
  if (!(off >= 0) || !(len >= 4) || off + len > b.length) return err('short');
  const type = b[off]!;
  switch (type) {
    case MLD_QUERY:
      if (len < MLDV1_LEN) return err('short');
      if (len === MLDV1_LEN) return ok(parseV1(b, off, type));
      if (len < MLDV2_QUERY_MIN_LEN) return err('badQueryLength');
      return parseV2Query(b, off, len);
    case MLDV1_REPORT:
    case MLDV1_DONE:
      if (len < MLDV1_LEN) return err('short');
      return ok(parseV1(b, off, type));
    case MLDV2_REPORT:
      return parseV2Report(b, off, len);
    default:
      return err('badType');
  }
}

function parseV1(b: Uint8Array, off: number, type: Mldv1Repr['type']): Mldv1Repr {
  return { kind: 'v1', type, maxRespDelay: getU16(b, off + MLD_OFF.MAX_RESP), group: b.subarray(off + MLD_OFF.GROUP, off + MLD_OFF.GROUP + 16) };
}

function parseV2Query(b: Uint8Array, off: number, len: number): Result<Mldv2QueryRepr, MldError> {
  const n = getU16(b, off + MLD_OFF.NSRC);
  if (MLDV2_QUERY_MIN_LEN + n * 16 > len) return err('truncatedSources');
  const flags = b[off + MLD_OFF.FLAGS]!;
  return ok({
    kind: 'v2query',
    maxRespCode: getU16(b, off + MLD_OFF.MAX_RESP),
    group: b.subarray(off + MLD_OFF.GROUP, off + MLD_OFF.GROUP + 16),
    suppress: (flags & 0x08) !== 0,
    qrv: flags & 0x07,
    qqic: b[off + MLD_OFF.QQIC]!,
    sources: addrList(b, off + MLD_OFF.SOURCES, n),
  });
}

function parseV2Report(b: Uint8Array, off: number, len: number): Result<Mldv2ReportRepr, MldError> {
  if (len < MLDV2_REPORT_HDR_LEN) return err('short');
  const m = getU16(b, off + MLD_OFF.NRECORDS);
  const end = off + len;
  // Each record takes at least 20 bytes: M cannot promise more records than fit.
  if (MLDV2_REPORT_HDR_LEN + m * MLDV2_RECORD_HDR_LEN > len) return err('truncatedRecord');
  const records: MldRecord[] = [];
  let p = off + MLD_OFF.RECORDS;
  for (let i = 0; i < m; i++) {
    if (p + MLDV2_RECORD_HDR_LEN > end) return err('truncatedRecord');
    const auxLen = b[p + 1]! * 4;
    const n = getU16(b, p + 2);
    const recLen = MLDV2_RECORD_HDR_LEN + n * 16 + auxLen;
    if (p + recLen > end) return err('truncatedRecord');
    const srcEnd = p + MLDV2_RECORD_HDR_LEN + n * 16;
    records.push({ type: b[p]!, group: b.subarray(p + 4, p + 20), sources: addrList(b, p + MLDV2_RECORD_HDR_LEN, n), aux: b.subarray(srcEnd, srcEnd + auxLen) });
    p += recLen;
  }
  return ok({ kind: 'v2report', records });
}

function addrList(b: Uint8Array, at: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = b.subarray(at + i * 16, at + i * 16 + 16);
  return out;
}

// ---- emit --------------------------------------------------------------------

export function mldRecordLen(r: MldRecord): number {
  return MLDV2_RECORD_HDR_LEN + r.sources.length * 16 + r.aux.length;
}

/** Bytes `emitMld` writes for `r`. */
export function mldBufferLen(r: MldRepr): number {
  switch (r.kind) {
    case 'v1':
      return MLDV1_LEN;
    case 'v2query':
      return MLDV2_QUERY_MIN_LEN + r.sources.length * 16;
    case 'v2report': {
      let n = MLDV2_REPORT_HDR_LEN;
      for (const rec of r.records) n += mldRecordLen(rec);
      return n;
    }
  }
}

/**
 * Writes `r` at `out[off..]`, every byte of it. The checksum is left 0
 * (ip6_output fills it in once the source is chosen) unless `cksum` gives
 * the addresses to compute it for.
 */
export function emitMld(r: MldRepr, out: Uint8Array, off: number, cksum?: { src: Uint8Array; dst: Uint8Array }): void {
  const len = mldBufferLen(r);
  if (off < 0 || off + len > out.length) throw new RangeError(`emitMld: ${len} bytes do not fit at ${off} in ${out.length}`);
  switch (r.kind) {
    case 'v1':
      checkU16('maxRespDelay', r.maxRespDelay);
      out[off] = r.type;
      out[off + 1] = 0;
      putU16(out, off + MLD_OFF.MAX_RESP, r.maxRespDelay);
      putU16(out, off + 6, 0);
      putAddr(out, off + MLD_OFF.GROUP, r.group);
      break;
    case 'v2query':
      checkU16('maxRespCode', r.maxRespCode);
      checkCount('sources', r.sources.length);
      if (!Number.isInteger(r.qrv) || r.qrv < 0 || r.qrv > 7) throw new RangeError(`emitMld: QRV ${r.qrv} is not 0..7`);
      if (!Number.isInteger(r.qqic) || r.qqic < 0 || r.qqic > 0xff) throw new RangeError(`emitMld: QQIC ${r.qqic} is not a byte`);
      out[off] = MLD_QUERY;
      out[off + 1] = 0;
      putU16(out, off + MLD_OFF.MAX_RESP, r.maxRespCode);
      putU16(out, off + 6, 0);
      putAddr(out, off + MLD_OFF.GROUP, r.group);
      out[off + MLD_OFF.FLAGS] = (r.suppress ? 0x08 : 0) | r.qrv;
      out[off + MLD_OFF.QQIC] = r.qqic;
      putU16(out, off + MLD_OFF.NSRC, r.sources.length);
      for (let i = 0; i < r.sources.length; i++) putAddr(out, off + MLD_OFF.SOURCES + i * 16, r.sources[i]!);
      break;
    case 'v2report': {
      checkCount('records', r.records.length);
      out[off] = MLDV2_REPORT;
      out[off + 1] = 0;
      putU16(out, off + 4, 0);
      putU16(out, off + MLD_OFF.NRECORDS, r.records.length);
      let p = off + MLD_OFF.RECORDS;
      for (const rec of r.records) p = emitRecord(rec, out, p);
      break;
    }
  }
  putU16(out, off + MLD_OFF.CKSUM, 0);
  if (cksum) putU16(out, off + MLD_OFF.CKSUM, in6Cksum(out, off, len, 58, cksum.src, cksum.dst));
}

function emitRecord(rec: MldRecord, out: Uint8Array, p: number): number {
  if (!Number.isInteger(rec.type) || rec.type < 0 || rec.type > 0xff) throw new RangeError(`emitMld: record type ${rec.type} is not a byte`);
  if (rec.aux.length % 4 !== 0 || rec.aux.length > 255 * 4) throw new RangeError(`emitMld: aux data of ${rec.aux.length} bytes is not a multiple of 4 up to 1020`);
  checkCount('record sources', rec.sources.length);
  out[p] = rec.type;
  out[p + 1] = rec.aux.length / 4;
  putU16(out, p + 2, rec.sources.length);
  putAddr(out, p + 4, rec.group);
  let q = p + MLDV2_RECORD_HDR_LEN;
  for (const s of rec.sources) {
    putAddr(out, q, s);
    q += 16;
  }
  out.set(rec.aux, q);
  return q + rec.aux.length;
}

function putAddr(out: Uint8Array, at: number, a: Uint8Array): void {
  if (a.length !== 16) throw new RangeError(`emitMld: an address is 16 bytes, got ${a.length}`);
  out.set(a, at);
}

function checkU16(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`emitMld: ${what} ${v} is not a 16-bit value`);
}

function checkCount(what: string, n: number): void {
  if (n > 0xffff) throw new RangeError(`emitMld: ${n} ${what} do not fit a 16-bit count`);
}

/**
 * Router Solicitation and Router Advertisement (RFC 4861 §4.1, §4.2) and the
 * options they carry: Prefix Information (§4.6.2), MTU (§4.6.4), Route
 * Information (RFC 4191 §2.3), Recursive DNS Server and DNS Search List
 * (RFC 8106 §5.1, §5.2).
 *
 * Router Advertisement, offsets from the start of the ICMPv6 message:
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |  0
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Cur Hop Limit |M|O|H|Prf|P|Rsv|       Router Lifetime         |  4
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         Reachable Time                        |  8
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                          Retrans Timer                        | 12
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Options ...                                                   16
 *
 * Prefix Information option (32 bytes):
 *   | Type=3 | Len=4 | Prefix Length |L|A|R| Rsvd1 |
 *   |                 Valid Lifetime                |
 *   |               Preferred Lifetime              |
 *   |                    Reserved2                  |
 *   |                  Prefix (16 bytes)            |
 *
 * `parseRa` never throws: a malformed message is an Err with the counter
 * name of the reason; options it does not know are skipped (§4.6). It walks
 * at most `maxOptions` options (KAME's nd6_maxndopt DoS guard).
 */
import { getU16, getU32, putU16, putU32 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';
import { LLA_OPT_LEN, NdOpt, emitLlaOption } from './options.ts';

export const RA_FIXED_LEN = 16;
export const RS_FIXED_LEN = 8;

export const NdOptRa = {
  ROUTE_INFO: 24,
  RDNSS: 25,
  DNSSL: 31,
} as const;

/** RFC 4191 §2.1 preference values as signed numbers (10 binary is reserved → medium for RAs). */
export function decodePreference(bits: number): -1 | 0 | 1 {
  switch (bits & 3) {
    case 1:
      return 1;
    case 3:
      return -1;
    default:
      return 0;
  }
}

export interface PrefixInfo {
  prefix: Uint8Array;
  plen: number;
  onLink: boolean;
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
}

export interface RouteInfo {
  prefix: Uint8Array;
  plen: number;
  preference: -1 | 0 | 1;
  /** Seconds; 0xffffffff is infinity. */
  lifetime: number;
  /** True when the Prf bits were 10 (reserved): the option must be ignored (RFC 4191 §3.1). */
  reservedPrf: boolean;
}

export interface RaRepr {
  curHopLimit: number;
  managed: boolean;
  other: boolean;
  preference: -1 | 0 | 1;
  /** Seconds. */
  routerLifetime: number;
  /** Milliseconds, 0 = unspecified. */
  reachableTime: number;
  retransTimer: number;
  srcLl: Uint8Array | null;
  mtu: number | null;
  prefixes: PrefixInfo[];
  routes: RouteInfo[];
  rdnss: { lifetime: number; servers: Uint8Array[] }[];
  dnssl: { lifetime: number; domains: string[] }[];
  /** Options of other types, skipped. */
  unknownOptions: number;
}

export type RaError = 'badLength' | 'optZeroLength' | 'optTruncated' | 'optTooMany' | 'badOptionLength';

/** Parses the RA at `b[off..off+len)` (ICMPv6 header included). */
export function parseRa(b: Uint8Array, off: number, len: number, maxOptions = 10): Result<RaRepr, RaError> {
  if (len < RA_FIXED_LEN || off + len > b.length) return err('badLength');
  const flags = b[off + 5]!;
  const ra: RaRepr = {
    curHopLimit: b[off + 4]!,
    managed: (flags & 0x80) !== 0,
    other: (flags & 0x40) !== 0,
    preference: decodePreference(flags >>> 3),
    routerLifetime: getU16(b, off + 6),
    reachableTime: getU32(b, off + 8),
    retransTimer: getU32(b, off + 12),
    srcLl: null,
    mtu: null,
    prefixes: [],
    routes: [],
    rdnss: [],
    dnssl: [],
    unknownOptions: 0,
  };
  const end = off + len;
  let p = off + RA_FIXED_LEN;
  let n = 0;
  while (p < end) {
    if (++n > maxOptions) return err('optTooMany');
    if (p + 2 > end) return err('optTruncated');
    const type = b[p]!;
    const olen = b[p + 1]! * 8;
    if (olen === 0) return err('optZeroLength');
    if (p + olen > end) return err('optTruncated');
    switch (type) {
      case NdOpt.SOURCE_LL:
        ra.srcLl = b.subarray(p + 2, p + Math.min(olen, 8));
        break;
      case NdOpt.MTU:
        if (olen !== 8) return err('badOptionLength');
        ra.mtu = getU32(b, p + 4);
        break;
      case NdOpt.PREFIX_INFO: {
        if (olen !== 32) return err('badOptionLength');
        const f = b[p + 3]!;
        ra.prefixes.push({
          plen: b[p + 2]!,
          onLink: (f & 0x80) !== 0,
          autonomous: (f & 0x40) !== 0,
          validLifetime: getU32(b, p + 4),
          preferredLifetime: getU32(b, p + 8),
          prefix: b.slice(p + 16, p + 32),
        });
        break;
      }
      case NdOptRa.ROUTE_INFO: {
        // RFC 4191 §2.3: length 1, 2 or 3 depending on the prefix length.
        const plen = b[p + 2]!;
        if (olen > 24 || plen > 128 || (plen > 64 && olen < 24) || (plen > 0 && olen < 16)) return err('badOptionLength');
        const prefix = new Uint8Array(16);
        prefix.set(b.subarray(p + 8, p + olen));
        const bits = (b[p + 3]! >>> 3) & 3;
        ra.routes.push({ prefix, plen, preference: decodePreference(bits), reservedPrf: bits === 2, lifetime: getU32(b, p + 4) });
        break;
      }
      case NdOptRa.RDNSS: {
        if (olen < 24 || (olen - 8) % 16 !== 0) return err('badOptionLength');
        const servers: Uint8Array[] = [];
        for (let q = p + 8; q < p + olen; q += 16) servers.push(b.slice(q, q + 16));
        ra.rdnss.push({ lifetime: getU32(b, p + 4), servers });
        break;
      }
      case NdOptRa.DNSSL: {
        if (olen < 16) return err('badOptionLength');
        const domains = decodeDomains(b.subarray(p + 8, p + olen));
        if (!domains) return err('badOptionLength');
        ra.dnssl.push({ lifetime: getU32(b, p + 4), domains });
        break;
      }
      default:
        ra.unknownOptions++;
    }
    p += olen;
  }
  return ok(ra);
}

/** RFC 1035 §3.1 names, each ended by a zero label; zero padding at the end. Null if malformed. */
function decodeDomains(b: Uint8Array): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i < b.length && b[i] !== 0) {
    const labels: string[] = [];
    for (;;) {
      if (i >= b.length) return null;
      const l = b[i++]!;
      if (l === 0) break;
      if (l > 63 || i + l > b.length) return null;
      labels.push(String.fromCharCode(...b.subarray(i, i + l)));
      i += l;
    }
    out.push(labels.join('.'));
  }
  return out;
}

/** The 4-byte RS body after the ICMPv6 header (reserved) plus an optional SLLA option. */
export function rsBody(srcLl: Uint8Array | null): Uint8Array {
  const body = new Uint8Array(4 + (srcLl ? LLA_OPT_LEN : 0));
  if (srcLl) emitLlaOption(NdOpt.SOURCE_LL, srcLl, body, 4);
  return body;
}

export interface RaEmit {
  curHopLimit?: number;
  managed?: boolean;
  other?: boolean;
  preference?: -1 | 0 | 1;
  routerLifetime: number;
  reachableTime?: number;
  retransTimer?: number;
  srcLl?: Uint8Array | null;
  mtu?: number;
  prefixes?: PrefixInfo[];
  routes?: { prefix: Uint8Array; plen: number; preference: -1 | 0 | 1; lifetime: number }[];
  rdnss?: { lifetime: number; servers: Uint8Array[] }[];
}

/** The RA body after the 4-byte ICMPv6 header (tests and, later, router mode). */
export function raBody(r: RaEmit): Uint8Array {
  const parts: number[] = [];
  const size =
    12 +
    (r.srcLl ? 8 : 0) +
    (r.mtu !== undefined ? 8 : 0) +
    32 * (r.prefixes?.length ?? 0) +
    24 * (r.routes?.length ?? 0) +
    (r.rdnss ?? []).reduce((a, x) => a + 8 + 16 * x.servers.length, 0);
  const b = new Uint8Array(size);
  const prf = (v: -1 | 0 | 1 | undefined) => (v === 1 ? 1 : v === -1 ? 3 : 0);
  b[0] = r.curHopLimit ?? 64;
  b[1] = (r.managed ? 0x80 : 0) | (r.other ? 0x40 : 0) | (prf(r.preference) << 3);
  putU16(b, 2, r.routerLifetime);
  putU32(b, 4, r.reachableTime ?? 0);
  putU32(b, 8, r.retransTimer ?? 0);
  let p = 12;
  if (r.srcLl) {
    emitLlaOption(NdOpt.SOURCE_LL, r.srcLl, b, p);
    p += 8;
  }
  if (r.mtu !== undefined) {
    b[p] = NdOpt.MTU;
    b[p + 1] = 1;
    putU32(b, p + 4, r.mtu);
    p += 8;
  }
  for (const x of r.prefixes ?? []) {
    b[p] = NdOpt.PREFIX_INFO;
    b[p + 1] = 4;
    b[p + 2] = x.plen;
    b[p + 3] = (x.onLink ? 0x80 : 0) | (x.autonomous ? 0x40 : 0);
    putU32(b, p + 4, x.validLifetime);
    putU32(b, p + 8, x.preferredLifetime);
    b.set(x.prefix.subarray(0, 16), p + 16);
    p += 32;
  }
  for (const x of r.routes ?? []) {
    b[p] = NdOptRa.ROUTE_INFO;
    b[p + 1] = 3;
    b[p + 2] = x.plen;
    b[p + 3] = prf(x.preference) << 3;
    putU32(b, p + 4, x.lifetime);
    b.set(x.prefix.subarray(0, 16), p + 8);
    p += 24;
  }
  for (const x of r.rdnss ?? []) {
    b[p] = NdOptRa.RDNSS;
    b[p + 1] = 1 + 2 * x.servers.length;
    putU32(b, p + 4, x.lifetime);
    x.servers.forEach((s, i) => b.set(s, p + 8 + 16 * i));
    p += 8 + 16 * x.servers.length;
  }
  void parts;
  return b;
}

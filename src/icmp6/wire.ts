/**
 * ICMPv6 message header (RFC 4443 §2.1) and the echo messages (§4.1, §4.2).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Identifier          |        Sequence Number        |  (echo)
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Data ...
 */
import { getU16, putU16 } from '../core/bytes.ts';
import { in6Cksum } from '../core/checksum.ts';
import { err, ok, type Result } from '../core/result.ts';

export const IPPROTO_ICMPV6 = 58;

export const Icmp6Type = {
  DST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROB: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130,
  MLD_REPORT: 131,
  MLD_DONE: 132,
  ROUTER_SOLICIT: 133,
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
  MLDV2_REPORT: 143,
} as const;

export const ICMP6_HDR_LEN = 4;
export const ICMP6_ECHO_HDR_LEN = 8;

export type Icmp6Error = 'short' | 'badChecksum';

export interface Icmp6View {
  type: number;
  code: number;
  checksum: number;
  /** The message body after the 4-byte header (a view). */
  body: Uint8Array;
}

/** Checks an ICMPv6 message `b[off..off+len)` carried between `src` and `dst` (checksum included). */
export function checkIcmp6(b: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array): Result<Icmp6View, Icmp6Error> {
  if (len < ICMP6_HDR_LEN || off + len > b.length) return err('short');
  if (in6Cksum(b, off, len, IPPROTO_ICMPV6, src, dst) !== 0) return err('badChecksum');
  return ok({ type: b[off]!, code: b[off + 1]!, checksum: getU16(b, off + 2), body: b.subarray(off + ICMP6_HDR_LEN, off + len) });
}

export interface EchoRepr {
  type: typeof Icmp6Type.ECHO_REQUEST | typeof Icmp6Type.ECHO_REPLY;
  id: number;
  seq: number;
  data: Uint8Array;
}

export function echoBufferLen(r: EchoRepr): number {
  return ICMP6_ECHO_HDR_LEN + r.data.length;
}

/** Writes an echo message at `off` with its checksum for `src` → `dst`. */
export function emitEcho(r: EchoRepr, out: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array): void {
  const len = echoBufferLen(r);
  out[off] = r.type;
  out[off + 1] = 0;
  putU16(out, off + 2, 0);
  putU16(out, off + 4, r.id);
  putU16(out, off + 6, r.seq);
  out.set(r.data, off + ICMP6_ECHO_HDR_LEN);
  putU16(out, off + 2, in6Cksum(out, off, len, IPPROTO_ICMPV6, src, dst));
}

/** Reads id and seq of an echo body (the 4 bytes after the ICMPv6 header). */
export function parseEchoBody(body: Uint8Array): Result<{ id: number; seq: number; data: Uint8Array }, 'short'> {
  if (body.length < 4) return err('short');
  return ok({ id: getU16(body, 0), seq: getU16(body, 2), data: body.subarray(4) });
}

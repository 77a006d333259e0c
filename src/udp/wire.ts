/**
 * The UDP header (RFC 768; over IPv6, RFC 8200 §8.1: the checksum is
 * mandatory).
 *
 *    0      7 8     15 16    23 24    31
 *   +--------+--------+--------+--------+
 *   |     Source      |   Destination   |
 *   |      Port       |      Port       |
 *   +--------+--------+--------+--------+
 *   |                 |                 |
 *   |     Length      |    Checksum     |
 *   +--------+--------+--------+--------+
 */
import { getU16, putU16 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';

export const UDP_SPORT = 0;
export const UDP_DPORT = 2;
export const UDP_LEN = 4;
export const UDP_SUM = 6;
export const UDP_HDR_LEN = 8;
/** Largest UDP payload in a non-jumbo IPv6 packet. */
export const UDP_MAX_PAYLOAD = 0xffff - UDP_HDR_LEN;

export interface UdpRepr {
  sport: number;
  dport: number;
  /** Header + payload length as the header says it. */
  length: number;
  checksum: number;
}

export type UdpError = 'short' | 'badLength';

/** Checks the header at `b[off..]` with `avail` bytes of datagram present. */
export function parseUdp(b: Uint8Array, off: number, avail: number): Result<UdpRepr, UdpError> {
  if (avail < UDP_HDR_LEN || off + UDP_HDR_LEN > b.length) return err('short');
  const length = getU16(b, off + UDP_LEN);
  if (length < UDP_HDR_LEN || length > avail) return err('badLength');
  return ok({ sport: getU16(b, off + UDP_SPORT), dport: getU16(b, off + UDP_DPORT), length, checksum: getU16(b, off + UDP_SUM) });
}

/** Writes the 8 header bytes (checksum 0: ip6_output fills it). */
export function emitUdp(r: UdpRepr, out: Uint8Array, off: number): void {
  putU16(out, off + UDP_SPORT, r.sport);
  putU16(out, off + UDP_DPORT, r.dport);
  putU16(out, off + UDP_LEN, r.length);
  putU16(out, off + UDP_SUM, r.checksum);
}

/**
 * 48-bit IEEE MAC addresses as 6-byte Uint8Arrays, and the IPv6 multicast
 * mapping of RFC 2464 §7 (33:33 followed by the low 32 bits of the group).
 */
import { err, ok, type Result } from '../core/result.ts';

export const MAC_LEN = 6;
export const BROADCAST_MAC: Readonly<Uint8Array> = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The group bit: set for multicast and broadcast destinations. */
export function isGroupMac(b: Uint8Array, off = 0): boolean {
  return (b[off]! & 1) === 1;
}

export function isBroadcastMac(b: Uint8Array, off = 0): boolean {
  return (b[off]! & b[off + 1]! & b[off + 2]! & b[off + 3]! & b[off + 4]! & b[off + 5]!) === 0xff;
}

export function isZeroMac(b: Uint8Array, off = 0): boolean {
  return (b[off]! | b[off + 1]! | b[off + 2]! | b[off + 3]! | b[off + 4]! | b[off + 5]!) === 0;
}

/** A MAC as a number in [0, 2^48), usable as a Map key without a string. */
export function macKey(b: Uint8Array, off = 0): number {
  return (
    (b[off]! * 0x10000 + ((b[off + 1]! << 8) | b[off + 2]!)) * 0x1000000 +
    ((b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!)
  );
}

export function formatMac(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < MAC_LEN; i++) s += (i ? ':' : '') + b[off + i]!.toString(16).padStart(2, '0');
  return s;
}

/** Parses "aa:bb:cc:dd:ee:ff" (also with '-'); one or two hex digits per group. */
export function parseMac(s: string): Result<Uint8Array, string> {
  const parts = s.trim().split(/[:-]/);
  if (parts.length !== MAC_LEN) return err(`not a MAC address: '${s}'`);
  const out = new Uint8Array(MAC_LEN);
  for (let i = 0; i < MAC_LEN; i++) {
    const p = parts[i]!;
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return err(`not a MAC address: '${s}'`);
    out[i] = parseInt(p, 16);
  }
  return ok(out);
}

/** RFC 2464 §7: the Ethernet destination for an IPv6 multicast group `addr` (16 bytes at `off`). */
export function ip6MulticastMac(addr: Uint8Array, off = 0, out: Uint8Array = new Uint8Array(MAC_LEN)): Uint8Array {
  out[0] = 0x33;
  out[1] = 0x33;
  out[2] = addr[off + 12]!;
  out[3] = addr[off + 13]!;
  out[4] = addr[off + 14]!;
  out[5] = addr[off + 15]!;
  return out;
}

/**
 * A random locally administered unicast MAC (U/L bit set, group bit clear),
 * from the given random source (the stack's Rng).
 */
export function randomLocalMac(fill: (b: Uint8Array) => Uint8Array): Uint8Array {
  const m = fill(new Uint8Array(MAC_LEN));
  m[0] = (m[0]! & 0xfc) | 0x02;
  return m;
}

/** MAC equality: `a[aOff..aOff+6)` against the 6-byte `b`. */
export function bytesEqualMac(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  return (
    a[aOff] === b[0] && a[aOff + 1] === b[1] && a[aOff + 2] === b[2] && a[aOff + 3] === b[3] && a[aOff + 4] === b[4] && a[aOff + 5] === b[5]
  );
}

/**
 * The Internet checksum (RFC 1071) and the IPv6 upper-layer pseudo-header
 * (RFC 8200 §8.1).
 *
 * The one's-complement sum is accumulated in a plain JS number without folding
 * (2^53 leaves room for ~2^37 bytes), then folded once at the end.
 *
 * IPv6 pseudo-header, summed ahead of the upper-layer packet:
 *
 *   +-------------------------------------------+
 *   |           Source Address (16 bytes)       |
 *   +-------------------------------------------+
 *   |         Destination Address (16 bytes)    |
 *   +-------------------------------------------+
 *   |          Upper-Layer Packet Length (32)   |
 *   +-------------------------------------------+
 *   |       zero (24)        |  Next Header (8) |
 *   +-------------------------------------------+
 */

/** Adds the bytes `b[off..off+len)` as big-endian 16-bit words to `acc` (odd tail padded with zero). */
export function sum16(b: Uint8Array, off: number, len: number, acc = 0): number {
  const end = off + len;
  let i = off;
  // Four words per iteration: fewer loop tests on large payloads.
  for (; i + 8 <= end; i += 8) {
    acc += ((b[i]! << 8) | b[i + 1]!) + ((b[i + 2]! << 8) | b[i + 3]!) + ((b[i + 4]! << 8) | b[i + 5]!) + ((b[i + 6]! << 8) | b[i + 7]!);
  }
  for (; i + 2 <= end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  return acc;
}

/** Folds an accumulator to a 16-bit one's-complement sum (not complemented). */
export function fold(acc: number): number {
  // Reduce a wide accumulator without 32-bit overflow, then the classic end-around carry.
  while (acc > 0xffff) acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
  return acc;
}

/** The checksum to store: the complement of the folded sum. */
export function finish(acc: number): number {
  return ~fold(acc) & 0xffff;
}

/** Checksum of a plain byte range (e.g. the IPv4 header). Over data that includes a correct checksum, returns 0. */
export function checksum(b: Uint8Array, off = 0, len = b.length - off): number {
  return finish(sum16(b, off, len));
}

/** Sum of the IPv6 pseudo-header for an upper-layer packet of `upperLen` bytes. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, upperLen: number, nxt: number): number {
  let acc = sum16(src, 0, 16) + sum16(dst, 0, 16);
  acc += Math.floor(upperLen / 0x10000) + (upperLen & 0xffff);
  acc += nxt & 0xff;
  return acc;
}

/**
 * The IPv6 upper-layer checksum (ICMPv6, UDP, TCP) over `b[off..off+len)`
 * with the pseudo-header for `src`, `dst` and next header `nxt`.
 * To compute: zero the checksum field first and store the result.
 * To verify: run it over the received bytes; a correct packet gives 0.
 * (UDP's rule that a computed 0 is sent as 0xffff is the caller's, RFC 768.)
 */
export function in6Cksum(b: Uint8Array, off: number, len: number, nxt: number, src: Uint8Array, dst: Uint8Array): number {
  return finish(sum16(b, off, len, pseudoHeaderSum(src, dst, len, nxt)));
}

/**
 * Incremental update (RFC 1624 eqn. 3): the new checksum after one 16-bit
 * word of the covered data changed from `oldWord` to `newWord`.
 */
export function cksumAdjust(cksum: number, oldWord: number, newWord: number): number {
  return ~fold((~cksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

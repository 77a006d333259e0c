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

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Bytes `b[from..to)` as parts of big-endian words counted from `base` (even distance: high byte). */
function sumBytes(b: Uint8Array, from: number, to: number, acc: number, base: number): number {
  for (let j = from; j < to; j++) acc += (j - base) & 1 ? b[j]! : b[j]! << 8;
  return acc;
}

/**
 * Adds the bytes `b[off..off+len)` as big-endian 16-bit words to `acc` (odd tail padded with zero).
 *
 * Past 64 bytes on a little-endian host the aligned middle is read as 32-bit
 * words: the one's-complement sum does not depend on byte order (RFC 1071
 * §2(B)), so the little-endian sum is folded and byte-swapped back (unless the
 * middle starts at an odd distance from `off`, where the swap cancels).
 */
export function sum16(b: Uint8Array, off: number, len: number, acc = 0): number {
  if (len >= 64 && LITTLE_ENDIAN) return sum16Wide(b, off, len, acc);
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

function sum16Wide(b: Uint8Array, off: number, len: number, acc: number): number {
  if (off < 0 || off + len > b.length) throw new RangeError(`sum16: ${off}+${len} outside ${b.length} bytes`);
  const abs = b.byteOffset + off;
  const head = (4 - (abs & 3)) & 3;
  acc = sumBytes(b, off, off + head, acc, off);
  const n = (len - head) >>> 2;
  const u = new Uint32Array(b.buffer, abs + head, n);
  let s = 0;
  for (let k = 0; k < n; ) {
    // Fold every 2^16 words: 2^16 · 2^32 stays well inside 2^53.
    const stop = Math.min(n, k + 65536);
    let x = 0;
    for (; k + 4 <= stop; k += 4) x += u[k]! + u[k + 1]! + u[k + 2]! + u[k + 3]!;
    for (; k < stop; k++) x += u[k]!;
    s = fold(s + fold(x));
  }
  acc += head & 1 ? s : (s >>> 8) | ((s & 0xff) << 8);
  return sumBytes(b, off + head + 4 * n, off + len, acc, off);
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

/**
 * TCP sequence number arithmetic (RFC 9293 §3.4).
 *
 * Sequence numbers live in a 32-bit space that wraps, so "a is before b" is
 * decided by the sign of the 32-bit difference a − b, not by comparing the
 * numbers: 0xffff_fff0 is before 0x10. This is only meaningful while the two
 * numbers are less than 2^31 apart, which the window rules guarantee.
 *
 * Every function takes and returns plain numbers in [0, 2^32) (seqDiff
 * returns a signed difference in [−2^31, 2^31)).
 */

/** a − b as a signed 32-bit integer. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** a + n modulo 2^32 (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

export function seqLt(a: number, b: number): boolean {
  return seqDiff(a, b) < 0;
}

export function seqLeq(a: number, b: number): boolean {
  return seqDiff(a, b) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

export function seqGeq(a: number, b: number): boolean {
  return seqDiff(a, b) >= 0;
}

/** The later of a and b in sequence space. */
export function seqMax(a: number, b: number): number {
  return seqLt(a, b) ? b : a;
}

/** The earlier of a and b in sequence space. */
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/**
 * lo ≤ x < lo + len in sequence space (len in [0, 2^32)): the acceptability
 * tests of RFC 9293 §3.10.7.4 are built from this. An empty window holds nothing.
 */
export function seqInWindow(x: number, lo: number, len: number): boolean {
  return ((x - lo) >>> 0) < len;
}

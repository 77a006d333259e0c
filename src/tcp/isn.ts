/**
 * Initial sequence numbers (RFC 6528) and SYN cookies.
 *
 * ISN = M + F(localip, localport, remoteip, remoteport, secretkey)   (RFC 6528 §3)
 *   M  a counter ticking every 4 µs (RFC 9293 §3.4.1), from the injected clock;
 *   F  the first 32 bits of SHA-256 over the secret and the 4-tuple.
 * Each connection's ISNs thus rise with time like the classic clock-driven
 * ISN (so a new incarnation of a connection starts above the old one's
 * sequence numbers), while an off-path attacker who does not know the secret
 * cannot guess another tuple's offset.
 *
 * SYN cookies (used when the listen queue is full): the server's ISN in the
 * SYN-ACK encodes what it needs to rebuild the connection when the ACK comes
 * back, so no state is kept per SYN. Cookie layout (32 bits, most significant
 * first):
 *
 *    31       26 25 24 23                                             0
 *   +-----------+-----+-----------------------------------------------+
 *   |  T mod 64 | MSS |        H(secret, 4-tuple, T, MSS) (24 bits)   |
 *   +-----------+-----+-----------------------------------------------+
 *
 *   T    the time counter floor(now / 64 s); a cookie made at T is good
 *        while the counter is T or T+1 (64 to 128 s), and the hash covers the
 *        whole counter, so the 6-bit field wrapping does not revive it.
 *   MSS  an index into COOKIE_MSS_TABLE: the largest entry not above the
 *        peer's MSS (index 0 if even that is larger).
 *   H    SHA-256 over a second secret, the tuple, T and the index, 24 bits:
 *        a blind guess for a given tuple is right with probability about 2^-23
 *        (two valid counters).
 * The cookie carries only the MSS: window scale, SACK-Permitted and
 * Timestamps offered in the SYN are lost, and a connection completed from a
 * cookie runs without them.
 */
import { createHash } from 'node:crypto';
import type { Rng } from '../core/rng.ts';

/** A connection's endpoints, addresses as 16 raw bytes (zones are not part of it). */
export interface TcpTuple {
  localAddr: Uint8Array;
  localPort: number;
  remoteAddr: Uint8Array;
  remotePort: number;
}

const SECRET_LEN = 16;
/** secret, local addr+port, remote addr+port, 4 bytes of extra input, 1 byte more. */
const INPUT_LEN = SECRET_LEN + 18 + 18 + 5;

/** First four bytes of SHA-256(secret ‖ tuple ‖ extra), as an unsigned 32-bit number. */
function keyedHash(secret: Uint8Array, t: TcpTuple, scratch: Uint8Array, extra = 0, extra2 = 0): number {
  scratch.set(secret, 0);
  let i = SECRET_LEN;
  scratch.set(t.localAddr.subarray(0, 16), i);
  scratch[i + 16] = (t.localPort >>> 8) & 0xff;
  scratch[i + 17] = t.localPort & 0xff;
  i += 18;
  scratch.set(t.remoteAddr.subarray(0, 16), i);
  scratch[i + 16] = (t.remotePort >>> 8) & 0xff;
  scratch[i + 17] = t.remotePort & 0xff;
  i += 18;
  scratch[i] = (extra >>> 24) & 0xff;
  scratch[i + 1] = (extra >>> 16) & 0xff;
  scratch[i + 2] = (extra >>> 8) & 0xff;
  scratch[i + 3] = extra & 0xff;
  scratch[i + 4] = extra2 & 0xff;
  const d = createHash('sha256').update(scratch).digest();
  return ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
}

export interface IsnOptions {
  /** Draws the secret key (once, at construction). */
  rng: Rng;
  /** Milliseconds, from the injected Clock. */
  now: () => number;
}

/** RFC 6528 ISN generator. */
export class IsnGenerator {
  private readonly secret: Uint8Array;
  private readonly scratch = new Uint8Array(INPUT_LEN);
  private readonly now: () => number;

  constructor(opts: IsnOptions) {
    this.secret = opts.rng.fill(new Uint8Array(SECRET_LEN));
    this.now = opts.now;
  }

  /** M: the 4 µs timer, 250 ticks per millisecond, modulo 2^32 (wraps in about 4.77 hours). */
  static ticks(nowMs: number): number {
    return Math.floor(nowMs * 250) % 0x1_0000_0000;
  }

  /** The ISN for a new connection on `t`. */
  isn(t: TcpTuple): number {
    return (IsnGenerator.ticks(this.now()) + keyedHash(this.secret, t, this.scratch)) >>> 0;
  }
}

/** MSS values a cookie can carry (IPv6: 1220 is the 1280-byte minimum MTU's). */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1220, 1440, 8940];
/** Length of one cookie time unit. */
export const COOKIE_PERIOD_MS = 64_000;

const HASH_BITS = 24;
const HASH_MASK = (1 << HASH_BITS) - 1;

export interface SynCookieOptions {
  rng: Rng;
}

/** Stateless SYN cookies; see the layout above. */
export class SynCookies {
  private readonly secret: Uint8Array;
  private readonly scratch = new Uint8Array(INPUT_LEN);

  constructor(opts: SynCookieOptions) {
    this.secret = opts.rng.fill(new Uint8Array(SECRET_LEN));
  }

  /** Index of the largest table entry not above `peerMss`, or 0. */
  static mssIndex(peerMss: number): number {
    let idx = 0;
    for (let k = 0; k < COOKIE_MSS_TABLE.length; k++) if (COOKIE_MSS_TABLE[k]! <= peerMss) idx = k;
    return idx;
  }

  /** The cookie to send as our ISN in the SYN-ACK. */
  encode(t: TcpTuple, peerMss: number, nowMs: number): number {
    const counter = Math.floor(nowMs / COOKIE_PERIOD_MS);
    return this.make(t, counter, SynCookies.mssIndex(peerMss));
  }

  /**
   * Checks the cookie (the returning ACK's acknowledgment number − 1).
   * Returns the MSS it carries, or null if it is forged, for another tuple,
   * or older than the previous time unit.
   */
  check(t: TcpTuple, cookie: number, nowMs: number): number | null {
    const now = Math.floor(nowMs / COOKIE_PERIOD_MS);
    const field = cookie >>> 26;
    const idx = (cookie >>> 24) & 3;
    for (const counter of [now, now - 1]) {
      if (counter < 0 || (counter & 63) !== field) continue;
      if (this.make(t, counter, idx) === cookie >>> 0) return COOKIE_MSS_TABLE[idx]!;
    }
    return null;
  }

  private make(t: TcpTuple, counter: number, idx: number): number {
    const h = keyedHash(this.secret, t, this.scratch, counter >>> 0, idx) & HASH_MASK;
    return (((counter & 63) << 26) | (idx << 24) | h) >>> 0;
  }
}

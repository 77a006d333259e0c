/**
 * The anti-replay window (RFC 4303 §3.4.3, RFC 4302 §3.4.3) with Extended
 * Sequence Numbers (RFC 4303 Appendix A).
 *
 * The receiver keeps T, the highest sequence number authenticated so far, and
 * a bitmap of which of the W numbers ending at T it has accepted:
 *
 *          too old         |<---------- window (W) ---------->|    new
 *     ... ----------------[T-W+1 ................ T]-----------------> seq
 *                            bit set: replay, clear: ok          ok
 *
 * The caller's order is fixed by RFC 4303 §3.4.3: `check` the number (cheap
 * rejection of duplicates before spending crypto), verify the ICV, and only
 * then `update` the window, so that forged packets cannot move it.
 *
 * The bitmap is a ring of 32-bit words, a power of two of them, at least one
 * word more than W needs (RFC 6479's layout): advancing T clears whole words,
 * never shifts bits, so a jump costs at most one pass over the ring.
 *
 * Sequence numbers are 64-bit (ESN) held in JS numbers, exact to 2^53: at a
 * million packets a second that is 285 years, and an SA is rekeyed long
 * before (the sender refuses to pass 2^53, esp.ts/ah.ts). Without ESN only the
 * low 32 bits exist and T < 2^32.
 *
 * ESN inference (Appendix A2.2): only the low 32 bits travel; the high half
 * is guessed from where the window sits, and the ICV (which covers the high
 * half) confirms the guess. The resynchronisation of Appendix A3 (after
 * 2^32 consecutive losses) is not implemented: such packets fail the ICV.
 */

/** `check` results below zero. */
export const REPLAY_DUP = -1;
export const REPLAY_OLD = -2;

/** Largest window accepted (bits of bitmap: 8 KiB per SA). */
export const MAX_REPLAY_WINDOW = 65536;

const TWO32 = 0x1_0000_0000;

export type ReplayVerdict = 'ok' | 'replay' | 'tooOld';

export class ReplayWindow {
  /** W: packets the window covers; 0 disables replay protection (only without ESN). */
  readonly size: number;
  readonly esn: boolean;
  private readonly bits: Uint32Array;
  /** Mask of a bit index in the ring (ring bits - 1). */
  private readonly mask: number;
  private t: number;

  /**
   * @param size W (0 to MAX_REPLAY_WINDOW; with ESN at least 1)
   * @param top the initial T (highest sequence number already seen), default 0
   */
  constructor(size: number, esn: boolean, top = 0) {
    if (!Number.isInteger(size) || size < 0 || size > MAX_REPLAY_WINDOW) throw new RangeError(`replay window: size ${size} outside 0..${MAX_REPLAY_WINDOW}`);
    if (esn && size === 0) throw new RangeError('replay window: ESN needs a window (Appendix A2 infers the high bits from it)');
    if (!Number.isInteger(top) || top < 0 || top > (esn ? Number.MAX_SAFE_INTEGER : TWO32 - 1)) throw new RangeError(`replay window: bad initial top ${top}`);
    this.size = size;
    this.esn = esn;
    let words = 1;
    while (words * 32 < size + 32) words *= 2;
    this.bits = new Uint32Array(words);
    this.mask = words * 32 - 1;
    this.t = top;
  }

  /** T: the highest sequence number authenticated so far. */
  get top(): number {
    return this.t;
  }

  /**
   * Infers the full sequence number of a packet from its low 32 bits and
   * checks it against the window. Returns the sequence number (>= 1), or
   * REPLAY_DUP (already accepted) or REPLAY_OLD (left of the window, or the
   * never-valid number 0). Changes nothing.
   */
  check(seqLow: number): number {
    const seq = this.infer(seqLow >>> 0);
    if (seq <= 0) return REPLAY_OLD;
    if (seq > this.t || this.size === 0) return seq;
    if (this.t - seq >= this.size) return REPLAY_OLD;
    const i = (seq >>> 0) & this.mask;
    return this.bits[i >>> 5]! & (1 << (i & 31)) ? REPLAY_DUP : seq;
  }

  /** `check` in words, for tests and tools. */
  verdict(seqLow: number): ReplayVerdict {
    const r = this.check(seqLow);
    return r === REPLAY_DUP ? 'replay' : r === REPLAY_OLD ? 'tooOld' : 'ok';
  }

  /**
   * Records `seq` (as returned by `check`) as received. Call only after the
   * ICV verified, and only with a number `check` accepted.
   */
  update(seq: number): void {
    if (seq > this.t) {
      if (this.size > 0) this.advance(seq);
      this.t = seq;
    }
    if (this.size === 0) return;
    const i = (seq >>> 0) & this.mask;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }

  /** Moves T to `seq`, clearing the words that now describe numbers not yet seen. */
  private advance(seq: number): void {
    const words = this.bits.length;
    const from = Math.floor(this.t / 32);
    const to = Math.floor(seq / 32);
    const n = to - from;
    if (n <= 0) return;
    if (n >= words) {
      this.bits.fill(0);
      return;
    }
    const wmask = words - 1;
    // Word indexes of the ring are (seq / 32) mod words: the low bits of the low half suffice.
    let w = (from >>> 0) & wmask;
    for (let k = 0; k < n; k++) {
      w = (w + 1) & wmask;
      this.bits[w] = 0;
    }
  }

  /** RFC 4303 Appendix A2.2: the full number whose low 32 bits are `sl`; <= 0 if none can be. */
  private infer(sl: number): number {
    if (!this.esn) return sl;
    const t = this.t;
    const th = Math.floor(t / TWO32);
    const tl = t % TWO32;
    const w = this.size;
    if (tl >= w - 1) {
      // Case A: the window lies within one 2^32 subspace.
      const bl = tl - w + 1;
      return sl >= bl ? th * TWO32 + sl : (th + 1) * TWO32 + sl;
    }
    // Case B: the window spans two subspaces; its bottom is in the previous one.
    const bl = tl - w + 1 + TWO32;
    if (sl >= bl) return th === 0 ? -1 : (th - 1) * TWO32 + sl;
    return th * TWO32 + sl;
  }
}

/**
 * Injected randomness.
 *
 * Protocol code draws every random number (ReachableTime jitter, DAD delays,
 * fragment identifications, ephemeral ports, ISNs' secrets) from an Rng it is
 * given. Tests use SeededRng so a run is reproducible from its seed;
 * production uses CryptoRng (the kernel CSPRNG through node:crypto), which is
 * what RFC 7739 (fragment IDs) and RFC 6056 (ports) expect.
 */
import { randomFillSync } from 'node:crypto';

export interface Rng {
  /** A uniformly distributed 32-bit unsigned integer. */
  u32(): number;
  /** A uniform float in [0, 1). */
  float(): number;
  /** A uniform integer in [0, n) for 0 < n <= 2^32, without modulo bias. */
  below(n: number): number;
  /** A uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Fills `out` with random bytes and returns it. */
  fill(out: Uint8Array): Uint8Array;
}

abstract class RngBase implements Rng {
  abstract u32(): number;

  float(): number {
    // 53 bits of randomness from two draws.
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError(`Rng.below: bad bound ${n}`);
    if (n === 0x1_0000_0000) return this.u32();
    // Rejection sampling: discard the top partial range so every value is equally likely.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const x = this.u32();
      out[i] = x >>> 24;
      out[i + 1] = (x >>> 16) & 0xff;
      out[i + 2] = (x >>> 8) & 0xff;
      out[i + 3] = x & 0xff;
    }
    if (i < out.length) {
      let x = this.u32();
      for (; i < out.length; i++, x >>>= 8) out[i] = x & 0xff;
    }
    return out;
  }
}

/**
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that any
 * 32-bit seed, including 0, gives a well-mixed state. Not for secrets.
 */
export class SeededRng extends RngBase {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    super();
    if (!Number.isInteger(seed)) throw new RangeError(`SeededRng: seed must be an integer, got ${seed}`);
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** An independent generator derived from this one (e.g. one per simulated host). */
  fork(): SeededRng {
    return new SeededRng(this.u32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The production generator: the OS CSPRNG, drawn 4 KiB at a time. */
export class CryptoRng extends RngBase {
  private readonly pool = new Uint32Array(1024);
  private pos = this.pool.length;

  u32(): number {
    if (this.pos >= this.pool.length) {
      randomFillSync(this.pool);
      this.pos = 0;
    }
    return this.pool[this.pos++]!;
  }

  override fill(out: Uint8Array): Uint8Array {
    return randomFillSync(out);
  }
}

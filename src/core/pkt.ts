/**
 * Pkt: the packet buffer.
 *
 * One contiguous Uint8Array per packet (KAME: one external mbuf, never a
 * chain). The packet's bytes are `buf[off .. off+len)`; the bytes before `off`
 * are headroom into which lower layers prepend their headers without copying,
 * and the bytes after `off+len` are tailroom.
 *
 *      0            off                    off+len            buf.length
 *      | headroom   | packet data          | tailroom         |
 *
 * A call that may have to replace the backing buffer (prepend past the
 * headroom, append past the tailroom) does so in place on the Pkt object and
 * returns the offset to write at: callers must re-derive any views they held
 * of `buf` afterwards (DESIGN rule 9). Such a reallocation is counted in
 * `Pkt.reallocs` so benchmarks and tests can see it happen.
 */

/** Headroom reserved by default: Ethernet (14) + IPv6 (40) + room for extension headers, ESP or a tunnel. */
export const DEFAULT_HEADROOM = 128;

/** Packet flags carried as metadata (KAME's M_* flags). */
export const PktFlag = {
  /** Sent to a link-layer broadcast address. */
  BCAST: 1 << 0,
  /** Sent to a link-layer multicast address. */
  MCAST: 1 << 1,
  /** Looped back inside the stack (lo0 or multicast loopback). */
  LOOP: 1 << 2,
  /** Already decrypted by IPsec input. */
  DECRYPTED: 1 << 3,
  /** Authenticated by IPsec input. */
  AUTHED: 1 << 4,
  /** Reassembled from fragments. */
  REASSEMBLED: 1 << 5,
  /** Link-layer destination is one of our own unicast addresses. */
  TOUS: 1 << 6,
} as const;

export class Pkt {
  /** Number of times any Pkt had to reallocate to grow (a performance signal). */
  static reallocs = 0;

  buf: Uint8Array;
  off: number;
  len: number;

  /** Interface index the packet arrived on (0: locally originated). */
  rcvif = 0;
  /** Interface index chosen for output (0: not yet routed). */
  sndif = 0;
  /** Bitmask of PktFlag. */
  flags = 0;
  /** Link-layer source/destination of a received frame (subarrays, valid while the Pkt is). */
  llSrc: Uint8Array | null = null;
  llDst: Uint8Array | null = null;

  private constructor(buf: Uint8Array, off: number, len: number) {
    this.buf = buf;
    this.off = off;
    this.len = len;
  }

  /** A zero-filled packet of `len` bytes with `headroom` bytes free in front. */
  static alloc(len: number, headroom = DEFAULT_HEADROOM, tailroom = 0): Pkt {
    checkLen(len, 'len');
    checkLen(headroom, 'headroom');
    checkLen(tailroom, 'tailroom');
    return new Pkt(poolAlloc(headroom + len + tailroom), headroom, len);
  }

  /** A packet holding a copy of `data`, with headroom in front. */
  static copyOf(data: Uint8Array, headroom = DEFAULT_HEADROOM): Pkt {
    const p = Pkt.alloc(data.length, headroom);
    p.buf.set(data, headroom);
    return p;
  }

  /**
   * A packet over `data` without copying; no headroom (a prepend copies once).
   * The caller must not reuse `data` while the packet lives.
   */
  static wrap(data: Uint8Array): Pkt {
    return new Pkt(data, 0, data.length);
  }

  /** A packet over `buf[off .. off+len)`, the rest of `buf` its headroom and tailroom (a packet handed over whole). */
  static over(buf: Uint8Array, off: number, len: number): Pkt {
    checkLen(off, 'off');
    checkLen(len, 'len');
    if (off + len > buf.length) throw new RangeError(`Pkt.over: ${off}+${len} exceeds the buffer (${buf.length})`);
    return new Pkt(buf, off, len);
  }

  /**
   * A packet over the bytes of `view` that adopts everything in front of it in
   * its ArrayBuffer as headroom (and everything after as tailroom). For a
   * frame whose ownership was handed over (a looped-back packet), so that a
   * reply can be built in place. Never use it on borrowed (driver) buffers.
   */
  static adopt(view: Uint8Array): Pkt {
    // A view into a shared pool chunk: the bytes around it are other packets', so copy instead.
    if (pooledChunks.has(view.buffer as ArrayBuffer)) return Pkt.copyOf(view);
    const whole = new Uint8Array(view.buffer, 0, view.buffer.byteLength);
    return new Pkt(whole, view.byteOffset, view.length);
  }

  get headroom(): number {
    return this.off;
  }

  get tailroom(): number {
    return this.buf.length - this.off - this.len;
  }

  /** The packet's bytes as a view (no copy). Re-derive after any prepend/append. */
  data(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.len);
  }

  /**
   * Makes room for `n` bytes in front of the data and returns the new start
   * offset in `buf`. Copies (once) only when the headroom is too small.
   */
  prepend(n: number): number {
    checkLen(n, 'n');
    if (n > this.off) this.grow(n + DEFAULT_HEADROOM, 0);
    this.off -= n;
    this.len += n;
    return this.off;
  }

  /**
   * Extends the data by `n` bytes at the end and returns the offset in `buf`
   * of the first new byte. New bytes are zero only if they were never used.
   */
  append(n: number): number {
    checkLen(n, 'n');
    // Grow with spare room (like prepend) so that a run of small appends copies rarely.
    if (n > this.tailroom) this.grow(0, n + Math.max(DEFAULT_HEADROOM, this.len >>> 1));
    const at = this.off + this.len;
    this.len += n;
    return at;
  }

  /** Removes `n` bytes from the front (m_adj with n > 0). Returns false if the packet is shorter. */
  adj(n: number): boolean {
    checkInt(n, 'n');
    if (n < 0 || n > this.len) return false;
    this.off += n;
    this.len -= n;
    return true;
  }

  /** Shortens the packet to `len` bytes (drop trailing bytes, e.g. Ethernet padding). */
  trimTo(len: number): boolean {
    checkInt(len, 'len');
    if (len < 0 || len > this.len) return false;
    this.len = len;
    return true;
  }

  /** A deep copy (data, headroom and metadata) for duplication or looping back. */
  clone(): Pkt {
    const p = new Pkt(this.buf.slice(), this.off, this.len);
    p.rcvif = this.rcvif;
    p.sndif = this.sndif;
    p.flags = this.flags;
    p.llSrc = this.llSrc ? this.llSrc.slice() : null;
    p.llDst = this.llDst ? this.llDst.slice() : null;
    return p;
  }

  private grow(front: number, back: number): void {
    const nb = new Uint8Array(this.off + front + this.len + this.tailroom + back);
    nb.set(this.buf.subarray(this.off, this.off + this.len), this.off + front);
    this.buf = nb;
    this.off += front;
    Pkt.reallocs++;
  }
}

/**
 * Packet memory comes from 64 KiB chunks cut in order (a bump allocator, as
 * node's Buffer pool): a typed array of its own costs an allocation of
 * external memory and a finalizer per packet, several times the price of a
 * view. A chunk is never reused: it is freed by the garbage collector once
 * no packet (or view handed to the application) refers to it, and its bytes
 * start zeroed. Large packets get a buffer of their own.
 */
const POOL_CHUNK = 64 * 1024;
const POOL_MAX = 16 * 1024;
const pooledChunks = new WeakSet<ArrayBuffer>();
let chunk: ArrayBuffer | null = null;
let chunkOff = 0;

function poolAlloc(n: number): Uint8Array {
  if (n > POOL_MAX) return new Uint8Array(n);
  if (chunk === null || chunkOff + n > POOL_CHUNK) {
    chunk = new ArrayBuffer(POOL_CHUNK);
    pooledChunks.add(chunk);
    chunkOff = 0;
  }
  const u = new Uint8Array(chunk, chunkOff, n);
  chunkOff += (n + 7) & ~7;
  return u;
}

/** True when `view` lies in a packet pool chunk (shared with other packets). */
export function isPooled(view: Uint8Array): boolean {
  return pooledChunks.has(view.buffer as ArrayBuffer);
}

/** NaN or a fraction would pass the bounds tests above and corrupt `off`/`len`. */
function checkInt(n: number, what: string): void {
  if (!Number.isInteger(n)) throw new RangeError(`Pkt: ${what} must be an integer, got ${n}`);
}

function checkLen(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`Pkt: ${what} must be a non-negative integer, got ${n}`);
}

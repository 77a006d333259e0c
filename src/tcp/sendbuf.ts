/**
 * The send buffer: bytes the application wrote and the peer has not yet
 * acknowledged, as one ring over a growable Uint8Array. Byte 0 of the ring
 * is SND.UNA; segments are copied out of it by offset, acknowledged bytes are
 * dropped from the front. Bounded by `limit` (SO_SNDBUF): `free` says how
 * much more the application may write before backpressure.
 */
export class SendBuffer {
  private buf: Uint8Array;
  private head = 0;
  private len = 0;

  constructor(public limit: number) {
    this.buf = new Uint8Array(Math.min(limit, 64 * 1024));
  }

  get length(): number {
    return this.len;
  }

  get free(): number {
    return Math.max(0, this.limit - this.len);
  }

  /** Appends as much of `data` as fits under the limit; returns the bytes taken. */
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.free);
    if (n === 0) return 0;
    if (this.len + n > this.buf.length) this.grow(this.len + n);
    const cap = this.buf.length;
    const tail = (this.head + this.len) % cap;
    const first = Math.min(n, cap - tail);
    this.buf.set(data.subarray(0, first), tail);
    if (first < n) this.buf.set(data.subarray(first, n), 0);
    this.len += n;
    return n;
  }

  /** Copies `n` bytes starting `off` bytes after SND.UNA into `out` at `at`. */
  copyOut(off: number, n: number, out: Uint8Array, at: number): void {
    if (off < 0 || n < 0 || off + n > this.len) throw new RangeError(`SendBuffer.copyOut: ${off}+${n} beyond ${this.len}`);
    const cap = this.buf.length;
    const start = (this.head + off) % cap;
    const first = Math.min(n, cap - start);
    out.set(this.buf.subarray(start, start + first), at);
    if (first < n) out.set(this.buf.subarray(0, n - first), at + first);
  }

  /** Drops `n` acknowledged bytes from the front. */
  drop(n: number): void {
    const k = Math.min(n, this.len);
    this.head = (this.head + k) % this.buf.length;
    this.len -= k;
    if (this.len === 0) this.head = 0;
  }

  clear(): void {
    this.head = 0;
    this.len = 0;
  }

  private grow(need: number): void {
    // Doubling, not up to the limit: autotuning raises the limit a little at a time, and a ring
    // sized to each new limit would be copied whole on nearly every write.
    let cap = Math.max(1, this.buf.length);
    while (cap < need) cap *= 2;
    const nb = new Uint8Array(cap);
    this.copyOut(0, this.len, nb, 0);
    this.buf = nb;
    this.head = 0;
  }
}

/**
 * A receive burst: the frames a driver hands over in one wakeup (the TAP
 * reads up to 64 per readable event). Work that is cheaper done once per
 * burst than once per packet registers here and runs when the burst ends:
 * TCP's acknowledgements (one ACK for the burst, as Linux sends one per GRO
 * super-packet) and the interface's batched transmit (one crossing into the
 * addon for many frames).
 *
 * Nothing waits past the end of the burst: outside one, `atEnd` refuses and
 * the caller does its work at once. Bursts may nest (a frame looped back
 * inside another burst); the queue runs when the outermost one ends.
 */
export class RxBurst {
  /** Most callbacks queued in one burst; past it `atEnd` refuses (the caller acts at once). */
  static readonly MAX_QUEUED = 4096;
  private depth = 0;
  private q: (() => void)[] = [];

  /** True while a driver is delivering a burst. */
  get active(): boolean {
    return this.depth > 0;
  }

  enter(): void {
    this.depth++;
  }

  /** Ends a burst; the outermost end runs what was queued, in order. */
  leave(): void {
    if (this.depth === 0) return;
    if (--this.depth > 0) return;
    let first: unknown = null;
    // Callbacks may queue more only while a new burst is active; run until the queue is empty.
    while (this.q.length > 0) {
      const q = this.q;
      this.q = [];
      for (let i = 0; i < q.length; i++) {
        try {
          q[i]!();
        } catch (e) {
          first ??= e;
        }
      }
    }
    if (first !== null) throw first;
  }

  /** Queues `fn` for the end of the current burst; false (nothing queued) outside a burst or when full. */
  atEnd(fn: () => void): boolean {
    if (this.depth === 0 || this.q.length >= RxBurst.MAX_QUEUED) return false;
    this.q.push(fn);
    return true;
  }
}

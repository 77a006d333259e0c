/**
 * A binary min-heap of timers ordered by (due time, creation order).
 *
 * Shared by the real and the virtual clock. Cancellation is O(log n): every
 * entry knows its heap index. Two timers due at the same instant fire in the
 * order they were armed, which keeps virtual-clock tests deterministic.
 */

export interface TimerEntry {
  due: number;
  seq: number;
  /** Position in the heap, -1 when not queued. */
  idx: number;
  fn: () => void;
}

export class TimerHeap {
  private readonly h: TimerEntry[] = [];

  get size(): number {
    return this.h.length;
  }

  peek(): TimerEntry | undefined {
    return this.h[0];
  }

  push(e: TimerEntry): void {
    e.idx = this.h.length;
    this.h.push(e);
    this.up(e.idx);
  }

  pop(): TimerEntry | undefined {
    const top = this.h[0];
    if (top) this.remove(top);
    return top;
  }

  remove(e: TimerEntry): void {
    const i = e.idx;
    if (i < 0 || this.h[i] !== e) return;
    const last = this.h.pop()!;
    e.idx = -1;
    if (last !== e) {
      this.h[i] = last;
      last.idx = i;
      this.down(i);
      this.up(last.idx);
    }
  }

  private less(a: TimerEntry, b: TimerEntry): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.h;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.h;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const h = this.h;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    a.idx = j;
    b.idx = i;
  }
}

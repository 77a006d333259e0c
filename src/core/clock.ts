/**
 * Injected time.
 *
 * Protocol code never reads the wall clock and never calls setTimeout: it is
 * given a Clock. Production uses RealClock (performance.now + one node timer
 * armed for the earliest deadline); tests use VirtualClock, whose time moves
 * only when the test calls advance(), so a 60-second reassembly timeout is
 * tested in microseconds and always in the same order.
 */
import { TimerHeap, type TimerEntry } from './timerheap.ts';

export interface Timer {
  /** True while the timer is armed and has not fired. */
  readonly active: boolean;
  /** Disarms the timer; harmless if it already fired or was cancelled. */
  cancel(): void;
  /** Re-arms the timer to fire `ms` from now (cancels the pending expiry). */
  reset(ms: number): void;
}

export interface Clock {
  /** Monotonic milliseconds (fractional) since an arbitrary origin. */
  now(): number;
  /** Milliseconds since the Unix epoch, for timestamps shown to people (pcap, logs). */
  wallMs(): number;
  /** Calls `fn` once, `ms` milliseconds from now (ms < 0 is treated as 0). */
  timer(ms: number, fn: () => void): Timer;
}

class HeapTimer implements Timer {
  readonly e: TimerEntry;
  constructor(
    private readonly owner: HeapClockBase,
    fn: () => void,
  ) {
    this.e = { due: 0, seq: 0, idx: -1, fn };
  }
  get active(): boolean {
    return this.e.idx >= 0;
  }
  cancel(): void {
    this.owner.disarm(this.e);
  }
  reset(ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`Timer.reset: delay must be finite, got ${ms}`);
    this.owner.disarm(this.e);
    this.owner.arm(this.e, ms);
  }
}

abstract class HeapClockBase implements Clock {
  protected readonly heap = new TimerHeap();
  private seq = 0;

  abstract now(): number;
  abstract wallMs(): number;
  /** Called after the earliest deadline may have changed. */
  protected abstract rearm(): void;

  timer(ms: number, fn: () => void): Timer {
    const t = new HeapTimer(this, fn);
    this.arm(t.e, ms);
    return t;
  }

  /** Number of armed timers. */
  get pendingTimers(): number {
    return this.heap.size;
  }

  /** @internal */
  arm(e: TimerEntry, ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`Clock.timer: delay must be finite, got ${ms}`);
    e.due = this.now() + Math.max(0, ms);
    e.seq = this.seq++;
    this.heap.push(e);
    if (e.idx === 0) this.rearm();
  }

  /** @internal */
  disarm(e: TimerEntry): void {
    if (e.idx < 0) return;
    const wasFirst = e.idx === 0;
    this.heap.remove(e);
    if (wasFirst) this.rearm();
  }
}

/**
 * The production clock. All stack timers share one node timer, armed for the
 * earliest deadline, so ten thousand TCP connections cost one setTimeout.
 */
export class RealClock extends HeapClockBase {
  private handle: ReturnType<typeof setTimeout> | null = null;
  private armedFor = Infinity;
  private readonly origin = performance.now();
  private readonly wallOrigin = Date.now();

  /** @param unref when true (default) pending stack timers alone do not keep the process alive. */
  constructor(private readonly unref = true) {
    super();
  }

  now(): number {
    return performance.now() - this.origin;
  }

  wallMs(): number {
    return this.wallOrigin + this.now();
  }

  protected rearm(): void {
    const first = this.heap.peek();
    const due = first ? first.due : Infinity;
    if (due === this.armedFor) return;
    if (this.handle) clearTimeout(this.handle);
    this.handle = null;
    this.armedFor = due;
    if (!first) return;
    this.handle = setTimeout(() => this.fire(), Math.max(0, due - this.now()));
    if (this.unref) this.handle.unref();
  }

  private fire(): void {
    this.handle = null;
    this.armedFor = Infinity;
    const now = this.now();
    // Bounded: timers armed by callbacks for "now" run on the next turn.
    let budget = this.heap.size;
    try {
      for (let e = this.heap.peek(); e && e.due <= now && budget-- > 0; e = this.heap.peek()) {
        this.heap.pop();
        e.fn();
      }
    } finally {
      // Even when a callback throws (and the process survives it), the rest stay scheduled.
      this.rearm();
    }
  }

  /** Cancels every timer (stack shutdown). */
  stop(): void {
    while (this.heap.pop()) {
      /* drain */
    }
    this.rearm();
  }
}

/**
 * The test clock. Time stands still until `advance(ms)`, which fires every
 * timer that falls due in order of due time (ties in arming order), setting
 * `now()` to each timer's due time while its callback runs. Timers armed by a
 * callback fire in the same advance() if they fall due within it.
 */
export class VirtualClock extends HeapClockBase {
  private t: number;
  private firing = false;

  constructor(
    start = 0,
    private readonly wallOrigin = Date.UTC(2026, 0, 1),
  ) {
    super();
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  wallMs(): number {
    return this.wallOrigin + this.t;
  }

  protected rearm(): void {
    /* nothing to do: time moves only in advance() */
  }

  /** Moves time forward by `ms`, firing due timers. Returns how many fired. */
  advance(ms: number): number {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`VirtualClock.advance: bad delay ${ms}`);
    if (this.firing) throw new Error('VirtualClock.advance: called from inside a timer callback');
    const end = this.t + ms;
    let n = 0;
    this.firing = true;
    try {
      for (let e = this.heap.peek(); e && e.due <= end; e = this.heap.peek()) {
        this.heap.pop();
        if (e.due > this.t) this.t = e.due;
        n++;
        e.fn();
      }
    } finally {
      this.firing = false;
    }
    this.t = end;
    return n;
  }

  /** Due time of the earliest armed timer, or undefined. */
  nextDue(): number | undefined {
    return this.heap.peek()?.due;
  }

  /**
   * Advances to each next deadline until no timer is armed or `maxMs` has
   * passed; a guard against timers that re-arm forever. Returns timers fired.
   */
  runUntilIdle(maxMs = 3_600_000): number {
    const limit = this.t + maxMs;
    let n = 0;
    for (let due = this.nextDue(); due !== undefined && due <= limit; due = this.nextDue()) {
      n += this.advance(Math.max(0, due - this.t));
    }
    return n;
  }
}

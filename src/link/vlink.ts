/**
 * The virtual link: an in-memory Ethernet segment (a hub) joining any number
 * of stacks in one process, driven by the injected clock.
 *
 * A frame transmitted by one port is delivered, after the link's latency, to
 * every other attached port that is up; Ethernet input on each interface
 * filters by destination, as on a real shared segment. Delivery always
 * happens from a clock timer, never from inside transmit(), so a reply can
 * never recurse into its sender. With a VirtualClock, `clock.advance(0)`
 * delivers whatever is in flight with zero latency.
 *
 * The link bounds the frames in flight (excess dropped and counted) and
 * drops frames larger than its maximum frame size, as a switch would.
 */
import type { Clock, Timer } from '../core/clock.ts';
import { counterSet } from '../core/counters.ts';
import type { LinkDriver } from './driver.ts';
import { ETHER_HDR_LEN } from './ether.ts';

export interface VirtualLinkOptions {
  clock: Clock;
  /** One-way delay in ms (default 0). */
  latencyMs?: number;
  /** Largest Ethernet payload carried (default 1500; frames above it are dropped). */
  mtu?: number;
  /** Frames in flight at most (default 4096). */
  maxInFlight?: number;
  name?: string;
  /**
   * Deliver the frames that fall due together to each port as one receive
   * batch (as the TAP hands over what one read loop got), instead of one
   * batch per frame (default false).
   */
  batch?: boolean;
}

interface InFlight {
  at: number;
  from: VirtualPort;
  frame: Uint8Array;
}

export class VirtualLink {
  readonly name: string;
  readonly mtu: number;
  readonly latencyMs: number;
  readonly batch: boolean;
  readonly stats = counterSet('vlink', {
    frames: 'frames transmitted onto the link',
    deliveries: 'frame deliveries to ports',
    oversize: 'frames dropped: longer than the link MTU',
    overflow: 'frames dropped: too many frames in flight',
    portDown: 'frames not delivered: receiving port down or detached',
  });
  private readonly clock: Clock;
  private readonly ports = new Set<VirtualPort>();
  private readonly maxInFlight: number;
  /** FIFO of frames in flight; latency is constant so due times are monotonic. */
  private q: InFlight[] = [];
  private qhead = 0;
  private timer: Timer | null = null;
  private nextPort = 0;

  constructor(opts: VirtualLinkOptions) {
    this.clock = opts.clock;
    this.latencyMs = opts.latencyMs ?? 0;
    this.mtu = opts.mtu ?? 1500;
    this.maxInFlight = opts.maxInFlight ?? 4096;
    this.name = opts.name ?? 'vlink';
    this.batch = opts.batch ?? false;
    if (!(this.latencyMs >= 0)) throw new RangeError(`VirtualLink: latency must be >= 0, got ${this.latencyMs}`);
    if (!Number.isInteger(this.mtu) || this.mtu < 68) throw new RangeError(`VirtualLink: bad MTU ${this.mtu}`);
  }

  /** A new port (a LinkDriver) attached to this segment. */
  port(label?: string): VirtualPort {
    const p = new VirtualPort(this, label ?? `${this.name}.${this.nextPort++}`, this.mtu + ETHER_HDR_LEN);
    this.ports.add(p);
    return p;
  }

  get inFlight(): number {
    return this.q.length - this.qhead;
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** @internal */
  detach(p: VirtualPort): void {
    this.ports.delete(p);
  }

  /** @internal the frame is owned by the link from here on. */
  send(from: VirtualPort, frame: Uint8Array): boolean {
    if (frame.length > this.mtu + ETHER_HDR_LEN) {
      this.stats.c.oversize++;
      return false;
    }
    if (this.inFlight >= this.maxInFlight) {
      this.stats.c.overflow++;
      return false;
    }
    this.stats.c.frames++;
    this.q.push({ at: this.clock.now() + this.latencyMs, from, frame });
    if (!this.timer) this.timer = this.clock.timer(this.latencyMs, () => this.deliverDue());
    return true;
  }

  private deliverDue(): void {
    this.timer = null;
    const now = this.clock.now();
    // Only what is queued now: frames sent by receivers wait for their own timer,
    // so a zero-latency exchange yields to the clock between hops.
    const end = this.q.length;
    if (this.batch) {
      const due: InFlight[] = [];
      while (this.qhead < end && this.q[this.qhead]!.at <= now) {
        due.push(this.q[this.qhead]!);
        this.q[this.qhead++] = undefined as unknown as InFlight;
      }
      for (const p of [...this.ports]) {
        const frames = due.filter((f) => f.from !== p).map((f) => f.frame);
        if (frames.length === 0) continue;
        const n = p.deliverBatch(frames);
        this.stats.c.deliveries += n;
        this.stats.c.portDown += frames.length - n;
      }
    }
    while (this.qhead < end) {
      const f = this.q[this.qhead]!;
      if (f.at > now) break;
      this.q[this.qhead++] = undefined as unknown as InFlight;
      for (const p of this.ports) {
        if (p === f.from) continue;
        if (p.deliver(f.frame)) this.stats.c.deliveries++;
        else this.stats.c.portDown++;
      }
    }
    // A receiver that transmitted armed a timer for its own frame; the head's due time rules.
    // (The cast: tsc cannot see that receivers assign this.timer during the loop.)
    (this.timer as Timer | null)?.cancel();
    this.timer = null;
    if (this.qhead === this.q.length) {
      this.q = [];
      this.qhead = 0;
    } else {
      this.timer = this.clock.timer(this.q[this.qhead]!.at - now, () => this.deliverDue());
    }
  }
}

export class VirtualPort implements LinkDriver {
  readonly kind = 'vlink';
  private rx: ((frame: Uint8Array) => void) | null = null;
  private batchEnd: (() => void) | null = null;
  private closed = false;
  /** A port can be unplugged and plugged back to simulate a link flap. */
  connected = true;

  constructor(
    readonly link: VirtualLink,
    readonly label: string,
    readonly maxFrameLen: number,
  ) {}

  transmit(frame: Uint8Array): boolean {
    if (this.closed || !this.connected) return false;
    return this.link.send(this, frame);
  }

  transmitBatch(frames: readonly Uint8Array[]): number {
    let n = 0;
    for (const f of frames) if (this.transmit(f)) n++;
    return n;
  }

  setReceiver(rx: ((frame: Uint8Array) => void) | null): void {
    this.rx = rx;
  }

  setBatchEnd(fn: (() => void) | null): void {
    this.batchEnd = fn;
  }

  /** @internal */
  deliver(frame: Uint8Array): boolean {
    if (this.closed || !this.connected || !this.rx) return false;
    try {
      this.rx(frame);
    } finally {
      this.batchEnd?.();
    }
    return true;
  }

  /** @internal frames due together, as one receive batch; returns how many were delivered. */
  deliverBatch(frames: readonly Uint8Array[]): number {
    if (this.closed || !this.connected || !this.rx) return 0;
    let n = 0;
    try {
      // The receiver may detach (close) mid-batch: the rest are not delivered.
      for (const f of frames) {
        if (!this.rx) break;
        this.rx(f);
        n++;
      }
    } finally {
      this.batchEnd?.();
    }
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rx = null;
    this.link.detach(this);
  }
}

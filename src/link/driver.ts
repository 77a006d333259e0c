/**
 * The link endpoint interface (gVisor's LinkEndpoint, much reduced): what an
 * Ethernet interface needs from the thing that moves its frames. Implemented
 * by the TAP driver and by ports of the in-memory virtual link.
 *
 * Ownership: `transmit(frame)` hands the bytes to the driver; the caller must
 * not touch them afterwards. Frames given to the receiver are *borrowed*:
 * valid only during the call (the TAP driver reuses one slab per batch), so a
 * receiver that keeps a frame copies it.
 */
export interface LinkDriver {
  /** 'tap', 'vlink', ... for ifconfig and logs. */
  readonly kind: string;
  /** Largest frame (Ethernet header included) the driver can carry. */
  readonly maxFrameLen: number;
  /** Sends one frame; false if the driver had to drop it (it counts why). */
  transmit(frame: Uint8Array): boolean;
  /**
   * Optional: sends frames in order in one call; returns how many were
   * accepted (the rest were dropped and counted by the driver). Same
   * ownership rule as transmit.
   */
  transmitBatch?(frames: readonly Uint8Array[]): number;
  /** Installs the receive upcall (null detaches). */
  setReceiver(rx: ((frame: Uint8Array) => void) | null): void;
  /** Optional upcall after each receive batch, for work that batches (ACK coalescing, flushes). */
  setBatchEnd?(fn: (() => void) | null): void;
  /** Releases the underlying resource; idempotent. */
  close(): void;
}

/** Direction of a frame through a filter, as seen from the interface. */
export type Dir = 'rx' | 'tx';

/**
 * A link-layer filter sitting between an interface and its driver (the fault
 * injector, the pcap writer). It passes each frame on by calling `next` zero
 * or more times, now or later. A filter that keeps a frame past the call, or
 * changes its bytes, must copy it: rx frames are borrowed.
 */
export interface FrameFilter {
  readonly name: string;
  filter(dir: Dir, frame: Uint8Array, next: (frame: Uint8Array) => void): void;
  /** Called when the filter is removed or its interface goes away. */
  close?(): void;
}

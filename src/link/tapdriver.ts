/**
 * The TAP as a LinkDriver: adapts the typed binding (src/link/tap) to the
 * interface an EtherIf expects. Each receive batch from the addon is handed
 * up frame by frame (borrowed views into the addon's slab, no copies), then
 * the batch-end upcall runs once.
 */
import type { LinkDriver } from './driver.ts';
import { TapDevice, type TapOptions } from './tap/index.ts';

export class TapDriver implements LinkDriver {
  readonly kind = 'tap';
  readonly maxFrameLen: number;
  private rx: ((frame: Uint8Array) => void) | null = null;
  private batchEnd: (() => void) | null = null;

  constructor(readonly tap: TapDevice) {
    // Without offloads the kernel hands us at most MTU + 14 bytes, and the MTU of a TAP can reach 65521.
    this.maxFrameLen = 65535;
    tap.onReceive((batch) => {
      const rx = this.rx;
      if (!rx) return;
      try {
        for (let i = 0; i < batch.count; i++) rx(batch.frame(i));
      } finally {
        // Even when a frame's processing threw: whoever waits for the batch end must not wait forever.
        this.batchEnd?.();
      }
    });
  }

  /** Creates or attaches to a TAP and wraps it. */
  static open(opts: TapOptions): TapDriver {
    return new TapDriver(TapDevice.open(opts));
  }

  get name(): string {
    return this.tap.name;
  }

  transmit(frame: Uint8Array): boolean {
    return this.tap.write(frame);
  }

  transmitBatch(frames: readonly Uint8Array[]): number {
    return this.tap.writeBatch(frames);
  }

  setReceiver(rx: ((frame: Uint8Array) => void) | null): void {
    this.rx = rx;
  }

  setBatchEnd(fn: (() => void) | null): void {
    this.batchEnd = fn;
  }

  close(): void {
    this.rx = null;
    this.tap.close();
  }
}

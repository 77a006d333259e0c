/**
 * src/link/tap — a Linux TAP device, through our own N-API addon
 * (src/link/tap/addon, built by node-gyp into build/Release/tap6_tap.node).
 * This is the only module that loads the addon.
 *
 * ```ts
 * const tap = TapDevice.open({ name: 'tap6', mtu: 1500, up: true });
 * tap.onReceive((batch) => {
 *   for (let i = 0; i < batch.count; i++) input(batch.slab, batch.offset(i), batch.length(i));
 * });
 * tap.write(frame);          // never blocks: true = written or queued, false = dropped
 * tap.close();
 * ```
 *
 * API
 *   TapDevice.open(opts?: TapOptions): TapDevice     throws TapError
 *   tap.name: string                   kernel name (picked by the kernel if opts.name is empty)
 *   tap.kernelMac: Uint8Array          the kernel side's MAC (6 bytes, a copy), read at open
 *   tap.mtu: number                    get/set (SIOCGIFMTU / SIOCSIFMTU)
 *   tap.isUp(): boolean; tap.setUp(up: boolean): void
 *   tap.onReceive(cb: ((batch: TapFrameBatch) => void) | null): void
 *   tap.onError(cb: ((err: TapError) => void) | null): void
 *   tap.write(frame: Uint8Array, offload?: TapTxOffload): boolean
 *   tap.writeBatch(frames: readonly Uint8Array[]): number   frames written or queued
 *   tap.stats(): TapStats
 *   tap.ref(): this; tap.unref(): this                      like a libuv handle
 *   tap.close(): void (idempotent); tap.closed: boolean
 *   isTapAvailable(): boolean; tapUnavailableReason(): string | undefined
 *
 * Receive. When the fd is readable the addon reads up to `readBatch` frames
 * (until EAGAIN) into one slab allocated at open, records offset and length
 * of each in one metadata array, and calls the receive callback once with a
 * TapFrameBatch. Nothing is allocated per frame or per batch (except by
 * `batch.frame(i)`, which makes a subarray view). **The slab is overwritten
 * by the next batch: frames are valid only during the callback**; copy what
 * must outlive it. The callback runs as a proper async callback (microtasks
 * and nextTick run after it); an exception thrown from it is an uncaught
 * exception. A device that is receiving keeps the process alive (see unref)
 * and is not garbage collected; an idle one that is collected is closed.
 *
 * Transmit. `write` tries write(2) at once when nothing is queued; if the
 * kernel answers EAGAIN the frame is copied into a bounded queue (txQueueFrames
 * and txQueueBytes) drained when the fd becomes writable, in order. A full
 * queue drops the frame (stats.txDropped) and write returns false; so does a
 * failed write(2), e.g. EIO while the link is down (stats.txErrors,
 * stats.txLastErrno). Frames must be 14..65553 bytes (TypeError/TapError
 * otherwise: a caller bug). The caller may reuse the frame's buffer as soon as
 * write returns.
 *
 * Errors are TapError: code (errno name), errno (positive Linux errno),
 * syscall. After close, every method throws TapError EBADF "device closed".
 * An asynchronous failure (the device was deleted under us: POLLERR, or a
 * read error) stops receiving and goes to the onError callback; with none
 * set it is thrown as an uncaught exception.
 *
 * Namespaces. mtu/isUp/setUp address the device by name in this process's
 * network namespace: after `ip link set NAME netns NS` they throw ENODEV, while
 * receive and write keep working.
 *
 * Offloads (not implemented yet; the seam is in place so callers will not
 * change). With IFF_VNET_HDR every frame read or written carries a virtio-net
 * header. When `vnetHdr: true` is implemented, the addon will strip that header
 * on receive (offset/length keep describing the Ethernet frame; `offload(i)`
 * returns its flags, GSO type and size, today always 0) and build it on
 * transmit from the `offload` descriptor given to write(). Today vnetHdr: true
 * throws EOPNOTSUPP, and so does write() with an offload descriptor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TapOptions {
  /** Interface name, at most 15 bytes; empty or absent: the kernel picks tapN. */
  name?: string;
  /** Set the MTU after opening. */
  mtu?: number;
  /** Bring the link up after opening. */
  up?: boolean;
  /** Most frames read per readable event (1..4096, default 64). */
  readBatch?: number;
  /** Bound of the transmit queue in frames (0..1048576, default 1024; 0 = no queue). */
  txQueueFrames?: number;
  /** Bound of the transmit queue in bytes (0..268435456, default 1 MiB). */
  txQueueBytes?: number;
  /** virtio-net header offloads (IFF_VNET_HDR + TUNSETOFFLOAD). Not supported yet: true throws. */
  vnetHdr?: boolean;
}

/** One receive batch. Valid only during the receive callback. */
export interface TapFrameBatch {
  /** Number of frames in this batch. */
  readonly count: number;
  /** The whole receive slab; frame i is slab[offset(i) .. offset(i) + length(i)). */
  readonly slab: Uint8Array;
  /** Byte offset of frame i in the slab. */
  offset(i: number): number;
  /** Length of frame i in bytes, Ethernet header included. */
  length(i: number): number;
  /** Offload info of frame i (virtio-net flags/GSO, reserved): always 0 today. */
  offload(i: number): number;
  /** Frame i as a view of the slab (allocates the view object, not the bytes). */
  frame(i: number): Uint8Array;
}

/**
 * Transmit offload request, for when vnetHdr is implemented (virtio-net header
 * fields). Passing one today throws EOPNOTSUPP.
 */
export interface TapTxOffload {
  /** Checksum offload: start of the checksummed region, from the frame start. */
  csumStart?: number;
  /** Checksum offload: where to store the checksum, from csumStart. */
  csumOffset?: number;
  /** Segmentation offload for a super-frame. */
  gso?: { type: 'tcpv6' | 'udpv6'; segmentSize: number; headerLength: number };
}

export interface TapStats {
  rxFrames: number;
  rxBytes: number;
  /** Receive callbacks made (batches with at least one frame). */
  rxBatches: number;
  /** Read/poll errors (receive stops after one). */
  rxErrors: number;
  /** Frames that did not fit the read buffer (dropped). */
  rxTruncated: number;
  /** Frames handed to the kernel. */
  txFrames: number;
  txBytes: number;
  /** Frames that went through the queue because the kernel said EAGAIN. */
  txQueued: number;
  /** Frames dropped because the queue was full. */
  txDropped: number;
  /** Frames the kernel refused (e.g. EIO while the link is down). */
  txErrors: number;
  /** errno of the last refused frame, 0 if none. */
  txLastErrno: number;
  /** Frames waiting in the queue now. */
  txQueueDepth: number;
  /** Bytes of the frames waiting in the queue now. */
  txQueueBytes: number;
}

export class TapError extends Error {
  /** errno name, e.g. 'EBUSY'. */
  code: string;
  /** Positive Linux errno value. */
  errno: number;
  /** What failed, e.g. 'open', 'ioctl(TUNSETIFF)', 'write'. */
  syscall: string;

  constructor(message: string, opts: { code?: string; errno?: number; syscall?: string } = {}) {
    super(message);
    this.name = 'TapError';
    this.code = opts.code ?? 'EUNKNOWN';
    this.errno = opts.errno ?? 0;
    this.syscall = opts.syscall ?? '';
  }
}

/** Smallest and largest frame write() accepts (Ethernet header; 65535 MTU + header + VLAN tag). */
export const TAP_MIN_FRAME = 14;
export const TAP_MAX_FRAME = 65553;

// ---- the addon --------------------------------------------------------------

interface AddonTap {
  name(): string;
  kernelMac(): ArrayBuffer;
  slab(): ArrayBuffer;
  meta(): ArrayBuffer;
  getMtu(): number;
  setMtu(mtu: number): void;
  isUp(): boolean;
  setUp(up: boolean): void;
  startReceive(cb: (count: number) => void): void;
  stopReceive(): void;
  setErrorHandler(cb: ((err: TapError) => void) | null): void;
  write(frame: Uint8Array): number;
  writeBatch(frames: readonly Uint8Array[]): number;
  stats(): TapStats;
  close(): void;
  isClosed(): boolean;
  ref(): void;
  unref(): void;
  testFailWrites(n: number): void;
}

interface Addon {
  Tap: new (opts: object) => AddonTap;
  setErrorClass(ctor: new (message: string) => Error): void;
  probe(): number;
  errnoName(errno: number): string;
  constants: { metaWords: number; maxFrame: number; minFrame: number; readMax: number };
}

const ADDON_PATHS = ['build/Release/tap6_tap.node', 'build/Debug/tap6_tap.node'];
const META_WORDS = 4;

let addon: Addon | undefined;

/**
 * Finds build/Release/tap6_tap.node by walking up from this module's
 * directory (src/link/tap under tsx, dist/... after bundling).
 */
function findAddon(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = parse(here).root;
  for (let dir = here; ; dir = dirname(dir)) {
    for (const rel of ADDON_PATHS) {
      const candidate = join(dir, rel);
      if (existsSync(candidate)) return candidate;
    }
    if (dir === root) break;
  }
  throw new TapError(
    `tap: native addon ${ADDON_PATHS[0]} not found in ${here} or above (ENOENT) — run \`npm install\` (node-gyp rebuild)`,
    { code: 'ENOENT', errno: 2, syscall: 'dlopen' },
  );
}

function loadAddon(): Addon {
  if (addon !== undefined) return addon;
  const path = findAddon();
  const a = createRequire(import.meta.url)(path) as Addon;
  const c = a.constants;
  if (c.metaWords !== META_WORDS || c.maxFrame !== TAP_MAX_FRAME || c.minFrame !== TAP_MIN_FRAME) {
    throw new TapError(`tap: ${path} does not match this wrapper (stale build?) — run \`npm install\``, {
      code: 'EINVAL',
      errno: 22,
      syscall: 'dlopen',
    });
  }
  a.setErrorClass(TapError);
  addon = a;
  return a;
}

// ---- receive batch -------------------------------------------------------------

class FrameBatch implements TapFrameBatch {
  count = 0;
  readonly slab: Uint8Array;
  readonly #meta: Uint32Array;

  constructor(slab: Uint8Array, meta: Uint32Array) {
    this.slab = slab;
    this.#meta = meta;
  }

  #index(i: number): number {
    if (!(i >= 0 && i < this.count) || (i | 0) !== i) {
      throw new RangeError(`tap: frame index ${i} outside the batch (count ${this.count}; frames are valid only during the callback)`);
    }
    return i * META_WORDS;
  }

  offset(i: number): number {
    return this.#meta[this.#index(i)]!;
  }

  length(i: number): number {
    return this.#meta[this.#index(i) + 1]!;
  }

  offload(i: number): number {
    return this.#meta[this.#index(i) + 2]!;
  }

  frame(i: number): Uint8Array {
    const m = this.#index(i);
    const off = this.#meta[m]!;
    return this.slab.subarray(off, off + this.#meta[m + 1]!);
  }
}

// ---- the device ---------------------------------------------------------------

export class TapDevice {
  readonly #h: AddonTap;
  readonly #name: string;
  readonly #mac: Uint8Array;
  readonly #batch: FrameBatch;
  #onError: ((err: TapError) => void) | null = null;

  private constructor(h: AddonTap) {
    this.#h = h;
    this.#name = h.name();
    this.#mac = new Uint8Array(h.kernelMac());
    this.#batch = new FrameBatch(new Uint8Array(h.slab()), new Uint32Array(h.meta()));
    h.setErrorHandler((err) => this.#dispatchError(err));
  }

  /** Opens (creating if needed) a TAP. Throws TapError. */
  static open(opts: TapOptions = {}): TapDevice {
    const a = loadAddon();
    const h = new a.Tap({
      name: opts.name ?? '',
      readBatch: opts.readBatch,
      txQueueFrames: opts.txQueueFrames,
      txQueueBytes: opts.txQueueBytes,
      vnetHdr: opts.vnetHdr ?? false,
    });
    try {
      const tap = new TapDevice(h);
      if (opts.mtu !== undefined) tap.mtu = opts.mtu;
      if (opts.up === true) tap.setUp(true);
      return tap;
    } catch (err) {
      h.close();
      throw err;
    }
  }

  /** The kernel's name for the device. */
  get name(): string {
    return this.#name;
  }

  /** MAC address of the kernel side (a copy; read at open). */
  get kernelMac(): Uint8Array {
    return this.#mac.slice();
  }

  get mtu(): number {
    return this.#h.getMtu();
  }

  set mtu(mtu: number) {
    this.#h.setMtu(mtu);
  }

  isUp(): boolean {
    return this.#h.isUp();
  }

  setUp(up: boolean): void {
    this.#h.setUp(up);
  }

  /** Starts receiving into cb, or stops with null. See the module comment. */
  onReceive(cb: ((batch: TapFrameBatch) => void) | null): void {
    if (cb === null) {
      this.#h.stopReceive();
      return;
    }
    const batch = this.#batch;
    this.#h.startReceive((count: number) => {
      batch.count = count;
      try {
        cb(batch);
      } finally {
        batch.count = 0;
      }
    });
  }

  /** Asynchronous errors (device deleted, read failure); null restores the default (throw). */
  onError(cb: ((err: TapError) => void) | null): void {
    if (this.#h.isClosed()) throw closedError();
    this.#onError = cb;
  }

  /**
   * Sends one Ethernet frame without blocking. True: written or queued;
   * false: dropped (queue full) or refused by the kernel, both counted.
   */
  write(frame: Uint8Array, offload?: TapTxOffload): boolean {
    if (offload !== undefined) throw offloadUnsupported();
    return this.#h.write(frame) > 0;
  }

  /** Sends frames in order; returns how many were written or queued. */
  writeBatch(frames: readonly Uint8Array[]): number {
    return this.#h.writeBatch(frames);
  }

  stats(): TapStats {
    return this.#h.stats();
  }

  /** Lets the process exit while the device is open (like handle.unref()). */
  unref(): this {
    this.#h.unref();
    return this;
  }

  ref(): this {
    this.#h.ref();
    return this;
  }

  /** Closes the fd (a non-persistent TAP disappears). Idempotent. */
  close(): void {
    this.#h.close();
  }

  get closed(): boolean {
    return this.#h.isClosed();
  }

  /**
   * Test hook: the next n write(2) attempts report EAGAIN without reaching the
   * kernel (which never pushes back on a TAP), to exercise the transmit queue.
   * @internal
   */
  _testFailNextWrites(n: number): void {
    this.#h.testFailWrites(n);
  }

  #dispatchError(err: TapError): void {
    const cb = this.#onError;
    if (cb === null) throw err;
    cb(err);
  }
}

function closedError(): TapError {
  return new TapError('tap: device closed (EBADF)', { code: 'EBADF', errno: 9, syscall: 'tap' });
}

function offloadUnsupported(): TapError {
  return new TapError('tap: transmit offloads need vnetHdr, which is not supported yet (EOPNOTSUPP)', {
    code: 'EOPNOTSUPP',
    errno: 95,
    syscall: 'write',
  });
}

// ---- availability ---------------------------------------------------------------

const CAP_NET_ADMIN = 12;

/** Why TAP devices cannot be used here, or undefined if they can. */
export function tapUnavailableReason(): string | undefined {
  let a: Addon;
  try {
    a = loadAddon();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const errno = a.probe();
  if (errno !== 0) {
    const code = a.errnoName(errno);
    return `cannot open /dev/net/tun (${code})${code === 'ENOENT' ? ' — is the tun module loaded?' : ''}`;
  }
  if (!hasCapability(CAP_NET_ADMIN)) return 'creating a TAP needs root or CAP_NET_ADMIN';
  return undefined;
}

/** True if /dev/net/tun opens and this process may create TAP devices. */
export function isTapAvailable(): boolean {
  return tapUnavailableReason() === undefined;
}

function hasCapability(bit: number): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (m === null) return true; // cannot tell: let open() report the truth
    return (BigInt(`0x${m[1]}`) & (1n << BigInt(bit))) !== 0n;
  } catch {
    return true;
  }
}

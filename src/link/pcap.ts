/**
 * pcap capture (the classic libpcap file format, readable by tcpdump, tshark
 * and Wireshark), as a FrameFilter that records every frame an interface
 * sends and receives.
 *
 * File header (24 bytes, written in our byte order with magic 0xa1b2c3d4,
 * microsecond timestamps):
 *   magic(4) version_major(2)=2 version_minor(2)=4 thiszone(4)=0 sigfigs(4)=0
 *   snaplen(4) linktype(4)
 * Record header (16 bytes): ts_sec(4) ts_usec(4) incl_len(4) orig_len(4)
 *
 * Records are gathered in a bounded in-memory buffer and written with one
 * synchronous write when it fills, on flush(), on close(), and by a periodic
 * flush timer on the injected clock. A write error stops the capture and is
 * reported once; the stack keeps running.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock, Timer } from '../core/clock.ts';
import { counterSet } from '../core/counters.ts';
import type { Dir, FrameFilter } from './driver.ts';

export const LINKTYPE_ETHERNET = 1;
/** Raw IPv4/IPv6, told apart by the version nibble (used for lo0 and tunnels). */
export const LINKTYPE_RAW = 101;

const PCAP_MAGIC = 0xa1b2c3d4;
const FILE_HDR_LEN = 24;
const REC_HDR_LEN = 16;

export interface PcapOptions {
  path: string;
  clock: Clock;
  linkType?: number;
  /** Bytes kept per frame (default 262144, tcpdump's). */
  snapLen?: number;
  /** Capture only one direction (default both). */
  direction?: Dir | 'both';
  /** In-memory buffer size (default 1 MiB); a full buffer is written out. */
  bufferBytes?: number;
  /** Periodic flush interval in ms (default 1000; 0 disables). */
  flushMs?: number;
  /** Told once if writing fails. */
  onError?: (e: Error) => void;
  name?: string;
}

export class PcapWriter implements FrameFilter {
  readonly name: string;
  readonly path: string;
  readonly stats = counterSet('pcap', {
    frames: 'frames captured',
    bytes: 'bytes written',
    truncated: 'frames truncated to the snap length',
    writeErrors: 'frames lost: write to the capture file failed',
  });
  private fd: number | null;
  private readonly buf: Uint8Array;
  private readonly dv: DataView;
  private used = 0;
  private readonly snapLen: number;
  private readonly clock: Clock;
  private readonly direction: Dir | 'both';
  private readonly onError: ((e: Error) => void) | undefined;
  private flushTimer: Timer | null = null;
  private readonly flushMs: number;
  private failed = false;

  constructor(opts: PcapOptions) {
    this.path = opts.path;
    this.name = opts.name ?? 'pcap';
    this.clock = opts.clock;
    this.snapLen = opts.snapLen ?? 262144;
    this.direction = opts.direction ?? 'both';
    this.onError = opts.onError;
    this.flushMs = opts.flushMs ?? 1000;
    const size = Math.max(opts.bufferBytes ?? 1 << 20, FILE_HDR_LEN + REC_HDR_LEN + 1);
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    // Fails loudly at start-up (bad path, no permission): the caller asked for a capture.
    this.fd = openSync(this.path, 'w');
    const h = this.dv;
    h.setUint32(0, PCAP_MAGIC, true);
    h.setUint16(4, 2, true);
    h.setUint16(6, 4, true);
    h.setInt32(8, 0, true);
    h.setUint32(12, 0, true);
    h.setUint32(16, this.snapLen, true);
    h.setUint32(20, opts.linkType ?? LINKTYPE_ETHERNET, true);
    this.used = FILE_HDR_LEN;
    this.flush();
  }

  filter(dir: Dir, frame: Uint8Array, next: (f: Uint8Array) => void): void {
    if (this.direction === 'both' || this.direction === dir) this.record(frame);
    next(frame);
  }

  /** Appends one record now (also usable without the filter chain). */
  record(frame: Uint8Array): void {
    if (this.fd === null) {
      if (this.failed) this.stats.c.writeErrors++;
      return;
    }
    const incl = Math.min(frame.length, this.snapLen);
    if (incl < frame.length) this.stats.c.truncated++;
    const need = REC_HDR_LEN + incl;
    if (this.used + need > this.buf.length) {
      this.flush();
      if (this.fd === null) {
        this.stats.c.writeErrors++;
        return;
      }
    }
    const ms = this.clock.wallMs();
    const sec = Math.floor(ms / 1000);
    const usec = Math.floor((ms - sec * 1000) * 1000);
    if (need > this.buf.length) {
      // A record larger than the buffer (jumbogram): header from the buffer, body written directly.
      this.putHeader(0, sec, usec, incl, frame.length);
      this.write(this.buf.subarray(0, REC_HDR_LEN));
      this.write(frame.subarray(0, incl));
      if (this.fd === null) return;
    } else {
      this.putHeader(this.used, sec, usec, incl, frame.length);
      this.buf.set(frame.subarray(0, incl), this.used + REC_HDR_LEN);
      this.used += need;
      if (!this.flushTimer && this.flushMs > 0) this.flushTimer = this.clock.timer(this.flushMs, () => this.flush());
    }
    this.stats.c.frames++;
  }

  /** Writes out what is buffered. */
  flush(): void {
    this.flushTimer?.cancel();
    this.flushTimer = null;
    if (this.used === 0 || this.fd === null) return;
    this.write(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    try {
      if (this.fd !== null) closeSync(this.fd);
    } catch {
      /* already reported by write() if the file went bad */
    }
    this.fd = null;
  }

  private putHeader(at: number, sec: number, usec: number, incl: number, orig: number): void {
    const d = this.dv;
    d.setUint32(at, sec >>> 0, true);
    d.setUint32(at + 4, usec, true);
    d.setUint32(at + 8, incl, true);
    d.setUint32(at + 12, orig, true);
  }

  private write(bytes: Uint8Array): void {
    if (this.fd === null) return;
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
      this.stats.c.bytes += bytes.length;
    } catch (e) {
      this.failed = true;
      this.stats.c.writeErrors++;
      try {
        closeSync(this.fd);
      } catch {
        /* ignore */
      }
      this.fd = null;
      try {
        this.onError?.(new Error(`pcap ${this.path}: capture stopped: ${(e as Error).message}`));
      } catch {
        /* a failing error handler must not reach the stack */
      }
    }
  }
}

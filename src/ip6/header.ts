/**
 * The IPv6 header (RFC 8200 §3).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version| Traffic Class |           Flow Label                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      Source Address (128 bits)                |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   Destination Address (128 bits)              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `Ip6Header.check` is the only constructor from untrusted bytes: it checks
 * that 40 bytes are present and the version is 6. Whether the payload length
 * fits the frame is ip6_input's check (it needs the link's view of the
 * frame); `payloadFits` helps it. `emitIp6` writes all 40 bytes.
 */
import { getU16, putU16 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';
import { IN6_LEN } from './addr.ts';

export const IP6_VFC = 0;
export const IP6_PLEN = 4;
export const IP6_NXT = 6;
export const IP6_HLIM = 7;
export const IP6_SRC = 8;
export const IP6_DST = 24;
export const IP6_HDR_LEN = 40;

export type Ip6Error = 'short' | 'badVersion';

export class Ip6Header {
  private constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /** Checks bytes `b[off..]` hold an IPv6 header. */
  static check(b: Uint8Array, off = 0): Result<Ip6Header, Ip6Error> {
    if (b.length - off < IP6_HDR_LEN) return err('short');
    if (b[off]! >>> 4 !== 6) return err('badVersion');
    return ok(new Ip6Header(b, off));
  }

  get trafficClass(): number {
    return ((this.b[this.off]! & 0x0f) << 4) | (this.b[this.off + 1]! >>> 4);
  }
  get flowLabel(): number {
    return ((this.b[this.off + 1]! & 0x0f) << 16) | getU16(this.b, this.off + 2);
  }
  get payloadLen(): number {
    return getU16(this.b, this.off + IP6_PLEN);
  }
  get nextHeader(): number {
    return this.b[this.off + IP6_NXT]!;
  }
  get hopLimit(): number {
    return this.b[this.off + IP6_HLIM]!;
  }
  /** Views into the packet, not copies. */
  get src(): Uint8Array {
    return this.b.subarray(this.off + IP6_SRC, this.off + IP6_SRC + IN6_LEN);
  }
  get dst(): Uint8Array {
    return this.b.subarray(this.off + IP6_DST, this.off + IP6_DST + IN6_LEN);
  }
  /** True when the bytes present cover the payload length (extra bytes are link padding). */
  get payloadFits(): boolean {
    return this.b.length - this.off - IP6_HDR_LEN >= this.payloadLen;
  }
}

export interface Ip6Repr {
  trafficClass?: number;
  flowLabel?: number;
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
}

export function ip6BufferLen(): number {
  return IP6_HDR_LEN;
}

/** Writes the 40-byte header at `off`. */
export function emitIp6(r: Ip6Repr, out: Uint8Array, off = 0): void {
  const tc = r.trafficClass ?? 0;
  const fl = r.flowLabel ?? 0;
  if (tc < 0 || tc > 0xff || fl < 0 || fl > 0xfffff || r.payloadLen < 0 || r.payloadLen > 0xffff) throw new RangeError('emitIp6: field out of range');
  if (r.src.length !== IN6_LEN || r.dst.length !== IN6_LEN) throw new RangeError('emitIp6: addresses are 16 bytes');
  out[off] = 0x60 | (tc >>> 4);
  out[off + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  putU16(out, off + 2, fl & 0xffff);
  putU16(out, off + IP6_PLEN, r.payloadLen);
  out[off + IP6_NXT] = r.nextHeader;
  out[off + IP6_HLIM] = r.hopLimit;
  out.set(r.src, off + IP6_SRC);
  out.set(r.dst, off + IP6_DST);
}

/**
 * Ethernet II framing (IEEE 802.3 / RFC 894, IPv6 over Ethernet RFC 2464).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  Destination MAC (6 octets)                   |
 *   +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                               |                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *   |                    Source MAC (6 octets)                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          EtherType            |  Payload ...
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A TAP carries frames without preamble and FCS; the kernel neither pads
 * short frames to 60 bytes nor expects us to, so we do not pad either.
 *
 * Contract (smoltcp's): `checkEther` is the only way untrusted bytes become
 * an EtherFrame; after it, no accessor reads out of bounds. `emitEther`
 * writes every header byte.
 */
import { getU16, putU16 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';
import { MAC_LEN } from './mac.ts';

export const ETHER_DST = 0;
export const ETHER_SRC = 6;
export const ETHER_TYPE = 12;
export const ETHER_HDR_LEN = 14;
/** Smallest EtherType value; below it the field is an IEEE 802.3 length (LLC frames). */
export const ETHERTYPE_MIN = 0x0600;

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
} as const;

export type EtherError = 'short';

/** A checked view of an Ethernet frame. `payload` is a subarray, not a copy. */
export class EtherFrame {
  private constructor(readonly bytes: Uint8Array) {}

  /** The only constructor from untrusted bytes. */
  static check(bytes: Uint8Array): Result<EtherFrame, EtherError> {
    if (bytes.length < ETHER_HDR_LEN) return err('short');
    return ok(new EtherFrame(bytes));
  }

  get dst(): Uint8Array {
    return this.bytes.subarray(ETHER_DST, ETHER_DST + MAC_LEN);
  }
  get src(): Uint8Array {
    return this.bytes.subarray(ETHER_SRC, ETHER_SRC + MAC_LEN);
  }
  get etherType(): number {
    return getU16(this.bytes, ETHER_TYPE);
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(ETHER_HDR_LEN);
  }
}

/** The plain representation of an Ethernet header. */
export interface EtherRepr {
  dst: Uint8Array;
  src: Uint8Array;
  etherType: number;
}

export function parseEther(bytes: Uint8Array): Result<EtherRepr & { payload: Uint8Array }, EtherError> {
  const r = EtherFrame.check(bytes);
  if (!r.ok) return r;
  const f = r.value;
  return ok({ dst: f.dst, src: f.src, etherType: f.etherType, payload: f.payload });
}

export function etherBufferLen(): number {
  return ETHER_HDR_LEN;
}

/** Writes the 14 header bytes at `off` (every byte); throws if `out` has no room for them. */
export function emitEther(repr: EtherRepr, out: Uint8Array, off = 0): void {
  if (repr.dst.length !== MAC_LEN || repr.src.length !== MAC_LEN) throw new RangeError('emitEther: MAC addresses are 6 bytes');
  if (!Number.isInteger(repr.etherType) || repr.etherType < 0 || repr.etherType > 0xffff) throw new RangeError(`emitEther: bad EtherType ${repr.etherType}`);
  if (!(off >= 0) || off + ETHER_HDR_LEN > out.length) throw new RangeError(`emitEther: no room for ${ETHER_HDR_LEN} bytes at offset ${off} of ${out.length}`);
  out.set(repr.dst, off + ETHER_DST);
  out.set(repr.src, off + ETHER_SRC);
  putU16(out, off + ETHER_TYPE, repr.etherType);
}

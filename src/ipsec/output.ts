/**
 * IPsec output for ip6_output (KAME's ipsec6_output_trans/_tunnel): applies
 * the SAs `Ipsec.outputSas` chose, innermost first, and returns the whole
 * IPv6 packet ready for fragmentation and delivery.
 *
 *   transport ESP:    [IPv6][HbH] ESP( payload )            next header 50
 *   transport AH:     [IPv6][HbH][AH] payload               next header 51
 *   transport IPComp: [IPv6][HbH][IPComp] deflate( payload ) next header 108
 *   tunnel (any):     [outer IPv6 sa.src -> sa.dst] ESP/AH/IPComp( inner IPv6 packet )
 *
 * IPComp goes first in a request list (`ipcomp/transport//use
 * esp/transport//require`): compressing after encryption gains nothing. It
 * may leave the payload as it is (too short, incompressible: ipcomp.ts);
 * in tunnel mode the packet is then plain IPv6-in-IPv6, which the peer
 * takes from an IPComp tunnel's far end (input.ts).
 *
 * A Hop-by-Hop header (the caller's, e.g. Router Alert) stays in front of
 * transport-mode IPsec headers (RFC 8200 §4.1 order) and moves into the
 * inner packet in tunnel mode. The outer header of a tunnel takes the inner
 * traffic class (DSCP copied; ECN by the mode, ecn.ts), hop limit
 * `tunnelHlim` (the stack's default hop limit, KAME's ip6_defhlim; the
 * inner hop limit is not changed: tap6 only tunnels packets it
 * originates) and flow label 0.
 *
 * When the last SA is ESP, the packet is built in ESP's own buffer (the
 * IPv6 header goes into headroom it left): one allocation for the common
 * case. The result is a view with `headroom` free bytes before it in its
 * buffer, for `Pkt.adopt`.
 */
import { err, ok, type Result } from '../core/result.ts';
import { IP6_HDR_LEN, emitIp6 } from '../ip6/header.ts';
import { IPPROTO } from '../ip6/protosw.ts';
import { type AhOutError, ahEncapsulate, ahOverhead } from './ah.ts';
import { type IpsecEnv, count } from './env.ts';
import { type EcnMode, ecnEncapsulate } from './ecn.ts';
import { type EspOutError, espEncapsulate, espOverhead } from './esp.ts';
import { IPPROTO_IPCOMP, ipcompCompress } from './ipcomp.ts';
import type { SecAssoc } from './sad.ts';

export interface IpsecOutputArgs {
  src: Uint8Array;
  dst: Uint8Array;
  /** Next header of `payload` (the upper-layer protocol). */
  nxt: number;
  /** The upper-layer header and data. */
  payload: Uint8Array;
  hlim: number;
  trafficClass?: number;
  flowLabel?: number;
  /** A complete Hop-by-Hop header (its next-header byte is rewritten), or null. */
  hbh?: Uint8Array | null;
  /** Hop limit of tunnel outer headers (default 64). */
  tunnelHlim?: number;
  /** ECN at tunnel encapsulation (default allowed: RFC 6040 normal mode). */
  ecn?: EcnMode;
  /** Free bytes before the packet in the returned buffer (default 64: link header and slack). */
  headroom?: number;
}

export interface IpsecOutputResult {
  /** The IPv6 packet, header first. */
  packet: Uint8Array;
  /** The unfragmentable part (IPv6 header and Hop-by-Hop) for ip6 fragmentation. */
  unfragLen: number;
}

export type IpsecOutputError = EspOutError | AhOutError;

/** Largest IPv6 payload without a Jumbo option (jumbograms are not protected). */
const MAX_PLEN = 0xffff;

/** The bytes the SAs add at most (effective MTU = path MTU - this). */
export function ipsecOverhead(sas: readonly SecAssoc[]): number {
  let n = 0;
  for (const sa of sas) n += saOverhead(sa);
  return n;
}

/**
 * The bytes one SA adds at most: IPComp adds nothing (it is used only when
 * the packet shrinks), except a tunnel's outer header.
 */
export function saOverhead(sa: SecAssoc): number {
  const t = sa.mode === 'tunnel' ? IP6_HDR_LEN : 0;
  if (sa.proto === 'ipcomp') return t;
  return t + (sa.esp ? espOverhead(sa) : ahOverhead(sa));
}

interface Layer {
  src: Uint8Array;
  dst: Uint8Array;
  tc: number;
  fl: number;
  hlim: number;
  hbh: Uint8Array | null;
  nxt: number;
  body: Uint8Array;
}

export function ipsecOutput(env: IpsecEnv, sas: readonly SecAssoc[], a: IpsecOutputArgs): Result<IpsecOutputResult, IpsecOutputError> {
  const headroom = a.headroom ?? 64;
  let L: Layer = { src: a.src, dst: a.dst, tc: a.trafficClass ?? 0, fl: a.flowLabel ?? 0, hlim: a.hlim, hbh: a.hbh ?? null, nxt: a.nxt, body: a.payload };
  // `built` is set when the last step already produced the whole packet (ESP with headroom, or AH).
  let built: Uint8Array | null = null;
  for (let i = 0; i < sas.length; i++) {
    const sa = sas[i]!;
    const last = i === sas.length - 1;
    if (sa.mode === 'tunnel') {
      if ((L.hbh?.length ?? 0) + L.body.length > MAX_PLEN) return err(count(env, 'outTooBig'));
      const inner = packetOf(L, 0);
      L = { src: sa.src, dst: sa.dst, tc: ecnEncapsulate(a.ecn ?? 'allowed', L.tc), fl: 0, hlim: a.tunnelHlim ?? 64, hbh: null, nxt: IPPROTO.IPV6, body: inner };
    }
    if (sa.proto === 'ipcomp') {
      const z = ipcompCompress(env, sa, L.body, L.nxt);
      if (z) {
        L.body = z;
        L.nxt = IPPROTO_IPCOMP;
      }
      continue;
    }
    const hdrLen = IP6_HDR_LEN + (L.hbh?.length ?? 0);
    if (sa.esp) {
      const r = espEncapsulate(env, sa, L.body, L.nxt, last ? headroom + hdrLen : 0);
      if (!r.ok) return r;
      if (hdrLen - IP6_HDR_LEN + r.value.length > MAX_PLEN) return err(count(env, 'outTooBig'));
      L.body = r.value;
      L.nxt = IPPROTO.ESP;
      if (last) {
        const packet = new Uint8Array(r.value.buffer, r.value.byteOffset - hdrLen, hdrLen + r.value.length);
        writeHeader(L, packet);
        built = packet;
      }
    } else {
      const hdr = new Uint8Array(hdrLen);
      writeHeader(L, hdr, 0);
      const r = ahEncapsulate(env, sa, { hdr, payload: L.body, nxt: L.nxt, headroom: last ? headroom : 0 });
      if (!r.ok) return r;
      L.body = r.value.subarray(hdrLen);
      L.nxt = IPPROTO.AH;
      if (last) built = r.value;
    }
  }
  if (!built && (L.hbh?.length ?? 0) + L.body.length > MAX_PLEN) return err(count(env, 'outTooBig'));
  const packet = built ?? packetOf(L, headroom);
  return ok({ packet, unfragLen: IP6_HDR_LEN + (L.hbh?.length ?? 0) });
}

/** IPv6 header, Hop-by-Hop (if any) and body in a new buffer with `headroom`. */
function packetOf(L: Layer, headroom: number): Uint8Array {
  const hdrLen = IP6_HDR_LEN + (L.hbh?.length ?? 0);
  const buf = new Uint8Array(headroom + hdrLen + L.body.length);
  const p = buf.subarray(headroom);
  writeHeader(L, p, L.body.length);
  p.set(L.body, hdrLen);
  return p;
}

/**
 * Writes the IPv6 header and Hop-by-Hop header of `L` at the start of `out`.
 * The payload length counts `bodyLen` bytes after them (default: the rest of `out`).
 */
function writeHeader(L: Layer, out: Uint8Array, bodyLen?: number): void {
  const hbhLen = L.hbh?.length ?? 0;
  const plen = hbhLen + (bodyLen ?? out.length - IP6_HDR_LEN - hbhLen);
  emitIp6({ trafficClass: L.tc, flowLabel: L.fl, payloadLen: plen, nextHeader: L.hbh ? IPPROTO.HOPOPTS : L.nxt, hopLimit: L.hlim, src: L.src, dst: L.dst }, out, 0);
  if (L.hbh) {
    out.set(L.hbh, IP6_HDR_LEN);
    out[IP6_HDR_LEN] = L.nxt;
  }
}

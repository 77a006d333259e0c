/**
 * ESP, the Encapsulating Security Payload (RFC 4303), for transport and
 * tunnel mode over IPv6.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
 *   |               Security Parameters Index (SPI)                 | ^Int.
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
 *   |                      Sequence Number                          | |ered
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | ----
 *   |                    IV (explicit, 0/8/16 bytes)                | |   ^
 *   ~                    Payload Data* (variable)                   | |   |
 *   +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Conf.
 *   |               |     Padding (0-255 bytes)                     | |Cov-
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |ered*
 *   |                               |  Pad Length   | Next Header   | v   v
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ------
 *   |         Integrity Check Value-ICV   (variable)                |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * (*the IV is not encrypted; Payload through Next Header is.)
 *
 * Offsets: SPI 0, sequence number (low 32 bits) 4, IV 8, ciphertext 8 + ivLen.
 * Padding bytes are 1, 2, 3, ... (§2.4); the plaintext from Payload to Next
 * Header is a multiple of 4, or of the cipher block (16 for AES-CBC).
 *
 * Integrity:
 *   - encrypt-then-MAC (AES-CBC or NULL with HMAC): the ICV covers SPI
 *     through Next Header; with ESN the high 32 bits of the sequence number
 *     are MACed after Next Header without being sent (§2.2.1).
 *   - combined modes (AES-GCM, ChaCha20-Poly1305): AAD = SPI ‖ seq (8 bytes),
 *     or SPI ‖ seq-high ‖ seq-low (12 bytes) with ESN (RFC 4106 §5,
 *     RFC 7634 §2.1); the explicit IV is the 64-bit sequence number (unique
 *     per packet under one key, RFC 4106 §3.1).
 *
 * Output (`espEncapsulate`): the ip6 layer gives the plaintext — the
 * upper-layer payload (transport mode, next header = its protocol) or the
 * whole inner IPv6 packet (tunnel mode, next header 41) — and gets back the
 * ESP part, every byte written, with optional headroom in front of it in
 * the same buffer for the IPv6 header (wrap it with `Pkt.adopt`).
 *
 * Input (`espDecapsulate`), RFC 4303 §3.4: the caller found the SA by
 * (SPI, destination, 50) and passes the packet bytes with the ESP header's
 * offset. Order: length check, replay check (§3.4.3), ICV (before
 * decryption for encrypt-then-MAC, §3.4.4.1; inside the AEAD otherwise),
 * window update only after the ICV verified, decryption, padding check,
 * dummy packets (next header 59, §2.6) discarded. The plaintext is written
 * over the ESP header in the caller's buffer, so on success
 * `payload === b.subarray(off, off + payload.length)`: the caller splices by
 * trimming and fixing the previous next-header byte, without a copy.
 * Traffic-flow-confidentiality padding after an inner packet (tunnel mode,
 * §2.7) is left to the caller, which trims to the inner header's length.
 *
 * Every drop is counted in ipsecstat (and per SA where it concerns the SA)
 * by these functions; the returned reason is that counter's name.
 */
import { getU32, putU32 } from '../core/bytes.ts';
import { err, ok, type Result } from '../core/result.ts';
import { IPPROTO } from '../ip6/protosw.ts';
import type { EspXform } from './crypto.ts';
import { type IpsecEnv, count } from './env.ts';
import { REPLAY_DUP, REPLAY_OLD } from './replay.ts';
import type { SecAssoc } from './sad.ts';

export const ESP_SPI = 0;
export const ESP_SEQ = 4;
export const ESP_IV = 8;
export const ESP_HDR_LEN = 8;
/** Pad Length and Next Header. */
export const ESP_TRAILER_LEN = 2;

const TWO32 = 0x1_0000_0000;

export type EspOutError = 'outSaUnusable' | 'outSeqOverflow';
export type EspInError = 'inSaUnusable' | 'inBadLength' | 'inReplay' | 'inTooOld' | 'inAuthFail' | 'inBadPad' | 'inDummy' | 'inBadMode';

export interface EspInput {
  /** The inner payload (transport) or inner IP packet (tunnel): a view of the caller's buffer at the ESP offset. */
  payload: Uint8Array;
  /** Next Header from the trailer. */
  nxt: number;
  /** The full (64-bit with ESN) sequence number. */
  seq: number;
}

function xformOf(sa: SecAssoc): EspXform {
  if (!sa.esp) throw new Error(`${sa}: not an ESP SA`);
  return sa.esp;
}

/** Bytes of ESP around a plaintext of `ptLen` bytes: header, IV, padding, trailer, ICV. */
export function espLength(xf: EspXform, ptLen: number): number {
  const body = ptLen + ESP_TRAILER_LEN;
  return ESP_HDR_LEN + xf.ivLen + body + padLength(body, xf.align) + xf.icvLen;
}

/** The most ESP adds to a packet (for the effective MTU): header, IV, worst padding, trailer, ICV. */
export function espOverhead(sa: SecAssoc): number {
  const xf = xformOf(sa);
  return ESP_HDR_LEN + xf.ivLen + (xf.align - 1) + ESP_TRAILER_LEN + xf.icvLen;
}

function padLength(body: number, align: number): number {
  const r = body % align;
  return r === 0 ? 0 : align - r;
}

/** Advances the SA's sequence number for one packet; -1 if it would cycle (RFC 4303 §3.3.3). */
export function nextSeq(sa: SecAssoc): number {
  if (sa.seq >= sa.seqMax) return -1;
  return ++sa.seq;
}

function putSeqHi(sa: SecAssoc, seq: number): Uint8Array {
  const hi = sa.scratch.hi;
  putU32(hi, 0, Math.floor(seq / TWO32));
  return hi;
}

/** RFC 4106 §5 / RFC 7634 §2.1: SPI ‖ [seq-high ‖] seq-low. */
function aadOf(sa: SecAssoc, spi: number, seq: number): Uint8Array {
  if (!sa.esn) {
    const a = sa.scratch.aad8;
    putU32(a, 0, spi);
    putU32(a, 4, seq >>> 0);
    return a;
  }
  const a = sa.scratch.aad12;
  putU32(a, 0, spi);
  putU32(a, 4, Math.floor(seq / TWO32));
  putU32(a, 8, seq >>> 0);
  return a;
}

/**
 * Protects `pt` with the SA. Returns the ESP header through ICV, preceded in
 * its buffer by `headroom` free bytes. Refuses when the sequence number
 * would cycle (the SA must be replaced) or the SA is not usable.
 */
export function espEncapsulate(env: IpsecEnv, sa: SecAssoc, pt: Uint8Array, nxt: number, headroom = 0): Result<Uint8Array, EspOutError> {
  const xf = xformOf(sa);
  if (!sa.usable) return err(count(env, 'outSaUnusable'));
  const seq = nextSeq(sa);
  if (seq < 0) return err(count(env, 'outSeqOverflow'));
  const body = pt.length + ESP_TRAILER_LEN;
  const pad = padLength(body, xf.align);
  const ctOff = ESP_HDR_LEN + xf.ivLen;
  const ctLen = body + pad;
  const total = ctOff + ctLen + xf.icvLen;
  const buf = new Uint8Array(headroom + total);
  const out = headroom ? buf.subarray(headroom) : buf;
  putU32(out, ESP_SPI, sa.spi);
  putU32(out, ESP_SEQ, seq >>> 0);
  out.set(pt, ctOff);
  // Self-describing padding (§2.4): 1, 2, 3, ...
  let p = ctOff + pt.length;
  for (let i = 1; i <= pad; i++) out[p++] = i;
  out[p++] = pad;
  out[p] = nxt;
  if (xf.aead) {
    // The explicit IV is the sequence number: never reused under this key.
    const iv = out.subarray(ESP_IV, ESP_IV + 8);
    putU32(iv, 0, Math.floor(seq / TWO32));
    putU32(iv, 4, seq >>> 0);
    xf.aead.seal(iv, aadOf(sa, sa.spi, seq), out, ctOff, ctLen);
  } else {
    if (xf.cipher) {
      const iv = env.rng.fill(out.subarray(ESP_IV, ESP_IV + xf.ivLen));
      xf.cipher.encrypt(iv, out, ctOff, ctLen);
    }
    xf.mac!.compute(out, 0, ctOff + ctLen, sa.esn ? putSeqHi(sa, seq) : null, out, ctOff + ctLen);
  }
  sa.account(pt.length, env.clock.now());
  env.stats.c.outEsp++;
  env.stats.c.outSuccess++;
  return ok(out);
}

/**
 * Verifies and decrypts the ESP packet at `b[off, off+len)` with `sa` (found
 * by the caller from the SPI at `b[off]`). See the module comment for the
 * order of checks and where the plaintext goes.
 */
export function espDecapsulate(env: IpsecEnv, sa: SecAssoc, b: Uint8Array, off: number, len: number): Result<EspInput, EspInError> {
  const xf = xformOf(sa);
  env.stats.c.inEsp++;
  if (!sa.usable) return err(count(env, 'inSaUnusable'));
  const ctOff = off + ESP_HDR_LEN + xf.ivLen;
  const ctLen = len - ESP_HDR_LEN - xf.ivLen - xf.icvLen;
  if (off < 0 || off + len > b.length || ctLen < ESP_TRAILER_LEN || (xf.cipher !== null && ctLen % xf.cipher.blockSize !== 0)) {
    return err(count(env, 'inBadLength'));
  }
  // §3.4.3: reject duplicates and old numbers before spending crypto on them.
  const seq = sa.replay.check(getU32(b, off + ESP_SEQ));
  if (seq === REPLAY_DUP) {
    sa.counters.replay++;
    return err(count(env, 'inReplay'));
  }
  if (seq === REPLAY_OLD) {
    sa.counters.tooOld++;
    return err(count(env, 'inTooOld'));
  }
  const icvOff = ctOff + ctLen;
  if (xf.aead) {
    const iv = sa.scratch.iv.subarray(0, 8);
    iv.set(b.subarray(off + ESP_IV, off + ESP_IV + 8));
    if (!xf.aead.open(iv, aadOf(sa, sa.spi, seq), b, ctOff, ctLen, b, off)) {
      sa.counters.authFail++;
      return err(count(env, 'inAuthFail'));
    }
  } else {
    // §3.4.4.1: encrypt-then-MAC checks the ICV before decrypting.
    if (!xf.mac!.verify(b, off, icvOff - off, sa.esn ? putSeqHi(sa, seq) : null, b, icvOff)) {
      sa.counters.authFail++;
      return err(count(env, 'inAuthFail'));
    }
    if (xf.cipher) {
      const iv = sa.scratch.iv;
      iv.set(b.subarray(off + ESP_IV, off + ESP_IV + 16));
      xf.cipher.decrypt(iv, b, ctOff, ctLen, b, off);
    } else {
      b.copyWithin(off, ctOff, icvOff);
    }
  }
  // Authentic: the number is now used, whatever the content turns out to be.
  sa.replay.update(seq);
  const padLen = b[off + ctLen - 2]!;
  const nxt = b[off + ctLen - 1]!;
  if (padLen > ctLen - ESP_TRAILER_LEN || !padOk(b, off + ctLen - ESP_TRAILER_LEN - padLen, padLen)) {
    sa.counters.badPad++;
    return err(count(env, 'inBadPad'));
  }
  const plen = ctLen - ESP_TRAILER_LEN - padLen;
  // §2.6: a dummy packet (traffic flow confidentiality) is discarded.
  if (nxt === IPPROTO.NONE) return err(count(env, 'inDummy'));
  if (sa.mode === 'tunnel' && nxt !== IPPROTO.IPV6 && nxt !== IPPROTO.IPV4) return err(count(env, 'inBadMode'));
  sa.account(plen, env.clock.now());
  env.stats.c.inSuccess++;
  return ok({ payload: b.subarray(off, off + plen), nxt, seq });
}

/** §2.4: the default padding is 1, 2, 3, ...; anything else is dropped. */
function padOk(b: Uint8Array, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[at + i] !== i + 1) return false;
  return true;
}

/** The SPI of the ESP packet at `off` (for the caller's SA lookup); -1 if too short. */
export function espSpi(b: Uint8Array, off: number, len: number): number {
  return len >= ESP_HDR_LEN && off + ESP_HDR_LEN <= b.length ? getU32(b, off + ESP_SPI) : -1;
}

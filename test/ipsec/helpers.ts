/**
 * Shared pieces of the IPsec tests: an Ipsec object on a virtual clock and a
 * seeded Rng, SA pairs (the same keys installed on a sender and a receiver),
 * every algorithm with keys of the right size, and a hand-built ESP packet
 * for the cases the real encapsulation never produces (bad padding).
 */
import { putU32 } from '../../src/core/bytes.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import { unwrap } from '../../src/core/result.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { type AuthAlgorithm, type CryptoBackend, type EncAlgorithm, nodeBackend } from '../../src/ipsec/crypto.ts';
import { Ipsec } from '../../src/ipsec/ipsec.ts';
import type { SaSpec, SecAssoc } from '../../src/ipsec/sad.ts';

export const A = in6('2001:db8::a');
export const B = in6('2001:db8::b');

export function ipsec(backend: CryptoBackend = nodeBackend, seed = 1): Ipsec {
  return new Ipsec({ clock: new VirtualClock(), rng: new SeededRng(seed), backend });
}

/** Deterministic key bytes: n bytes starting at `start`. */
export function key(n: number, start = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i * 7) & 0xff);
}

export interface Suite {
  name: string;
  enc: EncAlgorithm;
  encKey: Uint8Array;
  auth: AuthAlgorithm;
  authKey: Uint8Array;
}

/** Every ESP transform we offer, with keys of the right length. */
export const ESP_SUITES: Suite[] = [
  { name: 'aes-gcm-16/128', enc: 'aes-gcm-16', encKey: key(20), auth: 'none', authKey: key(0) },
  { name: 'aes-gcm-16/256', enc: 'aes-gcm-16', encKey: key(36), auth: 'none', authKey: key(0) },
  { name: 'chacha20-poly1305', enc: 'chacha20-poly1305', encKey: key(36, 3), auth: 'none', authKey: key(0) },
  { name: 'aes-cbc/128 hmac-sha1-96', enc: 'aes-cbc', encKey: key(16), auth: 'hmac-sha1-96', authKey: key(20, 9) },
  { name: 'aes-cbc/256 hmac-sha1-96', enc: 'aes-cbc', encKey: key(32), auth: 'hmac-sha1-96', authKey: key(20, 9) },
  { name: 'aes-cbc/128 hmac-sha256-128', enc: 'aes-cbc', encKey: key(16), auth: 'hmac-sha256-128', authKey: key(32, 5) },
  { name: 'aes-cbc/256 hmac-sha256-128', enc: 'aes-cbc', encKey: key(32), auth: 'hmac-sha256-128', authKey: key(32, 5) },
  { name: 'null hmac-sha1-96', enc: 'null', encKey: key(0), auth: 'hmac-sha1-96', authKey: key(20, 9) },
  { name: 'null hmac-sha256-128', enc: 'null', encKey: key(0), auth: 'hmac-sha256-128', authKey: key(32, 5) },
];

export const AH_SUITES: { name: string; auth: AuthAlgorithm; authKey: Uint8Array }[] = [
  { name: 'hmac-sha1-96', auth: 'hmac-sha1-96', authKey: key(20, 11) },
  { name: 'hmac-sha256-128', auth: 'hmac-sha256-128', authKey: key(32, 13) },
];

/** The same SA installed in a sender's and a receiver's SAD. */
export function saPair(tx: Ipsec, rx: Ipsec, spec: SaSpec): { out: SecAssoc; in: SecAssoc } {
  return { out: unwrap(tx.sad.add(spec)), in: unwrap(rx.sad.add(spec)) };
}

export function espSpec(s: Suite, o: Partial<SaSpec> = {}): SaSpec {
  return { spi: 0x1234, proto: 'esp', src: A, dst: B, enc: s.enc, encKey: s.encKey, auth: s.auth, authKey: s.authKey, ...o };
}

export function payload(n: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + 5) & 0xff);
}

/**
 * An ESP packet with the plaintext `body` taken as is (payload, padding,
 * pad length, next header all chosen by the caller) protected with the SA's
 * keys and sequence number `seq` — what a broken or hostile peer with the
 * keys would send.
 */
export function rawEsp(sa: SecAssoc, seq: number, body: Uint8Array, ivFill = 0x5a): Uint8Array {
  const xf = sa.esp!;
  const ctOff = 8 + xf.ivLen;
  const out = new Uint8Array(ctOff + body.length + xf.icvLen);
  putU32(out, 0, sa.spi);
  putU32(out, 4, seq >>> 0);
  out.set(body, ctOff);
  const hi = Math.floor(seq / 2 ** 32);
  if (xf.aead) {
    putU32(out, 8, hi);
    putU32(out, 12, seq >>> 0);
    const aad = new Uint8Array(sa.esn ? 12 : 8);
    putU32(aad, 0, sa.spi);
    if (sa.esn) putU32(aad, 4, hi);
    putU32(aad, sa.esn ? 8 : 4, seq >>> 0);
    xf.aead.seal(out.slice(8, 16), aad, out, ctOff, body.length);
  } else {
    out.fill(ivFill, 8, ctOff);
    if (xf.cipher) xf.cipher.encrypt(out.slice(8, ctOff), out, ctOff, body.length);
    const tail = new Uint8Array(4);
    putU32(tail, 0, hi);
    xf.mac!.compute(out, 0, ctOff + body.length, sa.esn ? tail : null, out, ctOff + body.length);
  }
  return out;
}

/**
 * The crypto backend for ESP and AH: the transforms, behind one interface with
 * two implementations.
 *
 *   - `nodeBackend` (default, the fast path): OpenSSL through node:crypto. The
 *     key is imported once per SA (`createSecretKey`); per packet it costs one
 *     createCipheriv/createHmac, which node:crypto cannot avoid (a Cipher
 *     object takes its IV at creation and cannot be re-armed).
 *   - `nobleBackend` (portable, pure JS): @noble/ciphers and @noble/hashes.
 *     About 8x slower on 1,400-byte packets; keep it off the fast path. Its
 *     HMAC keeps the keyed inner/outer state per SA and clones it per packet.
 *
 * Transforms (identifiers as ESP/AH configuration spells them):
 *
 *   encryption            key material              IV   ICV  pad to  RFC
 *   aes-gcm-16            16/24/32 key + 4 salt     8    16   4       4106
 *   chacha20-poly1305     32 key + 4 salt           8    16   4       7634
 *   aes-cbc               16/24/32                  16   (MAC) 16     3602
 *   null                  none                      0    (MAC) 4      2410
 *
 *   integrity             key    ICV                       RFC
 *   hmac-sha1-96          20     first 12 bytes of HMAC    2404
 *   hmac-sha256-128       32     first 16 bytes of HMAC    4868
 *
 * AEAD nonce (RFC 4106 §4, RFC 7634 §2): salt (4) ‖ explicit IV (8), the salt
 * being the last 4 bytes of the key material. ESP (esp.ts) takes the explicit
 * IV of the combined modes from the SA's 64-bit sequence number, which never
 * repeats under one key; the CBC IV is random, from the injected Rng.
 *
 * Every operation works in place on a caller's buffer with offsets, so ESP can
 * lay out the packet once. Authentication failures return false, never throw.
 */
import { type KeyObject, createCipheriv, createDecipheriv, createHmac, createSecretKey } from 'node:crypto';
import { cbc, gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { type _HMAC, hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { err, ok, type Result } from '../core/result.ts';

export type EncAlgorithm = 'aes-gcm-16' | 'chacha20-poly1305' | 'aes-cbc' | 'null';
export type AuthAlgorithm = 'hmac-sha1-96' | 'hmac-sha256-128' | 'none';

export const ENC_ALGORITHMS: readonly EncAlgorithm[] = ['aes-gcm-16', 'chacha20-poly1305', 'aes-cbc', 'null'];
export const AUTH_ALGORITHMS: readonly AuthAlgorithm[] = ['hmac-sha1-96', 'hmac-sha256-128', 'none'];

export const AEAD_IV_LEN = 8;
export const AEAD_SALT_LEN = 4;
export const AEAD_TAG_LEN = 16;
export const AES_BLOCK = 16;

/** An AEAD transform keyed for one SA (RFC 4106, RFC 7634). */
export interface Aead {
  readonly ivLen: number;
  readonly tagLen: number;
  /**
   * Encrypts `buf[off, off+len)` in place and writes the tag at
   * `buf[off+len, off+len+tagLen)`. `iv` is the 8-byte explicit IV.
   */
  seal(iv: Uint8Array, aad: Uint8Array, buf: Uint8Array, off: number, len: number): void;
  /**
   * Verifies the tag at `buf[off+len, off+len+tagLen)` over the ciphertext
   * `buf[off, off+len)` and `aad`; only then writes the plaintext to
   * `out[outOff, outOff+len)` (which may be `buf`, at or before `off`).
   * Returns false, leaving `out` untouched, if authentication fails.
   */
  open(iv: Uint8Array, aad: Uint8Array, buf: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): boolean;
}

/** A block cipher in CBC mode keyed for one SA; lengths are multiples of the block size. */
export interface BlockCipher {
  readonly ivLen: number;
  readonly blockSize: number;
  /** Encrypts `buf[off, off+len)` in place. */
  encrypt(iv: Uint8Array, buf: Uint8Array, off: number, len: number): void;
  /** Decrypts `buf[off, off+len)` into `out[outOff, outOff+len)` (may be `buf`). */
  decrypt(iv: Uint8Array, buf: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): void;
}

/** A truncated HMAC keyed for one SA. `tail` (ESN high bits) is MACed after the data. */
export interface Mac {
  readonly icvLen: number;
  /** Writes the ICV of `buf[off, off+len) ‖ tail` at `out[outOff, outOff+icvLen)`. */
  compute(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null, out: Uint8Array, outOff: number): void;
  /** Compares the ICV of `buf[off, off+len) ‖ tail` with `icv[icvOff, +icvLen)` in constant time. */
  verify(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null, icv: Uint8Array, icvOff: number): boolean;
}

export interface CryptoBackend {
  readonly name: string;
  /** `keymat` is key ‖ 4-byte salt. Throws on a bad length (checked earlier by `checkKeys`). */
  aead(alg: 'aes-gcm-16' | 'chacha20-poly1305', keymat: Uint8Array): Aead;
  cipher(alg: 'aes-cbc', key: Uint8Array): BlockCipher;
  mac(alg: 'hmac-sha1-96' | 'hmac-sha256-128', key: Uint8Array): Mac;
}

/** The transforms of one ESP SA, with the layout numbers ESP needs. */
export interface EspXform {
  readonly enc: EncAlgorithm;
  readonly auth: AuthAlgorithm;
  readonly aead: Aead | null;
  readonly cipher: BlockCipher | null;
  readonly mac: Mac | null;
  /** Bytes of explicit IV on the wire (0 for null). */
  readonly ivLen: number;
  /** Bytes of ICV on the wire. */
  readonly icvLen: number;
  /** The plaintext (payload ‖ padding ‖ pad length ‖ next header) is a multiple of this: 4, or the block size. */
  readonly align: number;
}

/** The transform of one AH SA. */
export interface AhXform {
  readonly auth: Exclude<AuthAlgorithm, 'none'>;
  readonly mac: Mac;
  readonly icvLen: number;
}

// ---- key checks ---------------------------------------------------------------

export function isAead(enc: EncAlgorithm): enc is 'aes-gcm-16' | 'chacha20-poly1305' {
  return enc === 'aes-gcm-16' || enc === 'chacha20-poly1305';
}

export function icvLenOf(auth: AuthAlgorithm): number {
  return auth === 'hmac-sha1-96' ? 12 : auth === 'hmac-sha256-128' ? 16 : 0;
}

/** Key lengths of each transform; readable errors for configuration (setkey). */
export function checkEncKey(enc: EncAlgorithm, key: Uint8Array): string | null {
  const n = key.length;
  switch (enc) {
    case 'aes-gcm-16':
      return n === 20 || n === 28 || n === 36 ? null : `aes-gcm-16 needs 20, 28 or 36 bytes of key material (key and 4-byte salt), got ${n}`;
    case 'chacha20-poly1305':
      return n === 36 ? null : `chacha20-poly1305 needs 36 bytes of key material (32-byte key and 4-byte salt), got ${n}`;
    case 'aes-cbc':
      return n === 16 || n === 24 || n === 32 ? null : `aes-cbc needs a 16, 24 or 32-byte key, got ${n}`;
    case 'null':
      return n === 0 ? null : `null encryption takes no key, got ${n} bytes`;
  }
}

export function checkAuthKey(auth: AuthAlgorithm, key: Uint8Array): string | null {
  const n = key.length;
  switch (auth) {
    case 'hmac-sha1-96':
      return n === 20 ? null : `hmac-sha1-96 needs a 20-byte key (RFC 2404), got ${n}`;
    case 'hmac-sha256-128':
      return n === 32 ? null : `hmac-sha256-128 needs a 32-byte key (RFC 4868 §2.1.1), got ${n}`;
    case 'none':
      return n === 0 ? null : `no authentication takes no key, got ${n} bytes`;
  }
}

/**
 * Builds the transforms of an ESP SA. Refused combinations: a combined mode
 * with a separate MAC (RFC 4303 §3.2: the AEAD's ICV is the ICV), and any
 * SA without integrity (confidentiality-only ESP is a MAY in RFC 4303 we do
 * not offer: it gives up anti-replay; NULL with no MAC is forbidden, §3.2).
 */
export function makeEspXform(backend: CryptoBackend, enc: EncAlgorithm, encKey: Uint8Array, auth: AuthAlgorithm, authKey: Uint8Array): Result<EspXform, string> {
  const e1 = checkEncKey(enc, encKey) ?? checkAuthKey(auth, authKey);
  if (e1) return err(e1);
  if (isAead(enc)) {
    if (auth !== 'none') return err(`${enc} is a combined mode: no separate authentication algorithm (RFC 4303 §3.2)`);
    return ok({ enc, auth, aead: backend.aead(enc, encKey), cipher: null, mac: null, ivLen: AEAD_IV_LEN, icvLen: AEAD_TAG_LEN, align: 4 });
  }
  if (auth === 'none') return err(`${enc} needs an authentication algorithm (ESP without integrity is not offered)`);
  const mac = backend.mac(auth, authKey);
  if (enc === 'null') return ok({ enc, auth, aead: null, cipher: null, mac, ivLen: 0, icvLen: mac.icvLen, align: 4 });
  const cipher = backend.cipher(enc, encKey);
  return ok({ enc, auth, aead: null, cipher, mac, ivLen: cipher.ivLen, icvLen: mac.icvLen, align: cipher.blockSize });
}

export function makeAhXform(backend: CryptoBackend, auth: AuthAlgorithm, key: Uint8Array): Result<AhXform, string> {
  if (auth === 'none') return err('AH needs an authentication algorithm');
  const e1 = checkAuthKey(auth, key);
  if (e1) return err(e1);
  const mac = backend.mac(auth, key);
  return ok({ auth, mac, icvLen: mac.icvLen });
}

/** Constant-time comparison of `len` bytes: the time depends on `len` only. */
export function ctEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  let d = 0;
  for (let i = 0; i < len; i++) d |= a[aOff + i]! ^ b[bOff + i]!;
  return d === 0;
}

// ---- node:crypto --------------------------------------------------------------

const GCM_NAME: Record<number, string> = { 16: 'aes-128-gcm', 24: 'aes-192-gcm', 32: 'aes-256-gcm' };
const CBC_NAME: Record<number, string> = { 16: 'aes-128-cbc', 24: 'aes-192-cbc', 32: 'aes-256-cbc' };
const TAG_OPTS = { authTagLength: AEAD_TAG_LEN };

class NodeAead implements Aead {
  readonly ivLen = AEAD_IV_LEN;
  readonly tagLen = AEAD_TAG_LEN;
  private readonly key: KeyObject;
  private readonly name: string;
  /** salt ‖ IV, rebuilt per packet (node copies it into the cipher context). */
  private readonly nonce = new Uint8Array(12);

  constructor(alg: 'aes-gcm-16' | 'chacha20-poly1305', keymat: Uint8Array) {
    const klen = keymat.length - AEAD_SALT_LEN;
    const name = alg === 'chacha20-poly1305' ? (klen === 32 ? 'chacha20-poly1305' : undefined) : GCM_NAME[klen];
    if (!name) throw new RangeError(`${alg}: bad key material length ${keymat.length}`);
    this.name = name;
    this.key = createSecretKey(keymat.subarray(0, klen));
    this.nonce.set(keymat.subarray(klen), 0);
  }

  private setIv(iv: Uint8Array): void {
    if (iv.length !== AEAD_IV_LEN) throw new RangeError('AEAD: the explicit IV is 8 bytes');
    this.nonce.set(iv, AEAD_SALT_LEN);
  }

  seal(iv: Uint8Array, aad: Uint8Array, buf: Uint8Array, off: number, len: number): void {
    this.setIv(iv);
    const c = createCipheriv(this.name as 'aes-128-gcm', this.key, this.nonce, TAG_OPTS);
    c.setAAD(aad);
    const ct = c.update(buf.subarray(off, off + len));
    buf.set(ct, off);
    const rest = c.final();
    if (rest.length) buf.set(rest, off + ct.length);
    buf.set(c.getAuthTag(), off + len);
  }

  open(iv: Uint8Array, aad: Uint8Array, buf: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): boolean {
    this.setIv(iv);
    const d = createDecipheriv(this.name as 'aes-128-gcm', this.key, this.nonce, TAG_OPTS);
    d.setAuthTag(buf.subarray(off + len, off + len + AEAD_TAG_LEN));
    d.setAAD(aad);
    const pt = d.update(buf.subarray(off, off + len));
    let rest: Buffer;
    try {
      rest = d.final();
    } catch {
      return false; // OpenSSL: "unable to authenticate data"
    }
    out.set(pt, outOff);
    if (rest.length) out.set(rest, outOff + pt.length);
    return true;
  }
}

class NodeCbc implements BlockCipher {
  readonly ivLen = AES_BLOCK;
  readonly blockSize = AES_BLOCK;
  private readonly key: KeyObject;
  private readonly name: string;

  constructor(key: Uint8Array) {
    const name = CBC_NAME[key.length];
    if (!name) throw new RangeError(`aes-cbc: bad key length ${key.length}`);
    this.name = name;
    this.key = createSecretKey(key);
  }

  encrypt(iv: Uint8Array, buf: Uint8Array, off: number, len: number): void {
    checkBlocks(len);
    const c = createCipheriv(this.name, this.key, iv).setAutoPadding(false);
    const a = c.update(buf.subarray(off, off + len));
    buf.set(a, off);
    const b = c.final();
    if (b.length) buf.set(b, off + a.length);
  }

  decrypt(iv: Uint8Array, buf: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): void {
    checkBlocks(len);
    const d = createDecipheriv(this.name, this.key, iv).setAutoPadding(false);
    const a = d.update(buf.subarray(off, off + len));
    out.set(a, outOff);
    const b = d.final();
    if (b.length) out.set(b, outOff + a.length);
  }
}

function checkBlocks(len: number): void {
  if (len % AES_BLOCK !== 0) throw new RangeError(`aes-cbc: length ${len} is not a multiple of 16`);
}

class NodeHmac implements Mac {
  readonly icvLen: number;
  private readonly key: KeyObject;
  private readonly hash: string;

  constructor(alg: 'hmac-sha1-96' | 'hmac-sha256-128', key: Uint8Array) {
    this.hash = alg === 'hmac-sha1-96' ? 'sha1' : 'sha256';
    this.icvLen = icvLenOf(alg);
    this.key = createSecretKey(key);
  }

  private digest(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null): Buffer {
    const h = createHmac(this.hash, this.key);
    h.update(buf.subarray(off, off + len));
    if (tail) h.update(tail);
    return h.digest();
  }

  compute(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null, out: Uint8Array, outOff: number): void {
    const d = this.digest(buf, off, len, tail);
    for (let i = 0; i < this.icvLen; i++) out[outOff + i] = d[i]!;
  }

  verify(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null, icv: Uint8Array, icvOff: number): boolean {
    return ctEqual(this.digest(buf, off, len, tail), 0, icv, icvOff, this.icvLen);
  }
}

export const nodeBackend: CryptoBackend = {
  name: 'node',
  aead: (alg, keymat) => new NodeAead(alg, keymat),
  cipher: (_alg, key) => new NodeCbc(key),
  mac: (alg, key) => new NodeHmac(alg, key),
};

// ---- @noble ---------------------------------------------------------------------

class NobleAead implements Aead {
  readonly ivLen = AEAD_IV_LEN;
  readonly tagLen = AEAD_TAG_LEN;
  private readonly key: Uint8Array;
  private readonly nonce = new Uint8Array(12);

  constructor(
    private readonly alg: 'aes-gcm-16' | 'chacha20-poly1305',
    keymat: Uint8Array,
  ) {
    const klen = keymat.length - AEAD_SALT_LEN;
    const good = alg === 'chacha20-poly1305' ? klen === 32 : klen === 16 || klen === 24 || klen === 32;
    if (!good) throw new RangeError(`${alg}: bad key material length ${keymat.length}`);
    this.key = keymat.slice(0, klen);
    this.nonce.set(keymat.subarray(klen), 0);
  }

  private make(iv: Uint8Array, aad: Uint8Array) {
    if (iv.length !== AEAD_IV_LEN) throw new RangeError('AEAD: the explicit IV is 8 bytes');
    this.nonce.set(iv, AEAD_SALT_LEN);
    return this.alg === 'aes-gcm-16' ? gcm(this.key, this.nonce, aad) : chacha20poly1305(this.key, this.nonce, aad);
  }

  seal(iv: Uint8Array, aad: Uint8Array, buf: Uint8Array, off: number, len: number): void {
    buf.set(this.make(iv, aad).encrypt(buf.subarray(off, off + len)), off);
  }

  open(iv: Uint8Array, aad: Uint8Array, buf: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): boolean {
    let pt: Uint8Array;
    try {
      pt = this.make(iv, aad).decrypt(buf.subarray(off, off + len + AEAD_TAG_LEN));
    } catch {
      return false; // noble throws on a tag mismatch
    }
    out.set(pt, outOff);
    return true;
  }
}

class NobleCbc implements BlockCipher {
  readonly ivLen = AES_BLOCK;
  readonly blockSize = AES_BLOCK;
  private readonly key: Uint8Array;
  private static readonly opts = { disablePadding: true };

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError(`aes-cbc: bad key length ${key.length}`);
    this.key = key.slice();
  }

  encrypt(iv: Uint8Array, buf: Uint8Array, off: number, len: number): void {
    checkBlocks(len);
    buf.set(cbc(this.key, iv, NobleCbc.opts).encrypt(buf.subarray(off, off + len)), off);
  }

  decrypt(iv: Uint8Array, buf: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): void {
    checkBlocks(len);
    out.set(cbc(this.key, iv, NobleCbc.opts).decrypt(buf.subarray(off, off + len)), outOff);
  }
}

class NobleHmac implements Mac {
  readonly icvLen: number;
  /** Keyed once; each packet clones its state into `work` (no re-keying, no allocation). */
  private readonly keyed: _HMAC<any>;
  private work: _HMAC<any>;
  private readonly out: Uint8Array;

  constructor(alg: 'hmac-sha1-96' | 'hmac-sha256-128', key: Uint8Array) {
    const hash = alg === 'hmac-sha1-96' ? sha1 : sha256;
    this.icvLen = icvLenOf(alg);
    this.keyed = hmac.create(hash, key);
    this.work = this.keyed.clone();
    this.out = new Uint8Array(hash.outputLen);
  }

  private digest(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null): Uint8Array {
    const h = (this.work = this.keyed._cloneInto(this.work));
    h.update(buf.subarray(off, off + len));
    if (tail) h.update(tail);
    h.digestInto(this.out);
    return this.out;
  }

  compute(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null, out: Uint8Array, outOff: number): void {
    const d = this.digest(buf, off, len, tail);
    for (let i = 0; i < this.icvLen; i++) out[outOff + i] = d[i]!;
  }

  verify(buf: Uint8Array, off: number, len: number, tail: Uint8Array | null, icv: Uint8Array, icvOff: number): boolean {
    return ctEqual(this.digest(buf, off, len, tail), 0, icv, icvOff, this.icvLen);
  }
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  aead: (alg, keymat) => new NobleAead(alg, keymat),
  cipher: (_alg, key) => new NobleCbc(key),
  mac: (alg, key) => new NobleHmac(alg, key),
};

/**
 * The crypto backends against published vectors, and against each other:
 *   - AES-GCM: the GCM specification's test cases 4 (AES-128) and 16
 *     (AES-256) (McGrew & Viega, the cases RFC 4106's test draft reuses),
 *     read as RFC 4106 nonces: salt cafebabe, explicit IV facedbaddecaf888;
 *   - ChaCha20-Poly1305: RFC 8439 §2.8.2 (RFC 7634's construction: the 4-byte
 *     constant 07000000 is the salt, 4041424344454647 the explicit IV);
 *   - AES-CBC: RFC 3602 §4 cases 1 and 2;
 *   - HMAC-SHA-256-128: RFC 4868 §2.7.2.1 AUTH256-1..3 (32-byte keys);
 *   - HMAC-SHA1-96: RFC 2202 §3 cases 1, 2, 3 and 7, truncated (RFC 2404).
 * Then both backends on random keys, IVs, AADs and lengths: byte-identical.
 */
import test from 'ava';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/core/bytes.ts';
import {
  type CryptoBackend,
  checkAuthKey,
  checkEncKey,
  ctEqual,
  makeAhXform,
  makeEspXform,
  nobleBackend,
  nodeBackend,
} from '../../src/ipsec/crypto.ts';

const BACKENDS: CryptoBackend[] = [nodeBackend, nobleBackend];
const text = (s: string) => new TextEncoder().encode(s);

const GCM_PT = fromHex(
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
);
const GCM_AAD = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
const GCM_IV = fromHex('facedbaddecaf888');
const GCM_CASES = [
  {
    name: 'test case 4 (AES-128)',
    keymat: fromHex('feffe9928665731c6d6a8f9467308308' + 'cafebabe'),
    ct: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
    tag: '5bc94fbc3221a5db94fae95ae7121a47',
  },
  {
    name: 'test case 16 (AES-256)',
    keymat: fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308' + 'cafebabe'),
    ct: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

const SUNSCREEN = text("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
const CHACHA_KEYMAT = Uint8Array.from([...Array.from({ length: 32 }, (_, i) => 0x80 + i), 0x07, 0, 0, 0]);
const CHACHA_CT =
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
  '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
  '3ff4def08e4b7a9de576d26586cec64b6116';
const CHACHA_TAG = '1ae10b594f09e26a7e902ecbd0600691';

for (const be of BACKENDS) {
  for (const c of GCM_CASES) {
    test(`${be.name}: AES-GCM ${c.name} seals and opens`, (t) => {
      const a = be.aead('aes-gcm-16', c.keymat);
      const buf = new Uint8Array(GCM_PT.length + 16);
      buf.set(GCM_PT);
      a.seal(GCM_IV, GCM_AAD, buf, 0, GCM_PT.length);
      t.is(toHex(buf), c.ct + c.tag);
      const out = new Uint8Array(GCM_PT.length);
      t.true(a.open(GCM_IV, GCM_AAD, buf, 0, GCM_PT.length, out, 0));
      t.deepEqual(out, GCM_PT);
    });
  }

  test(`${be.name}: ChaCha20-Poly1305 RFC 8439 §2.8.2 as an RFC 7634 nonce`, (t) => {
    const a = be.aead('chacha20-poly1305', CHACHA_KEYMAT);
    const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
    const iv = fromHex('4041424344454647');
    const buf = new Uint8Array(SUNSCREEN.length + 16);
    buf.set(SUNSCREEN);
    a.seal(iv, aad, buf, 0, SUNSCREEN.length);
    t.is(toHex(buf), CHACHA_CT + CHACHA_TAG);
    const out = new Uint8Array(SUNSCREEN.length);
    t.true(a.open(iv, aad, buf, 0, SUNSCREEN.length, out, 0));
    t.deepEqual(out, SUNSCREEN);
  });

  test(`${be.name}: AEAD open refuses a flipped bit in ciphertext, tag or AAD and leaves the output alone`, (t) => {
    for (const [alg, km] of [
      ['aes-gcm-16', GCM_CASES[0]!.keymat],
      ['chacha20-poly1305', CHACHA_KEYMAT],
    ] as const) {
      const a = be.aead(alg, km);
      const buf = new Uint8Array(GCM_PT.length + 16);
      buf.set(GCM_PT);
      a.seal(GCM_IV, GCM_AAD, buf, 0, GCM_PT.length);
      for (const at of [0, GCM_PT.length - 1, GCM_PT.length, buf.length - 1]) {
        const bad = buf.slice();
        bad[at]! ^= 0x01;
        const out = new Uint8Array(GCM_PT.length).fill(0xee);
        t.false(a.open(GCM_IV, GCM_AAD, bad, 0, GCM_PT.length, out, 0), `${alg} byte ${at}`);
        t.true(out.every((x) => x === 0xee));
      }
      const aad = GCM_AAD.slice();
      aad[3]! ^= 0x80;
      t.false(a.open(GCM_IV, aad, buf, 0, GCM_PT.length, new Uint8Array(GCM_PT.length), 0));
      const iv = GCM_IV.slice();
      iv[7]! ^= 1;
      t.false(a.open(iv, GCM_AAD, buf, 0, GCM_PT.length, new Uint8Array(GCM_PT.length), 0));
    }
  });

  test(`${be.name}: AES-CBC RFC 3602 cases 1 and 2, at an offset`, (t) => {
    const cases = [
      { key: '06a9214036b8a15b512e03d534120006', iv: '3dafba429d9eb430b422da802c9fac41', pt: text('Single block msg'), ct: 'e353779c1079aeb82708942dbe77181a' },
      {
        key: 'c286696d887c9aa0611bbb3e2025a45a',
        iv: '562e17996d093d28ddb3ba695a2e6f58',
        pt: Uint8Array.from({ length: 32 }, (_, i) => i),
        ct: 'd296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1',
      },
    ];
    for (const c of cases) {
      const ciph = be.cipher('aes-cbc', fromHex(c.key));
      const buf = new Uint8Array(c.pt.length + 7).fill(0xcc);
      buf.set(c.pt, 3);
      ciph.encrypt(fromHex(c.iv), buf, 3, c.pt.length);
      t.is(toHex(buf.subarray(3, 3 + c.pt.length)), c.ct);
      t.is(buf[2], 0xcc);
      t.is(buf[3 + c.pt.length], 0xcc);
      const out = new Uint8Array(c.pt.length);
      ciph.decrypt(fromHex(c.iv), buf, 3, c.pt.length, out, 0);
      t.deepEqual(out, c.pt);
    }
  });

  test(`${be.name}: HMAC-SHA-256-128 RFC 4868 AUTH256 test cases`, (t) => {
    const cases = [
      { key: new Uint8Array(32).fill(0x0b), data: text('Hi There'), icv: '198a607eb44bfbc69903a0f1cf2bbdc5' },
      { key: text('JefeJefeJefeJefeJefeJefeJefeJefe'), data: text('what do ya want for nothing?'), icv: '167f928588c5cc2eef8e3093caa0e87c' },
      { key: new Uint8Array(32).fill(0xaa), data: new Uint8Array(50).fill(0xdd), icv: 'cdcb1220d1ecccea91e53aba3092f962' },
    ];
    for (const c of cases) {
      const m = be.mac('hmac-sha256-128', c.key);
      t.is(m.icvLen, 16);
      const out = new Uint8Array(16);
      m.compute(c.data, 0, c.data.length, null, out, 0);
      t.is(toHex(out), c.icv);
      t.true(m.verify(c.data, 0, c.data.length, null, fromHex(c.icv), 0));
      // Twice in a row: a MAC object is reused per packet.
      t.true(m.verify(c.data, 0, c.data.length, null, fromHex(c.icv), 0));
    }
  });

  test(`${be.name}: HMAC-SHA1-96 is RFC 2202 truncated to 96 bits`, (t) => {
    // hmac-sha1-96 keys are 20 bytes (RFC 2404); cases with other key lengths go through the raw MAC.
    const cases = [
      { key: new Uint8Array(20).fill(0x0b), data: text('Hi There'), mac: 'b617318655057264e28bc0b6fb378c8ef146be00' },
      { key: new Uint8Array(20).fill(0xaa), data: new Uint8Array(50).fill(0xdd), mac: '125d7342b9ac11cd91a39af48aa17b4f63f175d3' },
    ];
    for (const c of cases) {
      const m = be.mac('hmac-sha1-96', c.key);
      t.is(m.icvLen, 12);
      const out = new Uint8Array(12);
      m.compute(c.data, 0, c.data.length, null, out, 0);
      t.is(toHex(out), c.mac.slice(0, 24));
    }
    // Case 2 ("Jefe") and case 7 (80-byte key): the backends accept any key length below the config checks.
    const m2 = be.mac('hmac-sha1-96', text('Jefe'));
    const o2 = new Uint8Array(12);
    const d2 = text('what do ya want for nothing?');
    m2.compute(d2, 0, d2.length, null, o2, 0);
    t.is(toHex(o2), 'effcdf6ae5eb2fa2d27416d5'); // effcdf6ae5eb2fa2d27416d5f184df9c259a7c79
    const m7 = be.mac('hmac-sha1-96', new Uint8Array(80).fill(0xaa));
    const d7 = text('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data');
    m7.compute(d7, 0, d7.length, null, o2, 0);
    t.is(toHex(o2), 'e8e99d0f45237d786d6bbaa7'); // e8e99d0f45237d786d6bbaa7965c7808bbff1a91
  });

  test(`${be.name}: a MAC's tail is MACed after the data (the ESN high half)`, (t) => {
    const m = be.mac('hmac-sha256-128', new Uint8Array(32).fill(0x0b));
    const whole = text('Hi There');
    const a = new Uint8Array(16);
    const b = new Uint8Array(16);
    m.compute(whole, 0, 5, whole.subarray(5), a, 0);
    m.compute(whole, 0, 8, null, b, 0);
    t.deepEqual(a, b);
    t.false(m.verify(whole, 0, 8, Uint8Array.of(0, 0, 0, 1), b, 0));
  });
}

test('ctEqual compares every byte', (t) => {
  const a = Uint8Array.of(1, 2, 3, 4);
  t.true(ctEqual(a, 0, Uint8Array.of(9, 1, 2, 3, 4), 1, 4));
  t.false(ctEqual(a, 0, Uint8Array.of(1, 2, 3, 5), 0, 4));
  t.false(ctEqual(a, 0, Uint8Array.of(0, 2, 3, 4), 0, 4));
  t.true(ctEqual(a, 0, Uint8Array.of(7), 0, 0));
});

test('key lengths and combinations are checked with readable errors', (t) => {
  t.is(checkEncKey('aes-gcm-16', new Uint8Array(20)), null);
  t.is(checkEncKey('aes-gcm-16', new Uint8Array(36)), null);
  t.regex(checkEncKey('aes-gcm-16', new Uint8Array(16))!, /salt/);
  t.regex(checkEncKey('chacha20-poly1305', new Uint8Array(32))!, /36/);
  t.regex(checkEncKey('aes-cbc', new Uint8Array(20))!, /16, 24 or 32/);
  t.regex(checkEncKey('null', new Uint8Array(1))!, /no key/);
  t.regex(checkAuthKey('hmac-sha1-96', new Uint8Array(16))!, /20-byte/);
  t.regex(checkAuthKey('hmac-sha256-128', new Uint8Array(20))!, /32-byte/);
  const none = new Uint8Array(0);
  const x = makeEspXform(nodeBackend, 'aes-gcm-16', new Uint8Array(20), 'hmac-sha1-96', new Uint8Array(20));
  t.false(x.ok);
  t.false(makeEspXform(nodeBackend, 'null', none, 'none', none).ok);
  t.false(makeEspXform(nodeBackend, 'aes-cbc', new Uint8Array(16), 'none', none).ok);
  t.false(makeAhXform(nodeBackend, 'none', none).ok);
  const cbc = makeEspXform(nodeBackend, 'aes-cbc', new Uint8Array(32), 'hmac-sha256-128', new Uint8Array(32));
  t.true(cbc.ok);
  if (cbc.ok) t.like(cbc.value, { ivLen: 16, icvLen: 16, align: 16 });
  const gcm = makeEspXform(nodeBackend, 'aes-gcm-16', new Uint8Array(36), 'none', none);
  if (gcm.ok) t.like(gcm.value, { ivLen: 8, icvLen: 16, align: 4 });
  const nul = makeEspXform(nodeBackend, 'null', none, 'hmac-sha1-96', new Uint8Array(20));
  if (nul.ok) t.like(nul.value, { ivLen: 0, icvLen: 12, align: 4 });
});

// ---- node and noble agree -------------------------------------------------------

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

test('node and noble AEADs produce identical ciphertexts and tags, and open each other', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('aes-gcm-16' as const, 'chacha20-poly1305' as const),
      fc.constantFrom(16, 24, 32),
      bytes(36, 36),
      bytes(8, 8),
      bytes(0, 12),
      bytes(0, 300),
      (alg, klen, km, iv, aad, pt) => {
        const keymat = alg === 'chacha20-poly1305' ? km : km.slice(0, klen + 4);
        const outs = BACKENDS.map((be) => {
          const buf = new Uint8Array(pt.length + 16);
          buf.set(pt);
          be.aead(alg, keymat).seal(iv, aad, buf, 0, pt.length);
          return buf;
        });
        t.deepEqual(outs[0], outs[1]);
        const [n, b] = BACKENDS.map((be) => be.aead(alg, keymat));
        const o1 = new Uint8Array(pt.length);
        const o2 = new Uint8Array(pt.length);
        return n!.open(iv, aad, outs[1]!, 0, pt.length, o1, 0) && b!.open(iv, aad, outs[0]!, 0, pt.length, o2, 0) && toHex(o1) === toHex(pt) && toHex(o2) === toHex(pt);
      },
    ),
    { numRuns: 150 },
  );
});

test('node and noble agree on AES-CBC and both HMACs', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(16, 24, 32),
      bytes(32, 32),
      bytes(16, 16),
      fc.integer({ min: 0, max: 20 }),
      bytes(0, 400),
      bytes(0, 4),
      (klen, k, iv, blocks, data, tail) => {
        const pt = Uint8Array.from({ length: blocks * 16 }, (_, i) => (i * 13 + k[0]!) & 0xff);
        const cts = BACKENDS.map((be) => {
          const buf = pt.slice();
          be.cipher('aes-cbc', k.slice(0, klen)).encrypt(iv, buf, 0, buf.length);
          return toHex(buf);
        });
        t.is(cts[0], cts[1]);
        const back = fromHex(cts[0]!);
        const dec = new Uint8Array(back.length);
        BACKENDS[1]!.cipher('aes-cbc', k.slice(0, klen)).decrypt(iv, back, 0, back.length, dec, 0);
        t.deepEqual(dec, pt);
        for (const [alg, n] of [
          ['hmac-sha1-96', 20],
          ['hmac-sha256-128', 32],
        ] as const) {
          const macs = BACKENDS.map((be) => {
            const m = be.mac(alg, k.slice(0, n));
            const o = new Uint8Array(m.icvLen);
            m.compute(data, 0, data.length, tail.length ? tail : null, o, 0);
            return o;
          });
          t.deepEqual(macs[0], macs[1]);
        }
      },
    ),
    { numRuns: 150 },
  );
});

import test from 'ava';
import fc from 'fast-check';
import { fromHex, getU16, putU16 } from '../../src/core/bytes.ts';
import { checksum, cksumAdjust, finish, fold, in6Cksum, pseudoHeaderSum, sum16 } from '../../src/core/checksum.ts';

/** Runs a fast-check property; fast-check throws (with seed and counterexample) on failure. */
function holds(t: { pass(): void }, p: fc.IProperty<any>, params: fc.Parameters<any> = {}): void {
  fc.assert(p, params);
  t.pass();
}

/**
 * Reference: the textbook RFC 1071 loop, written independently of the code
 * under test: add one big-endian word at a time with an end-around carry after
 * every addition, pad an odd tail with a zero byte, complement at the end.
 */
function refChecksum(...parts: Uint8Array[]): number {
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new Uint8Array(total + (total & 1));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  let s = 0;
  for (let i = 0; i < all.length; i += 2) {
    s += all[i]! * 256 + all[i + 1]!;
    if (s > 0xffff) s = (s & 0xffff) + 1;
  }
  return ~s & 0xffff;
}

/** Reference IPv6 pseudo-header (RFC 8200 §8.1) as bytes, 32-bit length. */
function pseudoHeader(src: Uint8Array, dst: Uint8Array, len: number, nxt: number): Uint8Array {
  const ph = new Uint8Array(40);
  ph.set(src, 0);
  ph.set(dst, 16);
  new DataView(ph.buffer).setUint32(32, len);
  ph[39] = nxt;
  return ph;
}

// ---------------------------------------------------------------------------
// Known vectors

test('RFC 1071 §3 numeric example: 0001 f203 f4f5 f6f7', (t) => {
  const b = fromHex('0001 f203 f4f5 f6f7');
  const acc = sum16(b, 0, b.length);
  t.is(acc, 0x2ddf0, 'unfolded sum');
  t.is(fold(acc), 0xddf2);
  t.is(finish(acc), 0x220d);
  t.is(checksum(b), 0x220d);
  // Appending the checksum makes the whole verify to 0.
  const withCk = new Uint8Array(10);
  withCk.set(b);
  putU16(withCk, 8, 0x220d);
  t.is(checksum(withCk), 0);
});

test('RFC 1071 §3: byte-order independence (same sum on byte-swapped words, swapped)', (t) => {
  const swapped = fromHex('0100 03f2 f5f4 f7f6');
  const s = fold(sum16(swapped, 0, 8));
  t.is(((s & 0xff) << 8) | (s >> 8), 0xddf2);
});

test('IPv4 header 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7', (t) => {
  const hdr = fromHex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  t.is(checksum(hdr), 0xb861);
  putU16(hdr, 10, 0xb861);
  t.is(checksum(hdr), 0, 'verifies to 0 with its checksum in place');
  hdr[8] = 0x3f; // TTL decremented, checksum not updated
  t.not(checksum(hdr), 0);
});

// Produced with scapy 2.5.0 (python3-scapy, Debian 12):
//   raw(IPv6(src="fe80::1", dst="ff02::1", hlim=64)
//       / ICMPv6EchoRequest(id=0x1234, seq=7, data=b"tap6 ping payload!"))
// scapy filled in the ICMPv6 checksum: 0xdd02.
const ICMP6_ECHO = fromHex(
  '60000000001a3a40fe800000000000000000000000000001ff020000000000000000000000000001' +
    '8000dd0212340007746170362070696e67207061796c6f616421',
);
const ICMP6_ECHO_CKSUM = 0xdd02;

// Produced with scapy 2.5.0:
//   raw(IPv6(src="2001:db8::10", dst="2001:db8:1::20", hlim=64)
//       / UDP(sport=40000, dport=53) / b"hello, udp over ipv")
// A 27-byte UDP datagram (odd length); scapy's UDP checksum: 0x5656.
const UDP6 = fromHex(
  '60000000001b114020010db800000000000000000000001020010db8000100000000000000000020' +
    '9c400035001b565668656c6c6f2c20756470206f76657220697076',
);
const UDP6_CKSUM = 0x5656;

function split(pkt: Uint8Array): { src: Uint8Array; dst: Uint8Array; nxt: number; plen: number } {
  return { src: pkt.subarray(8, 24), dst: pkt.subarray(24, 40), nxt: pkt[6]!, plen: getU16(pkt, 4) };
}

test('ICMPv6 echo request (scapy): compute and verify', (t) => {
  const pkt = ICMP6_ECHO.slice();
  const { src, dst, nxt, plen } = split(pkt);
  t.is(nxt, 58);
  t.is(plen, pkt.length - 40);
  t.is(getU16(pkt, 42), ICMP6_ECHO_CKSUM);
  t.is(in6Cksum(pkt, 40, plen, nxt, src, dst), 0, 'verifies over the received bytes');
  putU16(pkt, 42, 0);
  t.is(in6Cksum(pkt, 40, plen, nxt, src, dst), ICMP6_ECHO_CKSUM, 'computes what scapy computed');
  t.is(refChecksum(pseudoHeader(src, dst, plen, nxt), pkt.subarray(40)), ICMP6_ECHO_CKSUM, 'the reference agrees');
});

test('UDP over IPv6, odd length (scapy): compute and verify', (t) => {
  const pkt = UDP6.slice();
  const { src, dst, nxt, plen } = split(pkt);
  t.is(nxt, 17);
  t.is(plen, 27);
  t.is(in6Cksum(pkt, 40, plen, nxt, src, dst), 0);
  putU16(pkt, 46, 0);
  t.is(in6Cksum(pkt, 40, plen, nxt, src, dst), UDP6_CKSUM);
});

test('a wrong pseudo-header does not verify', (t) => {
  const pkt = UDP6.slice();
  const { src, dst, nxt, plen } = split(pkt);
  t.not(in6Cksum(pkt, 40, plen, 58, src, dst), 0, 'wrong next header');
  t.not(in6Cksum(pkt, 40, plen, nxt, dst.slice().fill(0), dst), 0, 'wrong source');
  const flipped = pkt.slice();
  flipped[60] ^= 0x01;
  t.not(in6Cksum(flipped, 40, plen, nxt, src, dst), 0, 'one flipped payload bit');
});

test('the checksum works on subarrays the same as at an offset', (t) => {
  const sub = UDP6.subarray(40);
  const { src, dst, nxt } = split(UDP6);
  t.is(in6Cksum(sub, 0, sub.length, nxt, src, dst), 0);
});

// ---------------------------------------------------------------------------
// Odd lengths, edge values

test('odd lengths pad the last byte on the right', (t) => {
  t.is(sum16(fromHex('ab'), 0, 1), 0xab00);
  t.is(sum16(fromHex('0102 03'), 0, 3), 0x0102 + 0x0300);
  // Only len bytes are read: the byte after the range is ignored.
  t.is(sum16(fromHex('0102 03ff'), 0, 3), 0x0102 + 0x0300);
  t.is(sum16(fromHex('ff 0102 03ff'), 1, 3), 0x0102 + 0x0300);
  for (let n = 0; n <= 19; n++) {
    const b = new Uint8Array(n).map((_, i) => (i * 37 + 11) & 0xff);
    t.is(checksum(b), refChecksum(b), `length ${n}`);
  }
});

test('empty input, all zeros and all ones', (t) => {
  t.is(sum16(new Uint8Array(0), 0, 0), 0);
  t.is(sum16(new Uint8Array(0), 0, 0, 1234), 1234, 'accumulator passes through');
  t.is(checksum(new Uint8Array(0)), 0xffff);
  t.is(checksum(new Uint8Array(8)), 0xffff);
  t.is(checksum(new Uint8Array(8).fill(0xff)), 0, 'sum of 0xffff words is one\u2019s complement -0');
  t.is(fold(0), 0);
  t.is(fold(0xffff), 0xffff);
  t.is(fold(0x10000), 1);
  t.is(fold(0x1fffe), 0xffff);
});

test('fold handles accumulators wider than 32 bits', (t) => {
  // 2^40 - 1 = 0xff_ffff_ffff: three 16-bit pieces 0xff, 0xffff, 0xffff.
  t.is(fold(2 ** 40 - 1), fold(0xff + 0xffff + 0xffff));
  t.is(fold(2 ** 48), 1, '2^48 \u2261 1 (mod 0xffff)');
  const big = 123456789012345;
  t.is(fold(big) % 0xffff, big % 0xffff);
});

test('pseudoHeaderSum splits a 32-bit length into two words', (t) => {
  const z = new Uint8Array(16);
  t.is(pseudoHeaderSum(z, z, 0x12345, 17), 0x1 + 0x2345 + 17);
  t.is(pseudoHeaderSum(z, z, 0xffffffff, 0x13a), 0xffff + 0xffff + 0x3a, 'next header is one byte');
  const src = fromHex('20010db8000000000000000000000001');
  const dst = fromHex('fe800000000000000000000000000002');
  t.is(fold(pseudoHeaderSum(src, dst, 8, 58)), fold(sum16(pseudoHeader(src, dst, 8, 58), 0, 40)));
});

test('RFC 1624 §4 example: m 0x5555 -> 0x3285, other fields sum 0xcd7a', (t) => {
  const hc = finish(0xcd7a + 0x5555);
  t.is(hc, 0xdd2f);
  // Eqn. 3 gives 0x0000, the same as recomputing (eqn. 2 would give 0xffff).
  t.is(cksumAdjust(hc, 0x5555, 0x3285), 0x0000);
  t.is(finish(0xcd7a + 0x3285), 0x0000);
});

test('cksumAdjust on the IPv4 header: TTL decrement', (t) => {
  const hdr = fromHex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
  const oldWord = getU16(hdr, 8);
  hdr[8] = 0x3f;
  const ck = cksumAdjust(0xb861, oldWord, getU16(hdr, 8));
  putU16(hdr, 10, ck);
  t.is(checksum(hdr), 0);
  t.is(ck, 0xb961);
});

// ---------------------------------------------------------------------------
// Large inputs

test('65535 and 65536 bytes of 0xff fold correctly', (t) => {
  const b = new Uint8Array(65536).fill(0xff);
  t.is(checksum(b, 0, 65535), 0x00ff, 'computed independently with a per-word end-around carry');
  t.is(checksum(b, 0, 65535), refChecksum(b.subarray(0, 65535)));
  t.is(checksum(b), 0);
});

test('jumbo-sized (100,001 byte) UDP payload with a 32-bit pseudo-header length', (t) => {
  const n = 100_001;
  const d = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
  const src = fromHex('20010db8000000000000000000000001');
  const dst = fromHex('20010db8000000000000000000000002');
  // 0xf09c was computed separately in Python 3 (per-word end-around carry over
  // the 40-byte pseudo-header with length 100001 and next header 17, then the data).
  t.is(in6Cksum(d, 0, n, 17, src, dst), 0xf09c);
  t.is(refChecksum(pseudoHeader(src, dst, n, 17), d), 0xf09c);
});

test('1 MiB of random bytes agrees with the reference', (t) => {
  const b = new Uint8Array(1 << 20);
  let x = 0x12345678;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  t.is(checksum(b), refChecksum(b));
  t.is(checksum(b, 1, b.length - 2), refChecksum(b.subarray(1, b.length - 1)));
});

// ---------------------------------------------------------------------------
// Properties

const bytes = (maxLength = 300) => fc.uint8Array({ maxLength });
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });

test('property: checksum agrees with the per-word reference', (t) => {
  holds(t, fc.property(bytes(), (b) => checksum(b) === refChecksum(b)));
});

test('property: in6Cksum agrees with the reference over pseudo-header + data', (t) => {
  holds(
    t,
    fc.property(bytes(), addr, addr, fc.integer({ min: 0, max: 255 }), (b, src, dst, nxt) => {
      return in6Cksum(b, 0, b.length, nxt, src, dst) === refChecksum(pseudoHeader(src, dst, b.length, nxt), b);
    }),
  );
});

test('property: in6Cksum over data with its checksum inserted verifies to 0', (t) => {
  holds(
    t,
    fc.property(
      fc.uint8Array({ minLength: 2, maxLength: 300 }),
      fc.nat(),
      addr,
      addr,
      fc.constantFrom(6, 17, 58),
      fc.nat({ max: 7 }),
      (payload, at, src, dst, nxt, lead) => {
        // Put the packet at an offset `lead` into a larger buffer, checksum field at an even offset.
        const b = new Uint8Array(lead + payload.length + 3).fill(0xa5);
        b.set(payload, lead);
        const ckOff = lead + 2 * (at % (payload.length >> 1));
        putU16(b, ckOff, 0);
        const ck = in6Cksum(b, lead, payload.length, nxt, src, dst);
        putU16(b, ckOff, ck);
        return in6Cksum(b, lead, payload.length, nxt, src, dst) === 0;
      },
    ),
  );
});

test('property: checksum with its value appended verifies to 0', (t) => {
  holds(
    t,
    fc.property(bytes(), (d) => {
      const even = d.length + (d.length & 1);
      const b = new Uint8Array(even + 2);
      b.set(d);
      putU16(b, even, checksum(b, 0, even));
      return checksum(b) === 0;
    }),
  );
});

test('property: sum16 at an offset into a bigger buffer equals sum16 of a copy', (t) => {
  holds(
    t,
    fc.property(bytes(400), fc.nat(), fc.nat(), fc.nat({ max: 1000 }), (big, a, l, acc) => {
      const off = big.length ? a % (big.length + 1) : 0;
      const len = l % (big.length - off + 1);
      const copy = big.slice(off, off + len);
      return sum16(big, off, len, acc) === sum16(copy, 0, len, acc);
    }),
  );
});

test('property: splitting at an even boundary and chaining the accumulator gives the same sum', (t) => {
  holds(
    t,
    fc.property(bytes(400), fc.nat(), (b, k) => {
      const cut = 2 * (k % ((b.length >> 1) + 1));
      const whole = sum16(b, 0, b.length);
      const chained = sum16(b, cut, b.length - cut, sum16(b, 0, cut));
      // A folded intermediate is just as good as an unfolded one.
      const viaFold = sum16(b, cut, b.length - cut, fold(sum16(b, 0, cut)));
      return chained === whole && fold(viaFold) === fold(whole) && finish(viaFold) === checksum(b);
    }),
  );
});

test('property: cksumAdjust equals recomputation after changing one aligned word', (t) => {
  holds(
    t,
    fc.property(
      fc.uint8Array({ minLength: 2, maxLength: 200 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffff }),
      (d, w, nw) => {
        const b = d.subarray(0, d.length & ~1);
        const at = 2 * (w % (b.length >> 1));
        const before = checksum(b);
        const ow = getU16(b, at);
        putU16(b, at, nw);
        // If every covered word ends up zero, recomputation gives 0xffff and
        // eqn. 3 gives 0x0000: the two zeros of one's complement (RFC 1624 §3);
        // no real header sums to zero (IPv6 has the pseudo-header).
        fc.pre(b.some((x) => x !== 0));
        return cksumAdjust(before, ow, nw) === checksum(b);
      },
    ),
  );
});

test('property: cksumAdjust result always verifies in place (checksum field covered)', (t) => {
  holds(
    t,
    fc.property(
      fc.uint8Array({ minLength: 4, maxLength: 200 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffff }),
      (d, w, nw) => {
        // Word 0 is the checksum field; it carries the pseudo-header-like
        // constant 0x8000 in word 1 so the data is never all zero.
        const b = d.subarray(0, d.length & ~1);
        b[2] |= 0x80;
        putU16(b, 0, 0);
        putU16(b, 0, checksum(b));
        const at = 2 + 2 * (w % ((b.length >> 1) - 1));
        if (at === 2) nw |= 0x8000;
        const ow = getU16(b, at);
        putU16(b, at, nw);
        putU16(b, 0, cksumAdjust(getU16(b, 0), ow, nw));
        return checksum(b) === 0;
      },
    ),
  );
});

test('long inputs (the 32-bit word path): any view alignment, offset and length agree with the reference', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ minLength: 64, maxLength: 3000 }), fc.nat(7), fc.nat(63), fc.nat(3000), (bytes, shift, offRaw, lenRaw) => {
      const whole = new Uint8Array(bytes.length + 8);
      whole.set(bytes, shift);
      const view = whole.subarray(shift, shift + bytes.length);
      const off = offRaw % (bytes.length - 63);
      const len = 64 + (lenRaw % (bytes.length - off - 63));
      return checksum(view, off, len) === refChecksum(bytes.subarray(off, off + len));
    }),
    { numRuns: 2000 },
  );
});

test('a 1 MiB all-0xff run (many folds of the wide accumulator) matches the reference', (t) => {
  const b = new Uint8Array((1 << 20) + 3).fill(0xff);
  t.is(checksum(b, 1, b.length - 1), refChecksum(b.subarray(1)));
  b[12345] = 0;
  t.is(checksum(b, 3, b.length - 3), refChecksum(b.subarray(3)));
});

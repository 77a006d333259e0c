import test from 'ava';
import fc from 'fast-check';
import {
  ETHER_HDR_LEN,
  ETHERTYPE_MIN,
  EtherFrame,
  EtherType,
  emitEther,
  etherBufferLen,
  parseEther,
  type EtherRepr,
} from '../../src/link/ether.ts';
import { holds } from '../helpers/link.ts';

const reprArb: fc.Arbitrary<EtherRepr> = fc.record({
  dst: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  src: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  etherType: fc.integer({ min: 0, max: 0xffff }),
});

const sample: EtherRepr = {
  dst: new Uint8Array([0x33, 0x33, 0, 0, 0, 1]),
  src: new Uint8Array([0x02, 0, 0, 0, 0, 2]),
  etherType: EtherType.IPV6,
};

test('constants', (t) => {
  t.is(ETHER_HDR_LEN, 14);
  t.is(etherBufferLen(), 14);
  t.is(ETHERTYPE_MIN, 0x600);
  t.is(EtherType.IPV6, 0x86dd);
});

test('emit writes the exact wire bytes, every header byte', (t) => {
  const out = new Uint8Array(14).fill(0xff);
  emitEther(sample, out);
  t.deepEqual([...out], [0x33, 0x33, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x86, 0xdd]);
  const zero: EtherRepr = { dst: new Uint8Array(6), src: new Uint8Array(6), etherType: 0 };
  out.fill(0xff);
  emitEther(zero, out);
  t.deepEqual([...out], new Array(14).fill(0));
});

test('emit at an offset touches only its 14 bytes', (t) => {
  const out = new Uint8Array(40).fill(0xa5);
  emitEther(sample, out, 10);
  t.deepEqual([...out.subarray(0, 10)], new Array(10).fill(0xa5));
  t.deepEqual([...out.subarray(24)], new Array(16).fill(0xa5));
  const r = parseEther(out.subarray(10));
  t.true(r.ok);
  if (r.ok) {
    t.deepEqual([...r.value.dst], [...sample.dst]);
    t.deepEqual([...r.value.src], [...sample.src]);
    t.is(r.value.etherType, EtherType.IPV6);
    t.is(r.value.payload.length, 16);
  }
});

test('emit rejects malformed reprs and a buffer without room (programmer errors)', (t) => {
  const out = new Uint8Array(14);
  t.throws(() => emitEther({ ...sample, dst: new Uint8Array(5) }, out), { instanceOf: RangeError });
  t.throws(() => emitEther({ ...sample, src: new Uint8Array(7) }, out), { instanceOf: RangeError });
  for (const etherType of [-1, 0x10000, 1.5, NaN]) t.throws(() => emitEther({ ...sample, etherType }, out), { instanceOf: RangeError });
  t.throws(() => emitEther(sample, new Uint8Array(13)), { instanceOf: RangeError });
  t.throws(() => emitEther(sample, new Uint8Array(20), 7), { instanceOf: RangeError });
});

test('parse gives subarray views (no copies) and the payload', (t) => {
  const bytes = new Uint8Array(20);
  emitEther(sample, bytes);
  bytes.set([1, 2, 3, 4, 5, 6], 14);
  const r = parseEther(bytes);
  t.true(r.ok);
  if (!r.ok) return;
  t.is(r.value.payload.buffer, bytes.buffer);
  t.is(r.value.payload.byteOffset, 14);
  t.deepEqual([...r.value.payload], [1, 2, 3, 4, 5, 6]);
  bytes[0] = 0x99;
  t.is(r.value.dst[0], 0x99);
});

test('parse honours the byteOffset of a subarray', (t) => {
  const big = new Uint8Array(64).fill(0x11);
  emitEther(sample, big, 30);
  const f = EtherFrame.check(big.subarray(30, 50));
  t.true(f.ok);
  if (!f.ok) return;
  t.is(f.value.etherType, 0x86dd);
  t.deepEqual([...f.value.src], [...sample.src]);
  t.is(f.value.payload.length, 6);
});

test('truncated frames (0..13 bytes) are Err(short), never a throw', (t) => {
  for (let n = 0; n < 14; n++) {
    const b = new Uint8Array(n).fill(0xff);
    t.deepEqual(parseEther(b), { ok: false, error: 'short' });
    t.deepEqual(EtherFrame.check(b), { ok: false, error: 'short' });
    // Also as a subarray that has bytes behind it in the same buffer.
    const big = new Uint8Array(64);
    t.deepEqual(parseEther(big.subarray(10, 10 + n)), { ok: false, error: 'short' });
  }
  const r = parseEther(new Uint8Array(14));
  t.true(r.ok);
  if (r.ok) t.is(r.value.payload.length, 0);
});

test('property: emit then parse roundtrips, also at an offset', (t) => {
  holds(
    t,
    fc.property(reprArb, fc.nat(32), fc.uint8Array({ maxLength: 64 }), (repr, off, payload) => {
      const out = new Uint8Array(off + 14 + payload.length).fill(0xff);
      emitEther(repr, out, off);
      out.set(payload, off + 14);
      const r = parseEther(out.subarray(off));
      if (!r.ok) return false;
      const v = r.value;
      return (
        v.etherType === repr.etherType &&
        v.dst.every((x, i) => x === repr.dst[i]) &&
        v.src.every((x, i) => x === repr.src[i]) &&
        v.payload.length === payload.length &&
        v.payload.every((x, i) => x === payload[i]) &&
        out.subarray(0, off).every((x) => x === 0xff)
      );
    }),
  );
});

test('property: emit writes every byte (same result over 0x00 and 0xFF fill)', (t) => {
  holds(
    t,
    fc.property(reprArb, (repr) => {
      const a = new Uint8Array(14).fill(0xff);
      const b = new Uint8Array(14).fill(0x00);
      emitEther(repr, a);
      emitEther(repr, b);
      return a.every((x, i) => x === b[i]);
    }),
  );
});

test('property: parse then emit reproduces the header bytes', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ minLength: 14, maxLength: 80 }), (bytes) => {
      const r = parseEther(bytes);
      if (!r.ok) return false;
      const out = new Uint8Array(14).fill(0xff);
      emitEther(r.value, out);
      return out.every((x, i) => x === bytes[i]);
    }),
  );
});

test('property: garbage input never throws and short ⇔ fewer than 14 bytes', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(8), (raw, cut) => {
      const bytes = raw.subarray(Math.min(cut, raw.length));
      const r = parseEther(bytes);
      if (bytes.length < 14) return !r.ok && r.error === 'short';
      return r.ok && r.value.payload.length === bytes.length - 14;
    }),
    { numRuns: 500 },
  );
});

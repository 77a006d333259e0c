import test from 'ava';
import fc from 'fast-check';
import { bytesEqual, fromHex, getU16, getU32, putU16, putU32, toHex, viewOf } from '../../src/core/bytes.ts';

/** Runs a fast-check property; fast-check throws (with seed and counterexample) on failure. */
function holds(t: { pass(): void }, p: fc.IProperty<any>, params: fc.Parameters<any> = {}): void {
  fc.assert(p, params);
  t.pass();
}

test('putU16/getU16 are big-endian and roundtrip at an offset', (t) => {
  const b = new Uint8Array(5).fill(0xee);
  putU16(b, 1, 0xabcd);
  t.deepEqual([...b], [0xee, 0xab, 0xcd, 0xee, 0xee]);
  t.is(getU16(b, 1), 0xabcd);
  putU16(b, 3, 0xffff);
  t.is(getU16(b, 3), 0xffff);
  putU16(b, 3, 0);
  t.is(getU16(b, 3), 0);
});

test('putU16 keeps only the low 16 bits', (t) => {
  const b = new Uint8Array(2);
  putU16(b, 0, 0x12345);
  t.is(getU16(b, 0), 0x2345);
});

test('putU32/getU32 are big-endian, unsigned, and roundtrip 0xffffffff', (t) => {
  const b = new Uint8Array(6);
  putU32(b, 1, 0x01020304);
  t.deepEqual([...b], [0, 1, 2, 3, 4, 0]);
  t.is(getU32(b, 1), 0x01020304);
  putU32(b, 2, 0xffffffff);
  t.is(getU32(b, 2), 0xffffffff);
  t.true(getU32(b, 2) > 0, 'getU32 must not return a negative int32');
  putU32(b, 0, 0x80000000);
  t.is(getU32(b, 0), 0x80000000);
  putU32(b, 0, -1);
  t.is(getU32(b, 0), 0xffffffff);
});

test('property: getU16/getU32 invert putU16/putU32 and agree with DataView', (t) => {
  holds(
    t,
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 8 }), (v16, v32, off) => {
      const b = new Uint8Array(16);
      putU16(b, off, v16);
      putU32(b, off + 2, v32);
      const dv = new DataView(b.buffer);
      return getU16(b, off) === v16 && getU32(b, off + 2) === v32 && dv.getUint16(off) === v16 && dv.getUint32(off + 2) === v32;
    }),
  );
});

test('viewOf honours the byteOffset and byteLength of a subarray (DESIGN rule 3)', (t) => {
  const whole = new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
  const sub = whole.subarray(3, 6);
  const v = viewOf(sub);
  t.is(v.byteOffset, 3);
  t.is(v.byteLength, 3);
  t.is(v.getUint8(0), 0x44);
  t.is(v.getUint16(1), 0x5566);
  t.throws(() => v.getUint8(3), { instanceOf: RangeError }, 'must not read past the subarray');
  // The bug the rule is about: a bare DataView over .buffer reads from the start.
  t.is(new DataView(sub.buffer).getUint8(0), 0x11);
  // Writes through the view land in the parent at the right place.
  v.setUint8(0, 0xaa);
  t.is(whole[3], 0xaa);
});

test('viewOf over a Node Buffer from the shared pool', (t) => {
  const buf = Buffer.from([1, 2, 3, 4]);
  // Small Buffers usually sit at a non-zero offset in a pooled ArrayBuffer.
  const v = viewOf(buf);
  t.is(v.byteLength, 4);
  t.is(v.getUint32(0), 0x01020304);
});

test('bytesEqual compares ranges at offsets', (t) => {
  const a = fromHex('00 01 02 03 04');
  const b = fromHex('ff 02 03 04');
  t.true(bytesEqual(a, 2, b, 1, 3));
  t.false(bytesEqual(a, 1, b, 1, 3));
  t.true(bytesEqual(a, 0, b, 0, 0), 'zero length is equal');
  // No bounds checks by contract, but running off the end of only one array must not match.
  t.false(bytesEqual(a, 3, fromHex('03 04 05'), 0, 3));
});

test('toHex and fromHex roundtrip, with and without separators', (t) => {
  const b = new Uint8Array([0x00, 0x0f, 0xa0, 0xff]);
  t.is(toHex(b), '000fa0ff');
  t.is(toHex(b, ':'), '00:0f:a0:ff');
  t.is(toHex(new Uint8Array(0)), '');
  t.deepEqual(fromHex('000fa0ff'), b);
  t.deepEqual(fromHex('00:0F:A0:ff'), b);
  t.deepEqual(fromHex('00-0f a0\nff'), b);
  t.deepEqual(fromHex(''), new Uint8Array(0));
});

test('property: fromHex(toHex(x)) === x', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('', ':', ' ', '-'), (x, sep) => {
      const y = fromHex(toHex(x, sep));
      return y.length === x.length && bytesEqual(x, 0, y, 0, x.length);
    }),
  );
});

test('fromHex rejects junk', (t) => {
  for (const s of ['0', 'abc', 'zz', '0x12', '12 g4', '1.2.', '+1']) {
    t.throws(() => fromHex(s), undefined, JSON.stringify(s));
  }
});

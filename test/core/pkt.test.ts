import test from 'ava';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/core/bytes.ts';
import { DEFAULT_HEADROOM, Pkt, PktFlag, isPooled } from '../../src/core/pkt.ts';

/** Runs a fast-check property; fast-check throws (with seed and counterexample) on failure. */
function holds(t: { pass(): void }, p: fc.IProperty<any>, params: fc.Parameters<any> = {}): void {
  fc.assert(p, params);
  t.pass();
}

const hex = (p: Pkt) => toHex(p.data());

test('alloc: zero-filled data with the requested head- and tailroom', (t) => {
  const p = Pkt.alloc(10, 20, 5);
  t.is(p.len, 10);
  t.is(p.off, 20);
  t.is(p.headroom, 20);
  t.is(p.tailroom, 5);
  t.is(p.buf.length, 35);
  t.deepEqual(p.data(), new Uint8Array(10));
  const d = Pkt.alloc(3);
  t.is(d.headroom, DEFAULT_HEADROOM);
  t.is(d.tailroom, 0);
  t.true(DEFAULT_HEADROOM >= 14 + 40, 'room for Ethernet + IPv6 at least');
});

test('alloc: metadata starts empty', (t) => {
  const p = Pkt.alloc(0);
  t.is(p.len, 0);
  t.is(p.rcvif, 0);
  t.is(p.sndif, 0);
  t.is(p.flags, 0);
  t.is(p.llSrc, null);
  t.is(p.llDst, null);
});

test('copyOf copies the bytes, so later changes to the source do not show', (t) => {
  const src = fromHex('01 02 03');
  const p = Pkt.copyOf(src, 8);
  t.is(p.headroom, 8);
  t.is(hex(p), '010203');
  src[0] = 0xff;
  t.is(hex(p), '010203');
  t.is(Pkt.copyOf(src).headroom, DEFAULT_HEADROOM);
});

test('wrap shares the caller\u2019s bytes and has no headroom', (t) => {
  const src = fromHex('aa bb cc');
  const p = Pkt.wrap(src);
  t.is(p.buf, src);
  t.is(p.headroom, 0);
  t.is(p.tailroom, 0);
  src[1] = 0x00;
  t.is(hex(p), 'aa00cc');
});

test('wrap of a subarray sees exactly the subarray', (t) => {
  const whole = fromHex('00 11 22 33 44 55');
  const p = Pkt.wrap(whole.subarray(2, 5));
  t.is(hex(p), '223344');
  const at = p.prepend(2);
  p.buf[at] = 0xde;
  p.buf[at + 1] = 0xad;
  t.is(hex(p), 'dead223344');
  t.is(toHex(whole), '001122334455', 'a grown packet no longer writes into the wrapped bytes');
});

test('data() is a view, not a copy', (t) => {
  const p = Pkt.alloc(4, 4);
  const v = p.data();
  t.is(v.buffer, p.buf.buffer);
  t.is(v.byteOffset, p.buf.byteOffset + 4);
  v[0] = 0x42;
  t.is(p.buf[4], 0x42);
  p.buf[7] = 0x43;
  t.is(p.data()[3], 0x43);
});

test('prepend within the headroom writes in place without reallocating', (t) => {
  const p = Pkt.copyOf(fromHex('cafe'), 16);
  const buf = p.buf;
  const before = Pkt.reallocs;
  const at = p.prepend(14);
  t.is(at, 2);
  t.is(p.off, 2);
  t.is(p.len, 16);
  t.is(p.buf, buf, 'same backing buffer');
  t.is(Pkt.reallocs, before, 'no reallocation');
  p.buf.fill(0x11, at, at + 14);
  t.is(hex(p), '11'.repeat(14) + 'cafe');
  t.is(p.prepend(2), 0);
  t.is(p.headroom, 0);
  t.is(p.prepend(0), 0, 'prepend(0) with no headroom is a no-op');
  t.is(Pkt.reallocs, before);
});

test('prepend past the headroom reallocates once, keeps the data, and leaves headroom', (t) => {
  const p = Pkt.copyOf(fromHex('01 02 03 04 05'), 4);
  p.append(0); // no-op
  const old = p.buf;
  const before = Pkt.reallocs;
  const at = p.prepend(10);
  t.is(Pkt.reallocs, before + 1, 'exactly one reallocation');
  t.not(p.buf, old);
  t.is(p.len, 15);
  t.is(at, p.off);
  t.true(p.headroom >= DEFAULT_HEADROOM, `headroom again (${p.headroom})`);
  t.is(toHex(p.data().subarray(10)), '0102030405', 'data preserved after the new front');
  t.deepEqual(p.data().subarray(0, 10), new Uint8Array(10), 'new front bytes are zero');
  // The next ordinary prepend fits again.
  p.prepend(40);
  t.is(Pkt.reallocs, before + 1);
  t.is(toHex(p.data().subarray(50)), '0102030405');
});

test('append uses the tailroom without reallocating, then grows when it runs out', (t) => {
  const p = Pkt.alloc(2, 8, 4);
  p.buf.set([0xaa, 0xbb], p.off);
  const buf = p.buf;
  const before = Pkt.reallocs;
  const at = p.append(3);
  t.is(at, 10);
  t.is(p.len, 5);
  t.is(p.tailroom, 1);
  t.is(p.buf, buf);
  t.is(Pkt.reallocs, before);
  p.buf.set([1, 2, 3], at);
  const at2 = p.append(6);
  t.is(Pkt.reallocs, before + 1);
  t.is(p.len, 11);
  t.is(at2, p.off + 5);
  t.is(p.headroom, 8, 'headroom kept by a tail grow');
  t.true(p.tailroom >= 0);
  t.is(hex(p), 'aabb010203' + '000000000000');
  t.is(p.buf.length, p.off + p.len + p.tailroom);
});

test('adj and trimTo shorten the packet and return false past the bounds, without throwing', (t) => {
  const p = Pkt.copyOf(fromHex('00 01 02 03 04 05 06 07'), 4);
  t.true(p.adj(2));
  t.is(p.headroom, 6);
  t.is(hex(p), '020304050607');
  t.false(p.adj(7));
  t.false(p.adj(-1));
  t.is(hex(p), '020304050607', 'unchanged after a refused adj');
  t.true(p.trimTo(4));
  t.is(hex(p), '02030405');
  t.is(p.tailroom, 2);
  t.false(p.trimTo(5));
  t.false(p.trimTo(-1));
  t.is(hex(p), '02030405');
  t.true(p.adj(4), 'adj of the whole packet');
  t.is(p.len, 0);
  t.true(p.adj(0));
  t.true(p.trimTo(0));
  t.false(p.adj(1));
});

test('adj frees headroom that a later prepend reuses in place', (t) => {
  const p = Pkt.wrap(fromHex('60 00 00 00 ab cd'));
  t.true(p.adj(4));
  const before = Pkt.reallocs;
  const at = p.prepend(4);
  t.is(at, 0);
  t.is(Pkt.reallocs, before);
  t.is(hex(p), '60000000abcd', 'm_adj then M_PREPEND gives the old bytes back');
});

test('clone is deep: data, headroom and metadata', (t) => {
  const p = Pkt.copyOf(fromHex('01 02 03'), 6);
  p.rcvif = 3;
  p.sndif = 4;
  p.flags = PktFlag.MCAST | PktFlag.LOOP;
  p.llSrc = fromHex('02 00 00 00 00 01');
  p.llDst = fromHex('33 33 00 00 00 01');
  const q = p.clone();
  t.not(q, p);
  t.not(q.buf, p.buf);
  t.not(q.buf.buffer, p.buf.buffer);
  t.is(q.off, 6);
  t.is(q.len, 3);
  t.is(q.headroom, p.headroom);
  t.is(q.tailroom, p.tailroom);
  t.is(q.rcvif, 3);
  t.is(q.sndif, 4);
  t.is(q.flags, PktFlag.MCAST | PktFlag.LOOP);
  t.deepEqual(q.llSrc, p.llSrc);
  t.deepEqual(q.llDst, p.llDst);
  t.not(q.llSrc, p.llSrc);
  t.not(q.llDst, p.llDst);
  // Mutating either side does not affect the other.
  q.data()[0] = 0xff;
  p.llSrc[0] = 0xee;
  q.llDst![0] = 0xdd;
  q.flags = 0;
  t.is(hex(p), '010203');
  t.is(q.llSrc![0], 0x02);
  t.is(p.llDst[0], 0x33);
  t.is(p.flags, PktFlag.MCAST | PktFlag.LOOP);
  // Prepending on the clone does not touch the original.
  q.prepend(2);
  t.is(p.len, 3);
});

test('clone keeps null link-layer addresses null', (t) => {
  const q = Pkt.alloc(1).clone();
  t.is(q.llSrc, null);
  t.is(q.llDst, null);
});

test('PktFlag values are distinct single bits', (t) => {
  const vals = Object.values(PktFlag);
  let all = 0;
  for (const v of vals) {
    t.is(v & (v - 1), 0, `${v} is a power of two`);
    t.is(all & v, 0, `${v} is not reused`);
    all |= v;
  }
});

test('bad arguments throw RangeError', (t) => {
  const bad = [-1, 1.5, NaN, Infinity];
  for (const n of bad) {
    t.throws(() => Pkt.alloc(n), { instanceOf: RangeError }, `alloc(${n})`);
    t.throws(() => Pkt.alloc(1, n), { instanceOf: RangeError }, `alloc headroom ${n}`);
    t.throws(() => Pkt.alloc(1, 0, n), { instanceOf: RangeError }, `alloc tailroom ${n}`);
    t.throws(() => Pkt.copyOf(new Uint8Array(1), n), { instanceOf: RangeError }, `copyOf headroom ${n}`);
    const p = Pkt.alloc(4, 4, 4);
    t.throws(() => p.prepend(n), { instanceOf: RangeError }, `prepend(${n})`);
    t.throws(() => p.append(n), { instanceOf: RangeError }, `append(${n})`);
    t.is(p.off, 4);
    t.is(p.len, 4);
  }
});

test('non-integer adj/trimTo amounts are programmer errors, not bounds: RangeError, packet untouched', (t) => {
  for (const n of [NaN, 1.5, -0.5, Infinity]) {
    const p = Pkt.alloc(4, 4);
    t.throws(() => p.adj(n), { instanceOf: RangeError }, `adj(${n})`);
    t.throws(() => p.trimTo(n), { instanceOf: RangeError }, `trimTo(${n})`);
    t.is(p.off, 4);
    t.is(p.len, 4);
  }
});

type Op = { k: 'prepend' | 'append' | 'adj' | 'trim'; n: number; fill: number };

test('property: a random sequence of operations matches a plain array model', (t) => {
  const op = fc.record({
    k: fc.constantFrom<Op['k']>('prepend', 'append', 'adj', 'trim'),
    n: fc.nat({ max: 200 }),
    fill: fc.integer({ min: 1, max: 255 }),
  });
  holds(
    t,
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 64 }), fc.nat({ max: 16 }), fc.array(op, { maxLength: 30 }), (init, head, tail, ops) => {
      const p = Pkt.alloc(init.length, head, tail);
      p.buf.set(init, p.off);
      let model = [...init];
      for (const o of ops) {
        switch (o.k) {
          case 'prepend': {
            const at = p.prepend(o.n);
            p.buf.fill(o.fill, at, at + o.n);
            model = [...new Array<number>(o.n).fill(o.fill), ...model];
            break;
          }
          case 'append': {
            const at = p.append(o.n);
            p.buf.fill(o.fill, at, at + o.n);
            model = [...model, ...new Array<number>(o.n).fill(o.fill)];
            break;
          }
          case 'adj': {
            const okModel = o.n <= model.length;
            if (p.adj(o.n) !== okModel) return false;
            if (okModel) model = model.slice(o.n);
            break;
          }
          case 'trim': {
            const okModel = o.n <= model.length;
            if (p.trimTo(o.n) !== okModel) return false;
            if (okModel) model = model.slice(0, o.n);
            break;
          }
        }
        if (p.off < 0 || p.off + p.len > p.buf.length || p.headroom + p.len + p.tailroom !== p.buf.length) return false;
      }
      const d = p.data();
      return d.length === model.length && d.every((x, i) => x === model[i]);
    }),
  );
});

test('pool: packets cut from one chunk never share bytes, start zeroed, and a prepend stays inside the packet', (t) => {
  const a = Pkt.alloc(100, 16);
  const b = Pkt.alloc(100, 16);
  t.true(isPooled(a.buf) && isPooled(b.buf));
  a.buf.fill(0xaa);
  t.true(b.buf.every((x) => x === 0), 'b is untouched and zero-filled');
  // Growing past the headroom reallocates this packet only.
  const off = a.prepend(200);
  a.buf.fill(0xbb, off, off + 200);
  t.true(b.buf.every((x) => x === 0));
  t.false(isPooled(Pkt.alloc(64 * 1024).buf), 'large packets get a buffer of their own');
});

test('adopt of a view into a pool chunk copies: the bytes around it belong to other packets', (t) => {
  const a = Pkt.alloc(60, 32);
  const neighbour = Pkt.alloc(60, 32);
  a.data().fill(7);
  const adopted = Pkt.adopt(a.data());
  t.deepEqual([...adopted.data()], [...a.data()]);
  const at = adopted.prepend(adopted.headroom); // use all the headroom it got
  adopted.buf.fill(0xcc, at, at + 10);
  t.true(neighbour.buf.every((x) => x === 0));
  t.true(a.buf.subarray(0, 32).every((x) => x === 0), 'the original packet’s headroom is untouched');
});

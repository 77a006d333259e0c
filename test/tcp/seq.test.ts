/**
 * Sequence arithmetic (RFC 9293 §3.4): comparisons by the sign of the 32-bit
 * difference, so they keep working across the wrap at 2^32.
 */
import test from 'ava';
import fc from 'fast-check';
import { seqAdd, seqDiff, seqGeq, seqGt, seqInWindow, seqLeq, seqLt, seqMax, seqMin } from '../../src/tcp/seq.ts';

const u32 = fc.nat({ max: 0xffff_ffff });
/** A distance that keeps two numbers comparable: |d| < 2^31. */
const dist = fc.integer({ min: -0x7fff_ffff, max: 0x7fff_ffff });

test('wraparound examples', (t) => {
  t.true(seqLt(0xffff_fff0, 0x10));
  t.true(seqGt(0x10, 0xffff_fff0));
  t.is(seqAdd(0xffff_ffff, 1), 0);
  t.is(seqAdd(0, -1), 0xffff_ffff);
  t.is(seqDiff(0, 0xffff_ffff), 1);
  t.is(seqDiff(0xffff_ffff, 0), -1);
  t.is(seqMax(0xffff_fff0, 0x10), 0x10);
  t.is(seqMin(0xffff_fff0, 0x10), 0xffff_fff0);
  t.true(seqInWindow(0x5, 0xffff_fffe, 8));
  t.false(seqInWindow(0x6, 0xffff_fffe, 8));
  t.false(seqInWindow(0xffff_fffd, 0xffff_fffe, 8));
  t.false(seqInWindow(7, 7, 0), 'an empty window holds nothing');
});

test('seqAdd then seqDiff gives the distance back, and the order follows its sign', (t) => {
  fc.assert(
    fc.property(u32, dist, (a, d) => {
      const b = seqAdd(a, d);
      return (
        b >= 0 &&
        b <= 0xffff_ffff &&
        seqDiff(b, a) === d &&
        seqLt(a, b) === d > 0 &&
        seqGt(a, b) === d < 0 &&
        seqLeq(a, b) === d >= 0 &&
        seqGeq(a, b) === d <= 0
      );
    }),
  );
  t.pass();
});

test('exactly one of <, =, > holds, and the relations are antisymmetric', (t) => {
  fc.assert(
    fc.property(u32, dist, (a, d) => {
      const b = seqAdd(a, d);
      const n = Number(seqLt(a, b)) + Number(a === b) + Number(seqGt(a, b));
      return n === 1 && seqLt(a, b) === seqGt(b, a) && seqLeq(a, b) === seqGeq(b, a);
    }),
  );
  t.pass();
});

test('max and min pick by sequence order', (t) => {
  fc.assert(
    fc.property(u32, dist, (a, d) => {
      const b = seqAdd(a, d);
      return seqMax(a, b) === (d >= 0 ? b : a) && seqMin(a, b) === (d >= 0 ? a : b);
    }),
  );
  t.pass();
});

test('seqInWindow(x, lo, len) is 0 ≤ x − lo < len', (t) => {
  fc.assert(
    fc.property(u32, fc.nat({ max: 0x8000_0000 }), fc.nat({ max: 0xffff_ffff }), (lo, len, off) => {
      const x = seqAdd(lo, off);
      return seqInWindow(x, lo, len) === off < len;
    }),
  );
  t.pass();
});

/**
 * The anti-replay window (RFC 4303 §3.4.3) and ESN inference (Appendix
 * A2.2): fixed cases at the edges, then a model check — any sequence of
 * arrivals gives the same verdicts as a plain set of accepted numbers with
 * the window rule, for window sizes up to 4,096 and beyond.
 */
import test from 'ava';
import fc from 'fast-check';
import { MAX_REPLAY_WINDOW, REPLAY_DUP, REPLAY_OLD, ReplayWindow } from '../../src/ipsec/replay.ts';

const TWO32 = 2 ** 32;

/** check then update, as a receiver does after the ICV verified. */
function accept(w: ReplayWindow, seqLow: number): number {
  const s = w.check(seqLow);
  if (s > 0) w.update(s);
  return s;
}

test('in order, duplicates and the left edge of a 64-packet window', (t) => {
  const w = new ReplayWindow(64, false);
  t.is(w.verdict(0), 'tooOld', 'sequence number 0 is never valid');
  for (let i = 1; i <= 100; i++) t.is(accept(w, i), i);
  t.is(w.top, 100);
  t.is(w.check(100), REPLAY_DUP);
  t.is(w.check(37), REPLAY_DUP, '37 is the last number inside the window (100 - 64 + 1) and was seen');
  t.is(w.check(36), REPLAY_OLD);
  t.is(w.check(101), 101);
});

test('out-of-order arrivals inside the window are accepted once', (t) => {
  const w = new ReplayWindow(32, false);
  t.is(accept(w, 10), 10);
  t.is(w.verdict(5), 'ok');
  t.is(accept(w, 5), 5);
  t.is(w.verdict(5), 'replay');
  t.is(accept(w, 40), 40);
  t.is(w.verdict(9), 'ok', 'inside 9..40');
  t.is(w.verdict(8), 'tooOld');
  t.is(w.verdict(10), 'replay');
});

test('check alone never moves the window (the ICV may still fail)', (t) => {
  const w = new ReplayWindow(64, false);
  accept(w, 5);
  for (let i = 0; i < 3; i++) t.is(w.check(1000), 1000);
  t.is(w.top, 5);
  t.is(w.verdict(4), 'ok');
});

test('a jump of more than the ring clears every stale bit', (t) => {
  const w = new ReplayWindow(4096, false);
  for (let i = 1; i <= 4096; i++) accept(w, i);
  accept(w, 100_000);
  for (let s = 100_000 - 4095; s < 100_000; s++) if (w.check(s) !== s) return t.fail(`seq ${s}`);
  t.is(w.check(100_000 - 4096), REPLAY_OLD);
  t.pass();
});

test('window size 0 disables replay protection (without ESN)', (t) => {
  const w = new ReplayWindow(0, false);
  accept(w, 10);
  t.is(w.check(10), 10);
  t.is(w.check(1), 1);
  t.is(w.check(0), REPLAY_OLD);
  t.throws(() => new ReplayWindow(0, true));
  t.throws(() => new ReplayWindow(MAX_REPLAY_WINDOW + 1, false));
  t.notThrows(() => new ReplayWindow(MAX_REPLAY_WINDOW, true));
});

test('ESN: crossing 2^32 infers the high half, in order and reordered (Appendix A2.2)', (t) => {
  const w = new ReplayWindow(64, true, TWO32 - 10);
  for (let s = TWO32 - 9; s <= TWO32 + 5; s++) if (accept(w, s >>> 0) !== s) return t.fail(`seq ${s}`);
  t.is(w.top, TWO32 + 5);
  // Case B: the window spans the boundary; low numbers near 2^32 belong to the previous subspace.
  t.is(w.check(0xffff_fffc), REPLAY_DUP, '2^32 - 4 was seen');
  // 2^32 - 64 is left of the window, and so its low half reads as 2^33 - 64: far ahead (A2.2), for the ICV to refuse.
  t.is(w.check(0xffff_ffc0), 2 * TWO32 - 64);
  t.is(w.check(6), TWO32 + 6);
  t.is(w.check(0), REPLAY_DUP, '2^32 itself was seen (its low half is 0)');
  // Reordering across the boundary: 2^32 + 20 first, then 2^32 - 1 ... late.
  const r = new ReplayWindow(128, true, TWO32 - 50);
  t.is(accept(r, 20), TWO32 + 20);
  t.is(accept(r, 0xffff_ffff), TWO32 - 1);
  t.is(r.check(0xffff_ffff), REPLAY_DUP);
  t.is(r.check(0xffff_ffc0), TWO32 - 64);
});

test('ESN: case A guesses the next subspace for numbers below the window', (t) => {
  const w = new ReplayWindow(64, true, 5 * TWO32 + 1000);
  t.is(w.check(2000), 5 * TWO32 + 2000);
  t.is(w.check(990), 5 * TWO32 + 990, 'inside the window');
  t.is(w.check(100), 6 * TWO32 + 100, 'below the window: the next subspace (the ICV will tell)');
  const fresh = new ReplayWindow(64, true);
  t.is(fresh.check(0xffff_fff0), REPLAY_OLD, 'nothing exists below subspace 0');
  t.is(fresh.check(1), 1);
});

test('without ESN a full 32-bit counter ends the space', (t) => {
  const w = new ReplayWindow(64, false, 0xffff_fff0);
  t.is(accept(w, 0xffff_ffff), 0xffff_ffff);
  t.is(w.check(1), REPLAY_OLD, 'no wrap-around without ESN');
});

/** The model: accepted numbers in a Set; the window rule applied directly. */
function model(size: number) {
  const seen = new Set<number>();
  let top = 0;
  return {
    offer(seq: number): 'ok' | 'replay' | 'tooOld' {
      if (seq === 0) return 'tooOld';
      if (seq > top) {
        top = seq;
        seen.add(seq);
        return 'ok';
      }
      if (top - seq >= size) return 'tooOld';
      if (seen.has(seq)) return 'replay';
      seen.add(seq);
      return 'ok';
    },
  };
}

test('model check: verdicts equal a set-based model for random arrivals and sizes up to 4,096+', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4200 }),
      fc.array(fc.integer({ min: 0, max: 12_000 }), { minLength: 1, maxLength: 400 }),
      (size, arrivals) => {
        const w = new ReplayWindow(size, false);
        const m = model(size);
        for (const s of arrivals) {
          const want = m.offer(s);
          const got = w.verdict(s);
          if (got !== want) return false;
          if (got === 'ok') w.update(w.check(s));
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('model check across 2^32 with ESN: full numbers from a base near the boundary', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 32, max: 1024 }),
      fc.array(fc.integer({ min: -40, max: 3000 }), { minLength: 1, maxLength: 300 }),
      (size, steps) => {
        const base = TWO32 - 1500;
        const w = new ReplayWindow(size, true, base);
        // Arrivals stay within size/2 of the highest so far, so inference is unambiguous.
        let hi = base;
        const seen = new Set<number>();
        for (const d of steps) {
          const seq = Math.max(base + 1, hi + Math.max(d % 64, -Math.floor(size / 2)));
          const r = w.check(seq % TWO32);
          if (seen.has(seq)) {
            if (r !== REPLAY_DUP) return false;
            continue;
          }
          if (hi - seq >= size) {
            if (r !== REPLAY_OLD) return false;
            continue;
          }
          if (r !== seq) return false;
          w.update(r);
          seen.add(seq);
          hi = Math.max(hi, seq);
        }
        return true;
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

/**
 * RFC 6298 RTO estimation: first and later samples, clamps, backoff.
 */
import test from 'ava';
import { RttEstimator } from '../../src/tcp/rtt.ts';

test('before any sample RTO is 1 s (§2.1)', (t) => {
  const r = new RttEstimator();
  t.is(r.rto, 1000);
  t.is(r.srtt, undefined);
  t.is(r.rttvar, undefined);
});

test('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR (§2.2)', (t) => {
  const r = new RttEstimator({ minRto: 200 });
  r.sample(100);
  t.is(r.srtt, 100);
  t.is(r.rttvar, 50);
  t.is(r.rto, 300);
});

test('later samples: α = 1/8, β = 1/4, RTTVAR from the old SRTT (§2.3)', (t) => {
  const r = new RttEstimator({ minRto: 200 });
  r.sample(100);
  r.sample(200);
  t.is(r.rttvar, 0.75 * 50 + 0.25 * 100); // 62.5
  t.is(r.srtt, 0.875 * 100 + 0.125 * 200); // 112.5
  t.is(r.rto, 112.5 + 4 * 62.5); // 362.5
  r.sample(50);
  t.is(r.rttvar, 0.75 * 62.5 + 0.25 * 62.5); // 62.5
  t.is(r.srtt, 0.875 * 112.5 + 0.125 * 50); // 104.6875
  t.is(r.rto, 104.6875 + 250);
});

test('the clock granularity G bounds the variance term', (t) => {
  const r = new RttEstimator({ minRto: 1, granularity: 10 });
  r.sample(100);
  for (let i = 0; i < 100; i++) r.sample(100);
  t.true(r.rttvar! < 1);
  t.is(r.rto, 110);
});

test('RTO is clamped to minRto (default 1 s, 200 ms allowed) and maxRto (§2.4, §2.5)', (t) => {
  const def = new RttEstimator();
  def.sample(10);
  t.is(def.rto, 1000);
  const linux = new RttEstimator({ minRto: 200 });
  linux.sample(10);
  t.is(linux.rto, 200);
  const big = new RttEstimator({ maxRto: 60_000 });
  big.sample(50_000);
  t.is(big.rto, 60_000);
  t.throws(() => new RttEstimator({ minRto: 5000, maxRto: 1000 }), { instanceOf: RangeError });
  t.throws(() => def.sample(-1), { instanceOf: RangeError });
  t.throws(() => def.sample(Number.NaN), { instanceOf: RangeError });
});

test('backoff doubles RTO up to maxRto (§5.5); a new sample ends it', (t) => {
  const r = new RttEstimator({ maxRto: 120_000 });
  r.sample(100); // RTO 1000 after the clamp
  const seen: number[] = [];
  for (let i = 0; i < 9; i++) {
    r.backoff();
    seen.push(r.rto);
  }
  t.deepEqual(seen, [2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000]);
  t.is(r.backoffs, 9);
  r.sample(100);
  t.is(r.backoffs, 0);
  t.is(r.rto, 1000);
});

test('reset forgets the samples; reset(3000) for a timed-out handshake (§5.7)', (t) => {
  const r = new RttEstimator({ minRto: 200 });
  r.sample(100);
  r.backoff();
  r.reset(3000);
  t.is(r.srtt, undefined);
  t.is(r.rto, 3000);
  t.is(r.backoffs, 0);
  r.reset();
  t.is(r.rto, 1000);
});

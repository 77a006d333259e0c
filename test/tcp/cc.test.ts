/**
 * Congestion control: NewReno (RFC 5681, RFC 3465) and CUBIC (RFC 9438),
 * driven by a small ACK-clock simulation on a virtual time line.
 */
import test from 'ava';
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic, NewReno, createCc, initialWindow, type CongestionControl, type CubicRegion } from '../../src/tcp/cc.ts';

const SMSS = 1000;

/**
 * One round trip of ACKs: a window's worth of SMSS-sized ACKs spread evenly
 * over `rttMs`, starting at `now`. Returns the time at the end.
 */
function round(cc: CongestionControl, now: number, rttMs: number, seen?: CubicRegion[]): number {
  const acks = Math.max(1, Math.floor(cc.cwnd / cc.smss));
  for (let i = 0; i < acks; i++) {
    cc.onAck(cc.smss, rttMs, now + (i * rttMs) / acks, false);
    if (seen && cc instanceof Cubic) seen.push(cc.region);
  }
  return now + rttMs;
}

test('initial window per RFC 6928: min(10·MSS, max(2·MSS, 14600))', (t) => {
  t.is(initialWindow(1460), 14600);
  t.is(initialWindow(1220), 12200);
  t.is(initialWindow(536), 5360);
  t.is(initialWindow(8940), 17880);
  t.is(new NewReno(1440).cwnd, 14400);
  t.is(new Cubic(1440).cwnd, 14400);
  t.is(new NewReno(1440).ssthresh, Infinity);
});

test('createCc by name', (t) => {
  t.is(createCc('cubic', 1200).name, 'cubic');
  t.is(createCc('newreno', 1200).name, 'newreno');
  t.is(createCc('cubic', 1200).smss, 1200);
});

test('NewReno slow start: doubles per round; at most 2·SMSS per ACK (RFC 3465 L)', (t) => {
  const cc = new NewReno(SMSS);
  const w0 = cc.cwnd;
  round(cc, 0, 100);
  t.is(cc.cwnd, 2 * w0);
  const before = cc.cwnd;
  cc.onAck(10 * SMSS, 100, 0, false);
  t.is(cc.cwnd, before + 2 * SMSS, 'a stretch ACK counts for at most L = 2 SMSS');
  cc.onAck(300, 100, 0, false);
  t.is(cc.cwnd, before + 2 * SMSS + 300, 'bytes, not ACKs, are counted');
});

test('NewReno congestion avoidance: one SMSS per window of bytes acknowledged', (t) => {
  const cc = new NewReno(SMSS);
  cc.cwnd = 20 * SMSS;
  cc.ssthresh = 20 * SMSS;
  let now = 0;
  for (let r = 0; r < 5; r++) now = round(cc, now, 100);
  t.is(cc.cwnd, 25 * SMSS);
  // Many small ACKs add up the same way.
  for (let i = 0; i < 25 * 4; i++) cc.onAck(SMSS / 4, 100, now, false);
  t.is(cc.cwnd, 26 * SMSS);
});

test('NewReno halves on loss (ssthresh = max(FlightSize/2, 2·SMSS)) and holds during recovery', (t) => {
  const cc = new NewReno(SMSS);
  cc.cwnd = 40 * SMSS;
  cc.onEnterRecovery(0, 40 * SMSS);
  t.is(cc.ssthresh, 20 * SMSS);
  t.is(cc.cwnd, 20 * SMSS);
  cc.onAck(5 * SMSS, 100, 0, true);
  t.is(cc.cwnd, 20 * SMSS, 'no growth in recovery');
  cc.cwnd = 23 * SMSS; // the engine's NewReno inflation
  cc.onExitRecovery();
  t.is(cc.cwnd, 20 * SMSS, 'deflated to ssthresh');
  cc.onEnterRecovery(0, 3 * SMSS);
  t.is(cc.ssthresh, 2 * SMSS, 'never below 2·SMSS');
});

test('NewReno RTO: cwnd = 1 SMSS, and slow start after it counts L = 1 SMSS', (t) => {
  const cc = new NewReno(SMSS);
  cc.cwnd = 40 * SMSS;
  cc.onRto(30 * SMSS);
  t.is(cc.ssthresh, 15 * SMSS);
  t.is(cc.cwnd, SMSS);
  cc.onAck(5 * SMSS, 100, 0, false);
  t.is(cc.cwnd, 2 * SMSS);
  let now = 0;
  while (cc.cwnd < cc.ssthresh) now = round(cc, now, 100);
  cc.onAck(10 * SMSS, 100, now, false);
  t.true(cc.cwnd <= 16 * SMSS, 'L = 1 ends with slow start; CA growth is slow anyway');
});

/** A CUBIC flow that lost a packet at W_max segments, now in congestion avoidance. */
function afterLoss(wMaxSeg: number, opts: { fastConvergence?: boolean } = {}): Cubic {
  const cc = new Cubic(SMSS, opts);
  cc.cwnd = wMaxSeg * SMSS;
  cc.onEnterRecovery(0, wMaxSeg * SMSS);
  cc.onExitRecovery();
  return cc;
}

test('CUBIC: the window after a loss is β·W_max, and K = ∛(W_max(1 − β)/C)', (t) => {
  const cc = afterLoss(100);
  t.is(cc.wMax, 100 * SMSS);
  t.is(cc.cwnd, CUBIC_BETA * 100 * SMSS);
  t.is(cc.ssthresh, CUBIC_BETA * 100 * SMSS);
  cc.onAck(SMSS, 100, 0, false);
  t.true(Math.abs(cc.k - Math.cbrt((100 * (1 - CUBIC_BETA)) / CUBIC_C)) < 1e-9);
  t.true(Math.abs(cc.k - 4.2172) < 1e-3);
  t.true(Math.abs(cc.wCubic(cc.k) - 100 * SMSS) < 1e-6, 'W_cubic(K) = W_max');
  t.true(Math.abs(cc.wCubic(0) - 70 * SMSS) < 1e-6, 'W_cubic(0) = cwnd_epoch');
});

test('CUBIC: concave growth up to W_max, a plateau near it at t = K, convex beyond', (t) => {
  // A large window at 100 ms: the cubic curve is well above what Reno would do.
  const W = 1000;
  const cc = afterLoss(W);
  const rtt = 100;
  let now = 0;
  const samples: { t: number; w: number }[] = [];
  const regions: CubicRegion[] = [];
  while (now < 16_000) {
    now = round(cc, now, rtt, regions);
    samples.push({ t: now / 1000, w: cc.cwnd / SMSS });
  }
  const at = (sec: number) => samples.find((s) => s.t >= sec)!.w;
  const k = cc.k;
  t.true(Math.abs(k - 9.0856) < 1e-3);
  // Growth per second shrinks on the way up to W_max ...
  const d1 = at(2) - at(1);
  const d2 = at(4) - at(3);
  const d3 = at(6) - at(5);
  t.true(d1 > d2 && d2 > d3, `concave: ${d1} ${d2} ${d3}`);
  t.true(at(k - 1) < W, 'still below W_max a second before K');
  t.true(Math.abs(at(k) - W) < 3, `at K the window is near W_max: ${at(k)}`);
  // ... and grows faster and faster beyond it.
  const e1 = at(k + 2) - at(k + 1);
  const e2 = at(k + 4) - at(k + 3);
  const e3 = at(k + 6) - at(k + 5);
  t.true(e1 < e2 && e2 < e3, `convex: ${e1} ${e2} ${e3}`);
  t.true(regions.includes('concave') && regions.includes('convex'));
  t.true(regions.indexOf('convex') > regions.lastIndexOf('concave'), 'concave first, then convex');
  t.false(regions.slice(10).includes('renoFriendly'));
  // The window tracks the curve, a round trip ahead, within a few segments.
  for (const s of samples.filter((s) => s.t > 1)) {
    const ahead = cc.wCubic(s.t + rtt / 1000) / SMSS;
    t.true(s.w <= ahead + 1 && s.w >= cc.wCubic(s.t - rtt / 1000) / SMSS - 1, `t=${s.t}: ${s.w} vs ${ahead}`);
  }
});

test('CUBIC: past W_max at a moderate RTT, Reno (α = 1) can overtake the curve', (t) => {
  const cc = afterLoss(100);
  let now = 0;
  while (now < 7000) now = round(cc, now, 100);
  t.true(cc.wEst >= 100 * SMSS);
  t.is(cc.region, 'renoFriendly');
  t.true(cc.wCubic(now / 1000) < cc.wEst);
});

test('CUBIC: growth per ACK never takes the target beyond 1.5·cwnd', (t) => {
  const cc = afterLoss(100);
  cc.onAck(SMSS, 100, 0, false);
  const w = cc.cwnd;
  cc.onAck(w, 100_000, 60_000, false); // a huge RTT and a minute later: target clamped
  t.true(cc.cwnd <= 1.5 * w + 1);
});

test('CUBIC: Reno-friendly region when the RTT is short', (t) => {
  const cc = afterLoss(100);
  const rtt = 1;
  let now = 0;
  const regions: CubicRegion[] = [];
  for (let r = 0; r < 20; r++) now = round(cc, now, rtt, regions);
  t.true(regions.slice(5).every((x) => x === 'renoFriendly'), 'W_est dominates a slow cubic curve');
  t.is(cc.cwnd, Math.floor(cc.wEst));
  // α_cubic·SMSS per round trip, as Reno with β = 0.7 would grow.
  const perRound = (cc.cwnd - 70 * SMSS) / 20;
  t.true(Math.abs(perRound - CUBIC_ALPHA * SMSS) < 0.05 * SMSS, `${perRound}`);
  // Once W_est reaches the window before the loss, α becomes 1.
  while (cc.cwnd < 100 * SMSS) now = round(cc, now, rtt);
  const before = cc.cwnd;
  for (let r = 0; r < 10; r++) now = round(cc, now, rtt);
  t.true(Math.abs((cc.cwnd - before) / 10 - SMSS) < 0.05 * SMSS);
});

test('CUBIC: with a long RTT the cubic curve, not W_est, sets the window', (t) => {
  const cc = afterLoss(100);
  let now = 0;
  const regions: CubicRegion[] = [];
  for (let r = 0; r < 20; r++) now = round(cc, now, 200, regions); // 4 s < K ≈ 4.2 s
  t.true(regions.slice(5).every((x) => x === 'concave'));
  t.true(cc.cwnd > cc.wEst);
});

test('CUBIC fast convergence: a loss below the previous W_max remembers less', (t) => {
  const cc = afterLoss(100);
  cc.onEnterRecovery(0, 70 * SMSS);
  t.is(cc.wMax, (70 * SMSS * (1 + CUBIC_BETA)) / 2);
  t.is(cc.cwnd, Math.floor(0.7 * 70 * SMSS));
  const off = afterLoss(100, { fastConvergence: false });
  off.onEnterRecovery(0, 70 * SMSS);
  t.is(off.wMax, 70 * SMSS);
  // A loss above the old W_max just records the new one.
  const up = afterLoss(100);
  up.cwnd = 120 * SMSS;
  up.onEnterRecovery(0, 120 * SMSS);
  t.is(up.wMax, 120 * SMSS);
});

test('CUBIC: the first stage after slow start or an RTO starts with K = 0 and W_max = cwnd', (t) => {
  const cc = new Cubic(SMSS);
  cc.ssthresh = 20 * SMSS;
  let now = 0;
  while (cc.cwnd < cc.ssthresh) now = round(cc, now, 100);
  t.is(cc.region, 'slowStart');
  const w = cc.cwnd;
  cc.onAck(SMSS, 100, now, false);
  t.is(cc.k, 0);
  t.is(cc.wMax, w);
  cc.onRto(50 * SMSS);
  t.is(cc.cwnd, SMSS);
  t.is(cc.ssthresh, 35 * SMSS);
  t.is(cc.wMax, undefined);
  cc.onAck(5 * SMSS, 100, now, false);
  t.is(cc.cwnd, 2 * SMSS, 'L = 1 SMSS in the slow start after an RTO');
});

test('CUBIC holds its window during recovery and ignores empty ACKs', (t) => {
  const cc = afterLoss(100);
  const w = cc.cwnd;
  cc.onAck(10 * SMSS, 100, 1000, true);
  cc.onAck(0, 100, 1000, false);
  t.is(cc.cwnd, w);
});

test('setMss (Packet Too Big): NewReno keeps cwnd and ssthresh in segments', (t) => {
  const cc = new NewReno(1440);
  t.is(cc.cwnd, 14400);
  cc.setMss(1220);
  t.is(cc.smss, 1220);
  t.is(cc.cwnd, 12200, 'ten segments still');
  t.is(cc.ssthresh, Infinity);
  cc.onEnterRecovery(0, 12200);
  cc.onExitRecovery();
  t.is(cc.ssthresh, 6100);
  cc.setMss(610);
  t.deepEqual([cc.cwnd, cc.ssthresh], [3050, 3050], 'five segments of 610');
  // Growth is per SMSS of the new size.
  cc.onAck(610, 10, 0, false);
  t.true(cc.cwnd <= 3050 + 610);
});

test('setMss (Packet Too Big): CUBIC continues in segments as if it had run at the new size', (t) => {
  const big = new Cubic(1440);
  const small = new Cubic(1220);
  let now = 0;
  // The same history in segments: slow start, a loss, some congestion avoidance.
  for (let r = 0; r < 4; r++) {
    for (const [cc, m] of [[big, 1440], [small, 1220]] as const) {
      const n = Math.floor(cc.cwnd / m);
      for (let i = 0; i < n; i++) cc.onAck(m, 50, now + i, false);
    }
    now += 50;
  }
  big.onEnterRecovery(now, big.cwnd);
  small.onEnterRecovery(now, small.cwnd);
  big.onExitRecovery();
  small.onExitRecovery();
  big.setMss(1220);
  t.is(big.smss, 1220);
  t.true(Math.abs(big.cwnd - small.cwnd) <= 1, `${big.cwnd} vs ${small.cwnd}`);
  t.is(big.ssthresh, small.ssthresh);
  t.true(Math.abs(big.wMax! - small.wMax!) < 1e-6);
  for (let r = 0; r < 20; r++) {
    for (const cc of [big, small]) {
      const n = Math.floor(cc.cwnd / 1220);
      for (let i = 0; i < n; i++) cc.onAck(1220, 50, now + i, false);
    }
    now += 50;
  }
  t.true(Math.abs(big.cwnd - small.cwnd) <= 1220, `after 20 rounds: ${big.cwnd} vs ${small.cwnd} (within a segment)`);
  t.is(big.region, small.region);
});

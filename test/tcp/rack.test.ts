/** The RACK record list and detector (src/tcp/rack.ts) on their own: accounting, splitting, RFC 8985 §6.2 steps. */
import test from 'ava';
import { Rack, sentAfter } from '../../src/tcp/rack.ts';

/** Ten 100-byte segments from 1000, sent at t = 0..9. */
function ten(): Rack {
  const r = new Rack();
  for (let i = 0; i < 10; i++) r.onSend(1000 + 100 * i, 1100 + 100 * i, i);
  return r;
}

/** Recounts pipe from the records (the class keeps it incrementally). */
function pipeOf(r: Rack): number {
  return r.list().reduce((n, s) => n + (s.sacked || s.lost ? 0 : s.end - s.seq), 0);
}

test('sentAfter: later time, or the same time and a higher sequence', (t) => {
  t.true(sentAfter(2, 0, 1, 100));
  t.false(sentAfter(1, 100, 2, 0));
  t.true(sentAfter(1, 200, 1, 100));
  t.false(sentAfter(1, 100, 1, 100));
});

test('records: append, cumulative ACK removes, SACK marks; pipe follows', (t) => {
  const r = ten();
  t.is(r.count, 10);
  t.is(r.pipe(), 1000);
  t.is(r.onAck(1200, [[1500, 1700]], 20), 200);
  t.is(r.count, 8);
  t.deepEqual([r.outBytes, r.sackedBytes, r.sackedSegs, r.pipe()], [800, 200, 2, 600]);
  t.is(r.pipe(), pipeOf(r));
  // RACK segment: the most recently sent delivered, 1600..1700 sent at 6; RTT 14.
  t.deepEqual([r.xmitTs, r.endSeq, r.rtt], [6, 1700, 14]);
  t.false(r.reorderingSeen);
});

test('detectLoss: what was sent before the RACK segment is lost once RACK.rtt + reo_wnd passed, else a timeout', (t) => {
  const r = ten();
  r.noteRtt(10, 0);
  r.onAck(1100, [[1300, 1400]], 13); // 1300..1400 sent at 3 arrives at 13: RACK.rtt 10
  const w = r.reoWnd(false, 10);
  t.is(w, 2.5, 'min_RTT / 4 before DupThresh SACKed segments');
  // 1100 (sent 1) and 1200 (sent 2): lost at 1 + 10 + 2.5 = 13.5 and 14.5.
  let d = r.detectLoss(13, w);
  t.deepEqual(d, { lost: 0, timeout: 1.5 });
  d = r.detectLoss(14, w);
  t.is(d.lost, 1);
  t.is(r.firstLost()!.seq, 1100);
  t.is(r.lostBytes, 100);
  t.is(r.pipe(), pipeOf(r));
  t.deepEqual(r.firstLostRange(1000), [1100, 1200]);
  d = r.detectLoss(15, w);
  t.is(d.lost, 1);
  t.deepEqual(r.firstLostRange(1000), [1100, 1300], 'consecutive lost records join');
  t.deepEqual(r.firstLostRange(150), [1100, 1300], 'up to the first record that reaches the limit');
});

test('a retransmission restamps and splits; a lost retransmission is found again', (t) => {
  const r = ten();
  r.noteRtt(10, 0);
  r.onAck(1000, [[1100, 1500]], 14);
  t.is(r.detectLoss(14, 0).lost, 1); // 1000..1100
  r.onSend(1000, 1050, 20); // half of it again
  t.deepEqual(
    r.list().slice(0, 2).map((s) => [s.seq, s.end, s.xmitTs, s.rexmit, s.lost]),
    [
      [1000, 1050, 20, true, false],
      [1050, 1100, 0, false, true],
    ],
  );
  t.is(r.pipe(), pipeOf(r));
  r.onSend(1050, 1100, 20);
  t.is(r.lostBytes, 0);
  // 1500..1600, sent at 5, is delivered at 40: not after the retransmissions at 20, they stay.
  r.onAck(1000, [[1100, 1600]], 40);
  t.is(r.detectLoss(40, 0).lost, 0);
  // New data sent at 25 arrives: the retransmissions of 20 are overdue, lost again.
  r.onSend(2000, 2100, 25);
  r.onAck(1000, [[2000, 2100]], 35);
  const d = r.detectLoss(35, 0);
  t.true(d.lost >= 2, `lost ${d.lost}`);
  t.deepEqual(r.firstLostRange(100), [1000, 1100]);
  t.is(r.pipe(), pipeOf(r));
});

test('Karn (§6.2 step 2): an ACK whose TSecr predates a retransmission does not take its RTT', (t) => {
  const r = ten();
  r.noteRtt(10, 0);
  r.onSend(1000, 1100, 50); // resent at 50
  r.onAck(1100, [], 52, 0); // TSecr says: the transmission at 0 is acknowledged
  t.is(r.xmitTs, -Infinity, 'no RACK update from it');
  r.onSend(1100, 1200, 60);
  r.onAck(1200, [], 71, 60); // TSecr of the retransmission itself
  t.deepEqual([r.xmitTs, r.rtt], [60, 11]);
});

test('reordering: an original delivered below RACK.fack; D-SACK rounds widen the window, 16 quiet recoveries reset it', (t) => {
  const r = ten();
  r.noteRtt(8, 0);
  r.onAck(1000, [[1300, 1400]], 10);
  t.false(r.reorderingSeen);
  r.onAck(1000, [[1200, 1400]], 11); // 1200 arrives after 1300: reordering
  t.true(r.reorderingSeen);
  t.is(r.reoWnd(true, 20), 2, 'with reordering seen, min_RTT/4 even in recovery');
  r.onDsack(2000);
  r.onDsack(2000);
  t.is(r.reoWndMult, 2, 'once per round trip');
  t.is(r.reoWnd(true, 20), 4);
  t.is(r.reoWnd(true, 3), 3, 'never above SRTT');
  for (let i = 0; i < 15; i++) r.onRecoveryExit();
  t.is(r.reoWndMult, 2);
  r.onRecoveryExit();
  t.is(r.reoWndMult, 1);
});

test('RTO: everything not SACKed is lost; forgetting the SACKs makes those lost too', (t) => {
  const r = ten();
  r.onAck(1000, [[1500, 1700]], 20);
  r.markAllLost(false);
  t.deepEqual([r.lostBytes, r.sackedBytes, r.pipe()], [800, 200, 0]);
  r.markAllLost(true);
  t.deepEqual([r.lostBytes, r.sackedBytes, r.pipe()], [1000, 0, 0]);
  t.is(r.pipe(), pipeOf(r));
});

test('bounded: beyond maxSegs new data extends the last record', (t) => {
  const r = new Rack(4);
  for (let i = 0; i < 10; i++) r.onSend(100 * i, 100 * i + 100, i);
  t.is(r.count, 4);
  t.is(r.outBytes, 1000);
  t.deepEqual([r.last()!.seq, r.last()!.end, r.last()!.xmitTs], [300, 1000, 9]);
});

/**
 * RACK-TLP (RFC 8985) on the sender, against a raw peer that decides which
 * segments are "lost" by never acknowledging them: a lost retransmission is
 * found and sent again without an RTO (which RFC 6675 alone cannot do), a
 * tail loss is repaired through the loss probe after about 2·SRTT, and
 * reordering within the window causes no retransmission. Each scenario runs
 * with `rack: false` as well, to show the old behaviour it replaces.
 */
import test from 'ava';
import type { TcpConfig } from '../../src/tcp/tcpcb.ts';
import { RAW_TEXT, RawPeer, type PeerOptions, type SegSeen, bytes, describe, pump, tcpNet } from '../helpers/tcp.ts';

async function flight(n: number, o: PeerOptions = {}, tcp: Partial<TcpConfig> = {}, delayMs = 40) {
  const net = tcpNet({ tcp });
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h, { mss: 1000, sackPermitted: true, ...o });
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  await peer.accept();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  const cb = peer.cb()!;
  // The path's RTT is delayMs (the handshake on the raw link took 1 ms): the estimator starts from it.
  cb.rtt.reset();
  cb.rtt.sample(delayMs);
  sock.write(bytes(n * 1000));
  await pump(net.clock, 1);
  const segs = peer.take();
  const base = segs[0]!.seq;
  const at = (i: number) => (base + 1000 * i) >>> 0;
  const t0 = net.clock.now();
  // The peer answers after delayMs: that is the RTT the sender measures.
  await pump(net.clock, delayMs - 1, delayMs - 1);
  return { net, h, peer, sock, cb, c: h.s.tcp.stats.c, segs, at, t0 };
}

const seqsOf = (segs: SegSeen[]) => segs.filter((s) => s.data.length > 0).map((s) => s.seq);

for (const rack of [true, false]) {
  test(`a lost retransmission is ${rack ? 'found by RACK and sent again without' : 'only repaired by'} an RTO (rack ${rack})`, async (t) => {
    const { net, peer, cb, c, segs, at } = await flight(20, {}, { rack });
    t.is(segs.length, 10, 'IW10');
    t.is(cb.rack !== null, rack);
    // Segment 1 is lost; 2..9 arrive and are SACKed.
    peer.send({ ack: at(1) });
    for (let i = 2; i < 10; i++) peer.send({ ack: at(1), options: { sack: [[at(2), at(i + 1)]] } });
    await pump(net.clock, 1);
    let out = peer.take();
    t.true(seqsOf(out).includes(at(1)), `segment 1 resent: ${out.map(describe).join(' | ')}`);
    t.is(c.recoveries, 1);
    // The retransmission is lost too. New data sent after it arrives and is SACKed.
    const fresh = seqsOf(out).filter((s) => s !== at(1));
    t.true(fresh.length > 0, 'new data went out in recovery');
    const top = Math.max(...fresh.map((s) => (s - at(0)) / 1000));
    await pump(net.clock, 10, 10);
    peer.send({ ack: at(1), options: { sack: [[at(2), at(top + 1)]] } });
    await pump(net.clock, 1);
    out = peer.take();
    if (rack) {
      t.true(seqsOf(out).includes(at(1)), `segment 1 resent again at once: ${out.map(describe).join(' | ')}`);
      t.is(c.rexmtTimeouts, 0);
      t.true(c.rackLosses >= 2, `rackLosses ${c.rackLosses}`);
    } else {
      t.false(seqsOf(out).includes(at(1)), 'RFC 6675 sends each hole once per recovery');
      await pump(net.clock, cb.rtt.rto + 10, 10);
      t.true(seqsOf(peer.take()).includes(at(1)), 'the RTO sends it');
      t.is(c.rexmtTimeouts, 1);
    }
    // Everything is acknowledged: recovery ends.
    peer.send({ ack: at(top + 1) });
    await pump(net.clock, 1);
    t.false(cb.inRecovery);
  });

  test(`tail loss: the last three segments lost, ${rack ? 'repaired through a probe after ~2·SRTT' : 'repaired by the RTO'} (rack ${rack})`, async (t) => {
    const { net, peer, cb, c, at, t0 } = await flight(10, {}, { rack });
    peer.send({ ack: at(7) }); // 0..6 arrived, 7, 8, 9 did not
    await pump(net.clock, 1);
    const ackAt = net.clock.now() - 1;
    const srtt = cb.rtt.srtt!;
    t.true(srtt > 5, `srtt ${srtt}`);
    await pump(net.clock, Math.ceil(2 * srtt) + 5, 1);
    const probe = peer.take();
    if (!rack) {
      t.deepEqual(probe, [], 'no probe without RACK-TLP');
      await pump(net.clock, cb.rtt.rto, 1);
      const rto = peer.take();
      t.is(rto[0]?.seq, at(7), 'the RTO resends the first lost segment');
      t.is(c.rexmtTimeouts, 1);
      return;
    }
    t.is(probe.length, 1, 'one probe');
    t.is(probe[0]!.seq, at(9), 'the last segment sent again (no new data to send)');
    const pto = probe[0]!.at - ackAt;
    t.true(Math.abs(pto - 2 * srtt) <= 2, `PTO ${pto} ms, 2·SRTT ${2 * srtt}`);
    t.true(pto < cb.rtt.rto, 'before the RTO');
    t.is(c.tlpProbes, 1);
    // The probe arrives (one RTT later): its SACK shows 7 and 8 missing; RACK marks them lost at once.
    await pump(net.clock, 39, 39);
    peer.send({ ack: at(7), options: { sack: [[at(9), at(10)]] } });
    await pump(net.clock, 1);
    const rx = peer.take();
    t.deepEqual(seqsOf(rx), [at(7), at(8)], rx.map(describe).join(' | '));
    t.true(rx[0]!.at - t0 < 200, 'all well before a 200 ms RTO would have fired');
    peer.send({ ack: at(10) });
    await pump(net.clock, 300, 10);
    t.deepEqual(peer.take().filter((s) => s.data.length > 0), [], 'nothing more to resend');
    t.like(c, { rexmtTimeouts: 0, tlpRecoveries: 1, recoveries: 1 });
    t.is(c.rackLosses, 2);
  });
}

test('reordering within the window: no retransmission, and RACK notes the reordering', async (t) => {
  const { net, peer, cb, c, at, t0 } = await flight(10);
  peer.send({ ack: at(1) });
  peer.send({ ack: at(1), options: { sack: [[at(2), at(3)]] } }); // segment 1 is late, not lost
  await pump(net.clock, 1);
  const rk = cb.rack!;
  t.is(rk.minRtt, 40);
  t.is(rk.reoWnd(false, cb.rtt.srtt!), 10, 'min_RTT / 4');
  await pump(net.clock, 5, 1);
  peer.send({ ack: at(3) }); // it arrives 5 ms later, inside the 10 ms window
  for (let i = 4; i <= 10; i++) peer.send({ ack: at(i) });
  await pump(net.clock, 300, 5);
  t.deepEqual(
    peer.take().filter((s) => s.data.length > 0),
    [],
    'no retransmission',
  );
  t.like(c, { sndRexmitPack: 0, recoveries: 0, rackLosses: 0, rexmtTimeouts: 0 });
  t.true(rk.reorderingSeen);
  t.true(net.clock.now() - t0 > 300);
});

test('reordering beyond the window: the reordering timer marks the segment lost after RACK.rtt + min_RTT/4', async (t) => {
  const { net, peer, c, at, t0 } = await flight(10);
  peer.send({ ack: at(1) });
  peer.send({ ack: at(1), options: { sack: [[at(2), at(3)]] } });
  await pump(net.clock, 30, 1);
  const rx = peer.take().filter((s) => s.data.length > 0);
  t.is(rx.length, 1);
  t.is(rx[0]!.seq, at(1));
  // Sent at t0, RACK.rtt 40 ms, reo_wnd 10 ms: lost at t0 + 50.
  t.true(Math.abs(rx[0]!.at - (t0 + 50)) <= 1, `resent at +${rx[0]!.at - t0} ms`);
  t.like(c, { rackReoTimeouts: 1, rackLosses: 1, recoveries: 1, rexmtTimeouts: 0 });
});

test('D-SACK widens the reordering window (RFC 8985 §6.2 step 4)', async (t) => {
  const { net, peer, cb, at } = await flight(10);
  peer.send({ ack: at(1) });
  await pump(net.clock, 1);
  const rk = cb.rack!;
  t.is(rk.reoWndMult, 1);
  peer.send({ ack: at(2), options: { sack: [[at(1), at(2)]] } });
  await pump(net.clock, 1);
  t.is(rk.reoWndMult, 2);
  t.is(rk.reoWnd(false, cb.rtt.srtt!), 20);
  // A second D-SACK in the same round trip does not count again.
  peer.send({ ack: at(3), options: { sack: [[at(1), at(2)]] } });
  await pump(net.clock, 1);
  t.is(rk.reoWndMult, 2);
});

test('a new-data probe: data held back by Nagle goes out as the probe', async (t) => {
  const { net, peer, sock, cb, c, at } = await flight(10);
  peer.send({ ack: at(7) });
  await pump(net.clock, 1);
  sock.write(bytes(500, 9)); // a small segment while data is in flight: Nagle holds it
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), []);
  await pump(net.clock, Math.ceil(2 * cb.rtt.srtt!) + 2, 1);
  const probe = peer.take();
  t.is(probe.length, 1, 'a probe');
  t.is(probe[0]!.seq, at(10), 'new data, not a retransmission');
  t.is(probe[0]!.data.length, 500);
  t.like(c, { tlpProbes: 1, sndRexmitPack: 0 });
  t.is(cb.tlpEndSeq, (at(10) + 500) >>> 0);
  // Its ACK (with SACK: 7..9 missing) lets RACK find the tail loss.
  await pump(net.clock, 39, 39);
  peer.send({ ack: at(7), options: { sack: [[at(10), (at(10) + 500) >>> 0]] } });
  await pump(net.clock, 1);
  t.deepEqual(seqsOf(peer.take()), [at(7), at(8), at(9)]);
  t.like(c, { tlpRecoveries: 1, rexmtTimeouts: 0 });
});

for (const rack of [true, false]) test(`retransmissions stay inside the peer's window, even when it is below one segment (rack ${rack})`, async (t) => {
  const { net, peer, cb, c, at } = await flight(10, {}, { rack });
  // 0..4 arrived; the receiver's buffer is nearly full: 600 bytes of room (as a kernel under memory pressure says).
  peer.send({ ack: at(5), window: 600 });
  await pump(net.clock, 1);
  peer.take();
  await pump(net.clock, cb.rtt.rto + 50, 5);
  const rx = peer.take().filter((s) => s.data.length > 0);
  t.true(rx.length >= 1, 'the RTO resends');
  t.is(rx[0]!.seq, at(5));
  t.is(rx[0]!.data.length, 600, 'cut to the window: a receiver may drop an overshooting segment whole, ACK included');
  t.true(c.rexmtTimeouts >= 1);
  // The window opens: the rest follows.
  peer.send({ ack: (at(5) + 600) >>> 0, window: 65535 });
  await pump(net.clock, 100, 5);
  const more = peer.take().filter((s) => s.data.length > 0);
  t.true(more.some((s) => s.seq === ((at(5) + 600) >>> 0)), more.map(describe).join(' | '));
});

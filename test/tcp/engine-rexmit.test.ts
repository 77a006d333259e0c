/**
 * Retransmission: the RTO timer (RFC 6298: exponential backoff, Karn's rule,
 * giving up), SYN and SYN-ACK retransmission, fast retransmit on the third
 * duplicate ACK with NewReno recovery (RFC 5681 §3.2, RFC 6582) and SACK
 * recovery (RFC 6675). The peer is the raw port, which decides exactly which
 * segments are "lost" by not acknowledging them.
 */
import test from 'ava';
import { established, RAW_TEXT, RawPeer, type PeerOptions, type SegSeen, TH_ACK, TH_SYN, bytes, describe, events, pump, tcpNet, turns } from '../helpers/tcp.ts';

const gaps = (segs: SegSeen[]) => segs.slice(1).map((s, i) => s.at - segs[i]!.at);

test('RTO: the unacknowledged segment is sent again with the interval doubling each time', async (t) => {
  const { net, h, peer, sock, cb } = await established();
  t.is(cb.rtt.rto, 200, 'a fast handshake gives the minimum RTO');
  sock.write(bytes(100));
  await pump(net.clock, 7000, 10);
  const segs = peer.take();
  t.true(segs.length >= 5);
  t.true(segs.every((s) => s.seq === segs[0]!.seq && s.data.length === 100));
  t.deepEqual(gaps(segs).slice(0, 4), [200, 400, 800, 1600]);
  const c = h.s.tcp.stats.c;
  t.is(c.rexmtTimeouts, segs.length - 1);
  t.is(c.sndRexmitPack, segs.length - 1);
  t.is(c.sndRexmitBytes, 100 * (segs.length - 1));
});

test('RTO: RFC 6298 caps the backoff at maxRto', async (t) => {
  const { net, peer, sock } = await established({}, { tcp: { maxRto: 1000 } });
  sock.write(bytes(10));
  await pump(net.clock, 6000, 10);
  const segs = peer.take();
  t.deepEqual(gaps(segs), [200, 400, 800, 1000, 1000, 1000, 1000]);
});

test('Karn: no RTT sample from an ACK of a retransmitted segment; the next fresh one is measured', async (t) => {
  const { net, peer, sock, cb } = await established();
  const srtt0 = cb.rtt.srtt!;
  sock.write(bytes(100));
  await pump(net.clock, 650, 10); // sent at 0, again at 200 and at 600
  t.is(peer.take().length, 3);
  // The ACK comes 650 ms after the first transmission and 50 ms after the last: neither is a sample.
  peer.rcvNxt = (peer.rcvNxt + 100) >>> 0;
  peer.send({});
  await pump(net.clock, 1);
  t.is(cb.rtt.srtt, srtt0, 'SRTT untouched');
  // A new segment, acknowledged after 30 ms, is a sample.
  sock.write(bytes(100));
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  await pump(net.clock, 29, 29);
  peer.send({});
  await pump(net.clock, 1);
  t.not(cb.rtt.srtt, srtt0);
  t.true(Math.abs(cb.rtt.srtt! - ((7 / 8) * srtt0 + 30 / 8)) < 0.5, `srtt ${cb.rtt.srtt}`);
});

test('RTO: after maxRexmits retransmissions the connection is dropped with ETIMEDOUT', async (t) => {
  const { net, h, peer, sock, ev } = await established({}, { tcp: { maxRexmits: 3 } });
  sock.write(bytes(10));
  await pump(net.clock, 3000 + 100, 10); // 200 + 400 + 800 + 1600
  const segs = peer.take();
  t.is(segs.length, 5, 'the original, three retransmissions, then the RST of the drop');
  t.truthy(segs[4]!.repr.flags & 0x04, 'BSD tcp_drop: a RST tells the peer');
  t.deepEqual(ev, ['connect', 'ready', 'error:ETIMEDOUT', 'close']);
  t.like(h.s.tcp.stats.c, { timeoutDrops: 1, rexmtTimeouts: 4, sndRst: 1 });
  t.is(h.s.tcp.connections().length, 0);
});

test('SYN: retransmitted with backoff from the 1 s initial RTO, then ETIMEDOUT after maxSynRexmits', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const ev = events(sock);
  await pump(net.clock, 130_000, 500);
  const syns = peer.take();
  t.true(syns.every((s) => s.flags === TH_SYN && s.seq === syns[0]!.seq));
  t.is(syns.length, 1 + h.s.tcp.config.maxSynRexmits);
  t.deepEqual(gaps(syns), [1000, 2000, 4000, 8000, 16000, 32000]);
  t.deepEqual(ev, ['error:ETIMEDOUT', 'close']);
  t.like(h.s.tcp.stats.c, { conndrops: 1, timeoutDrops: 1, connAttempts: 1, connects: 0 });
});

test('SYN: an answer after a retransmission completes the handshake (no RTT sample from it)', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const ev = events(sock);
  await pump(net.clock, 1500, 100);
  const syns = peer.take();
  t.is(syns.length, 2);
  peer.rcvNxt = (syns[0]!.seq + 1) >>> 0;
  peer.remotePort = syns[0]!.repr.sport;
  peer.send({ flags: TH_SYN | TH_ACK, seq: peer.iss, options: { mss: 1440 } });
  peer.sndNxt = peer.iss + 1;
  await pump(net.clock, 1);
  t.deepEqual(ev, ['connect', 'ready']);
  t.is(peer.cb()!.rtt.srtt, undefined, 'Karn: the SYN was retransmitted');
});

test('SYN-ACK: a listener retransmits it, then gives the half-open connection up', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  h.s.net.createServer().listen(80);
  await turns();
  const peer = new RawPeer(net, h);
  peer.sendSyn(80);
  await pump(net.clock, 130_000, 500);
  const synAcks = peer.take();
  t.true(synAcks.every((s) => s.flags === (TH_SYN | TH_ACK)));
  t.deepEqual(gaps(synAcks), [1000, 2000, 4000, 8000, 16000, 32000]);
  t.is(h.s.tcp.connections().length, 0);
  t.is(h.s.tcp.listenerList()[0]!.synQueue.size, 0);
});

/** Ten full segments in flight (IW10), the peer without SACK: segment i starts at `at(i)`. */
async function tenInFlight(o: PeerOptions = {}) {
  const r = await established({ mss: 1000, ...o });
  r.sock.write(bytes(10_000));
  await pump(r.net.clock, 1);
  const segs = r.peer.take();
  const base = segs[0]!.seq;
  const at = (i: number) => (base + 1000 * i) >>> 0;
  return { ...r, segs, at };
}

test('fast retransmit: the third duplicate ACK resends the missing segment at once (NewReno)', async (t) => {
  const { net, h, peer, segs, at, cb } = await tenInFlight();
  t.is(segs.length, 10);
  t.false(cb.sackOk);
  const c = h.s.tcp.stats.c;
  // Segment 1 is lost: the ACK of 0, then duplicates for each of 2..9.
  peer.send({ ack: at(1) });
  await pump(net.clock, 1);
  for (let d = 1; d <= 2; d++) {
    peer.send({ ack: at(1) });
    await pump(net.clock, 1);
  }
  t.deepEqual(peer.take(), [], 'two duplicates are not enough');
  t.is(c.fastRexmits, 0);
  peer.send({ ack: at(1) });
  await pump(net.clock, 1);
  const [rx] = peer.take();
  t.truthy(rx, 'retransmitted on the third duplicate');
  t.is(rx!.seq, at(1));
  t.is(rx!.data.length, 1000);
  t.like(c, { fastRexmits: 1, recoveries: 1, rexmtTimeouts: 0 });
  t.true(cb.inRecovery);
  // More duplicates do not start another recovery.
  for (let d = 0; d < 5; d++) peer.send({ ack: at(1) });
  await pump(net.clock, 1);
  t.is(c.fastRexmits, 1);
  // The ACK covering everything ends recovery with cwnd = ssthresh (RFC 6582 §3.2 step 3).
  peer.send({ ack: at(10) });
  await pump(net.clock, 1);
  t.false(cb.inRecovery);
  t.is(cb.cc.cwnd, cb.cc.ssthresh);
  t.is(c.rexmtTimeouts, 0);
});

test('NewReno: a partial ACK retransmits the next hole at once (RFC 6582)', async (t) => {
  const { net, h, peer, at, cb } = await tenInFlight();
  const c = h.s.tcp.stats.c;
  // Segments 1 and 5 are lost.
  peer.send({ ack: at(1) });
  for (let d = 0; d < 3; d++) peer.send({ ack: at(1) });
  await pump(net.clock, 1);
  const [first] = peer.take();
  t.is(first!.seq, at(1));
  // The retransmission of 1 fills the first hole: the ACK moves to 5 (partial: below the recovery point).
  peer.send({ ack: at(5) });
  await pump(net.clock, 1);
  const after = peer.take();
  t.true(after.length >= 1, 'something sent on the partial ACK');
  t.is(after[0]!.seq, at(5), describe(after[0]!));
  t.true(cb.inRecovery, 'still in recovery after a partial ACK');
  t.is(c.recoveries, 1);
  peer.send({ ack: at(10) });
  await pump(net.clock, 1);
  t.false(cb.inRecovery);
  t.like(c, { rexmtTimeouts: 0, fastRexmits: 1, sndRexmitPack: 2 });
});

test('SACK recovery: the holes the blocks reveal are retransmitted, the SACKed segments are not', async (t) => {
  const { net, h, peer, at, cb } = await tenInFlight({ sackPermitted: true });
  t.true(cb.sackOk);
  const c = h.s.tcp.stats.c;
  // Segments 1 and 4 are lost; every other segment is reported by SACK blocks as it "arrives".
  peer.send({ ack: at(1) });
  const blocks: [number, number][][] = [
    [[at(2), at(3)]],
    [[at(2), at(4)]],
    [
      [at(5), at(6)],
      [at(2), at(4)],
    ],
    [
      [at(5), at(7)],
      [at(2), at(4)],
    ],
    [
      [at(5), at(8)],
      [at(2), at(4)],
    ],
  ];
  for (const sack of blocks) peer.send({ ack: at(1), options: { sack } });
  await pump(net.clock, 1);
  const rx = peer.take();
  const seqs = rx.map((s) => s.seq);
  t.true(seqs.includes(at(1)), `segment 1 resent: ${rx.map(describe).join(' | ')}`);
  t.true(seqs.includes(at(4)), 'segment 4 resent without waiting for a partial ACK');
  t.false(
    seqs.some((s) => [2, 3, 5, 6, 7].some((i) => s === at(i))),
    'SACKed segments are not resent',
  );
  t.is(c.recoveries, 1);
  peer.send({ ack: at(10) });
  await pump(net.clock, 1);
  t.false(cb.inRecovery);
  t.is(c.rexmtTimeouts, 0);
});

test('an RTO in recovery falls back to slow start from one segment and resends from SND.UNA', async (t) => {
  const { net, h, peer, at, cb } = await tenInFlight();
  peer.send({ ack: at(1) });
  for (let d = 0; d < 3; d++) peer.send({ ack: at(1) });
  await pump(net.clock, 1);
  peer.take();
  // Nothing more from the peer: the retransmission is lost too.
  await pump(net.clock, 1000, 10);
  const rto = peer.take();
  t.true(rto.length >= 1);
  t.is(rto[0]!.seq, at(1));
  t.false(cb.inRecovery);
  t.is(cb.cc.cwnd, cb.mss, 'loss window: one segment');
  t.true(h.s.tcp.stats.c.rexmtTimeouts >= 1);
});

test('after an RTO (going back to SND.UNA) a bare ACK carries SND.MAX, or the peer would find it below RCV.NXT and drop it', async (t) => {
  const { net, peer, sock, cb } = await established({ mss: 1000 });
  sock.write(bytes(3000));
  await pump(net.clock, 1);
  const first = peer.take();
  t.is(first.length, 3);
  const sndMax = (first[0]!.seq + 3000) >>> 0;
  await pump(net.clock, cb.rtt.rto + 5, 5);
  t.is(peer.take()[0]!.seq, first[0]!.seq, 'the RTO went back');
  t.true(((cb.sndNxt - sndMax) | 0) < 0, 'SND.NXT is below SND.MAX now');
  // The peer sends data (it received all three segments, but its ACK of them was lost): the stack acknowledges it.
  peer.sendData(bytes(10, 3));
  await pump(net.clock, 50, 5);
  const acks = peer.take().filter((s) => s.data.length === 0);
  t.true(acks.length >= 1);
  t.is(acks[0]!.seq, sndMax, describe(acks[0]!));
});

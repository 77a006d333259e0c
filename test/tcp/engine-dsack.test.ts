/**
 * D-SACK (RFC 2883): the receiver reports duplicate data in the first SACK
 * block of its next ACK; the sender recognises such a block, keeps it out of
 * its SACK scoreboard and counts retransmissions it shows were unnecessary.
 */
import test from 'ava';
import { RAW_TEXT, RawPeer, type PeerOptions, TH_ACK, bytes, pump, tcpNet } from '../helpers/tcp.ts';

async function open(o: PeerOptions = {}, tcp: Parameters<typeof tcpNet>[0] = {}) {
  const net = tcpNet(tcp);
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h, o);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  sock.on('data', () => {});
  await peer.accept();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  const base = peer.sndNxt;
  const at = (i: number) => (base + 100 * i) >>> 0;
  /** Sends bytes [at(i), at(j)) of the peer's stream. */
  const send = (i: number, j = i + 1) => peer.send({ seq: at(i), data: bytes(100 * (j - i), i), flags: TH_ACK });
  return { net, h, peer, sock, cb: peer.cb()!, c: h.s.tcp.stats.c, at, send };
}

const lastAck = (peer: RawPeer) => peer.take().slice(-1)[0]!;

test('D-SACK: a segment wholly below RCV.NXT is reported as the first block, at once, then forgotten', async (t) => {
  const { net, peer, at, send, c } = await open({ sackPermitted: true, ts: true });
  send(0);
  send(1);
  await pump(net.clock, 100, 10);
  t.is(lastAck(peer).ack, at(2));
  send(0); // a needless retransmission
  await pump(net.clock, 1);
  const segs = peer.take();
  t.is(segs.length, 1, 'one ACK, sent at once');
  t.is(segs[0]!.ack, at(2));
  t.deepEqual(segs[0]!.options.sack, [[at(0), at(1)]]);
  t.is(c.sndDsacks, 1);
  send(2);
  await pump(net.clock, 100, 10);
  const next = lastAck(peer);
  t.is(next.ack, at(3));
  t.is(next.options.sack, undefined, 'reported once');
});

test('D-SACK: the duplicate part of a segment that is partly below RCV.NXT', async (t) => {
  const { net, peer, at, send, c } = await open({ sackPermitted: true });
  send(0, 2);
  await pump(net.clock, 100, 10);
  peer.take();
  send(1, 3); // [at(1), at(3)): at(1)..at(2) is old
  await pump(net.clock, 1);
  const ack = lastAck(peer);
  t.is(ack.ack, at(3));
  t.deepEqual(ack.options.sack, [[at(1), at(2)]]);
  t.is(c.sndDsacks, 1);
});

test('D-SACK: data already in the out-of-order queue: the duplicate, then the block that holds it', async (t) => {
  const { net, peer, at, send, c } = await open({ sackPermitted: true, ts: true });
  send(0);
  await pump(net.clock, 100, 10);
  peer.take();
  send(2, 4);
  send(6);
  await pump(net.clock, 1);
  t.deepEqual(lastAck(peer).options.sack, [
    [at(6), at(7)],
    [at(2), at(4)],
  ]);
  send(3);
  await pump(net.clock, 1);
  const ack = lastAck(peer);
  t.is(ack.ack, at(1));
  t.deepEqual(ack.options.sack, [
    [at(3), at(4)],
    [at(2), at(4)],
    [at(6), at(7)],
  ]);
  t.is(c.sndDsacks, 1);
});

test('D-SACK: an in-order segment that overlaps queued data reports the overlap', async (t) => {
  const { net, peer, at, send } = await open({ sackPermitted: true });
  send(0);
  await pump(net.clock, 100, 10);
  peer.take();
  send(2, 4);
  await pump(net.clock, 1);
  peer.take();
  send(1, 3); // fills the hole and repeats at(2)..at(3)
  await pump(net.clock, 1);
  const ack = lastAck(peer);
  t.is(ack.ack, at(4));
  t.deepEqual(ack.options.sack, [[at(2), at(3)]]);
});

test('D-SACK: none without SACK negotiated', async (t) => {
  const { net, peer, at, send, c } = await open({ sackPermitted: false });
  send(0);
  await pump(net.clock, 100, 10);
  peer.take();
  send(0);
  await pump(net.clock, 1);
  const ack = lastAck(peer);
  t.is(ack.ack, at(1));
  t.is(ack.options.sack, undefined);
  t.is(c.sndDsacks, 0);
});

for (const rack of [true, false]) test(`D-SACK received: not SACK information, not a duplicate ACK; a spurious retransmission is counted (rack ${rack})`, async (t) => {
  const { net, peer, sock, cb, c } = await open({ sackPermitted: true, mss: 1000 }, { tcp: { rack } });
  const sacked = () => (rack ? cb.rack!.sackedBytes : cb.sb!.sackedBytes);
  sock.write(bytes(1000));
  await pump(net.clock, 1);
  const [first] = peer.take();
  // The ACK is "delayed" past the RTO: the segment is sent again.
  await pump(net.clock, cb.rtt.rto + 5, 5);
  const again = peer.take();
  t.is(again.length, 1);
  t.is(again[0]!.seq, first!.seq);
  t.is(c.sndRexmitPack, 1);
  peer.rcvNxt = (first!.seq + 1000) >>> 0;
  peer.send({});
  await pump(net.clock, 1);
  // The receiver saw it twice: a D-SACK below the cumulative ACK.
  peer.send({ options: { sack: [[first!.seq, (first!.seq + 1000) >>> 0]] } });
  await pump(net.clock, 1);
  t.is(c.rcvDsacks, 1);
  t.is(c.spuriousRexmits, 1);
  t.is(cb.dupAcks, 0);
  t.is(sacked(), 0);
  // A D-SACK inside the second block (a duplicate above SND.UNA) is not new SACK information either.
  sock.write(bytes(2000));
  await pump(net.clock, 1);
  const segs = peer.take();
  t.is(segs.length, 2, 'cwnd is two segments after the RTO');
  const s1 = segs[1]!.seq;
  const e1 = (s1 + 1000) >>> 0;
  peer.send({ options: { sack: [[s1, e1]] } });
  await pump(net.clock, 1);
  t.is(sacked(), 1000);
  t.is(cb.dupAcks, 1);
  peer.send({ options: { sack: [[s1, e1], [s1, e1]] } });
  await pump(net.clock, 1);
  t.is(c.rcvDsacks, 2);
  t.is(cb.dupAcks, 1, 'no new information: not a duplicate ACK');
  t.is(c.spuriousRexmits, 1, 'that segment was never retransmitted');
});

/**
 * Resets and blind-attack defences: RFC 5961 (§3 RST, §4 SYN, §5 ACK
 * validation with challenge ACKs), the RST for a segment that belongs to no
 * connection (RFC 9293 §3.10.7.1) and a reset refusing an active open.
 */
import test from 'ava';
import { established as establishedPeer, RAW_TEXT, RawPeer, TH_ACK, TH_FIN, TH_RST, TH_SYN, describe, events, pump, tcpNet, turns } from '../helpers/tcp.ts';
import { changed } from '../helpers/stack.ts';

async function established() {
  const r = await establishedPeer();
  const { h } = r;
  const before = { ...h.s.tcp.stats.c };
  return { ...r, before, delta: () => changed(before, h.s.tcp.stats.c, ['rcvTotal', 'sndTotal']) };
}

test('RST with exactly RCV.NXT resets the connection: ECONNRESET, CLOSED, TCB gone, nothing sent', async (t) => {
  const { net, h, peer, sock, ev, cb, delta } = await established();
  peer.send({ flags: TH_RST, ack: 0 });
  await pump(net.clock, 1);
  t.is(cb.state, 'CLOSED');
  t.is(h.s.tcp.connections().length, 0);
  t.deepEqual(ev, ['connect', 'ready', 'error:ECONNRESET', 'close']);
  t.true(sock.destroyed);
  t.deepEqual(peer.take(), [], 'a RST is never answered');
  t.deepEqual(delta(), { drops: 1 });
});

test('RST in the window but not at RCV.NXT: challenge ACK (RFC 5961 §3.2), the connection lives', async (t) => {
  const { net, peer, ev, cb, delta } = await established();
  peer.send({ flags: TH_RST, seq: peer.sndNxt + 1000, ack: 0 });
  await pump(net.clock, 1);
  t.is(cb.state, 'ESTABLISHED');
  const [ack] = peer.take();
  t.is(ack!.flags, TH_ACK, describe(ack!));
  t.is(ack!.ack, peer.sndNxt, 'the challenge ACK tells the true RCV.NXT');
  t.deepEqual(delta(), { rcvRstInWindow: 1, sndChallengeAcks: 1, sndAcks: 1 });
  t.deepEqual(ev, ['connect', 'ready']);
  // A real peer answers the challenge with the exact RST.
  peer.send({ flags: TH_RST, seq: ack!.ack });
  await pump(net.clock, 1);
  t.is(cb.state, 'CLOSED');
});

test('RST outside the window is dropped silently (rcvRstOutOfWindow)', async (t) => {
  const { net, peer, cb, delta } = await established();
  peer.send({ flags: TH_RST, seq: peer.sndNxt + 5_000_000 });
  peer.send({ flags: TH_RST, seq: peer.sndNxt - 10 });
  await pump(net.clock, 1);
  t.is(cb.state, 'ESTABLISHED');
  t.deepEqual(peer.take(), []);
  t.deepEqual(delta(), { rcvRstOutOfWindow: 2 });
});

test('SYN in ESTABLISHED: challenge ACK (RFC 5961 §4), the connection lives', async (t) => {
  const { net, peer, cb, delta } = await established();
  for (const seq of [peer.sndNxt, peer.sndNxt + 100, peer.iss]) {
    peer.send({ flags: TH_SYN, seq, ack: 0, options: { mss: 1440 } });
    await pump(net.clock, 1);
    const [ack] = peer.take();
    t.is(ack!.flags, TH_ACK, `SYN at ${seq}: ${describe(ack!)}`);
    t.is(ack!.ack, peer.sndNxt);
  }
  t.is(cb.state, 'ESTABLISHED');
  const d = delta();
  t.is(d.sndChallengeAcks, 2, 'in-window SYNs');
  t.is(d.rcvDupSyn, 2);
  t.is(d.rcvOutOfWindow, 1, 'the SYN below RCV.NXT is an old duplicate: plain ACK');
});

test('ACK for data never sent (SEG.ACK > SND.NXT): dropped with an ACK, data not taken (rcvAckTooMuch)', async (t) => {
  const { net, peer, sock, cb, delta } = await established();
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  peer.send({ ack: cb.sndMax + 5000, data: Buffer.from('sneaky') });
  await pump(net.clock, 50, 10);
  t.deepEqual(got, []);
  const [ack] = peer.take();
  t.is(ack!.ack, peer.sndNxt, 'RCV.NXT did not move');
  t.is(ack!.seq, cb.sndNxt);
  t.is(delta().rcvAckTooMuch, 1);
  t.is(cb.state, 'ESTABLISHED');
});

test('ACK older than SND.UNA − MAX.SND.WND: challenge ACK and drop (RFC 5961 §5.2, rcvBadAck)', async (t) => {
  const { net, peer, sock, cb, delta } = await established();
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  t.is(cb.maxSndWnd, 65535);
  peer.send({ ack: cb.sndUna - 70_000, data: Buffer.from('blind') });
  await pump(net.clock, 50, 10);
  t.deepEqual(got, []);
  const d = delta();
  t.is(d.rcvBadAck, 1);
  t.is(d.sndChallengeAcks, 1);
  // Just inside the bound it is an old duplicate: accepted, the data is taken.
  peer.send({ ack: cb.sndUna - 60_000, data: Buffer.from('fine') });
  await pump(net.clock, 50, 10);
  t.is(Buffer.concat(got).toString(), 'fine');
});

test('closed port, segment with ACK: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.1)', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  peer.remotePort = 9999;
  peer.send({ seq: 111, ack: 222_222, data: Buffer.from('hello') });
  await pump(net.clock, 1);
  const [rst] = peer.take();
  t.is(rst!.flags, TH_RST, describe(rst!));
  t.is(rst!.seq, 222_222);
  t.is(rst!.ack, 0);
  t.is(rst!.repr.sport, 9999);
  t.true(rst!.cksumOk);
  t.like(h.s.tcp.stats.c, { rcvNoSocket: 1, sndRst: 1 });
});

test('closed port, segment without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  peer.remotePort = 9999;
  peer.send({ flags: TH_SYN, seq: 1000, ack: 0 });
  peer.send({ flags: TH_FIN, seq: 2000, ack: 0, data: Buffer.from('abc') });
  await pump(net.clock, 1);
  const [r1, r2] = peer.take();
  t.is(r1!.flags, TH_RST | TH_ACK);
  t.is(r1!.seq, 0);
  t.is(r1!.ack, 1001, 'the SYN counts one');
  t.is(r2!.flags, TH_RST | TH_ACK);
  t.is(r2!.ack, 2004, 'three bytes and the FIN');
  // A RST is never answered.
  peer.send({ flags: TH_RST, seq: 5 });
  peer.send({ flags: TH_RST | TH_ACK, seq: 5, ack: 7 });
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), []);
  t.like(h.s.tcp.stats.c, { rcvNoSocket: 4, sndRst: 2 });
});

test('a segment with a bad checksum is dropped and counted, not answered', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  peer.remotePort = 9999;
  peer.send({ flags: TH_SYN, seq: 1000, ack: 0, badCksum: true });
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), []);
  t.like(h.s.tcp.stats.c, { rcvBadSum: 1, rcvNoSocket: 0 });
});

test('RST with an acceptable ACK in SYN_SENT: ECONNREFUSED; without ACK or with a bad ACK it is ignored', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const ev = events(sock);
  const syn = await peer.accept(false);
  // No ACK: RFC 9293 §3.10.7.3 drops it.
  peer.send({ flags: TH_RST, seq: 0, ack: 0 });
  // ACK not acknowledging our SYN: dropped (and, RST set, not answered).
  peer.send({ flags: TH_RST | TH_ACK, seq: 0, ack: syn.seq + 77 });
  await pump(net.clock, 1);
  t.is(sock.tcpState, 'SYN_SENT');
  t.deepEqual(peer.take(), []);
  t.is(h.s.tcp.stats.c.rcvBadAck, 1);
  peer.send({ flags: TH_RST | TH_ACK, seq: 0, ack: syn.seq + 1 });
  await pump(net.clock, 1);
  t.deepEqual(ev, ['error:ECONNREFUSED', 'close']);
  t.is(h.s.tcp.connections().length, 0);
});

test('SYN_SENT: a SYN-ACK acknowledging something else gets <SEQ=SEG.ACK><CTL=RST>', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const syn = await peer.accept(false);
  peer.send({ flags: TH_SYN | TH_ACK, seq: 500, ack: syn.seq + 1000 });
  await pump(net.clock, 1);
  const [rst] = peer.take();
  t.is(rst!.flags, TH_RST);
  t.is(rst!.seq, syn.seq + 1000);
  t.is(sock.tcpState, 'SYN_SENT');
});

test('connecting to a port nobody listens on (stack to stack): ECONNREFUSED', async (t) => {
  const net = tcpNet({ hosts: 2 });
  const [a, b] = net.hosts as [NonNullable<(typeof net.hosts)[0]>, NonNullable<(typeof net.hosts)[0]>];
  const sock = a.s.net.connect({ host: `fe80::ff:fe00:b%vl0`, port: 81 });
  const ev = events(sock);
  await pump(net.clock, 20, 1);
  t.deepEqual(ev, ['error:ECONNREFUSED', 'close']);
  t.is(b.s.tcp.stats.c.rcvNoSocket, 1);
  await turns();
});

test('an ESTABLISHED connection aborted by the application sends <SEQ=SND.NXT><CTL=RST>', async (t) => {
  const { net, peer, sock, cb, delta } = await established();
  const sndNxt = cb.sndNxt;
  sock.resetAndDestroy();
  await pump(net.clock, 1);
  const [rst] = peer.take();
  t.is(rst!.flags & TH_RST, TH_RST);
  t.is(rst!.seq, sndNxt);
  t.is(delta().sndRst, 1);
});

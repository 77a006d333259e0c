/**
 * The connection state machine of RFC 9293 §3.3.2 (Figure 5), driven
 * through the virtual link: every transition, seen as the TCB's state, the
 * segments on the wire and the socket's events. The peer is the test's raw
 * port (RawPeer), except for the simultaneous open, which crosses two stacks'
 * SYNs.
 */
import test from 'ava';
import type { Socket } from '../../src/tcp/socket.ts';
import { RAW_TEXT, RawPeer, TH_ACK, TH_FIN, TH_RST, TH_SYN, bytes, collect, describe, events, llText, pump, tcpNet, turns } from '../helpers/tcp.ts';

const MSL = 30_000;

/** A stack connected to the raw peer (the stack opened), with ESTABLISHED reached. */
async function connected(o: { allowHalfOpen?: boolean } = {}) {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock: Socket = new h.s.net.Socket({ allowHalfOpen: o.allowHalfOpen ?? false });
  const ev = events(sock);
  sock.connect({ host: RAW_TEXT, port: peer.port });
  await peer.accept();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  return { net, h, peer, sock, ev, cb: peer.cb()! };
}

test('active open: CLOSED → SYN_SENT → ESTABLISHED on the SYN-ACK, then the handshake’s ACK', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const before = { ...h.s.tcp.stats.c };
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const ev = events(sock);
  t.is(sock.tcpState, 'SYN_SENT', 'SYN_SENT as soon as connect() returns');
  t.true(sock.connecting);
  const syn = await peer.accept(false);
  t.is(syn.flags, TH_SYN);
  t.is(syn.ack, 0);
  t.is(sock.tcpState, 'SYN_SENT', 'still SYN_SENT without an answer');
  t.deepEqual(ev, []);
  // SYN-ACK: <SEQ=peer.iss><ACK=ISS+1>.
  peer.send({ flags: TH_SYN | TH_ACK, seq: peer.iss, ack: syn.seq + 1, options: { mss: 1440 } });
  peer.sndNxt = peer.iss + 1;
  await pump(net.clock, 1);
  t.is(sock.tcpState, 'ESTABLISHED');
  t.false(sock.connecting);
  t.deepEqual(ev, ['connect', 'ready']);
  const [ack, ...rest] = peer.take();
  t.deepEqual(rest, []);
  t.is(ack!.flags, TH_ACK, describe(ack!));
  t.is(ack!.seq, syn.seq + 1);
  t.is(ack!.ack, peer.iss + 1);
  const c = h.s.tcp.stats.c;
  t.is(c.connAttempts - before.connAttempts!, 1);
  t.is(c.connects - before.connects!, 1);
  t.is(c.accepts - before.accepts!, 0);
});

test('passive open: LISTEN → SYN_RECEIVED on a SYN → ESTABLISHED and "connection" on the ACK', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const server = h.s.net.createServer();
  const accepted: Socket[] = [];
  server.on('connection', (s: Socket) => accepted.push(s));
  server.listen(80);
  await turns();
  const peer = new RawPeer(net, h);
  peer.sendSyn(80);
  await pump(net.clock, 1);
  const cb = peer.cb();
  t.is(cb?.state, 'SYN_RECEIVED');
  const [synAck] = peer.take();
  t.is(synAck!.flags, TH_SYN | TH_ACK);
  t.is(synAck!.ack, peer.iss + 1);
  t.is(accepted.length, 0, 'no connection before the handshake completes');
  t.is(h.s.tcp.listenerList()[0]!.synQueue.size, 1);

  peer.rcvNxt = synAck!.seq + 1;
  peer.send({});
  await pump(net.clock, 1);
  t.is(cb!.state, 'ESTABLISHED');
  t.is(accepted.length, 1);
  t.is(accepted[0]!.tcpState, 'ESTABLISHED');
  t.is(h.s.tcp.listenerList()[0]!.synQueue.size, 0);
  t.like(h.s.tcp.stats.c, { accepts: 1, connects: 1, connAttempts: 0 });
  // The accepted socket carries data both ways.
  const got = collect(accepted[0]!);
  peer.sendData(Buffer.from('ping'));
  accepted[0]!.write('pong');
  await pump(net.clock, 50, 10);
  t.is(got.text(), 'ping');
  t.is(Buffer.from(peer.absorb(peer.take())).toString(), 'pong');
});

test('passive open: a retransmitted SYN in SYN_RECEIVED gets the SYN-ACK again', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  h.s.net.createServer().listen(80);
  await turns();
  const peer = new RawPeer(net, h);
  peer.sendSyn(80);
  await pump(net.clock, 1);
  const [first] = peer.take();
  peer.sendSyn(80);
  await pump(net.clock, 1);
  const again = peer.take();
  t.is(again.length, 1);
  t.is(again[0]!.flags, TH_SYN | TH_ACK, describe(again[0]!));
  t.is(again[0]!.seq, first!.seq);
  t.is(peer.cb()!.state, 'SYN_RECEIVED');
});

test('simultaneous open (Figure 8): the raw peer’s SYN crosses ours; SYN_SENT → SYN_RECEIVED → ESTABLISHED', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port, localPort: 5555 });
  const ev = events(sock);
  const syn = await peer.accept(false);
  // Line 3: our SYN (no ACK) crosses the stack's.
  peer.send({ flags: TH_SYN, seq: peer.iss, ack: 0, options: { mss: 1440 } });
  peer.sndNxt = peer.iss + 1;
  await pump(net.clock, 1);
  t.is(sock.tcpState, 'SYN_RECEIVED');
  // Line 5: the stack sends SYN,ACK with its ISS again.
  const [synAck] = peer.take();
  t.is(synAck!.flags, TH_SYN | TH_ACK, describe(synAck!));
  t.is(synAck!.seq, syn.seq);
  t.is(synAck!.ack, peer.iss + 1);
  // Line 6: our SYN,ACK completes it.
  peer.send({ flags: TH_SYN | TH_ACK, seq: peer.iss, ack: syn.seq + 1, options: { mss: 1440 } });
  await pump(net.clock, 1);
  t.is(sock.tcpState, 'ESTABLISHED');
  t.deepEqual(ev, ['connect', 'ready']);
  t.is(h.s.tcp.stats.c.connects, 1);
});

test('simultaneous open between two stacks: both SYNs cross on the link and both sides connect', async (t) => {
  const net = tcpNet({ hosts: 2 });
  const [a, b] = net.hosts as [NonNullable<(typeof net.hosts)[0]>, NonNullable<(typeof net.hosts)[0]>];
  const sa = a.s.net.connect({ host: llText(b), port: 6000, localPort: 5000 });
  const sb = b.s.net.connect({ host: llText(a), port: 5000, localPort: 6000 });
  const ea = events(sa);
  const eb = events(sb);
  await pump(net.clock, 20, 1);
  t.is(sa.tcpState, 'ESTABLISHED');
  t.is(sb.tcpState, 'ESTABLISHED');
  t.deepEqual(ea, ['connect', 'ready']);
  t.deepEqual(eb, ['connect', 'ready']);
  t.is(a.s.tcp.stats.c.sndRst + b.s.tcp.stats.c.sndRst, 0);
  const ga = collect(sa);
  const gb = collect(sb);
  sa.write('from a');
  sb.write('from b');
  await pump(net.clock, 100, 10);
  t.is(gb.text(), 'from a');
  t.is(ga.text(), 'from b');
});

test('active close: FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT → CLOSED after exactly 2·MSL', async (t) => {
  const { net, h, peer, sock, cb } = await connected();
  sock.end();
  await pump(net.clock, 1);
  t.is(cb.state, 'FIN_WAIT_1');
  const [fin] = peer.take();
  t.is(fin!.flags & (TH_FIN | TH_ACK), TH_FIN | TH_ACK, describe(fin!));
  // The FIN's ACK only.
  peer.rcvNxt = fin!.seq + 1;
  peer.send({});
  await pump(net.clock, 1);
  t.is(cb.state, 'FIN_WAIT_2');
  t.deepEqual(peer.take(), [], 'an ACK is not acknowledged');
  peer.sendFin();
  await pump(net.clock, 1);
  t.is(cb.state, 'TIME_WAIT');
  const [ack] = peer.take();
  t.is(ack!.flags, TH_ACK);
  t.is(ack!.ack, peer.sndNxt, 'our FIN acknowledged');
  const enteredAt = net.clock.now() - 1;
  await pump(net.clock, 2 * MSL - 2, 10_000);
  t.is(cb.state, 'TIME_WAIT', `still TIME_WAIT at +${net.clock.now() - enteredAt} ms`);
  await pump(net.clock, 2, 1);
  t.is(cb.state, 'CLOSED');
  t.is(h.s.tcp.connections().length, 0, 'the TCB left the table');
});

test('passive close: CLOSE_WAIT on the peer’s FIN, LAST_ACK on end(), CLOSED on the FIN’s ACK', async (t) => {
  const { net, h, peer, sock, cb, ev } = await connected({ allowHalfOpen: true });
  sock.resume();
  peer.sendFin();
  await pump(net.clock, 1);
  t.is(cb.state, 'CLOSE_WAIT');
  const [ack] = peer.take();
  t.is(ack!.flags, TH_ACK);
  t.is(ack!.ack, peer.sndNxt);
  t.true(ev.includes('end'), ev.join());
  sock.end();
  await pump(net.clock, 1);
  t.is(cb.state, 'LAST_ACK');
  const [fin] = peer.take();
  t.truthy(fin!.flags & TH_FIN);
  peer.rcvNxt = fin!.seq + 1;
  peer.send({});
  await pump(net.clock, 1);
  t.is(cb.state, 'CLOSED');
  t.is(h.s.tcp.connections().length, 0, 'no TIME_WAIT on the passive closer');
  await pump(net.clock, 1);
  t.true(ev.includes('close'), ev.join());
  t.true(sock.destroyed);
});

test('passive close without allowHalfOpen: the socket ends its side by itself (CLOSE_WAIT → LAST_ACK)', async (t) => {
  const { net, peer, cb, sock, ev } = await connected();
  sock.resume();
  peer.sendFin();
  await pump(net.clock, 5, 1);
  t.is(cb.state, 'LAST_ACK');
  const fins = peer.take().filter((s) => s.flags & TH_FIN);
  t.is(fins.length, 1);
  peer.rcvNxt = fins[0]!.seq + 1;
  peer.send({});
  await pump(net.clock, 5, 1);
  t.is(cb.state, 'CLOSED');
  t.true(ev.includes('end') && ev.includes('finish') && ev.includes('close'), ev.join());
  t.is(ev.at(-1), 'close');
});

test('simultaneous close: FIN_WAIT_1 → CLOSING on the crossing FIN → TIME_WAIT on the ACK of ours', async (t) => {
  const { net, peer, sock, cb } = await connected({ allowHalfOpen: true });
  sock.resume();
  sock.end();
  await pump(net.clock, 1);
  const [fin] = peer.take();
  t.truthy(fin!.flags & TH_FIN);
  t.is(cb.state, 'FIN_WAIT_1');
  // Our FIN crosses theirs: it does not acknowledge the stack's FIN.
  peer.send({ flags: TH_FIN | TH_ACK, ack: fin!.seq });
  peer.sndNxt++;
  await pump(net.clock, 1);
  t.is(cb.state, 'CLOSING');
  const [ack] = peer.take();
  t.is(ack!.ack, peer.sndNxt, 'the crossing FIN is acknowledged');
  peer.send({ ack: fin!.seq + 1 });
  await pump(net.clock, 1);
  t.is(cb.state, 'TIME_WAIT');
  await pump(net.clock, 2 * MSL, 10_000);
  t.is(cb.state, 'CLOSED');
});

test('half-close: after end() the socket still receives data in FIN_WAIT_2, until the peer’s FIN', async (t) => {
  const { net, peer, sock, cb, ev } = await connected({ allowHalfOpen: true });
  const got = collect(sock);
  sock.end('last words');
  await pump(net.clock, 1);
  const out = peer.take();
  const fin = out.find((s) => s.flags & TH_FIN)!;
  t.is(Buffer.from(peer.absorb(out)).toString(), 'last words');
  peer.send({});
  await pump(net.clock, 1);
  t.is(cb.state, 'FIN_WAIT_2');
  t.is(peer.rcvNxt, fin.seq + 1);
  for (const word of ['still ', 'talking ', 'here']) {
    peer.sendData(Buffer.from(word));
    await pump(net.clock, 50, 10);
  }
  t.is(got.text(), 'still talking here');
  const acks = peer.take();
  t.true(acks.length >= 1);
  t.is(acks.at(-1)!.ack, peer.sndNxt, 'data acknowledged in FIN_WAIT_2');
  t.true(
    acks.every((s) => !(s.flags & TH_FIN) && s.seq === fin.seq + 1),
    `no second FIN once ours is acknowledged: ${acks.map(describe).join(' | ')}`,
  );
  t.is(cb.state, 'FIN_WAIT_2');
  peer.sendFin();
  await pump(net.clock, 1);
  t.is(cb.state, 'TIME_WAIT');
  t.true(ev.includes('end'));
});

test('TIME_WAIT answers a retransmitted FIN with an ACK and restarts the 2·MSL timer', async (t) => {
  const { net, peer, sock, cb, h } = await connected();
  sock.end();
  await pump(net.clock, 1);
  const [fin] = peer.take();
  peer.rcvNxt = fin!.seq + 1;
  peer.sendFin(); // FIN + ACK of the stack's FIN
  await pump(net.clock, 1);
  t.is(cb.state, 'TIME_WAIT');
  peer.take();
  await pump(net.clock, 40_000, 10_000);
  // The peer lost our ACK and sends its FIN again (same sequence number).
  peer.send({ flags: TH_FIN | TH_ACK, seq: peer.sndNxt - 1 });
  await pump(net.clock, 1);
  const [ack] = peer.take();
  t.truthy(ack, 'the FIN is acknowledged again');
  t.is(ack!.flags, TH_ACK);
  t.is(ack!.ack, peer.sndNxt);
  // 2·MSL counts from the retransmitted FIN: at +60 s from the first FIN it is still there.
  await pump(net.clock, 2 * MSL - 1000, 10_000);
  t.is(cb.state, 'TIME_WAIT', 'timer restarted');
  await pump(net.clock, 1000, 100);
  t.is(cb.state, 'CLOSED');
  t.is(h.s.tcp.connections().length, 0);
});

test('TIME_WAIT: a new SYN on the same four-tuple replaces it (timeWaitKilled)', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const server = h.s.net.createServer({ allowHalfOpen: false }, (s) => {
    s.resume();
    s.end();
  });
  server.listen(80);
  await turns();
  const peer = new RawPeer(net, h);
  await peer.connect(80);
  await pump(net.clock, 5, 1);
  const [fin] = peer.take().filter((s) => s.flags & TH_FIN);
  t.truthy(fin);
  peer.rcvNxt = fin!.seq + 1;
  peer.sendFin();
  await pump(net.clock, 5, 1);
  t.is(peer.cb()!.state, 'TIME_WAIT');
  peer.take();
  peer.iss += 100_000;
  peer.sndNxt = peer.iss;
  peer.sendSyn(80);
  await pump(net.clock, 1);
  const [synAck] = peer.take();
  t.is(synAck!.flags, TH_SYN | TH_ACK, describe(synAck!));
  t.is(synAck!.ack, peer.iss + 1);
  t.is(h.s.tcp.stats.c.timeWaitKilled, 1);
  t.is(peer.cb()!.state, 'SYN_RECEIVED');
});

test('data arriving after the application closed and went away is answered with RST (rcvAfterClose)', async (t) => {
  const { net, peer, sock, cb, h } = await connected();
  sock.end();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  peer.send({});
  await pump(net.clock, 1);
  t.is(cb.state, 'FIN_WAIT_2');
  sock.destroy();
  await pump(net.clock, 1);
  peer.take();
  peer.send({ data: new Uint8Array(100) });
  await pump(net.clock, 1);
  const rst = peer.take().filter((s) => s.flags & TH_RST);
  t.is(rst.length, 1, 'a RST answers the data');
  t.is(cb.state, 'CLOSED');
  t.like(h.s.tcp.stats.c, { rcvAfterClose: 1 });
});

test('FIN_WAIT_2 times out (finWait2Ms) once the application is gone, not while it may still read', async (t) => {
  // Gone: end() then destroy().
  {
    const { net, peer, sock, cb, h } = await connected();
    sock.end();
    await pump(net.clock, 1);
    peer.absorb(peer.take());
    peer.send({});
    await pump(net.clock, 1);
    t.is(cb.state, 'FIN_WAIT_2');
    sock.destroy();
    await pump(net.clock, 1);
    t.is(cb.state, 'FIN_WAIT_2');
    t.deepEqual(peer.take().filter((s) => s.flags & TH_RST), [], 'a clean close is not aborted');
    await pump(net.clock, h.s.tcp.config.finWait2Ms - 10, 10_000);
    t.is(cb.state, 'FIN_WAIT_2');
    await pump(net.clock, 20, 10);
    t.is(cb.state, 'CLOSED');
    t.is(h.s.tcp.connections().length, 0);
  }
  // Still there (half-closed, reading): FIN_WAIT_2 lasts.
  {
    const { net, peer, sock, cb } = await connected({ allowHalfOpen: true });
    sock.resume();
    sock.end();
    await pump(net.clock, 1);
    peer.absorb(peer.take());
    peer.send({});
    await pump(net.clock, 1);
    await pump(net.clock, 300_000, 30_000);
    t.is(cb.state, 'FIN_WAIT_2');
  }
});

test('data in both directions during ESTABLISHED is delivered in order and acknowledged', async (t) => {
  const { net, peer, sock } = await connected();
  const got = collect(sock);
  const payload = bytes(5000, 3);
  sock.write(payload);
  await pump(net.clock, 1);
  // Three full segments; Nagle holds the 680-byte tail until they are acknowledged.
  const first = peer.take();
  t.deepEqual(first.map((s) => s.data.length), [1440, 1440, 1440]);
  const head = peer.absorb(first);
  peer.send({});
  await pump(net.clock, 1);
  const tail = peer.take();
  t.true([...first, ...tail].every((s) => s.cksumOk));
  t.deepEqual(Buffer.concat([head, peer.absorb(tail)]), Buffer.from(payload));
  peer.send({});
  peer.sendData(Buffer.from('reply'));
  await pump(net.clock, 50, 10);
  t.is(got.text(), 'reply');
  t.is(sock.bytesWritten, 5000);
  t.is(sock.bytesRead, 5);
});

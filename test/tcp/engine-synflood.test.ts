/**
 * Listener limits: SYN cookies once the SYN queue is full (RFC 4987 §3.6),
 * their validation, and the accept queue bounded by the listen backlog.
 */
import test from 'ava';
import type { Socket } from '../../src/tcp/socket.ts';
import { RawPeer, type SegSeen, TH_ACK, TH_RST, TH_SYN, collect, describe, pump, tcpNet, turns } from '../helpers/tcp.ts';
import type { Net } from '../helpers/stack.ts';

async function listening(backlog = 511) {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const server = h.s.net.createServer();
  const accepted: Socket[] = [];
  server.on('connection', (s: Socket) => accepted.push(s));
  server.listen(80, '::', backlog);
  await turns();
  return { net, h, server, accepted, l: h.s.tcp.listenerList()[0]! };
}

/** `n` raw peers on ports 4000.. each sending a SYN to port 80; returns them with their SYN-ACKs. */
async function synBurst(net: Net, n: number, first = 4000) {
  const h = net.hosts[0]!;
  const peers = Array.from({ length: n }, (_, i) => new RawPeer(net, h, { port: first + i, mss: 1440 }));
  for (const p of peers) p.sendSyn(80);
  await pump(net.clock, 1);
  const synAcks = peers.map((p) => p.take().find((s) => s.flags === (TH_SYN | TH_ACK)));
  return { peers, synAcks: synAcks as (SegSeen | undefined)[] };
}

test('SYN flood: beyond synQueueLimit SYNs are answered with cookies and no state is kept', async (t) => {
  const { net, h, l } = await listening();
  h.s.tcp.synQueueLimit = 4;
  const { synAcks } = await synBurst(net, 10);
  t.true(
    synAcks.every((s) => s !== undefined),
    'every SYN is answered',
  );
  t.is(l.synQueue.size, 4);
  t.is(h.s.tcp.connections().length, 4, 'only the queued ones have a TCB');
  t.like(h.s.tcp.stats.c, { synQueueFull: 6, cookiesSent: 6 });
  // The cookie SYN-ACKs carry only an MSS: no state means no options to remember.
  for (const s of synAcks.slice(4)) {
    t.deepEqual(Object.keys(s!.options), ['mss'], describe(s!));
    t.is(s!.window, 65535);
  }
});

test('SYN cookie: the ACK that returns a valid cookie completes the connection (cookiesOk)', async (t) => {
  const { net, h, accepted } = await listening();
  h.s.tcp.synQueueLimit = 1;
  const { peers, synAcks } = await synBurst(net, 3);
  const p = peers[2]!;
  p.rcvNxt = (synAcks[2]!.seq + 1) >>> 0;
  // The handshake's ACK carries data already.
  p.sendData(Buffer.from('GET / HTTP/1.0\r\n\r\n'));
  await pump(net.clock, 5, 1);
  t.is(h.s.tcp.stats.c.cookiesOk, 1);
  t.is(accepted.length, 1);
  const s = accepted[0]!;
  t.is(s.remotePort, p.port);
  t.is(s.tcpState, 'ESTABLISHED');
  const got = collect(s);
  await pump(net.clock, 50, 10);
  t.is(got.text(), 'GET / HTTP/1.0\r\n\r\n', 'the data that came with the ACK is delivered');
  const cb = p.cb()!;
  t.is(cb.sndWscale, 0);
  t.is(cb.rcvWscale, 0);
  t.false(cb.tsOk);
  t.is(cb.mss, 1440, 'from the cookie’s MSS table');
  s.write('HTTP/1.0 200 OK\r\n\r\n');
  await pump(net.clock, 10, 1);
  t.is(Buffer.from(p.absorb(p.take())).toString(), 'HTTP/1.0 200 OK\r\n\r\n');
});

test('SYN cookie: a wrong or forged cookie gets <SEQ=SEG.ACK><CTL=RST> (cookiesBad)', async (t) => {
  const { net, h, accepted } = await listening();
  h.s.tcp.synQueueLimit = 1;
  const { peers, synAcks } = await synBurst(net, 2);
  const p = peers[1]!;
  p.rcvNxt = (synAcks[1]!.seq + 2) >>> 0; // off by one
  p.send({});
  // And an ACK out of nowhere.
  const q = new RawPeer(net, h, { port: 5000 });
  q.remotePort = 80;
  q.send({ seq: 1, ack: 0xdeadbeef });
  await pump(net.clock, 5, 1);
  const [rst] = p.take();
  t.is(rst!.flags, TH_RST);
  t.is(rst!.seq, p.rcvNxt);
  const [rst2] = q.take();
  t.is(rst2!.flags, TH_RST);
  t.is(rst2!.seq, 0xdeadbeef);
  t.like(h.s.tcp.stats.c, { cookiesBad: 2, cookiesOk: 0 });
  t.is(accepted.length, 0);
});

test('SYN cookie: one from two periods ago is stale', async (t) => {
  const { net, h } = await listening();
  h.s.tcp.synQueueLimit = 0;
  const { peers, synAcks } = await synBurst(net, 1);
  await pump(net.clock, 2 * 64_000 + 1000, 10_000);
  const p = peers[0]!;
  p.rcvNxt = (synAcks[0]!.seq + 1) >>> 0;
  p.send({});
  await pump(net.clock, 1);
  t.is(p.take()[0]?.flags, TH_RST);
  t.is(h.s.tcp.stats.c.cookiesBad, 1);
});

test('listen backlog: handshakes completing faster than the application accepts overflow it (listenOverflow)', async (t) => {
  const { net, h, accepted, l } = await listening(2);
  const { peers, synAcks } = await synBurst(net, 5);
  t.is(l.synQueue.size, 5);
  // All five complete within one turn of the clock: two fit the backlog.
  peers.forEach((p, i) => {
    p.rcvNxt = (synAcks[i]!.seq + 1) >>> 0;
    p.sendData(Buffer.from(`hello from ${p.port}`));
  });
  await pump(net.clock, 1);
  const c = h.s.tcp.stats.c;
  t.is(c.listenOverflow, 3);
  t.is(c.accepts, 2);
  t.is(accepted.length, 2);
  t.deepEqual(
    accepted.map((s) => s.remotePort),
    [4000, 4001],
  );
  for (const p of peers.slice(2)) t.truthy(p.take().find((s) => s.flags & TH_RST), `${p.port} reset`);
  // What arrived before the accept is there for the socket.
  const texts = accepted.map((s) => collect(s));
  await pump(net.clock, 10, 1);
  t.deepEqual(
    texts.map((x) => x.text()),
    ['hello from 4000', 'hello from 4001'],
  );
  // Once accepted, the queue has room again.
  const late = new RawPeer(net, h, { port: 4100 });
  await late.connect(80);
  await pump(net.clock, 1);
  t.is(accepted.length, 3);
  t.is(c.listenOverflow, 3);
});

test('closing the server resets connections still in the SYN queue', async (t) => {
  const { net, server } = await listening();
  const { peers } = await synBurst(net, 2);
  server.close();
  await pump(net.clock, 1);
  for (const p of peers) t.is(p.take()[0]?.flags & TH_RST, TH_RST);
  // Later segments for them find no socket.
  const h = net.hosts[0]!;
  t.is(h.s.tcp.connections().length, 0);
});

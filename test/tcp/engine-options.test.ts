/**
 * TCP options as negotiated and used by the engine: MSS (RFC 9293 §3.7.1)
 * from the link MTU, Window Scale and Timestamps with PAWS (RFC 7323),
 * SACK-Permitted and the SACK blocks sent for out-of-order data (RFC 2018).
 */
import test from 'ava';
import { TcpCb } from '../../src/tcp/tcpcb.ts';
import { RAW_TEXT, RawPeer, type PeerOptions, TH_ACK, TH_SYN, bytes, collect, describe, pump, tcpNet, turns } from '../helpers/tcp.ts';

/** The stack opens a connection to a raw peer with the given options. */
async function open(o: PeerOptions = {}, tcp: Parameters<typeof tcpNet>[0] = {}) {
  const net = tcpNet(tcp);
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h, o);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const syn = await peer.accept();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  return { net, h, peer, sock, syn, cb: peer.cb()! };
}

/** A listener on the stack and a raw peer that connects to it with the given options. */
async function accepted(o: PeerOptions = {}) {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const server = h.s.net.createServer();
  const socks: import('../../src/tcp/socket.ts').Socket[] = [];
  server.on('connection', (s) => socks.push(s));
  server.listen(80);
  await turns();
  const peer = new RawPeer(net, h, o);
  const synAck = await peer.connect(80);
  return { net, h, peer, synAck, sock: socks[0]!, cb: peer.cb()! };
}

// ---- MSS ----------------------------------------------------------------------

test('MSS: the SYN offers link MTU − 60; segments follow the smaller of both sides’ MSS', async (t) => {
  const { syn, sock, peer, net } = await open({ mss: 1000 });
  t.is(syn.options.mss, 1440, 'MTU 1500 − 40 (IPv6) − 20 (TCP)');
  sock.setNoDelay(true);
  sock.write(bytes(2500));
  await pump(net.clock, 1);
  t.deepEqual(
    peer.take().map((s) => s.data.length),
    [1000, 1000, 500],
    'the peer’s MSS 1000 rules (no timestamps here)',
  );
});

test('MSS: a smaller interface MTU is offered; a larger peer MSS is capped by our path MTU', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  h.ifp.mtu = 1400;
  const peer = new RawPeer(net, h, { mss: 9000 });
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const syn = await peer.accept();
  t.is(syn.options.mss, 1340);
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  sock.setNoDelay(true);
  sock.write(bytes(3000));
  await pump(net.clock, 1);
  const segs = peer.take();
  t.deepEqual(
    segs.map((s) => s.data.length),
    [1340, 1340, 320],
  );
  t.true(segs.every((s) => s.packetLen <= 1400));
});

test('MSS: a SYN without the option means 1220 for IPv6 (RFC 9293 §3.7.1)', async (t) => {
  const { sock, peer, net, synAck } = await accepted({ mss: null });
  t.is(synAck.options.mss, 1440);
  sock.setNoDelay(true);
  sock.write(bytes(3000));
  await pump(net.clock, 1);
  t.deepEqual(
    peer.take().map((s) => s.data.length),
    [1220, 1220, 560],
  );
});

// ---- Window Scale ---------------------------------------------------------------

test('window scale: offered in the SYN; used both ways when the peer answers with its own', async (t) => {
  const { syn, cb, sock, peer, net, h } = await open({ wscale: 3, window: 1000 });
  const shift = TcpCb.wscaleFor(h.s.tcp.config.maxRcvBuf);
  t.is(shift, 7, '4 MiB needs a shift of 7');
  t.is(syn.options.wscale, shift);
  t.is(syn.window, 65535, 'the window in a SYN is never scaled');
  t.is(cb.sndWscale, 3);
  t.is(cb.rcvWscale, shift);
  // The handshake's ACK carried 1000 << 3 = 8000 bytes of window: exactly that much is sent.
  sock.setNoDelay(true);
  sock.write(bytes(20_000));
  await pump(net.clock, 1);
  const segs = peer.take();
  t.is(
    segs.reduce((n, s) => n + s.data.length, 0),
    8000,
    segs.map(describe).join(' | '),
  );
  // Our window field is scaled down by our shift.
  t.is(segs[0]!.window, (h.s.tcp.config.rcvBuf >>> shift) & 0xffff);
  t.is(segs[0]!.window << shift, h.s.tcp.config.rcvBuf);
});

test('window scale: not used when the peer’s SYN-ACK omits it (both shifts 0)', async (t) => {
  const { cb, sock, peer, net } = await open({ wscale: null, window: 1000 });
  t.is(cb.sndWscale, 0);
  t.is(cb.rcvWscale, 0);
  sock.setNoDelay(true);
  sock.write(bytes(20_000));
  await pump(net.clock, 1);
  const segs = peer.take();
  t.is(
    segs.reduce((n, s) => n + s.data.length, 0),
    1000,
    'the window is taken as is',
  );
  t.is(segs[0]!.window, 65535, 'our window unscaled, capped at 65535');
});

test('window scale: a listener answers a SYN with Window Scale with its own, and one without without', async (t) => {
  {
    const { synAck, cb } = await accepted({ wscale: 2 });
    t.is(synAck.options.wscale, 7);
    t.is(cb.sndWscale, 2);
    t.is(cb.rcvWscale, 7);
  }
  {
    const { synAck, cb, peer, net, sock } = await accepted({ wscale: null });
    t.is(synAck.options.wscale, undefined);
    t.is(cb.sndWscale, 0);
    t.is(cb.rcvWscale, 0);
    sock.write('x');
    await pump(net.clock, 1);
    const [seg] = peer.take();
    t.is(seg!.window, 65535);
  }
});

test('window scale: a shift above 14 is used as 14 (RFC 7323 §2.3)', async (t) => {
  const { cb } = await accepted({ wscale: 20 });
  t.is(cb.sndWscale, 14);
});

// ---- Timestamps and PAWS ------------------------------------------------------------

test('timestamps: negotiated; TSecr echoes the peer’s latest TSval; none without the peer’s option', async (t) => {
  {
    const { syn, peer, sock, net, cb } = await open({ ts: true });
    t.truthy(syn.options.ts);
    t.is(syn.options.ts!.ecr, 0, 'TSecr 0 in a SYN');
    t.true(cb.tsOk);
    peer.tsVal = 5000;
    peer.sendData(Buffer.from('a'));
    await pump(net.clock, 100, 10);
    const [ack] = peer.take();
    t.is(ack!.options.ts!.ecr, 5000, describe(ack!));
    const val1 = ack!.options.ts!.val;
    peer.tsVal = 5100;
    sock.write('b');
    peer.sendData(Buffer.from('c'));
    await pump(net.clock, 100, 10);
    const later = peer.take();
    t.true(later.every((s) => s.options.ts !== undefined));
    t.is(later.at(-1)!.options.ts!.ecr, 5100);
    t.true(later.at(-1)!.options.ts!.val >= val1 + 100, 'TSval follows the clock (1 ms ticks)');
    // Data segments are 12 bytes shorter: MSS 1440 − 12.
    t.is(cb.mss, 1428);
  }
  {
    const { peer, sock, net, cb } = await open({ ts: false });
    t.false(cb.tsOk);
    sock.write('x');
    await pump(net.clock, 1);
    t.true(peer.take().every((s) => s.options.ts === undefined));
    t.is(cb.mss, 1440);
  }
});

test('timestamps: RTT is measured from TSecr (srtt set after an ACK)', async (t) => {
  const { peer, sock, net, cb } = await open({ ts: true });
  const before = cb.rtt.srtt!;
  t.true(before <= 1, 'the handshake took no time on this link');
  sock.write(bytes(1000));
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  await pump(net.clock, 49, 49);
  // The ACK echoes the data segment's TSval, sent 50 ms ago: SRTT moves by 1/8 of the difference.
  peer.send({});
  await pump(net.clock, 1);
  const expected = (7 / 8) * before + 50 / 8;
  t.true(Math.abs(cb.rtt.srtt! - expected) < 0.5, `srtt ${cb.rtt.srtt}, expected ${expected}`);
});

test('PAWS: a segment with an older TSval is dropped, counted (rcvPaws) and answered with an ACK', async (t) => {
  const { peer, sock, net, h } = await open({ ts: true });
  const got = collect(sock);
  peer.tsVal = 10_000;
  peer.sendData(Buffer.from('new '));
  await pump(net.clock, 50, 10);
  peer.take();
  // A segment from an earlier incarnation: in sequence, but TSval went backwards.
  peer.send({ data: Buffer.from('OLD'), options: { ts: { val: 9_000, ecr: peer.tsEcr } } });
  await pump(net.clock, 1);
  t.is(h.s.tcp.stats.c.rcvPaws, 1);
  const [ack] = peer.take();
  t.truthy(ack);
  t.is(ack!.ack, peer.sndNxt, 'RCV.NXT did not move');
  t.is(ack!.options.ts!.ecr, 10_000, 'TS.Recent unchanged');
  peer.tsVal = 10_001;
  peer.sendData(Buffer.from('ok'));
  await pump(net.clock, 50, 10);
  t.is(got.text(), 'new ok');
});

test('PAWS does not apply to RST (RFC 7323 §5.3 R1)', async (t) => {
  const { peer, sock, net, h } = await open({ ts: true });
  const errs: string[] = [];
  sock.on('error', (e: Error & { code?: string }) => errs.push(e.code!));
  peer.tsVal = 10_000;
  peer.sendData(Buffer.from('x'));
  await pump(net.clock, 50, 10);
  peer.send({ flags: 0x04, options: { ts: { val: 1, ecr: 0 } } });
  await pump(net.clock, 1);
  t.is(h.s.tcp.stats.c.rcvPaws, 0);
  t.deepEqual(errs, ['ECONNRESET']);
});

// ---- SACK ---------------------------------------------------------------------------

test('SACK: negotiated; out-of-order data gets duplicate ACKs with blocks, the most recent first', async (t) => {
  const { peer, sock, net, cb, syn } = await open({ sackPermitted: true, ts: true });
  t.true(syn.options.sackPermitted);
  t.true(cb.sackOk);
  const got = collect(sock);
  const base = peer.sndNxt;
  const seg = (i: number) => bytes(100, i);
  const at = (i: number) => (base + 100 * i) >>> 0;
  const send = (i: number) => peer.send({ seq: at(i), data: seg(i), flags: TH_ACK });
  send(0);
  await pump(net.clock, 1);
  peer.take();
  send(2);
  await pump(net.clock, 1);
  let [ack] = peer.take();
  t.is(ack!.ack, at(1), 'a duplicate ACK, sent at once');
  t.deepEqual(ack!.options.sack, [[at(2), at(3)]]);
  send(4);
  await pump(net.clock, 1);
  [ack] = peer.take();
  t.deepEqual(ack!.options.sack, [
    [at(4), at(5)],
    [at(2), at(3)],
  ]);
  send(6);
  await pump(net.clock, 1);
  [ack] = peer.take();
  t.deepEqual(ack!.options.sack, [
    [at(6), at(7)],
    [at(4), at(5)],
    [at(2), at(3)],
  ]);
  send(8);
  await pump(net.clock, 1);
  [ack] = peer.take();
  t.is(ack!.options.sack!.length, 3, 'three blocks at most next to Timestamps');
  t.deepEqual(ack!.options.sack![0], [at(8), at(9)]);
  // Filling 3 joins blocks 2 and 4; the joined block comes first.
  send(3);
  await pump(net.clock, 1);
  [ack] = peer.take();
  t.deepEqual(ack!.options.sack![0], [at(2), at(5)]);
  // Filling the first hole moves RCV.NXT over 1..5; blocks 6 and 8 remain.
  send(1);
  await pump(net.clock, 1);
  [ack] = peer.take();
  t.is(ack!.ack, at(5));
  t.deepEqual(ack!.options.sack, [
    [at(8), at(9)],
    [at(6), at(7)],
  ]);
  send(5);
  send(7);
  await pump(net.clock, 1);
  [ack] = peer.take().slice(-1);
  t.is(ack!.ack, at(9));
  t.is(ack!.options.sack, undefined, 'no blocks once in order');
  await pump(net.clock, 10);
  t.deepEqual(got.bytes(), Buffer.concat([0, 1, 2, 3, 4, 5, 6, 7, 8].map(seg)));
  t.is(net.hosts[0]!.s.tcp.stats.c.rcvOooSegs, 5, "2, 4, 6, 8 and 3");
});

test('SACK: without SACK-Permitted from the peer, no blocks are sent', async (t) => {
  const { peer, net, cb, syn } = await open({ sackPermitted: false });
  t.true(syn.options.sackPermitted, 'we offer it');
  t.false(cb.sackOk);
  peer.send({ seq: (peer.sndNxt + 100) >>> 0, data: bytes(100) });
  await pump(net.clock, 1);
  const [ack] = peer.take();
  t.is(ack!.ack, peer.sndNxt);
  t.is(ack!.options.sack, undefined);
});

test('SACK: a listener echoes SACK-Permitted only when the SYN had it', async (t) => {
  t.true((await accepted({ sackPermitted: true })).synAck.options.sackPermitted);
  t.falsy((await accepted({ sackPermitted: false })).synAck.options.sackPermitted);
  const plain = await accepted({ sackPermitted: false, ts: false });
  t.is(plain.synAck.options.ts, undefined, 'nor Timestamps');
});

test('the SYN-ACK of a listener carries exactly the options the SYN asked for', async (t) => {
  const { synAck } = await accepted({ sackPermitted: true, ts: true, wscale: 5, mss: 1400 });
  t.is(synAck.flags, TH_SYN | TH_ACK);
  t.like(synAck.options, { mss: 1440, wscale: 7, sackPermitted: true });
  t.truthy(synAck.options.ts);
  t.is(synAck.options.ts!.ecr, 1000, 'echoes the SYN’s TSval');
});

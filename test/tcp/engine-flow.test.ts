/**
 * Flow control and the timers around it: zero-window probing (RFC 9293
 * §3.8.6.1) and the window reopening, the receive window closing while the
 * application does not read and the window update when it does (§3.8.6.2.2),
 * delayed ACKs (§3.8.6.3), Nagle (§3.7.4) and keepalive (§3.8.4).
 */
import test from 'ava';
import { established, type PeerOptions, TH_ACK, bytes, collect, describe, pump, tcpNet } from '../helpers/tcp.ts';

// ---- zero window ----------------------------------------------------------------

test('zero window: the sender stops, probes with backoff while the window stays shut, and never gives up', async (t) => {
  const { net, h, peer, sock, cb, ev } = await established({ mss: 1000 });
  sock.write(bytes(2000));
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  // Everything acknowledged, window 0.
  peer.send({ window: 0 });
  await pump(net.clock, 1);
  sock.write(bytes(3000, 1));
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), [], 'nothing sent into a zero window');
  // Probes: each answered by an ACK that keeps the window shut and does not take the byte.
  const probes: number[] = [];
  for (let ms = 0; ms < 400_000; ms += 100) {
    await pump(net.clock, 100, 100);
    for (const s of peer.take()) {
      if (s.data.length > 0) {
        probes.push(s.at);
        t.is(s.data.length, 1, `a probe carries one byte: ${describe(s)}`);
        t.is(s.seq, peer.rcvNxt, 'the probe is the next byte');
        peer.send({ window: 0 });
      }
    }
  }
  const c = h.s.tcp.stats.c;
  t.true(probes.length >= 6, `probes at ${probes.join(', ')}`);
  const g = probes.slice(1).map((x, i) => x - probes[i]!);
  t.true(
    g.slice(0, 4).every((x, i) => i === 0 || x >= 2 * g[i - 1]! - 200),
    `intervals back off: ${g.join(', ')}`,
  );
  t.true(g.every((x) => x <= 60_000 + 200), 'at most a minute apart');
  t.is(c.sndProbe, probes.length);
  t.is(c.fastRexmits, 0, 'window probe answers are not duplicate ACKs');
  t.is(c.rexmtTimeouts, 0, 'probes are the persist timer’s, not retransmission timeouts');
  t.is(cb.state, 'ESTABLISHED', 'a receiver that answers is never given up');
  t.deepEqual(ev, ['connect', 'ready']);
  // The window opens: the data follows from the first byte the receiver has not taken, without a hole.
  peer.send({ window: 65535 });
  await pump(net.clock, 1);
  const segs = peer.take();
  t.is(segs[0]!.seq, peer.rcvNxt, describe(segs[0]!));
  t.deepEqual(Buffer.from(peer.absorb(segs)), Buffer.from(bytes(3000, 1)));
  t.is(c.rexmtTimeouts, 0);
});

/** Data waiting behind a zero window; returns the probes seen over `ms`, answered (window still 0) or not. */
async function probeFor(r: Awaited<ReturnType<typeof established>>, ms: number, answer: boolean) {
  const probes: number[] = [];
  const rsts: number[] = [];
  for (let t = 0; t < ms; t += 100) {
    await pump(r.net.clock, 100, 100);
    for (const s of r.peer.take()) {
      if (s.flags & 0x04) rsts.push(s.at);
      else if (s.data.length > 0) {
        probes.push(s.at);
        if (answer) r.peer.send({ window: 0 });
      }
    }
  }
  return { probes, rsts };
}

async function shutWindow(o: Parameters<typeof tcpNet>[0], p: PeerOptions = {}) {
  const r = await established({ mss: 1000, ...p }, o);
  r.peer.send({ window: 0 });
  await pump(r.net.clock, 1);
  r.sock.write(bytes(3000, 1));
  await pump(r.net.clock, 1);
  return r;
}

test('zero window: maxRexmits probes unanswered in a row drop the connection (ETIMEDOUT, RST)', async (t) => {
  const r = await shutWindow({ tcp: { maxRexmits: 3 } });
  const { probes, rsts } = await probeFor(r, 60_000, false);
  t.is(probes.length, 3, `probes at ${probes.join(', ')}`);
  t.is(rsts.length, 1, 'BSD tcp_drop: the peer is told');
  t.true(rsts[0]! > probes[2]!);
  t.deepEqual(r.ev, ['connect', 'ready', 'error:ETIMEDOUT', 'close']);
  t.like(r.h.s.tcp.stats.c, { persistDrops: 1, sndProbe: 3, timeoutDrops: 0 });
  t.is(r.h.s.tcp.connections().length, 0);
});

for (const sack of [false, true]) test(`zero window: answered probes are never given up, whatever maxRexmits says; an answer resets the count (sack ${sack})`, async (t) => {
  const r = await shutWindow({ tcp: { maxRexmits: 3 } }, { sackPermitted: sack });
  t.is(r.cb.rack !== null, sack);
  const answered = await probeFor(r, 120_000, true);
  t.true(answered.probes.length > 6, `${answered.probes.length} probes`);
  t.is(r.cb.state, 'ESTABLISHED');
  t.is(r.cb.persistProbesOut, 0, 'every probe was answered');
  t.like(r.h.s.tcp.stats.c, { rexmtTimeouts: 0, tlpProbes: 0 });
  // Now the peer goes silent: three more unanswered probes and it is over.
  const silent = await probeFor(r, 200_000, false);
  t.is(silent.probes.length, 3, 'three unanswered in a row');
  t.is(silent.rsts.length, 1);
  t.deepEqual(r.ev, ['connect', 'ready', 'error:ETIMEDOUT', 'close']);
});

test('zero window: an orphaned connection gives up after orphanRetries probes even if they are answered', async (t) => {
  const r = await shutWindow({ tcp: { orphanRetries: 4 } });
  r.sock.destroy(); // the application is gone; the data and the FIN wait behind the shut window
  await pump(r.net.clock, 1);
  t.is(r.cb.state, 'FIN_WAIT_1');
  t.true(r.cb.ownerGone);
  const { probes, rsts } = await probeFor(r, 120_000, true);
  t.is(probes.length, 4, `probes at ${probes.join(', ')}`);
  t.is(rsts.length, 1);
  t.is(r.h.s.tcp.connections().length, 0);
  t.like(r.h.s.tcp.stats.c, { persistDrops: 1 });
});

test('zero window: an ACK that opens the window resumes sending at once', async (t) => {
  const { net, peer, sock, cb } = await established({ mss: 1000 });
  peer.send({ window: 0 });
  await pump(net.clock, 1);
  sock.write(bytes(5000));
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), []);
  t.is(cb.sndWnd, 0);
  peer.send({ window: 65535 });
  await pump(net.clock, 1);
  const segs = peer.take();
  t.deepEqual(
    segs.map((s) => s.data.length),
    [1000, 1000, 1000, 1000, 1000],
  );
  t.deepEqual(Buffer.from(peer.absorb(segs)), Buffer.from(bytes(5000)));
});

test('receiver: a paused socket lets the window close; reading sends a window update and the data resumes', async (t) => {
  // 64 KiB of receive buffer, no window scaling from the peer: windows are exact.
  const { net, peer, sock, cb } = await established({ mss: 1000, wscale: null }, { tcp: { rcvBuf: 65535 } });
  sock.pause();
  // The peer sends whatever the advertised window allows, 1000 bytes at a time, as a sender would.
  let lastAck = { ack: peer.sndNxt, window: 65535 };
  const start = peer.sndNxt;
  for (let round = 0; round < 200; round++) {
    const room = (lastAck.ack + lastAck.window - peer.sndNxt) | 0;
    if (room > 0) peer.sendData(bytes(Math.min(1000, room), round));
    await pump(net.clock, 50, 10);
    for (const s of peer.take()) lastAck = { ack: s.ack, window: s.window };
    if (room <= 0 && lastAck.window === 0) break;
  }
  const sent = (peer.sndNxt - start) | 0;
  t.is(lastAck.window, 0, 'the window closed');
  t.is(sent, 65535);
  t.is(lastAck.ack, peer.sndNxt, 'everything acknowledged');
  t.is(cb.rcvWindow(), 0);
  // The application reads: a window update goes out without the peer sending anything.
  const got = collect(sock);
  sock.resume();
  await pump(net.clock, 10, 1);
  const updates = peer.take();
  t.true(updates.length >= 1, 'window update sent');
  t.true(updates.at(-1)!.window > 0);
  t.is(updates.at(-1)!.ack, lastAck.ack, 'a pure window update');
  t.is(got.length, 65535);
});

test('receiver: read() in paused mode reopens a window the stream buffer swallowed whole', async (t) => {
  // 8 KiB of receive buffer: less than the stream's highWaterMark, so the whole window sits in the stream.
  const { net, peer, sock, cb } = await established({ mss: 1000, wscale: null }, { tcp: { rcvBuf: 8192 } });
  sock.pause();
  for (let i = 0; i < 9; i++) peer.sendData(bytes(i < 8 ? 1000 : 192, i));
  await pump(net.clock, 100, 10);
  const shut = peer.take().at(-1)!;
  t.is(shut.window, 0);
  t.is(shut.ack, peer.sndNxt);
  t.is(sock.readableLength, 8192);
  const chunk = sock.read() as Buffer | null;
  t.truthy(chunk);
  await pump(net.clock, 10, 1);
  t.is(cb.rcvQueued, sock.readableLength, 'what left the stream buffer counts as consumed');
  const upd = peer.take();
  t.true(upd.length >= 1 && upd.at(-1)!.window > 0, 'a window update, without waiting for a probe');
});

test('stack to stack: a reader that stops makes the sender stop; reading again lets all the data through', async (t) => {
  const net = tcpNet({ hosts: 2, tcp: { rcvBuf: 64 * 1024, sndBuf: 128 * 1024 } });
  const [a, b] = net.hosts as [NonNullable<(typeof net.hosts)[0]>, NonNullable<(typeof net.hosts)[0]>];
  let server!: import('../../src/tcp/socket.ts').Socket;
  b.s.net.createServer((s) => (server = s)).listen(7000);
  await pump(net.clock, 1);
  const c = a.s.net.connect({ host: `fe80::ff:fe00:b%vl0`, port: 7000 });
  await pump(net.clock, 5, 1);
  server.pause();
  const payload = bytes(1 << 20, 9);
  let flushed = false;
  c.write(payload, () => (flushed = true));
  await pump(net.clock, 2000, 10);
  const sender = a.s.tcp.connections()[0]!;
  const receiver = b.s.tcp.connections()[0]!;
  t.true(receiver.rcvWindow() < receiver.mss, `the receiver’s window is shut (${receiver.rcvWindow()} bytes left, advertised as 0)`);
  t.is(sender.sndWnd, 0);
  const stalledAt = receiver.rcvNxt;
  const residue = receiver.rcvWindow();
  await pump(net.clock, 2000, 100);
  t.true(((receiver.rcvNxt - stalledAt) >>> 0) <= residue, 'no more than the buffer holds is accepted while paused (probes)');
  t.false(flushed, 'the writer is held back (send buffer full)');
  const got = collect(server);
  server.resume();
  await pump(net.clock, 5000, 5);
  t.is(got.length, payload.length);
  t.true(got.bytes().equals(Buffer.from(payload)));
  t.true(flushed);
});

// ---- delayed ACK -----------------------------------------------------------------------

test('delayed ACK: one segment is acknowledged after 40 ms, every second segment at once', async (t) => {
  const { net, h, peer, sock } = await established();
  sock.resume();
  const c = h.s.tcp.stats.c;
  peer.sendData(bytes(1440));
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), [], 'not at once');
  await pump(net.clock, 38, 1);
  t.deepEqual(peer.take(), [], 'not before 40 ms');
  await pump(net.clock, 2, 1);
  const [late] = peer.take();
  t.truthy(late, 'after 40 ms');
  t.is(late!.ack, peer.sndNxt);
  t.is(c.sndDelAcks, 1);
  // Two full segments: the second is acknowledged right away.
  peer.sendData(bytes(1440));
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), []);
  peer.sendData(bytes(1440));
  await pump(net.clock, 1);
  const [quick] = peer.take();
  t.truthy(quick);
  t.is(quick!.ack, peer.sndNxt);
  t.is(c.sndDelAcks, 1, 'that one was not a delayed ACK');
  // Data of our own carries the ACK (piggybacked), no separate ACK later.
  peer.sendData(Buffer.from('q'));
  await pump(net.clock, 1);
  sock.write('answer');
  await pump(net.clock, 100, 10);
  const segs = peer.take();
  t.is(segs.length, 1, segs.map(describe).join(' | '));
  t.is(segs[0]!.ack, peer.sndNxt);
  t.is(Buffer.from(segs[0]!.data).toString(), 'answer');
});

// ---- Nagle -----------------------------------------------------------------------------

test('Nagle: small writes wait while data is in flight and go together on the ACK', async (t) => {
  const { net, peer, sock } = await established();
  sock.write('a');
  await pump(net.clock, 1);
  const [first] = peer.take();
  t.is(Buffer.from(first!.data).toString(), 'a', 'nothing in flight: sent at once');
  sock.write('b');
  sock.write('c');
  await pump(net.clock, 1);
  sock.write('d');
  await pump(net.clock, 100, 10);
  t.deepEqual(peer.take().filter((s) => s.data.length > 0), [], 'held while "a" is unacknowledged');
  peer.rcvNxt = (peer.rcvNxt + 1) >>> 0;
  peer.send({});
  await pump(net.clock, 1);
  const segs = peer.take();
  t.is(segs.length, 1);
  t.is(Buffer.from(segs[0]!.data).toString(), 'bcd');
});

test('setNoDelay(true): every write goes at once', async (t) => {
  const { net, peer, sock } = await established();
  sock.setNoDelay(true);
  for (const ch of 'abcd') {
    sock.write(ch);
    await pump(net.clock, 1);
  }
  const segs = peer.take();
  t.deepEqual(
    segs.map((s) => Buffer.from(s.data).toString()),
    ['a', 'b', 'c', 'd'],
  );
  sock.setNoDelay(false);
  sock.write('e');
  sock.write('f');
  await pump(net.clock, 1);
  t.deepEqual(peer.take(), [], 'Nagle again once switched back');
});

test('Nagle: a full segment is never held back', async (t) => {
  const { net, peer, sock } = await established({ mss: 1000 });
  sock.write('x');
  await pump(net.clock, 1);
  peer.take();
  sock.write(bytes(2500));
  await pump(net.clock, 1);
  t.deepEqual(
    peer.take().map((s) => s.data.length),
    [1000, 1000],
    'the 500-byte tail waits',
  );
});

// ---- keepalive ---------------------------------------------------------------------------

test('keepalive: probes after the idle time; ETIMEDOUT after keepCnt unanswered', async (t) => {
  const { net, h, peer, sock, cb, ev } = await established({}, { tcp: { keepIntvlMs: 1000, keepCnt: 3 } });
  sock.setKeepAlive(true, 5000);
  const start = net.clock.now();
  await pump(net.clock, 4900, 100);
  t.deepEqual(peer.take(), [], 'nothing before the idle time');
  await pump(net.clock, 200, 100);
  const [probe] = peer.take();
  t.truthy(probe);
  t.is(probe!.flags, TH_ACK);
  t.is(probe!.data.length, 0);
  t.is(probe!.seq, (cb.sndUna - 1) >>> 0, 'SEG.SEQ = SND.NXT − 1 provokes an ACK');
  t.true(probe!.at - start >= 5000 && probe!.at - start <= 5100);
  await pump(net.clock, 3000, 100);
  const more = peer.take();
  t.is(more.length, 2, 'keepCnt probes in all');
  t.deepEqual(ev, ['connect', 'ready', 'error:ETIMEDOUT', 'close']);
  t.like(h.s.tcp.stats.c, { keepProbes: 3, keepDrops: 1 });
});

test('keepalive: an answer resets the count; probes start again only after another idle period', async (t) => {
  const { net, h, peer, sock, cb } = await established({}, { tcp: { keepIntvlMs: 1000, keepCnt: 3 } });
  sock.setKeepAlive(true, 5000);
  for (let round = 0; round < 4; round++) {
    await pump(net.clock, 6100, 100);
    const probes = peer.take();
    t.true(probes.length >= 1, `round ${round}`);
    // Answer as a peer does: an ACK with our true sequence numbers.
    peer.send({});
    await pump(net.clock, 1);
  }
  t.is(cb.state, 'ESTABLISHED');
  t.is(h.s.tcp.stats.c.keepDrops, 0);
  // Traffic counts as an answer: data every 2 s keeps probes away.
  peer.take();
  for (let i = 0; i < 5; i++) {
    peer.sendData(Buffer.from('.'));
    await pump(net.clock, 2000, 100);
  }
  t.deepEqual(
    peer.take().filter((s) => s.seq === (cb.sndUna - 1) >>> 0),
    [],
    'no probes on a busy connection',
  );
});

test('keepalive off (the default): an idle connection stays silent', async (t) => {
  const { net, peer, cb } = await established();
  await pump(net.clock, 3 * 3600_000, 600_000);
  t.deepEqual(peer.take(), []);
  t.is(cb.state, 'ESTABLISHED');
});

test('a bare ACK never carries a sequence number past the peer’s window (Linux’s tcp_acceptable_seq): with the window shut, SND.UNA', async (t) => {
  const { net, peer, sock, cb } = await established({ mss: 1000 });
  sock.write(bytes(3000));
  await pump(net.clock, 1);
  t.is(peer.take().filter((s) => s.data.length > 0).length, 3);
  // The peer took only the first 1000 bytes and shut its window; the rest is beyond its right edge.
  const una = (cb.sndUna + 1000) >>> 0;
  peer.send({ ack: una, window: 0 });
  await pump(net.clock, 1);
  t.is(cb.sndUna, una);
  t.true(((cb.sndMax - una) | 0) > 0, 'data was sent beyond the shut window');
  // Data from the peer: our ACK for it must be acceptable to a receiver whose window is shut at SND.UNA.
  peer.send({ ack: una, window: 0, data: bytes(100, 2) });
  await pump(net.clock, 50);
  const acks = peer.take().filter((s) => s.data.length === 0);
  t.true(acks.length > 0, 'the data was acknowledged');
  for (const a of acks) t.is(a.seq, una, `seq ${a.seq}, SND.MAX ${cb.sndMax}`);
});

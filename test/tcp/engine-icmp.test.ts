/**
 * ICMPv6 errors for TCP (RFC 5927, RFC 8201): Packet Too Big lowers the MSS
 * of a live connection and what is resent fits; Destination Unreachable is a
 * soft error for a synchronized connection, reported only if it then times
 * out; errors quoting a sequence number not in flight are ignored.
 */
import test from 'ava';
import { established as establishedPeer, RAW_TEXT, RawPeer, bytes, describe, events, packetOf, pump, tcpNet } from '../helpers/tcp.ts';
import { ICMP, RAW_LL } from '../helpers/stack.ts';

function established(tcp: Parameters<typeof tcpNet>[0] = {}) {
  return establishedPeer({ ts: true }, tcp);
}

test('Packet Too Big lowers the MSS of a live connection; the lost segment and what follows fit (pmtuChanges)', async (t) => {
  const { net, h, peer, sock, cb } = await established();
  t.is(cb.mss, 1428, '1500 − 60 − 12 (timestamps)');
  sock.write(bytes(4 * 1428));
  await pump(net.clock, 1);
  const big = peer.take();
  t.deepEqual(
    big.map((s) => s.packetLen),
    [1500, 1500, 1500, 1500],
  );
  // A router on the way has an MTU of 1280: it drops the first segment and says so.
  peer.sendIcmpError(ICMP.PACKET_TOO_BIG, 0, 1280, packetOf(net, big[0]!));
  await pump(net.clock, 1);
  t.is(h.s.tcp.stats.c.pmtuChanges, 1);
  t.is(cb.mss, 1280 - 60 - 12);
  const again = peer.take();
  t.true(again.length >= 1, 'resent at once, not after an RTO');
  t.is(again[0]!.seq, big[0]!.seq);
  t.true(again.every((s) => s.packetLen <= 1280), again.map((s) => s.packetLen).join());
  t.is(
    again.reduce((n, s) => n + s.data.length, 0),
    4 * 1428,
    'everything in flight resent at once, the short tail included (Nagle holds back new data only)',
  );
  t.is(h.s.ip6.pmtu.get(RAW_LL, h.ifp.index), 1280, 'the PMTU cache learned it too');
  // Everything resent and acknowledged; new data is cut to the new size too.
  peer.absorb(again);
  peer.send({});
  await pump(net.clock, 200, 10);
  const rest = peer.take();
  t.true(rest.every((s) => s.packetLen <= 1280));
  peer.absorb(rest);
  sock.write(bytes(3000, 5));
  await pump(net.clock, 1);
  const fresh = peer.take();
  t.true(fresh.length >= 2 && fresh.every((s) => s.packetLen <= 1280), fresh.map((s) => s.packetLen).join());
  t.is(h.s.tcp.stats.c.rexmtTimeouts, 0);
});

test('Packet Too Big with a larger MTU than the current one changes nothing', async (t) => {
  const { net, h, peer, sock, cb } = await established();
  sock.write(bytes(1000));
  await pump(net.clock, 1);
  const [seg] = peer.take();
  peer.sendIcmpError(ICMP.PACKET_TOO_BIG, 0, 9000, packetOf(net, seg!));
  await pump(net.clock, 1);
  t.is(h.s.tcp.stats.c.pmtuChanges, 0);
  t.is(cb.mss, 1428);
  t.deepEqual(peer.take(), []);
});

test('Destination Unreachable does not reset an established connection (icmpSoftErrors)', async (t) => {
  const { net, h, peer, sock, cb, ev } = await established();
  sock.write(bytes(100));
  await pump(net.clock, 1);
  const [seg] = peer.take();
  peer.sendIcmpError(ICMP.DST_UNREACH, 3, 0, packetOf(net, seg!));
  await pump(net.clock, 1);
  t.is(h.s.tcp.stats.c.icmpSoftErrors, 1);
  t.is(cb.state, 'ESTABLISHED');
  t.deepEqual(ev, ['connect', 'ready']);
  // The path recovers: the data is acknowledged and the connection goes on.
  peer.absorb([seg!]);
  peer.send({});
  sock.write('more');
  await pump(net.clock, 10, 1);
  t.is(Buffer.from(peer.absorb(peer.take())).toString(), 'more');
  t.deepEqual(ev, ['connect', 'ready']);
});

test('a connection that times out after Destination Unreachable reports that error, not ETIMEDOUT', async (t) => {
  const { net, peer, sock, ev } = await established({ tcp: { maxRexmits: 2 } });
  sock.write(bytes(100));
  await pump(net.clock, 1);
  const [seg] = peer.take();
  peer.sendIcmpError(ICMP.DST_UNREACH, 3, 0, packetOf(net, seg!));
  await pump(net.clock, 5000, 50);
  t.deepEqual(ev, ['connect', 'ready', 'error:EHOSTUNREACH', 'close']);
});

test('an opening connection is aborted at once by Port Unreachable: ECONNREFUSED (RFC 1122 §4.2.3.9)', async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h);
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  const ev = events(sock);
  const syn = await peer.accept(false);
  peer.sendIcmpError(ICMP.DST_UNREACH, 4, 0, packetOf(net, syn));
  await pump(net.clock, 10, 1);
  t.deepEqual(ev, ['error:ECONNREFUSED', 'close']);
  t.is(h.s.tcp.stats.c.icmpHardErrors, 1);
  t.is(h.s.tcp.stats.c.icmpSoftErrors, 0);
});

test('an ICMPv6 error quoting a sequence number that is not in flight is ignored (RFC 5927 §4.3)', async (t) => {
  const { net, h, peer, sock, cb } = await established();
  sock.write(bytes(100));
  await pump(net.clock, 1);
  const [seg] = peer.take();
  const quoted = packetOf(net, seg!);
  // Rewrite the quoted sequence number to one far outside SND.UNA..SND.MAX.
  const tcpOff = 40;
  const bad = (cb.sndMax + 100_000) >>> 0;
  quoted[tcpOff + 4] = bad >>> 24;
  quoted[tcpOff + 5] = (bad >>> 16) & 0xff;
  quoted[tcpOff + 6] = (bad >>> 8) & 0xff;
  quoted[tcpOff + 7] = bad & 0xff;
  peer.sendIcmpError(ICMP.PACKET_TOO_BIG, 0, 1280, quoted);
  peer.sendIcmpError(ICMP.DST_UNREACH, 3, 0, quoted);
  await pump(net.clock, 1);
  t.like(h.s.tcp.stats.c, { pmtuChanges: 0, icmpSoftErrors: 0 });
  t.is(cb.mss, 1428);
});

for (const sack of [false, true]) test(`Packet Too Big: the congestion window keeps its size in segments; what is resent fits it (sack ${sack})`, async (t) => {
  const net = tcpNet();
  const h = net.hosts[0]!;
  const peer = new RawPeer(net, h, { ts: true, sackPermitted: sack });
  const sock = h.s.net.connect({ host: RAW_TEXT, port: peer.port });
  await peer.accept();
  await pump(net.clock, 1);
  peer.absorb(peer.take());
  const cb = peer.cb()!;
  t.is(cb.rack !== null, sack);
  t.is(cb.cc.smss, 1428);
  t.is(cb.cc.cwnd, 10 * 1428);
  sock.write(bytes(20 * 1428));
  await pump(net.clock, 1);
  const big = peer.take();
  t.is(big.length, 10, 'IW10');
  peer.sendIcmpError(ICMP.PACKET_TOO_BIG, 0, 1280, packetOf(net, big[0]!));
  await pump(net.clock, 1);
  t.is(cb.mss, 1208);
  t.is(cb.cc.smss, 1208, 'the controller follows the MSS');
  t.is(cb.cc.cwnd, 10 * 1208, 'still ten segments');
  // What was in flight goes again (a tail loss probe of new data may follow with RACK-TLP: not counted).
  const top = (big[0]!.seq + 10 * 1428) >>> 0;
  const again = peer.take().filter((s) => s.data.length > 0 && ((s.seq - top) | 0) < 0);
  t.true(again.length >= 1 && again.length <= 10, `${again.length} segments resent: no more than cwnd in segments: ${again.map(describe).join(" | ")}`);
  t.is(again[0]!.seq, big[0]!.seq);
  t.true(again.every((s) => s.packetLen <= 1280));
});

/**
 * UDP over IPv6 (src/udp/wire.ts, src/udp/udp.ts) on the virtual link:
 * header round trips, input checks and their counters, demultiplexing
 * (specific over wildcard, connected over unconnected, scope zones),
 * ephemeral ports, the receive buffer bound, Port Unreachable and its rate
 * limit, and ICMPv6 errors handed back to the socket that sent the datagram.
 *
 * Datagrams from the raw port are written byte by byte here (not with the
 * stack's emitter) and every expectation is on counters or on the wire.
 */
import test from 'ava';
import fc from 'fast-check';
import { VirtualClock } from '../../src/core/clock.ts';
import { in6Cksum } from '../../src/core/checksum.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { formatIn6, in6, linkLocalFromMac } from '../../src/ip6/addr.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import type { RemoteInfo } from '../../src/udp/socket.ts';
import { EPHEMERAL_HIGH, EPHEMERAL_LOW } from '../../src/udp/udp.ts';
import { UDP_HDR_LEN, type UdpRepr, emitUdp, parseUdp } from '../../src/udp/wire.ts';
import { DAD_DONE_MS, type Host, ICMP, type Net, RAW_LL, RAW_MAC, RawPort, changed, eq, introduce, ip6Frame, makeNet } from '../helpers/stack.ts';

const NXT_UDP = 17;

// ---- helpers ------------------------------------------------------------------

/** Lets the link deliver and the sockets' microtasks run, a few rounds (a reply needs a second hop). */
async function pump(clockOrNet: Net | VirtualClock, ms = 10, rounds = 3): Promise<void> {
  const clock = 'clock' in clockOrNet ? clockOrNet.clock : clockOrNet;
  for (let i = 0; i < rounds; i++) {
    clock.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  }
}

interface UdpSpec {
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
  data?: Uint8Array;
  /** Length field to write (default 8 + data). */
  length?: number;
  /** Checksum to write: a number as is, 'bad' a wrong one; default the right one. */
  cksum?: number | 'bad';
  /** Bytes after the datagram inside the IPv6 payload (not covered by the length). */
  trailer?: Uint8Array;
}

/** A UDP datagram, every byte written here: header, data, checksum over the `length` field's bytes. */
function udpBytes(s: UdpSpec): Uint8Array {
  const data = s.data ?? new Uint8Array(0);
  const trailer = s.trailer ?? new Uint8Array(0);
  const len = UDP_HDR_LEN + data.length;
  const u = new Uint8Array(len + trailer.length);
  const length = s.length ?? len;
  u[0] = s.sport >>> 8;
  u[1] = s.sport & 0xff;
  u[2] = s.dport >>> 8;
  u[3] = s.dport & 0xff;
  u[4] = length >>> 8;
  u[5] = length & 0xff;
  u.set(data, 8);
  u.set(trailer, len);
  let ck: number;
  if (typeof s.cksum === 'number') ck = s.cksum;
  else {
    ck = in6Cksum(u, 0, Math.min(length, len), NXT_UDP, s.src, s.dst) || 0xffff;
    if (s.cksum === 'bad') ck ^= 0x0f0f;
  }
  u[6] = ck >>> 8;
  u[7] = ck & 0xff;
  return u;
}

/** A frame from the raw port carrying a UDP datagram to host `h`. */
function udpFrame(h: { mac: Uint8Array }, s: UdpSpec & { hlim?: number; ethSrc?: Uint8Array }): Uint8Array {
  return ip6Frame({ src: s.src, dst: s.dst, nxt: NXT_UDP, hlim: s.hlim ?? 64, ethDst: h.mac, ethSrc: s.ethSrc, payload: udpBytes(s) });
}

interface Got {
  data: Buffer;
  rinfo: RemoteInfo;
}

/** A socket of host `h` bound as asked, with every message and error it gets recorded. */
async function bound(net: Net | VirtualClock, h: { s: Stack }, port: number, address?: string, opts: { reuseAddr?: boolean } = {}) {
  const sock = h.s.dgram.createSocket({ type: 'udp6', reuseAddr: opts.reuseAddr });
  const got: Got[] = [];
  const errors: (Error & { code?: string })[] = [];
  sock.on('message', (data, rinfo) => got.push({ data, rinfo }));
  sock.on('error', (e) => errors.push(e));
  sock.bind(port, address);
  await pump(net, 0, 1);
  return { sock, got, errors };
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

const llText = (h: Host) => `${formatIn6(h.ll)}%${h.ifp.name}`;

// ---- wire ---------------------------------------------------------------------------

const reprArb = fc.record({
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.integer({ min: 0, max: 0xffff }),
  length: fc.integer({ min: UDP_HDR_LEN, max: 0xffff }),
  checksum: fc.integer({ min: 0, max: 0xffff }),
});

test('wire: emit then parse gives the same header, at any offset, writing all 8 bytes and no more', (t) => {
  fc.assert(
    fc.property(reprArb, fc.integer({ min: 0, max: 40 }), (r: UdpRepr, off) => {
      const buf = new Uint8Array(off + UDP_HDR_LEN + 4).fill(0xff);
      emitUdp(r, buf, off);
      // Bytes around the header are untouched; every header byte was written (0xFF fill would betray a gap).
      for (let i = 0; i < off; i++) if (buf[i] !== 0xff) return false;
      for (let i = off + UDP_HDR_LEN; i < buf.length; i++) if (buf[i] !== 0xff) return false;
      const back = parseUdp(buf, off, r.length);
      return back.ok && back.value.sport === r.sport && back.value.dport === r.dport && back.value.length === r.length && back.value.checksum === r.checksum;
    }),
  );
  // An explicit byte check, independent of parseUdp.
  const b = new Uint8Array(8).fill(0xff);
  emitUdp({ sport: 0x1234, dport: 0x0007, length: 0x000c, checksum: 0xbeef }, b, 0);
  t.deepEqual([...b], [0x12, 0x34, 0x00, 0x07, 0x00, 0x0c, 0xbe, 0xef]);
});

test('wire: parse never throws on any bytes; short and bad lengths are typed errors', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(70), (b, o) => {
      const off = Math.min(o, b.length);
      const r = parseUdp(b, off, b.length - off);
      if (!r.ok) return r.error === 'short' || r.error === 'badLength';
      return r.value.length >= UDP_HDR_LEN && r.value.length <= b.length - off;
    }),
  );
  t.deepEqual(parseUdp(new Uint8Array(7), 0, 7), { ok: false, error: 'short' });
  t.deepEqual(parseUdp(new Uint8Array(20), 15, 5), { ok: false, error: 'short' });
  const hdr = (len: number) => Uint8Array.of(0, 1, 0, 2, len >>> 8, len & 0xff, 0, 0, 9, 9);
  t.deepEqual(parseUdp(hdr(7), 0, 10), { ok: false, error: 'badLength' }, 'length below the header');
  t.deepEqual(parseUdp(hdr(11), 0, 10), { ok: false, error: 'badLength' }, 'length beyond the bytes present');
  const ok = parseUdp(hdr(9), 0, 10);
  t.true(ok.ok && ok.value.length === 9, 'a length shorter than the bytes present is fine');
});

// ---- input checks ------------------------------------------------------------------

test('input: zero checksum, bad checksum, short header and bad length are each dropped under their own counter', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const { got } = await bound(net, h, 5000);
  const s = h.s.udp.stats;
  const icmpBefore = h.s.icmp6.stats.snapshot();
  const base = { src: RAW_LL, dst: h.ll, sport: 4000, dport: 5000, data: bytes('hello') };

  const cases: [string, Uint8Array, string][] = [
    ['zero checksum', udpBytes({ ...base, cksum: 0 }), 'noChecksum'],
    ['bad checksum', udpBytes({ ...base, cksum: 'bad' }), 'badsum'],
    ['4 bytes of header', udpBytes(base).subarray(0, 4), 'hdrops'],
    ['length 7', udpBytes({ ...base, length: 7 }), 'badlen'],
    ['length beyond the payload', udpBytes({ ...base, length: 8 + 6 }), 'badlen'],
  ];
  for (const [what, payload, counter] of cases) {
    const before = s.snapshot();
    net.raw.send(ip6Frame({ src: RAW_LL, dst: h.ll, nxt: NXT_UDP, ethDst: h.mac, payload }));
    await pump(net);
    t.deepEqual(changed(before, s.snapshot()), { ipackets: 1, [counter]: 1 }, what);
  }
  t.is(got.length, 0, 'nothing delivered');
  t.deepEqual(changed(icmpBefore, h.s.icmp6.stats.snapshot()), {}, 'no ICMPv6 error for a malformed datagram');

  net.raw.send(udpFrame(h, base));
  await pump(net);
  t.is(got.length, 1, 'the same datagram with a good checksum is delivered');
  t.is(text(got[0]!.data), 'hello');
});

test('input: a UDP length shorter than the IPv6 payload delivers only `length` bytes', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const { got } = await bound(net, h, 5001);
  net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 4000, dport: 5001, data: bytes('abc'), trailer: bytes('TRAILING') }));
  await pump(net);
  t.is(got.length, 1);
  t.is(text(got[0]!.data), 'abc');
  t.is(got[0]!.rinfo.size, 3);
  t.is(h.s.udp.stats.c.badlen, 0);
  t.is(h.s.udp.stats.c.delivered, 1);
});

test('input: a checksum computed as zero is sent as 0xFFFF and accepted', async (t) => {
  const net = makeNet({ hosts: 2 });
  const [a, b] = net.hosts as [Host, Host];
  // Find a payload whose checksum folds to 0 for this pair of addresses and ports.
  let data: Uint8Array | null = null;
  for (let v = 0; v < 0x10000 && !data; v++) {
    const d = Uint8Array.of(v >>> 8, v & 0xff);
    const u = udpBytes({ src: a.ll, dst: b.ll, sport: 6000, dport: 6001, data: d, cksum: 0 });
    if (in6Cksum(u, 0, u.length, NXT_UDP, a.ll, b.ll) === 0) data = d;
  }
  t.truthy(data, 'found a zero-checksum payload');
  const rx = await bound(net, b, 6001);
  const tx = await bound(net, a, 6000);
  net.raw.clear();
  tx.sock.send(data!, 6001, llText(b));
  await pump(net);
  const f = net.raw.ip6().find((x) => x.ip6!.nxt === NXT_UDP)!;
  t.is((f.ip6!.payload[6]! << 8) | f.ip6!.payload[7]!, 0xffff);
  t.is(rx.got.length, 1);
  t.is(b.s.udp.stats.c.noChecksum, 0);
});

// ---- demultiplexing ------------------------------------------------------------

test('demux: a socket bound to the address wins over the wildcard, whichever bound first', async (t) => {
  for (const order of ['wildcard first', 'specific first']) {
    const net = makeNet();
    const h = net.hosts[0]!;
    const g = in6('2001:db8::a');
    t.true(h.s.ip6.addAddress(h.ifp, g, 64).ok);
    net.run(DAD_DONE_MS);
    const mk = (spec: boolean) => bound(net, h, 7000, spec ? llText(h) : '::', { reuseAddr: true });
    const first = await mk(order === 'specific first');
    const second = await mk(order !== 'specific first');
    const [spec, wild] = order === 'specific first' ? [first, second] : [second, first];
    t.deepEqual([spec.errors.length, wild.errors.length], [0, 0]);
    net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 1, dport: 7000, data: bytes('to ll') }));
    net.raw.send(udpFrame(h, { src: in6('2001:db8::ee'), dst: g, sport: 1, dport: 7000, data: bytes('to global') }));
    await pump(net);
    t.deepEqual(spec.got.map((x) => text(x.data)), ['to ll'], order);
    t.deepEqual(wild.got.map((x) => text(x.data)), ['to global'], order);
  }
});

test('demux: a connected socket gets its peer’s datagrams and nobody else’s; the unconnected one gets the rest', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const open = await bound(net, h, 7100, '::', { reuseAddr: true });
  const conn = await bound(net, h, 7100, '::', { reuseAddr: true });
  conn.sock.connect(4000, `${formatIn6(RAW_LL)}%vl0`);
  await pump(net, 0, 1);
  const other = in6('fe80::ef');
  net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 4000, dport: 7100, data: bytes('peer') }));
  net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 4001, dport: 7100, data: bytes('peer, other port') }));
  net.raw.send(udpFrame(h, { src: other, dst: h.ll, sport: 4000, dport: 7100, data: bytes('stranger') }));
  await pump(net);
  t.deepEqual(conn.got.map((x) => text(x.data)), ['peer']);
  t.deepEqual(open.got.map((x) => text(x.data)).sort(), ['peer, other port', 'stranger']);

  // A connected wildcard socket also beats an unconnected one bound to the very address (the full 4-tuple is most specific).
  const spec = await bound(net, h, 7150, llText(h), { reuseAddr: true });
  const conn2 = await bound(net, h, 7150, '::', { reuseAddr: true });
  conn2.sock.connect(4000, `${formatIn6(RAW_LL)}%vl0`);
  await pump(net, 0, 1);
  net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 4000, dport: 7150, data: bytes('peer') }));
  net.raw.send(udpFrame(h, { src: other, dst: h.ll, sport: 4000, dport: 7150, data: bytes('stranger') }));
  await pump(net);
  t.deepEqual(conn2.got.map((x) => text(x.data)), ['peer']);
  t.deepEqual(spec.got.map((x) => text(x.data)), ['stranger']);

  // Alone on its port, a connected socket still refuses strangers: Port Unreachable.
  const lone = await bound(net, h, 7200);
  lone.sock.connect(4000, `${formatIn6(RAW_LL)}%vl0`);
  await pump(net, 0, 1);
  const before = h.s.udp.stats.snapshot();
  net.raw.send(udpFrame(h, { src: other, dst: h.ll, sport: 4000, dport: 7200, data: bytes('stranger') }));
  await pump(net);
  t.is(lone.got.length, 0);
  t.deepEqual(changed(before, h.s.udp.stats.snapshot()), { ipackets: 1, noport: 1 });
});

test('demux: two sockets with reuseAddr share a port (unicast to one, multicast to both); without it EADDRINUSE', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const a = await bound(net, h, 7300, undefined, { reuseAddr: true });
  const b = await bound(net, h, 7300, undefined, { reuseAddr: true });
  t.deepEqual([a.errors.length, b.errors.length], [0, 0]);
  const group = in6('ff12::7300');
  a.sock.addMembership('ff12::7300', 'vl0');
  b.sock.addMembership('ff12::7300', 'vl0');
  net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 1, dport: 7300, data: bytes('uni') }));
  net.raw.send(ip6Frame({ src: RAW_LL, dst: group, nxt: NXT_UDP, payload: udpBytes({ src: RAW_LL, dst: group, sport: 1, dport: 7300, data: bytes('multi') }) }));
  await pump(net);
  t.is(a.got.filter((x) => text(x.data) === 'uni').length + b.got.filter((x) => text(x.data) === 'uni').length, 1, 'unicast to exactly one');
  t.deepEqual([a, b].map((s) => s.got.filter((x) => text(x.data) === 'multi').length), [1, 1], 'multicast to both');

  // reuseAddr on one side only is not enough.
  const c = await bound(net, h, 7300);
  t.is(c.errors[0]?.code, 'EADDRINUSE');
  const d = await bound(net, h, 7301);
  const e = await bound(net, h, 7301, undefined, { reuseAddr: true });
  t.is(d.errors.length, 0);
  t.is(e.errors[0]?.code, 'EADDRINUSE');
});

test('demux: EADDRINUSE when a wildcard and a specific binding overlap, either way round; two different addresses may share a port', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  t.true(h.s.ip6.addAddress(h.ifp, in6('2001:db8::a'), 64).ok);
  net.run(DAD_DONE_MS);
  const w = await bound(net, h, 7400, '::');
  const s1 = await bound(net, h, 7400, llText(h));
  t.is(w.errors.length, 0);
  t.is(s1.errors[0]?.code, 'EADDRINUSE');
  t.is((s1.errors[0] as Error & { syscall?: string }).syscall, 'bind');

  const sp = await bound(net, h, 7401, llText(h));
  const w2 = await bound(net, h, 7401, '::');
  t.is(sp.errors.length, 0);
  t.is(w2.errors[0]?.code, 'EADDRINUSE');
  const same = await bound(net, h, 7401, llText(h));
  t.is(same.errors[0]?.code, 'EADDRINUSE', 'the same address twice');
  const g = await bound(net, h, 7401, '2001:db8::a');
  t.is(g.errors.length, 0, 'another address on the same port');
  t.is(g.sock.address().port, 7401);
});

test('demux: EADDRNOTAVAIL for an address not ours, EINVAL for a link-local address without a zone', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const foreign = await bound(net, h, 7500, '2001:db8::99');
  t.is(foreign.errors[0]?.code, 'EADDRNOTAVAIL');
  const noZone = await bound(net, h, 7500, formatIn6(h.ll));
  t.is(noZone.errors[0]?.code, 'EINVAL');
  const otherLl = await bound(net, h, 7500, 'fe80::99%vl0');
  t.is(otherLl.errors[0]?.code, 'EADDRNOTAVAIL', 'a link-local address we do not have');
  const good = await bound(net, h, 7500, llText(h));
  t.is(good.errors.length, 0);
  t.deepEqual(good.sock.address(), { address: llText(h), family: 'IPv6', port: 7500 });
});

/** One stack with two interfaces on two links; the same MAC, so the same link-local address on both. */
function twoLinks() {
  const clock = new VirtualClock();
  const rng = new SeededRng(7);
  const s = new Stack({ clock, rng });
  const mac = Uint8Array.of(2, 0, 0, 0, 0, 0x0a);
  const links = [0, 1].map((i) => {
    const link = new VirtualLink({ clock });
    const raw = new RawPort(link.port('raw'), RAW_MAC, () => clock.now());
    raw.answerNs(RAW_LL);
    const ifp = s.addEthernet({ name: `vl${i}`, driver: link.port('h'), mac });
    s.rtr.config(ifp).acceptRtadv = false;
    s.up(ifp);
    return { link, raw, ifp };
  });
  clock.advance(DAD_DONE_MS);
  return { clock, s, links, ll: linkLocalFromMac(mac), mac };
}

test('scope zones: a socket bound to fe80::…%vl0 hears only vl0, though vl1 has the same address', async (t) => {
  const { clock, s, links, ll, mac } = twoLinks();
  const [l0, l1] = links as [(typeof links)[0], (typeof links)[0]];
  t.not(l0.ifp.index, l1.ifp.index);
  const on0 = await bound(clock, { s }, 8000, `${formatIn6(ll)}%vl0`);
  const on1 = await bound(clock, { s }, 8000, `${formatIn6(ll)}%vl1`);
  t.deepEqual([on0.errors.length, on1.errors.length], [0, 0], 'the same address in two zones does not conflict');
  const only0 = await bound(clock, { s }, 8001, `${formatIn6(ll)}%vl0`);
  l0.raw.send(udpFrame({ mac }, { src: RAW_LL, dst: ll, sport: 1, dport: 8000, data: bytes('zone 0') }));
  l1.raw.send(udpFrame({ mac }, { src: RAW_LL, dst: ll, sport: 1, dport: 8000, data: bytes('zone 1') }));
  l1.raw.send(udpFrame({ mac }, { src: RAW_LL, dst: ll, sport: 1, dport: 8001, data: bytes('zone 1 again') }));
  await pump(clock);
  t.deepEqual(on0.got.map((x) => text(x.data)), ['zone 0']);
  t.deepEqual(on1.got.map((x) => text(x.data)), ['zone 1']);
  t.is(on0.got[0]!.rinfo.address, `${formatIn6(RAW_LL)}%vl0`);
  t.is(on1.got[0]!.rinfo.address, `${formatIn6(RAW_LL)}%vl1`);
  t.is(on1.got[0]!.rinfo.scopeid, l1.ifp.index);
  t.is(only0.got.length, 0, 'vl1 traffic to the port of a vl0-only socket is not delivered');
  t.is(s.udp.stats.c.noport, 1);
  const pu = l1.raw.icmp(ICMP.DST_UNREACH);
  t.is(pu.length, 1, 'Port Unreachable out of vl1');
  t.is(pu[0]!.icmp!.code, 4);
  t.is(l0.raw.icmp(ICMP.DST_UNREACH).length, 0);
});

// ---- ephemeral ports ----------------------------------------------------------

test('ephemeral ports: random within 49152–65535, not sequential, all distinct', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const ports: number[] = [];
  for (let i = 0; i < 64; i++) {
    const { sock, errors } = await bound(net, h, 0);
    t.is(errors.length, 0);
    ports.push(sock.address().port);
  }
  t.true(ports.every((p) => p >= EPHEMERAL_LOW && p <= EPHEMERAL_HIGH));
  t.is(new Set(ports).size, ports.length, 'no port handed out twice');
  const steps = ports.slice(1).map((p, i) => p - ports[i]!);
  t.true(steps.filter((d) => d === 1).length <= 1, `not sequential: ${ports.slice(0, 8).join(' ')} …`);
  t.true(Math.max(...ports) - Math.min(...ports) > 8192, 'spread over the range');
});

test('ephemeral ports: a taken port is skipped, a wildcard skips a port held by a specific address, and the search wraps', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  // Make the random start predictable: the search begins at the lowest, then at the highest port.
  const rng = h.s.ip6.rng;
  let start = 0;
  rng.below = () => start;
  const taken = await bound(net, h, EPHEMERAL_LOW);
  const held = await bound(net, h, EPHEMERAL_LOW + 1, llText(h));
  t.deepEqual([taken.errors.length, held.errors.length], [0, 0]);
  const e1 = await bound(net, h, 0);
  t.is(e1.sock.address().port, EPHEMERAL_LOW + 2);
  start = EPHEMERAL_HIGH - EPHEMERAL_LOW;
  const top = await bound(net, h, EPHEMERAL_HIGH);
  t.is(top.errors.length, 0);
  const e2 = await bound(net, h, 0);
  t.is(e2.sock.address().port, EPHEMERAL_LOW + 3, 'wrapped past 65535 to the first free port');
});

// ---- receive buffer -------------------------------------------------------------

test('receive buffer: a burst beyond setRecvBufferSize is dropped (fullsock); once drained, datagrams arrive again', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  const r = await bound(net, h, 9000);
  r.sock.setRecvBufferSize(1000);
  t.is(r.sock.getRecvBufferSize(), 1000);
  const send = (i: number) => net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 1, dport: 9000, data: new Uint8Array(300).fill(i) }));
  for (let i = 0; i < 5; i++) send(i);
  await pump(net, 0, 1); // all five arrive in one clock step, before the socket drains its queue
  t.deepEqual(r.got.map((x) => x.data[0]), [0, 1, 2]);
  t.is(h.s.udp.stats.c.fullsock, 2);
  t.is(h.s.udp.stats.c.delivered, 3);
  for (let i = 5; i < 8; i++) send(i);
  await pump(net, 0, 1);
  t.deepEqual(r.got.map((x) => x.data[0]), [0, 1, 2, 5, 6, 7]);
  t.is(h.s.udp.stats.c.fullsock, 2);
});

// ---- Port Unreachable -------------------------------------------------------------

test('Port Unreachable: type 1 code 4 to the sender, quoting the datagram as it arrived', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  introduce(net, h);
  net.raw.clear();
  const payload = udpBytes({ src: RAW_LL, dst: h.ll, sport: 4444, dport: 9999, data: bytes('anyone there?') });
  const frame = ip6Frame({ src: RAW_LL, dst: h.ll, nxt: NXT_UDP, ethDst: h.mac, payload });
  net.raw.send(frame);
  await pump(net);
  const errs = net.raw.icmp(ICMP.DST_UNREACH, h.mac);
  t.is(errs.length, 1);
  const e = errs[0]!;
  t.is(e.icmp!.code, 4);
  t.true(e.icmp!.cksumOk);
  t.true(eq(e.ip6!.src, h.ll));
  t.true(eq(e.ip6!.dst, RAW_LL));
  t.deepEqual([...e.icmp!.body.subarray(0, 4)], [0, 0, 0, 0], 'unused field zero');
  t.true(eq(e.icmp!.body.subarray(4), frame.subarray(14)), 'the whole offending packet, unchanged');
  t.is(h.s.udp.stats.c.noport, 1);
  t.is(h.s.icmp6.stats.c.errSent, 1);
});

test('Port Unreachable is rate limited: a burst gets at most `burst` errors, the rest counted; tokens come back with time', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  introduce(net, h);
  h.s.icmp6.setRateLimit({ ratePerSec: 2, burst: 4 });
  net.raw.clear();
  const N = 25;
  for (let i = 0; i < N; i++) net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 4444, dport: 9999, data: Uint8Array.of(i) }));
  await pump(net);
  t.is(net.raw.icmp(ICMP.DST_UNREACH, h.mac).length, 4);
  t.is(h.s.icmp6.stats.c.errSent, 4);
  t.is(h.s.icmp6.stats.c.errRateLimited, N - 4);
  t.is(h.s.udp.stats.c.noport, N);
  net.run(1000); // 2 tokens
  for (let i = 0; i < 5; i++) net.raw.send(udpFrame(h, { src: RAW_LL, dst: h.ll, sport: 4444, dport: 9999, data: Uint8Array.of(i) }));
  await pump(net);
  t.is(net.raw.icmp(ICMP.DST_UNREACH, h.mac).length, 6);
});

test('Port Unreachable: never for a multicast destination (noportmcast instead)', async (t) => {
  const net = makeNet();
  const h = net.hosts[0]!;
  introduce(net, h);
  const allNodes = in6('ff02::1');
  const before = h.s.udp.stats.snapshot();
  net.raw.send(ip6Frame({ src: RAW_LL, dst: allNodes, nxt: NXT_UDP, payload: udpBytes({ src: RAW_LL, dst: allNodes, sport: 1, dport: 9999, data: bytes('hi all') }) }));
  await pump(net);
  t.deepEqual(changed(before, h.s.udp.stats.snapshot()), { ipackets: 1, noportmcast: 1 });
  t.is(net.raw.icmp(ICMP.DST_UNREACH).length, 0);
  t.is(h.s.icmp6.stats.c.errSent, 0);
});

// ---- ICMPv6 errors to sockets ------------------------------------------------------

/** Two stacks, `a` with a socket; returns what its 'error' listener saw. */
async function errorRig() {
  const net = makeNet({ hosts: 2 });
  const [a, b] = net.hosts as [Host, Host];
  const sock = a.s.dgram.createSocket('udp6');
  const errors: (Error & { code?: string; errno?: number; syscall?: string })[] = [];
  sock.on('error', (e) => errors.push(e));
  return { net, a, b, sock, errors };
}

test('ICMP errors: a connected socket gets ECONNREFUSED for Port Unreachable', async (t) => {
  const { net, a, b, sock, errors } = await errorRig();
  sock.connect(9999, llText(b));
  await pump(net, 0, 1);
  let sent: Error | null | undefined;
  sock.send('knock', (e) => (sent = e));
  await pump(net);
  t.is(sent, null, 'the send itself succeeded');
  t.is(b.s.udp.stats.c.noport, 1);
  t.is(errors.length, 1);
  t.is(errors[0]!.code, 'ECONNREFUSED');
  t.is(errors[0]!.errno, -111);
  t.is(a.s.udp.stats.c.errIn, 1);
});

test('ICMP errors: EHOSTUNREACH when address resolution fails for a connected peer', async (t) => {
  const { net, a, sock, errors } = await errorRig();
  sock.connect(9999, 'fe80::dead%vl0');
  await pump(net, 0, 1);
  sock.send('hello?');
  await pump(net, 1000, 5);
  t.is(a.s.nd6.stats.c.resolveFailed, 1);
  t.is(errors.length, 1);
  t.is(errors[0]!.code, 'EHOSTUNREACH');
  t.is(errors[0]!.errno, -113);
});

test('ICMP errors: an unconnected socket gets no error event (the error is still matched and counted)', async (t) => {
  const { net, a, b, sock, errors } = await errorRig();
  let sent: Error | null | undefined;
  sock.send('knock', 9999, llText(b), (e) => (sent = e));
  await pump(net);
  t.is(sent, null);
  t.is(b.s.udp.stats.c.noport, 1);
  t.is(a.s.icmp6.stats.c.errInDelivered, 1);
  t.is(a.s.udp.stats.c.errIn, 1);
  t.is(errors.length, 0);
});

test('EMSGSIZE: 65,527 bytes is the largest datagram (sent, fragmented, reassembled); one more fails in the callback', async (t) => {
  const { net, a, b, sock } = await errorRig();
  const rx = await bound(net, b, 9100);
  const big = new Uint8Array(65_527);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  const results: [Error | null, number | undefined][] = [];
  // Resolve the neighbor first: 46 fragments would overflow the bounded ND queue.
  sock.send('warm up', 9100, llText(b));
  await pump(net);
  sock.send(big, 9100, llText(b), (e, n) => results.push([e, n]));
  sock.send(new Uint8Array(65_528), 9100, llText(b), (e, n) => results.push([e, n]));
  await pump(net, 10, 5);
  t.is(results[0]![0], null);
  t.is(results[0]![1], 65_527);
  const e = results[1]![0] as Error & { code?: string; errno?: number; syscall?: string };
  t.is(e.code, 'EMSGSIZE');
  t.is(e.errno, -90);
  t.is(e.syscall, 'send');
  t.is(rx.got.length, 2);
  t.true(eq(rx.got[1]!.data, big), 'came through byte for byte');
  t.is(a.s.udp.stats.c.opackets, 2);
});

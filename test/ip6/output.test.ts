/**
 * ip6_output: errors as errno names (each with its ip6stat counter), the
 * checksum filled in once the source is known, multicast loopback, hop
 * limits, and source address selection (RFC 6724 §5 rules 1, 2, 3, 8),
 * checked on what reaches the raw port of the virtual link.
 */
import test from 'ava';
import { in6Cksum } from '../../src/core/checksum.ts';
import { Pkt } from '../../src/core/pkt.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import type { Ip6OutputOpts } from '../../src/ip6/output.ts';
import { IPPROTO_DONE, type Ip6InputCtx } from '../../src/ip6/protosw.ts';
import { RTF } from '../../src/ip6/route.ts';
import { RAW_LL, RAW_MAC, changed, eq, introduce, makeNet, multicastMac } from '../helpers/stack.ts';

const NXT_TEST = 253;

function setup(o: Parameters<typeof makeNet>[0] = {}) {
  const net = makeNet(o);
  const h = net.hosts[0]!;
  const st = h.s.ip6.stats;
  /** Packets delivered to next header 253 on this host. */
  const got: { src: string; dst: string; ifname: string; mcast: boolean; hlim: number; data: Uint8Array }[] = [];
  h.s.ip6.registerProtocol(NXT_TEST, {
    name: 'test',
    input: (ctx: Ip6InputCtx) => {
      got.push({ src: formatIn6(ctx.src), dst: formatIn6(ctx.dst), ifname: ctx.ifp.name, mcast: ctx.mcast, hlim: ctx.b[7]!, data: ctx.b.slice(ctx.off) });
      return IPPROTO_DONE;
    },
  });
  const send = (opts: Partial<Ip6OutputOpts> & { dst: Uint8Array }, payload: Uint8Array = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)) => {
    const before = st.snapshot();
    const e = h.s.ip6.output(Pkt.copyOf(payload), { nxt: NXT_TEST, ...opts });
    return { e, d: changed(before, st.snapshot()) };
  };
  return { net, h, got, send };
}

const G1 = in6('2001:db8::1');

test('no route: ENETUNREACH (noRoute)', (t) => {
  const { send } = setup();
  t.deepEqual(send({ dst: in6('2001:db8::5') }), { e: 'ENETUNREACH', d: { noRoute: 1 } });
});

test('an expired route is not used', (t) => {
  const { net, h, send } = setup();
  h.s.ip6.routes.add({ dst: in6('2001:db8:5::'), plen: 48, gateway: RAW_LL, ifindex: h.ifp.index, origin: 'ra', expiresAt: net.clock.now() + 1000 });
  introduce(net, h);
  t.is(send({ dst: in6('2001:db8:5::1') }).e, null);
  net.run(1000);
  t.deepEqual(send({ dst: in6('2001:db8:5::1') }), { e: 'ENETUNREACH', d: { noRoute: 1 } });
});

test('reject and blackhole routes', (t) => {
  const { net, h, send } = setup();
  h.s.ip6.routes.add({ dst: in6('2001:db8:6::'), plen: 48, ifindex: h.ifp.index, origin: 'static', flags: RTF.REJECT });
  h.s.ip6.routes.add({ dst: in6('2001:db8:7::'), plen: 48, ifindex: h.ifp.index, origin: 'static', flags: RTF.BLACKHOLE });
  net.raw.clear();
  t.deepEqual(send({ dst: in6('2001:db8:6::1') }), { e: 'EHOSTUNREACH', d: { noRoute: 1 } });
  t.deepEqual(send({ dst: in6('2001:db8:7::1') }), { e: null, d: { noRoute: 1 } }, 'silently discarded');
  net.run(100);
  t.is(net.raw.traffic().length, 0);
});

test('a link-local destination without a zone: EINVAL (noZone); the unspecified destination: EINVAL', (t) => {
  const { h, send } = setup();
  t.deepEqual(send({ dst: in6('fe80::ee') }), { e: 'EINVAL', d: { noZone: 1 } });
  t.deepEqual(send({ dst: in6('fe80::ee'), zone: 99 }), { e: 'EINVAL', d: { noZone: 1 } }, 'a zone naming no interface');
  t.deepEqual(send({ dst: in6('::') }), { e: 'EINVAL', d: {} });
  t.is(send({ dst: in6('fe80::ee'), zone: h.ifp.index }).e, null);
});

test('an explicit source that is not ours, duplicated, tentative or anycast: EADDRNOTAVAIL (badSrcOut)', (t) => {
  const { h, send } = setup();
  const to = { dst: RAW_LL, zone: h.ifp.index };
  t.deepEqual(send({ ...to, src: in6('2001:db8::77') }), { e: 'EADDRNOTAVAIL', d: { badSrcOut: 1 } });
  t.deepEqual(send({ ...to, src: in6('fe80::77') }), { e: 'EADDRNOTAVAIL', d: { badSrcOut: 1 } });
  const r = h.s.ip6.addAddress(h.ifp, G1, 64);
  t.true(r.ok);
  t.deepEqual(send({ ...to, src: G1 }), { e: 'EADDRNOTAVAIL', d: { badSrcOut: 1 } }, 'tentative');
  if (r.ok) h.s.ip6.dadDone(r.value, true);
  t.deepEqual(send({ ...to, src: G1 }), { e: 'EADDRNOTAVAIL', d: { badSrcOut: 1 } }, 'duplicated');
  t.true(h.s.ip6.addAddress(h.ifp, in6('2001:db8::a'), 64, { flags: IN6_IFF.ANYCAST }).ok);
  t.deepEqual(send({ ...to, src: in6('2001:db8::a') }), { e: 'EADDRNOTAVAIL', d: { badSrcOut: 1 } }, 'anycast');
  // The link-local address of lo0 is not ours on vl0.
  t.deepEqual(send({ ...to, src: in6('fe80::1') }), { e: 'EADDRNOTAVAIL', d: { badSrcOut: 1 } }, 'fe80::1 is lo0s');
  t.is(send({ ...to, src: h.ll }).e, null);
});

test('no usable source at all (link-local still tentative): EADDRNOTAVAIL (noSource)', (t) => {
  const { h, send } = setup({ settleDad: false });
  t.deepEqual(send({ dst: RAW_LL, zone: h.ifp.index }), { e: 'EADDRNOTAVAIL', d: { noSource: 1 } });
});

test('larger than the path MTU with dontFrag: EMSGSIZE (cantFrag); exactly the MTU goes out whole', (t) => {
  const { net, h, send } = setup();
  const to = { dst: in6('ff02::1'), zone: h.ifp.index, mcastLoop: false };
  t.deepEqual(send({ ...to, dontFrag: true }, new Uint8Array(1461)), { e: 'EMSGSIZE', d: { cantFrag: 1 } });
  net.raw.clear();
  t.deepEqual(send({ ...to, dontFrag: true }, new Uint8Array(1460)), { e: null, d: { localOut: 1 } });
  net.run();
  t.is(net.raw.traffic().length, 1);
  t.is(net.raw.traffic()[0]!.bytes.length, 14 + 1500);
  t.is(net.raw.traffic()[0]!.ip6!.nxt, NXT_TEST, 'not fragmented');
  // A route's MTU is honoured too.
  h.s.ip6.routes.add({ dst: in6('2001:db8:9::'), plen: 48, gateway: RAW_LL, ifindex: h.ifp.index, origin: 'static', mtu: 1280 });
  introduce(net, h);
  t.deepEqual(send({ dst: in6('2001:db8:9::1'), dontFrag: true }, new Uint8Array(1241)), { e: 'EMSGSIZE', d: { cantFrag: 1 } });
  t.is(send({ dst: in6('2001:db8:9::1'), dontFrag: true }, new Uint8Array(1240)).e, null);
});

test('interface down: ENETDOWN (ifDown)', (t) => {
  const { h, send } = setup();
  h.ifp.setUp(false);
  t.deepEqual(send({ dst: RAW_LL, zone: h.ifp.index }), { e: 'ENETDOWN', d: { ifDown: 1 } });
  t.deepEqual(send({ dst: in6('ff02::1'), zone: h.ifp.index }), { e: 'ENETDOWN', d: { ifDown: 1 } });
});

test('the checksum is filled in at cksumOff with the pseudo-header of the chosen source', (t) => {
  const { net, h, send } = setup();
  introduce(net, h);
  net.raw.clear();
  const payload = Uint8Array.from({ length: 31 }, (_, i) => (i * 37) & 0xff);
  payload[6] = payload[7] = 0xee; // garbage where the checksum goes: must be overwritten
  t.is(send({ dst: RAW_LL, zone: h.ifp.index, nxt: 17, cksumOff: 6 }, payload).e, null);
  net.run();
  const f = net.raw.ip6()[0]!;
  t.truthy(f);
  t.true(eq(f.ip6!.src, h.ll));
  t.is(in6Cksum(f.ip6!.payload, 0, f.ip6!.plen, 17, f.ip6!.src, f.ip6!.dst), 0, 'verifies');
  t.true(eq(f.ip6!.payload.subarray(0, 6), payload.subarray(0, 6)) && eq(f.ip6!.payload.subarray(8), payload.subarray(8)), 'the rest untouched');
});

test('cksumZeroIsFfff: a computed checksum of 0 goes out as 0xffff (UDP)', (t) => {
  const { net, h, send } = setup();
  net.raw.clear();
  const dst = in6('ff02::1');
  const payload = new Uint8Array(16);
  payload.set([0x12, 0x34, 0x56, 0x78], 8);
  // Choose bytes 12..13 so that the one's-complement sum is 0xffff: the checksum computes to 0.
  // in6Cksum returns the complement of the folded sum; adding (0xffff - sum) makes the sum 0xffff.
  const sum = ~in6Cksum(payload, 0, payload.length, 17, h.ll, dst) & 0xffff;
  const word = (0xffff - sum) & 0xffff;
  payload[12] = word >>> 8;
  payload[13] = word & 0xff;
  t.is(in6Cksum(payload, 0, payload.length, 17, h.ll, dst), 0, 'the test payload sums to 0xffff');
  t.is(send({ dst, zone: h.ifp.index, nxt: 17, cksumOff: 6, cksumZeroIsFfff: true, mcastLoop: false }, payload).e, null);
  t.is(send({ dst, zone: h.ifp.index, nxt: 17, cksumOff: 6, mcastLoop: false }, payload).e, null);
  net.run();
  const [a, b] = net.raw.ip6();
  t.is((a!.ip6!.payload[6]! << 8) | a!.ip6!.payload[7]!, 0xffff);
  t.is((b!.ip6!.payload[6]! << 8) | b!.ip6!.payload[7]!, 0);
});

test('a checksum offset outside the payload is a programmer error', (t) => {
  const { h } = setup();
  t.throws(() => h.s.ip6.output(Pkt.copyOf(new Uint8Array(4)), { dst: RAW_LL, zone: h.ifp.index, nxt: 17, cksumOff: 3 }), { instanceOf: RangeError });
});

test('multicast is looped back to a local member; mcastLoop:false suppresses the copy; the wire gets it either way', (t) => {
  const { net, h, got, send } = setup();
  const to = { dst: in6('ff02::1'), zone: h.ifp.index };
  net.raw.clear();
  t.deepEqual(send(to), { e: null, d: { localOut: 1, mcastLooped: 1 } });
  net.run();
  t.is(got.length, 1);
  t.like(got[0]!, { src: formatIn6(h.ll), dst: 'ff02::1', ifname: 'vl0', mcast: true });
  t.is(net.raw.traffic().length, 1);
  t.true(eq(net.raw.traffic()[0]!.ethDst, multicastMac(in6('ff02::1'))));

  got.length = 0;
  net.raw.clear();
  t.deepEqual(send({ ...to, mcastLoop: false }), { e: null, d: { localOut: 1 } });
  net.run();
  t.is(got.length, 0, 'no local copy');
  t.is(net.raw.traffic().length, 1, 'still on the wire');

  // A group we have not joined: no copy.
  got.length = 0;
  t.deepEqual(send({ dst: in6('ff02::1234'), zone: h.ifp.index }), { e: null, d: { localOut: 1 } });
  net.run();
  t.is(got.length, 0);
  // After joining, a copy.
  t.true(h.s.ip6.joinGroup(h.ifp, in6('ff02::1234')).ok);
  t.deepEqual(send({ dst: in6('ff02::1234'), zone: h.ifp.index }), { e: null, d: { localOut: 1, mcastLooped: 1 } });
  net.run();
  t.is(got.length, 1);
});

test('interface-local multicast (ff01::1) never reaches the wire but reaches local members', (t) => {
  const { net, h, got, send } = setup();
  net.raw.clear();
  const opackets = h.ifp.stats.c.opackets;
  t.is(send({ dst: in6('ff01::1') }).e, null, 'no zone: lo0');
  t.is(send({ dst: in6('ff01::1'), zone: h.ifp.index }).e, null, 'zone vl0');
  net.run(100);
  t.is(net.raw.traffic().length, 0);
  t.is(got.length, 2);
  t.deepEqual(got.map((g) => g.ifname).sort(), ['lo0', 'vl0']);
  t.is(h.ifp.stats.c.opackets, opackets, 'nothing sent on vl0');
});

test('hop limit: CurHopLimit for unicast, 1 for multicast, unless given', (t) => {
  const { net, h, send } = setup();
  introduce(net, h);
  net.raw.clear();
  send({ dst: RAW_LL, zone: h.ifp.index });
  send({ dst: in6('ff02::1'), zone: h.ifp.index, mcastLoop: false });
  h.s.ip6.if6Of(h.ifp)!.curHopLimit = 42;
  send({ dst: RAW_LL, zone: h.ifp.index });
  send({ dst: RAW_LL, zone: h.ifp.index, hlim: 7 });
  send({ dst: in6('ff02::1'), zone: h.ifp.index, hlim: 9, mcastLoop: false });
  net.run();
  t.deepEqual(
    net.raw.ip6().map((f) => f.ip6!.hlim),
    [64, 1, 42, 7, 9],
  );
});

test('own addresses go through lo0 and arrive in their zone', (t) => {
  const { net, h, got, send } = setup();
  t.true(h.s.ip6.addAddress(h.ifp, G1, 64, { flags: IN6_IFF.NODAD }).ok);
  net.raw.clear();
  t.deepEqual(send({ dst: h.ll, zone: h.ifp.index }), { e: null, d: { localOut: 1, looped: 1 } });
  t.deepEqual(send({ dst: G1 }), { e: null, d: { localOut: 1, looped: 1 } });
  t.deepEqual(send({ dst: in6('::1') }), { e: null, d: { localOut: 1, looped: 1 } });
  net.run();
  t.is(net.raw.traffic().length, 0);
  t.deepEqual(
    got.map((g) => [g.src, g.dst, g.ifname]),
    [
      [formatIn6(h.ll), formatIn6(h.ll), 'vl0'],
      ['2001:db8::1', '2001:db8::1', 'vl0'],
      ['::1', '::1', 'lo0'],
    ],
  );
});

test('a gateway route: the frame goes to the gateway, the header to the destination', (t) => {
  const { net, h, send } = setup();
  t.true(h.s.ip6.addAddress(h.ifp, G1, 64, { flags: IN6_IFF.NODAD }).ok);
  const rt = h.s.ip6.routes.add({ dst: in6('::'), plen: 0, gateway: RAW_LL, ifindex: h.ifp.index, origin: 'static' });
  t.true(rt.ok);
  introduce(net, h);
  net.raw.clear();
  t.is(send({ dst: in6('2001:db8:ffff::9') }).e, null);
  net.run();
  const f = net.raw.ip6()[0]!;
  t.true(eq(f.ethDst, RAW_MAC));
  t.is(formatIn6(f.ip6!.dst), '2001:db8:ffff::9');
  t.is(formatIn6(f.ip6!.src), '2001:db8::1', 'a global source for a global destination');
  t.is(rt.ok && rt.value.use, 1);
});

// ---- source address selection ------------------------------------------

function selection() {
  const s = setup();
  const { h } = s;
  const A = in6('2001:db8:1::1');
  const B = in6('2001:db8:2::1');
  for (const a of [A, B]) t0(h.s.ip6.addAddress(h.ifp, a, 64, { flags: IN6_IFF.NODAD }).ok);
  const pick = (dst: string) => {
    const ia = h.s.ip6.selectSource(in6(dst), h.ifp);
    return ia ? formatIn6(ia.addr) : null;
  };
  return { ...s, A, B, pick };
}

function t0(ok: boolean): void {
  if (!ok) throw new Error('setup failed');
}

test('source selection rule 2: the scope of the destination', (t) => {
  const { h, pick } = selection();
  const ll = formatIn6(h.ll);
  t.is(pick('fe80::99'), ll, 'link-local destination: link-local source');
  t.is(pick('ff02::1'), ll, 'link-scope multicast: link-local source');
  t.regex(pick('ff05::1')!, /^2001:db8:/, 'site-scope multicast: not the link-local source');
  t.regex(pick('ff0e::1')!, /^2001:db8:/, 'global multicast: a global source');
  t.not(pick('2001:db8:1::99'), ll);
  t.not(pick('2600::1'), ll);
});

test('source selection rule 8: longest matching prefix', (t) => {
  const { pick } = selection();
  t.is(pick('2001:db8:1::99'), '2001:db8:1::1');
  t.is(pick('2001:db8:2::99'), '2001:db8:2::1');
  // 2001:db8:3:: shares 47 bits with :2:: and 46 with :1::.
  t.is(pick('2001:db8:3::1'), '2001:db8:2::1');
});

test('source selection rule 3 (avoid deprecated) comes before rule 8; rule 1 before both', (t) => {
  const { h, B, pick } = selection();
  const ib = h.s.ip6.if6Of(h.ifp)!.findAddr(B)!;
  h.s.ip6.setLifetimes(ib, 0, 3600);
  t.truthy(ib.flags & IN6_IFF.DEPRECATED);
  t.is(pick('2001:db8:2::99'), '2001:db8:1::1', 'the deprecated address loses although its prefix matches better');
  t.is(pick('2001:db8:2::1'), '2001:db8:2::1', 'rule 1: the destination itself');
});

test('tentative, duplicated and anycast addresses are never chosen', (t) => {
  const { h, pick } = selection();
  t0(h.s.ip6.addAddress(h.ifp, in6('2001:db8:2::2'), 64).ok); // tentative
  t.is(pick('2001:db8:2::2'), '2001:db8:2::1', 'not even for itself');
  t0(h.s.ip6.addAddress(h.ifp, in6('2001:db8:2::3'), 64, { flags: IN6_IFF.ANYCAST }).ok);
  t.is(pick('2001:db8:2::4'), '2001:db8:2::1');
  const d = h.s.ip6.addAddress(h.ifp, in6('2001:db8:2::5'), 64);
  if (d.ok) h.s.ip6.dadDone(d.value, true);
  t.is(pick('2001:db8:2::5'), '2001:db8:2::1');
});

test('the chosen source is the one on the wire', (t) => {
  const { net, h, send } = selection();
  net.raw.answerNs(in6('2001:db8:2::99'));
  net.raw.answerNs(in6('2001:db8:1::99'));
  net.raw.clear();
  t.is(send({ dst: in6('2001:db8:2::99') }).e, null);
  t.is(send({ dst: in6('2001:db8:1::99') }).e, null);
  net.run(100);
  const out = net.raw.ip6().filter((f) => f.ip6!.nxt === NXT_TEST && eq(f.ethSrc, h.mac));
  t.deepEqual(
    out.map((f) => [formatIn6(f.ip6!.src), formatIn6(f.ip6!.dst)]),
    [
      ['2001:db8:2::1', '2001:db8:2::99'],
      ['2001:db8:1::1', '2001:db8:1::99'],
    ],
  );
});

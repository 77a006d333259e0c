/**
 * ICMPv6 (RFC 4443) through the virtual link: input checks, echo, the error
 * rules of §2.4(e), quoting (§2.4(c)), the rate limit (§2.4(f)), the
 * per-type histograms, and the echo API.
 */
import test from 'ava';
import { Pkt, PktFlag } from '../../src/core/pkt.ts';
import { EchoError, EchoService } from '../../src/icmp6/echo.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import type { Ip6InputCtx } from '../../src/ip6/protosw.ts';
import {
  ICMP,
  NXT_DSTOPTS,
  NXT_ICMPV6,
  RAW_LL,
  changed,
  echoBody,
  eq,
  icmp6Msg,
  icmpFrame,
  introduce,
  ip6Frame,
  ip6Packet,
  makeNet,
  multicastMac,
  settle,
  type Host,
  type Net,
} from '../helpers/stack.ts';

function setup(hosts = 1) {
  const net = makeNet({ hosts });
  const h = net.hosts[0]!;
  for (const x of net.hosts) introduce(net, x);
  net.raw.clear();
  const ic = h.s.icmp6.stats;
  // MLD and Router Solicitation messages come and go on their own timers: kept out of the deltas.
  const background = (hist: Float64Array) => [130, 131, 132, 133, 143].reduce((n, type) => n + hist[type]!, 0);
  /** Injects frames, runs the clock, and returns the icmp6stat counters that moved. */
  const inject = (...frames: Uint8Array[]) => {
    const before = ic.snapshot();
    const bgOut = background(h.s.icmp6.outHist);
    const bgIn = background(h.s.icmp6.inHist);
    for (const f of frames) net.raw.send(f);
    net.run();
    const d = changed(before, ic.snapshot());
    for (const [k, n] of [
      ['outMsgs', background(h.s.icmp6.outHist) - bgOut],
      ['inMsgs', background(h.s.icmp6.inHist) - bgIn],
    ] as const) {
      if (n && (d[k] = d[k]! - n) === 0) delete d[k];
    }
    return d;
  };
  return { net, h, inject };
}

/** A packet with an unknown next header (253) from the raw port to `h`: it draws Parameter Problem. */
function unknownNxt(h: Host, o: { src?: Uint8Array; dst?: Uint8Array; ethDst?: Uint8Array; payload?: Uint8Array } = {}) {
  const dst = o.dst ?? h.ll;
  return ip6Frame({ src: o.src ?? RAW_LL, dst, ethDst: o.ethDst ?? (dst[0] === 0xff ? multicastMac(dst) : h.mac), nxt: 253, payload: o.payload ?? new Uint8Array(8) });
}

const pointer = (b: Uint8Array) => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;

test('bad checksum and short messages are counted, not answered', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(icmpFrame(ICMP.ECHO_REQUEST, 0, echoBody(1, 1), { src: RAW_LL, dst: h.ll, ethDst: h.mac, badCksum: true })), { inMsgs: 1, badChecksum: 1 });
  // Two bytes of ICMPv6: shorter than its header.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_ICMPV6, payload: Uint8Array.of(128, 0) })), { inMsgs: 1, tooShort: 1 });
  // An echo request of 4 bytes: a correct header but no identifier and sequence number.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_ICMPV6, payload: icmp6Msg(ICMP.ECHO_REQUEST, 0, new Uint8Array(0), RAW_LL, h.ll) })), { inMsgs: 1, tooShort: 1 });
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_ICMPV6, payload: icmp6Msg(ICMP.ECHO_REPLY, 0, Uint8Array.of(1, 2), RAW_LL, h.ll) })), { inMsgs: 1, tooShort: 1 });
  net.run(100);
  t.is(net.raw.traffic().length, 0);
  t.is(h.s.icmp6.inHist[ICMP.ECHO_REQUEST], 1, 'counted in the histogram once the checksum is right');
});

test('unknown informational and error types are ignored (noHandler)', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(icmpFrame(200, 0, new Uint8Array(8), { src: RAW_LL, dst: h.ll, ethDst: h.mac })), { inMsgs: 1, noHandler: 1 });
  t.deepEqual(inject(icmpFrame(100, 0, new Uint8Array(8), { src: RAW_LL, dst: h.ll, ethDst: h.mac })), { inMsgs: 1, noHandler: 1 });
  t.is(h.s.icmp6.inHist[200], 1);
  net.run(100);
  t.is(net.raw.traffic().length, 0, 'no error about an informational message');
});

test('echo request answered with the same identifier, sequence and data, from the address asked', (t) => {
  const { net, h, inject } = setup();
  const data = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
  t.like(inject(icmpFrame(ICMP.ECHO_REQUEST, 0, echoBody(0xbeef, 0x0102, data), { src: RAW_LL, dst: h.ll, ethDst: h.mac })), { inMsgs: 1, echoReplies: 1, outMsgs: 1 });
  const r = net.raw.icmp(ICMP.ECHO_REPLY)[0]!;
  t.truthy(r);
  t.true(r.icmp!.cksumOk);
  t.is(r.icmp!.code, 0);
  t.true(eq(r.ip6!.src, h.ll));
  t.true(eq(r.ip6!.dst, RAW_LL));
  t.true(eq(r.icmp!.body, echoBody(0xbeef, 0x0102, data)));
  t.is(r.ip6!.hlim, 64);
  // Switched off: no reply.
  h.s.icmp6.echoReplyEnabled = false;
  net.raw.clear();
  inject(icmpFrame(ICMP.ECHO_REQUEST, 0, echoBody(1, 2), { src: RAW_LL, dst: h.ll, ethDst: h.mac }));
  t.is(net.raw.icmp(ICMP.ECHO_REPLY).length, 0);
});

test('an echo request to ff02::1 is answered by every node, each from its unicast address (§4.2)', (t) => {
  const { net } = setup(2);
  // A global address too: the reply to a link-local requester still comes from the link-local one.
  net.hosts[0]!.s.ip6.addAddress(net.hosts[0]!.ifp, in6('2001:db8::a'), 64);
  net.run(3000);
  net.raw.clear();
  net.raw.send(icmpFrame(ICMP.ECHO_REQUEST, 0, echoBody(7, 9, Uint8Array.of(1, 2, 3)), { src: RAW_LL, dst: in6('ff02::1') }));
  net.run();
  const replies = net.raw.icmp(ICMP.ECHO_REPLY);
  t.is(replies.length, 2);
  t.deepEqual(replies.map((r) => formatIn6(r.ip6!.src)).sort(), net.hosts.map((x) => formatIn6(x.ll)).sort());
  for (const r of replies) {
    t.true(eq(r.ip6!.dst, RAW_LL));
    t.true(r.icmp!.cksumOk);
    t.true(eq(r.icmp!.body, echoBody(7, 9, Uint8Array.of(1, 2, 3))));
  }
});

test('Parameter Problem is rate limited by a token bucket; suppression is counted; tokens come back with time', (t) => {
  const { net, h, inject } = setup();
  h.s.icmp6.setRateLimit({ ratePerSec: 2, burst: 3 });
  t.like(inject(...Array.from({ length: 6 }, () => unknownNxt(h))), { errSent: 3, errRateLimited: 3 });
  net.run(490);
  t.like(inject(unknownNxt(h), unknownNxt(h)), { errSent: 1, errRateLimited: 1 }, 'half a second: one token');
  net.run(60_000);
  t.like(inject(...Array.from({ length: 5 }, () => unknownNxt(h))), { errSent: 3, errRateLimited: 2 }, 'the bucket holds no more than the burst');
  t.is(net.raw.icmp(ICMP.PARAM_PROB).length, 7);
  t.is(h.s.ip6.stats.c.noProto, 13, 'every packet is still counted by ip6');
  t.throws(() => h.s.icmp6.setRateLimit({ ratePerSec: -1, burst: 1 }), { instanceOf: RangeError });
  h.s.icmp6.setRateLimit({ ratePerSec: 0, burst: 0 });
  t.like(inject(unknownNxt(h)), { errRateLimited: 1 }, 'rate 0: nothing');
});

/** A Destination Options header with an unknown option whose action asks for Parameter Problem code 2 (RFC 8200 §4.2). */
function dstoptsUnknown(h: Host, inner: Uint8Array, innerNxt: number, o: { dst?: Uint8Array; action?: number } = {}) {
  const p = new Uint8Array(8 + inner.length);
  p[0] = innerNxt;
  p[1] = 0;
  p[2] = ((o.action ?? 2) << 6) | 0x3e;
  p[3] = 4;
  p.set(inner, 8);
  const dst = o.dst ?? h.ll;
  return ip6Frame({ src: RAW_LL, dst, ethDst: dst[0] === 0xff ? multicastMac(dst) : h.mac, nxt: NXT_DSTOPTS, payload: p });
}

test('no error about an ICMPv6 error message or a redirect (§2.4(e.1, e.2)), looking past extension headers', (t) => {
  const { net, h, inject } = setup();
  const about = (type: number) => dstoptsUnknown(h, icmp6Msg(type, 0, new Uint8Array(12), RAW_LL, h.ll), NXT_ICMPV6);
  t.deepEqual(inject(about(ICMP.DST_UNREACH)), { errAboutError: 1 });
  t.deepEqual(inject(about(ICMP.PARAM_PROB)), { errAboutError: 1 });
  t.deepEqual(inject(about(137)), { errAboutError: 1 }, 'redirect');
  t.is(net.raw.icmp(ICMP.PARAM_PROB).length, 0);
  t.like(inject(about(ICMP.ECHO_REQUEST)), { errSent: 1 }, 'an informational message does get an error');
  const e = net.raw.icmp(ICMP.PARAM_PROB)[0]!;
  t.is(e.icmp!.code, 2);
  t.is(pointer(e.icmp!.body), 42, 'the unknown option');
});

test('Parameter Problem code 2 is the exception: sent even for a multicast destination, unless the option says not to', (t) => {
  const { net, h, inject } = setup();
  t.like(inject(dstoptsUnknown(h, new Uint8Array(0), 59, { dst: in6('ff02::1') })), { errSent: 1 }, 'action 10');
  t.deepEqual(inject(dstoptsUnknown(h, new Uint8Array(0), 59, { dst: in6('ff02::1'), action: 3 })), {}, 'action 11: only for unicast');
  t.like(inject(dstoptsUnknown(h, new Uint8Array(0), 59, { action: 3 })), { errSent: 1 });
  t.deepEqual(inject(dstoptsUnknown(h, new Uint8Array(0), 59, { action: 1 })), {}, 'action 01: discard silently');
  const errs = net.raw.icmp(ICMP.PARAM_PROB);
  t.is(errs.length, 2);
  t.true(errs.every((e) => e.icmp!.code === 2 && eq(e.ip6!.src, h.ll)), 'from a unicast source');
});

test('no error for a packet sent to multicast, at the IPv6 or the link layer (§2.4(e.3, e.4))', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(unknownNxt(h, { dst: in6('ff02::1') })), { errToMulticast: 1 });
  // Unicast IPv6 destination in a link-layer multicast frame.
  t.deepEqual(inject(unknownNxt(h, { ethDst: multicastMac(in6('ff02::1')) })), { errToMulticast: 1 });
  net.run(100);
  t.is(net.raw.icmp(ICMP.PARAM_PROB).length, 0);
});

/** A received-packet context, as ip6_input would hand it to icmp6_error. */
function ctxOf(h: Host, bytes: Uint8Array, mcast: boolean): Ip6InputCtx {
  const pkt = Pkt.copyOf(bytes);
  if (mcast) pkt.flags |= PktFlag.MCAST;
  const b = pkt.data();
  return { pkt, ifp: h.ifp, b, off: 40, nxtOff: 6, src: b.subarray(8, 24), dst: b.subarray(24, 40), zone: h.ifp.index, nest: 1, mcast };
}

test('the multicast exceptions: Packet Too Big and Parameter Problem code 2 are sent, from a unicast source', (t) => {
  const { net, h } = setup();
  const s = h.s.icmp6.stats.c;
  const pkt = ip6Packet({ src: RAW_LL, dst: in6('ff02::1'), nxt: 60, payload: new Uint8Array(16) });
  h.s.icmp6.error(ctxOf(h, pkt, true), ICMP.PACKET_TOO_BIG, 0, 1280);
  h.s.icmp6.error(ctxOf(h, pkt, true), ICMP.PARAM_PROB, 2, 42);
  h.s.icmp6.error(ctxOf(h, pkt, true), ICMP.PARAM_PROB, 1, 6);
  h.s.icmp6.error(ctxOf(h, pkt, true), ICMP.DST_UNREACH, 4, 0);
  t.is(s.errSent, 2);
  t.is(s.errToMulticast, 2);
  net.run();
  const sent = net.raw.traffic().filter((f) => f.icmp && f.icmp.type < 128);
  t.deepEqual(
    sent.map((f) => [f.icmp!.type, f.icmp!.code, pointer(f.icmp!.body)]),
    [
      [ICMP.PACKET_TOO_BIG, 0, 1280],
      [ICMP.PARAM_PROB, 2, 42],
    ],
  );
  for (const f of sent) {
    t.true(eq(f.ip6!.src, h.ll), 'a unicast source, not the group');
    t.true(eq(f.ip6!.dst, RAW_LL));
    t.true(eq(f.icmp!.body.subarray(4), pkt));
  }
});

test('no error to an unspecified or multicast source (§2.4(e.5))', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(unknownNxt(h, { src: in6('::') })), { errBadSource: 1 });
  // A multicast source never passes ip6_input; icmp6_error refuses it on its own as well.
  h.s.icmp6.error(ctxOf(h, ip6Packet({ src: in6('ff02::1'), dst: h.ll, nxt: 253 }), false), ICMP.PARAM_PROB, 1, 6);
  t.is(h.s.icmp6.stats.c.errBadSource, 2);
  net.run(100);
  t.is(net.raw.icmp(ICMP.PARAM_PROB).length, 0);
});

test('an error quotes as much of the packet as fits in 1280 bytes, unchanged', (t) => {
  const { net, h, inject } = setup();
  const big = Uint8Array.from({ length: 1400 }, (_, i) => (i * 13) & 0xff);
  const f = unknownNxt(h, { payload: big });
  const sent = f.subarray(14).slice();
  t.like(inject(f), { errSent: 1 });
  const e = net.raw.icmp(ICMP.PARAM_PROB)[0]!;
  t.is(e.ip6!.packet.length, 1280, 'exactly the minimum MTU');
  t.is(e.icmp!.body.length, 4 + 1232);
  t.true(eq(e.icmp!.body.subarray(4), sent.subarray(0, 1232)));
  t.true(e.icmp!.cksumOk);
  // A small packet is quoted whole.
  net.raw.clear();
  const g = unknownNxt(h, { payload: Uint8Array.of(1, 2, 3) });
  inject(g);
  const e2 = net.raw.icmp(ICMP.PARAM_PROB)[0]!;
  t.true(eq(e2.icmp!.body.subarray(4), g.subarray(14)));
});

test('per-type histograms count what goes in and out', async (t) => {
  const { net } = setup(2);
  const [a, b] = net.hosts as [Host, Host];
  for (let seq = 1; seq <= 3; seq++) t.truthy(await settle(net.clock, a.s.ping({ dst: b.ll, zone: a.ifp.index, seq })));
  t.is(a.s.icmp6.outHist[ICMP.ECHO_REQUEST], 3);
  t.is(b.s.icmp6.inHist[ICMP.ECHO_REQUEST], 3);
  t.is(b.s.icmp6.outHist[ICMP.ECHO_REPLY], 3);
  t.is(a.s.icmp6.inHist[ICMP.ECHO_REPLY], 3);
  t.true(a.s.icmp6.outHist[ICMP.NS]! >= 2, 'DAD and resolution');
  t.true(b.s.icmp6.outHist[ICMP.NA]! >= 1);
  t.is(a.s.icmp6.stats.c.outMsgs, a.s.icmp6.outHist.reduce((x, y) => x + y, 0), 'outMsgs is the sum of the histogram');
});

// ---- the echo API -------------------------------------------------------------

/** Pings RAW_LL (which never answers echo by itself) and returns what it sent. */
function pingRaw(net: Net, h: Host, o: { id: number; seq: number; timeoutMs?: number; data?: Uint8Array }) {
  net.raw.clear();
  const p = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, ...o });
  net.run(0);
  const req = net.raw.icmp(ICMP.ECHO_REQUEST)[0]!;
  return { p, req };
}

function replyFrame(h: Host, req: { icmp: { body: Uint8Array } | null }, src = RAW_LL) {
  return icmpFrame(ICMP.ECHO_REPLY, 0, req.icmp!.body, { src, dst: h.ll, ethDst: h.mac });
}

test('echo: a reply is matched by id, seq and source; the RTT is measured on the virtual clock', async (t) => {
  const { net, h } = setup();
  const { p, req } = pingRaw(net, h, { id: 0x1111, seq: 5 });
  t.truthy(req);
  t.is(h.s.icmp6.echo.outstanding, 1);
  net.run(37);
  // From the wrong source: not ours.
  net.raw.send(replyFrame(h, req, in6('fe80::99')));
  net.run(0);
  t.is(h.s.icmp6.stats.c.echoUnmatched, 1);
  t.is(h.s.icmp6.echo.outstanding, 1);
  net.raw.send(replyFrame(h, req));
  const r = await settle(net.clock, p, 1);
  t.truthy(r);
  t.like(r!, { id: 0x1111, seq: 5, zone: h.ifp.index, rttMs: 37, hlim: 64, bytes: 64, dataOk: true });
  t.is(formatIn6(r!.from), 'fe80::ee');
  t.is(h.s.icmp6.stats.c.echoMatched, 1);
  t.is(h.s.icmp6.echo.outstanding, 0);
});

test('echo: changed data is reported, not matched away', async (t) => {
  const { net, h } = setup();
  const { p, req } = pingRaw(net, h, { id: 1, seq: 1, data: Uint8Array.of(1, 2, 3, 4) });
  const body = req.icmp!.body.slice();
  body[5] ^= 0xff;
  net.raw.send(icmpFrame(ICMP.ECHO_REPLY, 0, body, { src: RAW_LL, dst: h.ll, ethDst: h.mac }));
  const r = await settle(net.clock, p, 1);
  t.false(r!.dataOk);
});

test('echo: unmatched replies are counted; no reply means null after the timeout; a late reply is unmatched', async (t) => {
  const { net, h } = setup();
  net.raw.send(icmpFrame(ICMP.ECHO_REPLY, 0, echoBody(0x4321, 1), { src: RAW_LL, dst: h.ll, ethDst: h.mac }));
  net.run();
  t.is(h.s.icmp6.stats.c.echoUnmatched, 1);
  const { p, req } = pingRaw(net, h, { id: 0x2222, seq: 1, timeoutMs: 500 });
  const t0 = net.clock.now();
  t.is(await settle(net.clock, p, 10), null);
  t.true(net.clock.now() - t0 >= 500 && net.clock.now() - t0 <= 510);
  t.is(h.s.icmp6.echo.outstanding, 0);
  net.raw.send(replyFrame(h, req));
  net.run();
  t.is(h.s.icmp6.stats.c.echoUnmatched, 2);
  t.is(h.s.icmp6.stats.c.echoMatched, 0);
});

test('echo: a duplicate id/seq is refused while outstanding (EBUSY), allowed again afterwards', async (t) => {
  const { net, h } = setup();
  const first = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, id: 9, seq: 9, timeoutMs: 100 });
  const dup = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, id: 9, seq: 9 });
  const e = await t.throwsAsync(dup, { instanceOf: EchoError });
  t.is(e!.code, 'EBUSY');
  t.is(h.s.icmp6.echo.outstanding, 1);
  // Another sequence number is fine.
  const other = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, id: 9, seq: 10, timeoutMs: 100 });
  t.is(h.s.icmp6.echo.outstanding, 2);
  t.is(await settle(net.clock, first), null);
  t.is(await settle(net.clock, other), null);
  const again = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, id: 9, seq: 9, timeoutMs: 100 });
  t.is(await settle(net.clock, again), null);
});

test('echo: outstanding requests are bounded (ENOBUFS)', async (t) => {
  const { net, h } = setup();
  const svc = new EchoService(h.s.icmp6, 2);
  const a = svc.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 1, timeoutMs: 100 });
  const b = svc.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 2, timeoutMs: 100 });
  const c = svc.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 3 });
  const e = await t.throwsAsync(c, { instanceOf: EchoError });
  t.is(e!.code, 'ENOBUFS');
  t.is(svc.outstanding, 2);
  t.is(await settle(net.clock, a), null);
  t.is(await settle(net.clock, b), null);
  t.is(svc.outstanding, 0);
  const d = svc.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 3, timeoutMs: 100 });
  t.is(svc.outstanding, 1, 'room again');
  t.is(await settle(net.clock, d), null);
});

test('echo: send errors reject at once and leave nothing outstanding', async (t) => {
  const { h } = setup();
  const noRoute = await t.throwsAsync(h.s.ping({ dst: in6('2001:db8::1'), seq: 1 }), { instanceOf: EchoError });
  t.is(noRoute!.code, 'ENETUNREACH');
  t.regex(noRoute!.message, /unreachable/);
  const noZone = await t.throwsAsync(h.s.ping({ dst: RAW_LL, seq: 1 }), { instanceOf: EchoError });
  t.is(noZone!.code, 'EINVAL');
  const badSize = await t.throwsAsync(h.s.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 1, size: -1 }), { instanceOf: EchoError });
  t.is(badSize!.code, 'EINVAL');
  const huge = await t.throwsAsync(h.s.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 1, size: 1.5 }), { instanceOf: EchoError });
  t.is(huge!.code, 'EINVAL');
  t.is(h.s.icmp6.echo.outstanding, 0);
  t.is(h.s.icmp6.stats.c.outErrors, 2, 'the two that reached output');
});

test('echo: a multicast ping is matched by the first member that answers (ourselves included, through the multicast loopback)', async (t) => {
  const { net } = setup(3);
  const a = net.hosts[0]!;
  const r = await settle(net.clock, a.s.ping({ dst: in6('ff02::1'), zone: a.ifp.index, seq: 1 }), 1);
  t.truthy(r);
  t.true(net.hosts.some((x) => eq(x.ll, r!.from)));
  net.run(100);
  t.is(a.s.icmp6.stats.c.echoMatched, 1);
  t.is(a.s.icmp6.stats.c.echoUnmatched, 2, 'three members answered');
  t.is(a.s.icmp6.stats.c.echoReplies, 1, 'including this host');
});

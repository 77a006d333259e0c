/**
 * ip6_input from the wire: a raw port on the virtual link injects crafted
 * frames into one stack; each test checks the one ip6stat counter the drop
 * names (and that nothing else moved), and what the stack sent back.
 */
import test from 'ava';
import fc from 'fast-check';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import {
  ICMP,
  NXT_DSTOPTS,
  NXT_ICMPV6,
  NXT_NONE,
  RAW_LL,
  RAW_MAC,
  changed,
  echoBody,
  eq,
  etherFrame,
  icmp6Msg,
  icmpFrame,
  introduce,
  ip6Frame,
  ip6Packet,
  makeNet,
  multicastMac,
  settle,
} from '../helpers/stack.ts';

function setup(o: Parameters<typeof makeNet>[0] = {}) {
  const net = makeNet(o);
  const h = net.hosts[0]!;
  const c = h.s.ip6.stats;
  /** Injects frames, runs the clock, and returns the ip6stat counters that moved. */
  if (o.settleDad !== false) introduce(net, h);
  /** Injects frames, runs the clock, and returns the ip6stat input counters that moved (output ones left out). */
  const inject = (...frames: Uint8Array[]) => {
    const before = c.snapshot();
    for (const f of frames) net.raw.send(f);
    net.run();
    return changed(before, c.snapshot(), ['localOut', 'looped', 'mcastLooped']);
  };
  return { net, h, inject };
}

const G1 = in6('2001:db8::1');
const pointer = (b: Uint8Array) => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;

test('shorter than an IPv6 header: tooShort', (t) => {
  const { h, inject } = setup();
  t.deepEqual(inject(etherFrame(h.mac, RAW_MAC, 0x86dd, new Uint8Array(39).fill(0x60))), { total: 1, tooShort: 1 });
  t.deepEqual(inject(etherFrame(h.mac, RAW_MAC, 0x86dd, new Uint8Array(0))), { total: 1, tooShort: 1 });
});

test('version not 6: badVersion', (t) => {
  const { h, inject } = setup();
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, version: 4 })), { total: 1, badVersion: 1 });
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, version: 0 })), { total: 1, badVersion: 1 });
});

test('payload length beyond the frame: tooSmall', (t) => {
  const { h, inject } = setup();
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, payload: new Uint8Array(20), plen: 21 })), { total: 1, tooSmall: 1 });
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, plen: 0xffff })), { total: 1, tooSmall: 1 });
});

test('multicast source: badSource', (t) => {
  const { h, inject } = setup();
  t.deepEqual(inject(ip6Frame({ src: in6('ff02::1'), dst: h.ll, ethDst: h.mac })), { total: 1, badSource: 1 });
  t.deepEqual(inject(ip6Frame({ src: in6('ff0e::5'), dst: in6('ff02::1') })), { total: 1, badSource: 1 });
});

test('scope violations from a link: ::1, interface-local multicast, IPv4-mapped', (t) => {
  const { h, inject } = setup();
  const cases: [string, string][] = [
    ['::1', formatIn6(h.ll)],
    [formatIn6(RAW_LL), '::1'],
    [formatIn6(RAW_LL), 'ff01::1'],
    ['::ffff:192.0.2.1', formatIn6(h.ll)],
    [formatIn6(RAW_LL), '::ffff:192.0.2.1'],
  ];
  for (const [src, dst] of cases) {
    const d = in6(dst);
    // ff01::1 maps to 33:33:00:00:00:01, the MAC of ff02::1, which the interface joined.
    const f = ip6Frame({ src: in6(src), dst: d, ethDst: d[0] === 0xff ? multicastMac(d) : h.mac });
    t.deepEqual(inject(f), { total: 1, badScope: 1 }, `${src} -> ${dst}`);
  }
});

test('a group not joined on the interface: notMember', (t) => {
  const { h, inject } = setup();
  // Sent to our unicast MAC so that the Ethernet filter lets it through.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: in6('ff02::1234'), ethDst: h.mac })), { total: 1, notMember: 1 });
  // Solicited-node group of an address we do not have.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: in6('ff02::1:ff12:3456'), ethDst: h.mac })), { total: 1, notMember: 1 });
});

test('not our address (forwarding off): notForUs', (t) => {
  const { h, inject } = setup();
  for (const dst of ['2001:db8::99', '::', 'fe80::99']) {
    t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: in6(dst), ethDst: h.mac })), { total: 1, notForUs: 1 }, dst);
  }
});

test('a link-local address of another interface is not ours on this one', (t) => {
  const { h, inject } = setup();
  // lo0 carries fe80::1; arriving on vl0 it belongs to vl0's zone, where nobody has it.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: in6('fe80::1'), ethDst: h.mac })), { total: 1, notForUs: 1 });
});

test('unicast to a tentative or duplicated address: tentative (RFC 4862 §5.4)', (t) => {
  const { net, h, inject } = setup({ settleDad: false });
  // The link-local address is still tentative at t=0.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac })), { total: 1, tentative: 1 });
  net.run(3000);
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac })), { total: 1, noNextHeader: 1 }, 'usable after DAD');
  const r = h.s.ip6.addAddress(h.ifp, G1, 64);
  t.true(r.ok);
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: G1, ethDst: h.mac })), { total: 1, tentative: 1 });
  if (r.ok) h.s.ip6.dadDone(r.value, true);
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: G1, ethDst: h.mac })), { total: 1, tentative: 1 }, 'duplicated');
});

test('next header 59: noNextHeader, nothing sent back', (t) => {
  const { net, h, inject } = setup();
  net.raw.clear();
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_NONE, payload: new Uint8Array(16) })), { total: 1, noNextHeader: 1 });
  net.run(100);
  t.is(net.raw.traffic().length, 0);
});

test('unknown next header: noProto and Parameter Problem code 1 pointing at byte 6, quoting the packet unchanged', (t) => {
  const { net, h, inject } = setup();
  net.raw.clear();
  const payload = Uint8Array.from({ length: 24 }, (_, i) => i * 7);
  const f = ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: 253, hlim: 33, flow: 0x12345, tc: 0xa5, payload });
  const sent = f.subarray(14).slice();
  t.deepEqual(inject(f), { total: 1, noProto: 1 });
  net.run(100);
  const errs = net.raw.icmp(ICMP.PARAM_PROB);
  t.is(errs.length, 1);
  const e = errs[0]!;
  t.true(eq(e.ethDst, RAW_MAC), 'resolved to the raw port');
  t.true(eq(e.ip6!.src, h.ll), 'from the address the packet was sent to');
  t.true(eq(e.ip6!.dst, RAW_LL));
  t.is(e.ip6!.nxt, NXT_ICMPV6);
  t.is(e.icmp!.code, 1);
  t.true(e.icmp!.cksumOk);
  const b = e.icmp!.body;
  t.is(pointer(b), 6, 'pointer to the Next Header field');
  t.true(eq(b.subarray(4), sent), 'the offending packet, unchanged');
  t.is(h.s.icmp6.stats.c.errSent, 1);
  t.is(h.s.icmp6.outHist[ICMP.PARAM_PROB], 1);
});

/** `n` Destination Options headers of 8 bytes (six Pad1 options each), the last naming `last`. */
function extChain(n: number, last: number): Uint8Array {
  const p = new Uint8Array(n * 8);
  for (let i = 0; i < n; i++) p[i * 8] = i === n - 1 ? last : NXT_DSTOPTS;
  return p;
}

test('header chain: up to maxHeaders walked, one more is tooManyHeaders (a loop, not recursion)', (t) => {
  const { h, inject } = setup();
  t.is(h.s.ip6.maxHeaders, 64);
  // 63 extension headers + No Next Header = 64 headers processed.
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_DSTOPTS, payload: extChain(63, NXT_NONE) })), { total: 1, noNextHeader: 1 });
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_DSTOPTS, payload: extChain(64, NXT_NONE) })), { total: 1, tooManyHeaders: 1 });
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_DSTOPTS, payload: extChain(180, NXT_NONE) })), { total: 1, tooManyHeaders: 1 });
});

test('unknown next header after an extension header: the pointer names the byte in that header', (t) => {
  const { net, h, inject } = setup();
  net.raw.clear();
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: NXT_DSTOPTS, payload: extChain(2, 253) })), { total: 1, noProto: 1 });
  net.run(100);
  const e = net.raw.icmp(ICMP.PARAM_PROB)[0]!;
  t.truthy(e);
  const b = e.icmp!.body;
  t.is(pointer(b), 48, 'second extension header starts at 40 + 8');
});

test('link padding after the payload is trimmed; the packet is accepted', (t) => {
  const { net, h, inject } = setup();
  net.raw.clear();
  const data = Uint8Array.from({ length: 6 }, (_, i) => 0x40 + i);
  const f = icmpFrame(ICMP.ECHO_REQUEST, 0, echoBody(0x4242, 1, data), { src: RAW_LL, dst: h.ll, ethDst: h.mac, trailer: 24 });
  f.fill(0xab, f.length - 24);
  t.deepEqual(inject(f), { total: 1, delivered: 1 });
  net.run(100);
  t.is(h.s.icmp6.stats.c.badChecksum, 0, 'checksum computed over the trimmed packet');
  t.is(h.s.icmp6.stats.c.echoReplies, 1);
  const r = net.raw.icmp(ICMP.ECHO_REPLY)[0]!;
  t.truthy(r);
  t.is(r.ip6!.plen, 4 + 4 + data.length, 'the padding is not echoed');
  t.true(eq(r.icmp!.body.subarray(4), data));
});

test('Ethernet-minimum padding on a No Next Header packet is trimmed', (t) => {
  const { h, inject } = setup();
  t.deepEqual(inject(ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, trailer: 6 })), { total: 1, noNextHeader: 1 });
});

test('payload length 0 with next header Hop-by-Hop but no Jumbo option: padding is not a header (RFC 2675 §3)', (t) => {
  const { net, h, inject } = setup();
  net.raw.clear();
  // 8 bytes of link padding that happen to look like a Hop-by-Hop header naming No Next Header.
  const f = ip6Frame({ src: RAW_LL, dst: h.ll, ethDst: h.mac, nxt: 0, trailer: 8 });
  f[14 + 40] = NXT_NONE;
  t.like(inject(f), { total: 1, badJumbo: 1 });
  t.is(h.s.ip6.stats.c.noNextHeader, 0, 'never processed as a packet');
  net.run(100);
  const e = net.raw.icmp(ICMP.PARAM_PROB)[0]!;
  t.truthy(e);
  t.is(e.icmp!.code, 0);
  t.is(pointer(e.icmp!.body), 4, 'the Payload Length field');
});

test('random garbage never throws, every packet is counted once, and a ping works afterwards', async (t) => {
  const { net, h } = setup({ hosts: 2 });
  const other = net.hosts[1]!;
  const constants = [h.ll, RAW_LL, in6('ff02::1'), in6('::1'), in6('::'), in6('ff01::1'), snodeOf(h.ll), in6('2001:db8::1'), in6('ff02::1234')];
  const random16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const randomLl = random16.map((a) => Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, ...a.subarray(8)));
  const w = <T,>(arbitrary: fc.Arbitrary<T>, weight: number) => ({ arbitrary, weight });
  const src = fc.oneof(w(fc.constant(RAW_LL), 4), w(fc.constant(new Uint8Array(16)), 1), w(randomLl, 1), w(fc.constantFrom(...constants), 2), w(random16, 1));
  const dst = fc.oneof(w(fc.constant(h.ll), 4), w(fc.constantFrom(in6('ff02::1'), snodeOf(h.ll)), 2), w(fc.constantFrom(...constants), 2), w(random16, 1));
  // ICMPv6 with a correct checksum most of the time, so that the ICMPv6 and ND handlers see it;
  // NS and NA with a well-formed fixed part and random options.
  const icmp = fc.oneof(
    w(fc.record({ type: fc.constantFrom(1, 2, 3, 4, 128, 129, 135, 136, 200), rest: fc.uint8Array({ maxLength: 120, size: 'max' }) }), 2),
    w(
      fc.record({
        type: fc.constantFrom(135, 136),
        flags: fc.integer({ min: 0, max: 255 }),
        target: fc.oneof(fc.constant(h.ll), fc.constant(RAW_LL), random16),
        opts: fc.array(fc.record({ type: fc.constantFrom(1, 2, 14, 3, 99), len: fc.integer({ min: 0, max: 3 }), fill: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
        tail: fc.uint8Array({ maxLength: 9 }),
      }).map((m) => {
        const parts: number[] = [m.flags, 0, 0, 0, ...m.target];
        for (const o of m.opts) parts.push(o.type, o.len, ...new Array(Math.max(0, o.len * 8 - 2)).fill(o.fill));
        return { type: m.type, rest: Uint8Array.from([...parts, ...m.tail]) };
      }),
      2,
    ),
  );
  const structured = fc
    .record({
      src,
      dst,
      nxt: fc.oneof(fc.constantFrom(0, 43, 44, 58, 59, 60, 6, 17), fc.integer({ min: 0, max: 255 })),
      hlim: fc.constantFrom(0, 1, 64, 255, 255),
      payload: fc.uint8Array({ maxLength: 200, size: 'max' }),
      icmp: fc.option(icmp, { nil: undefined, freq: 2 }),
      code: fc.constantFrom(0, 0, 0, 1),
      goodCksum: fc.constantFrom(true, true, true, false),
      plenDelta: fc.constantFrom(0, 0, 0, 0, -1, 1, 7),
      trailer: fc.constantFrom(0, 0, 3),
      unicastMac: fc.boolean(),
    })
    .map((r) => {
      let payload: Uint8Array = r.payload;
      let nxt = r.nxt;
      if (r.icmp) {
        payload = icmp6Msg(r.icmp.type, r.code, r.icmp.rest, r.src, r.dst, !r.goodCksum);
        nxt = NXT_ICMPV6;
      }
      const plen = Math.max(0, Math.min(0xffff, payload.length + r.plenDelta));
      const pkt = ip6Packet({ src: r.src, dst: r.dst, nxt, hlim: r.hlim, payload, plen });
      const withTrailer = new Uint8Array(pkt.length + r.trailer);
      withTrailer.set(pkt);
      return etherFrame(r.dst[0] === 0xff && !r.unicastMac ? multicastMac(r.dst) : h.mac, RAW_MAC, 0x86dd, withTrailer);
    });
  const junk = fc.tuple(fc.uint8Array({ maxLength: 300, size: 'max' }), fc.boolean()).map(([p, v6]) => {
    if (v6 && p.length) p[0] = 0x60 | (p[0]! & 0x0f);
    return etherFrame(h.mac, RAW_MAC, 0x86dd, p);
  });
  // Counters that record something seen, not how a packet ended; every other ip6 counter is an ending
  // (a drop reason, a delivery, a packet held). Listed this way round, a new drop reason needs no update here.
  const info = new Set(['total', 'optSkipped', 'jumbograms', 'rthdrIgnored', 'fragments', 'atomicFrags', 'reassembled', 'localOut', 'looped', 'mcastLooped', 'jumboOut', 'fragmentedOut', 'fragsCreated']);
  const st = h.s.ip6.stats;
  let frames = 0;
  let unaccounted = 0;
  fc.assert(
    fc.property(fc.oneof(w(structured, 4), w(junk, 1)), (f) => {
      const before = st.snapshot();
      net.raw.send(f);
      net.clock.advance(10);
      frames++;
      const d = changed(before, st.snapshot());
      let ends = 0;
      for (const [k, v] of Object.entries(d)) if (!info.has(k)) ends += v;
      // Every packet ip6_input saw (the frame, and any reply looped back to us) ended under some counter.
      if (ends < (d.total ?? 0)) unaccounted++;
    }),
    { numRuns: 1000, seed: 42 },
  );
  t.is(frames, 1000);
  t.is(unaccounted, 0, 'no packet left ip6_input without a counter');
  net.run(10_000);
  const s = st.c;
  for (const k of ['tooShort', 'badVersion', 'tooSmall', 'badSource', 'badScope', 'notMember', 'notForUs', 'noNextHeader', 'noProto'] as const) {
    t.true(s[k] > 0, `the garbage reached the ${k} check`);
  }
  t.true(s.delivered > 50, 'and the upper layers');
  t.true(h.s.icmp6.stats.c.badChecksum > 0 && h.s.icmp6.stats.c.inMsgs > h.s.icmp6.stats.c.badChecksum, 'both bad and good checksums');
  const r = await settle(net.clock, other.s.ping({ dst: h.ll, zone: other.ifp.index, seq: 1 }));
  t.truthy(r, 'the stack still answers');
  t.true(r!.dataOk);
});

function snodeOf(a: Uint8Array): Uint8Array {
  const g = in6('ff02::1:ff00:0');
  g.set(a.subarray(13, 16), 13);
  return g;
}

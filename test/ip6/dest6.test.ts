/**
 * Hop-by-Hop and Destination Options (RFC 8200 §4.2, §4.3, §4.6; dest6.ts)
 * and the Routing header (§4.4, RFC 5095; route6.ts), from the wire: a raw
 * port on the virtual link sends crafted packets to one stack, and each test
 * checks both the ip6stat counter that names what happened and the ICMPv6
 * error that came back (type, code, pointer, the offending packet quoted
 * unchanged) or that none did.
 */
import test from 'ava';
import { in6 } from '../../src/ip6/addr.ts';
import { IPPROTO_DONE } from '../../src/ip6/protosw.ts';
import { ICMP, eq, parseFrame } from '../helpers/stack.ts';
import { NXT, OPT_EXP, chain, checkError, opt, xrig } from '../helpers/exthdr.ts';

const ALL_NODES = in6('ff02::1');
const PP = ICMP.PARAM_PROB;

test('an options header with nothing but padding is walked; the echo request inside is answered', (t) => {
  const r = xrig();
  for (const kind of ['hbh', 'dst'] as const) {
    const c = chain([{ kind, options: [] }], NXT.ICMPV6, r.echo());
    const s = r.send(r.craft(c).frame);
    t.is(s.replies.length, 1, kind);
    t.is(s.errors.length, 0);
    t.like(s.ip6, { total: 1, delivered: 1 });
  }
});

test('Hop-by-Hop anywhere but first: Parameter Problem code 1 pointing at the byte that named it (hbhNotFirst)', (t) => {
  const r = xrig();
  const cases = [
    { what: 'after Destination Options', c: chain([{ kind: 'dst' }, { kind: 'hbh' }], NXT.ICMPV6, r.echo()), named: 0 },
    { what: 'after Hop-by-Hop', c: chain([{ kind: 'hbh' }, { kind: 'hbh' }], NXT.ICMPV6, r.echo()), named: 0 },
    { what: 'after an ignored Routing header', c: chain([{ kind: 'rt', type: 0, segmentsLeft: 0 }, { kind: 'hbh' }], NXT.ICMPV6, r.echo()), named: 0 },
    { what: 'third', c: chain([{ kind: 'hbh' }, { kind: 'dst' }, { kind: 'hbh' }], NXT.ICMPV6, r.echo()), named: 1 },
  ];
  for (const { what, c, named } of cases) {
    const p = r.craft(c);
    const s = r.send(p.frame);
    t.is(s.ip6.hbhNotFirst, 1, what);
    t.is(s.ip6.delivered, undefined, `${what}: not delivered`);
    t.is(s.replies.length, 0);
    t.is(s.errors.length, 1);
    // The pointer is the Next Header byte of the header before (its offset in the packet).
    checkError(t, s.errors[0], { type: PP, code: 1, param: c.at[named]! }, p.packet, what);
  }
});

test('unknown option, action 00: skipped, and the packet goes on (an echo request is answered)', (t) => {
  const r = xrig();
  for (const kind of ['hbh', 'dst'] as const) {
    const c = chain([{ kind, options: [opt(OPT_EXP[0], 1, 2, 3), opt(0x3f), opt(0x00 | 0x21, 9)] }], NXT.ICMPV6, r.echo({ seq: 7 }));
    const s = r.send(r.craft(c).frame);
    t.is(s.ip6.optSkipped, 3, kind);
    t.is(s.ip6.optDiscard, undefined);
    t.is(s.errors.length, 0);
    t.is(s.replies.length, 1);
    t.is(s.replies[0]!.icmp!.body[3], 7, 'the reply to our request');
  }
});

test('unknown option, action 01: the packet is silently discarded', (t) => {
  const r = xrig();
  for (const dst of [undefined, ALL_NODES]) {
    for (const kind of ['hbh', 'dst'] as const) {
      const c = chain([{ kind, options: [opt(OPT_EXP[1], 0, 0)] }], NXT.ICMPV6, r.echo({ dst }));
      const s = r.send(r.craft(c, { dst }).frame);
      t.like(s.ip6, { total: 1, optDiscard: 1 });
      t.is(s.replies.length, 0);
      t.is(s.errors.length, 0);
      t.is(s.icmp6.errSent, undefined);
    }
  }
});

test('unknown option, action 10: Parameter Problem code 2 pointing at the option type, unicast and multicast alike', (t) => {
  const r = xrig();
  for (const dst of [undefined, ALL_NODES]) {
    for (const kind of ['hbh', 'dst'] as const) {
      // A skipped option first, so that the pointer is not simply the first option.
      const c = chain([{ kind, options: [opt(OPT_EXP[0], 1), opt(OPT_EXP[2], 0, 0)] }], NXT.ICMPV6, r.echo({ dst }));
      const p = r.craft(c, { dst });
      const s = r.send(p.frame);
      const what = `${kind} to ${dst ? 'ff02::1' : 'unicast'}`;
      t.like(s.ip6, { total: 1, optSkipped: 1, optDiscard: 1 }, what);
      t.is(s.replies.length, 0);
      t.is(s.errors.length, 1, what);
      // Option 1 takes bytes 2..4 of the header; option 2 starts at byte 5.
      checkError(t, s.errors[0], { type: PP, code: 2, param: c.at[0]! + 5 }, p.packet, what);
      if (dst) t.true(eq(s.errors[0]!.ip6!.src, r.h.ll), 'the error to a multicast packet comes from a unicast address');
    }
  }
});

test('unknown option, action 11: Parameter Problem code 2 only when the destination is not multicast', (t) => {
  const r = xrig();
  for (const kind of ['hbh', 'dst'] as const) {
    const c = chain([{ kind, options: [opt(OPT_EXP[3], 0, 0, 0, 0)] }], NXT.ICMPV6, r.echo());
    const p = r.craft(c);
    const s = r.send(p.frame);
    t.like(s.ip6, { total: 1, optDiscard: 1 }, kind);
    checkError(t, s.errors[0], { type: PP, code: 2, param: c.at[0]! + 2 }, p.packet, `${kind} unicast`);

    const cm = chain([{ kind, options: [opt(OPT_EXP[3], 0, 0, 0, 0)] }], NXT.ICMPV6, r.echo({ dst: ALL_NODES }));
    const sm = r.send(r.craft(cm, { dst: ALL_NODES }).frame);
    t.like(sm.ip6, { total: 1, optDiscard: 1 }, `${kind} multicast`);
    t.is(sm.errors.length, 0, 'no error for a multicast destination');
    t.is(sm.replies.length, 0);
    t.is(sm.icmp6.errToMulticast, undefined, 'not even offered to icmp6_error');
  }
});

test('the Jumbo Payload option in a Destination Options header is an unknown option (action 11)', (t) => {
  const r = xrig();
  const c = chain([{ kind: 'dst', options: [opt(0xc2, 0, 1, 0, 0)] }], NXT.ICMPV6, r.echo());
  const p = r.craft(c);
  const s = r.send(p.frame);
  t.like(s.ip6, { optDiscard: 1 });
  t.is(s.ip6.jumbograms, undefined);
  checkError(t, s.errors[0], { type: PP, code: 2, param: c.at[0]! + 2 }, p.packet);
});

test('a malformed option length: badOptLen, Parameter Problem code 0 at the length byte, never past the header', (t) => {
  const r = xrig();
  const cases: { what: string; bytes: number[]; pointer: number }[] = [
    { what: 'data past the header', bytes: [0, 0, OPT_EXP[0], 5, 0, 0, 0, 0], pointer: 3 },
    { what: 'after a good option', bytes: [0, 1, OPT_EXP[0], 2, 0, 0, 1, 0, OPT_EXP[0], 7, 0, 0, 0, 0, 0, 0], pointer: 9 },
    { what: 'Router Alert of 3 bytes', bytes: [0, 0, 5, 3, 0, 0, 0, 0], pointer: 3 },
    // The last byte of the header is an option type: its length byte would be the next header's.
    { what: 'type in the last byte', bytes: [0, 0, 0, 0, 0, 0, 0, OPT_EXP[0]], pointer: 7 },
  ];
  for (const kind of ['hbh', 'dst'] as const) {
    for (const k of cases) {
      const c = chain([{ kind: 'raw', bytes: Uint8Array.from(k.bytes) }], NXT.ICMPV6, r.echo(), kind === 'hbh' ? NXT.HOPOPTS : NXT.DSTOPTS);
      const p = r.craft(c);
      const s = r.send(p.frame);
      const what = `${kind}: ${k.what}`;
      t.like(s.ip6, { total: 1, badOptLen: 1 }, what);
      t.is(s.replies.length, 0, what);
      checkError(t, s.errors[0], { type: PP, code: 0, param: 40 + k.pointer }, p.packet, what);
    }
  }
});

test('Router Alert (RFC 2711) is recorded for the upper layer; a packet without one has none', (t) => {
  const r = xrig();
  const seen: (number | undefined)[] = [];
  r.h.s.ip6.registerProtocol(NXT.TEST, {
    name: 'test',
    input: (ctx) => {
      seen.push(ctx.routerAlert);
      return IPPROTO_DONE;
    },
  });
  const data = new Uint8Array(8);
  r.send(r.craft(chain([{ kind: 'hbh', options: [opt(5, 0, 0)] }], NXT.TEST, data)).frame);
  r.send(r.craft(chain([{ kind: 'hbh', options: [opt(5, 0, 2)] }], NXT.TEST, data)).frame);
  r.send(r.craft(chain([{ kind: 'hbh', options: [opt(5, 0, 0)] }], NXT.TEST, data), { dst: ALL_NODES }).frame);
  r.send(r.craft(chain([{ kind: 'hbh' }], NXT.TEST, data)).frame);
  r.send(r.craft(chain([], NXT.TEST, data)).frame);
  t.deepEqual(seen, [0, 2, 0, undefined, undefined]);
});

test('Routing header type 0 with segments left: Parameter Problem code 0 at the routing type (RFC 5095, rthdr0)', (t) => {
  const r = xrig();
  const addrs = new Uint8Array(4 + 32);
  addrs.set(in6('2001:db8::1'), 4);
  addrs.set(in6('2001:db8::2'), 20);
  for (const [sl, before] of [
    [1, []],
    [2, []],
    [1, [{ kind: 'dst' } as const]],
    [1, [{ kind: 'hbh' } as const]],
  ] as const) {
    const c = chain([...before, { kind: 'rt', type: 0, segmentsLeft: sl, data: addrs }], NXT.ICMPV6, r.echo());
    const p = r.craft(c);
    const s = r.send(p.frame);
    const what = `segments left ${sl} after ${before.length} headers`;
    t.like(s.ip6, { total: 1, rthdr0: 1 }, what);
    t.is(s.replies.length, 0);
    checkError(t, s.errors[0], { type: PP, code: 0, param: c.at[before.length]! + 2 }, p.packet, what);
  }
  // To a multicast destination: dropped, and no error (code 0 is not one of the §2.4(e.3) exceptions).
  const cm = chain([{ kind: 'rt', type: 0, segmentsLeft: 1, data: addrs.subarray(0, 20) }], NXT.ICMPV6, r.echo({ dst: ALL_NODES }));
  const sm = r.send(r.craft(cm, { dst: ALL_NODES }).frame);
  t.like(sm.ip6, { rthdr0: 1 });
  t.is(sm.errors.length, 0);
});

test('an unknown routing type with segments left: the same error (rthdrUnknown); type 2, 3 and 4 are unknown to a host', (t) => {
  const r = xrig();
  for (const type of [2, 3, 4, 253]) {
    const c = chain([{ kind: 'rt', type, segmentsLeft: 3, data: new Uint8Array(20) }], NXT.ICMPV6, r.echo());
    const p = r.craft(c);
    const s = r.send(p.frame);
    t.like(s.ip6, { total: 1, rthdrUnknown: 1 }, `type ${type}`);
    t.is(s.ip6.rthdr0, undefined);
    checkError(t, s.errors[0], { type: PP, code: 0, param: 42 }, p.packet, `type ${type}`);
  }
});

test('segments left 0: the Routing header is ignored and the packet delivered (rthdrIgnored)', (t) => {
  const r = xrig();
  for (const type of [0, 2, 4, 253]) {
    const c = chain([{ kind: 'rt', type, segmentsLeft: 0, data: new Uint8Array(20) }], NXT.ICMPV6, r.echo({ seq: type }));
    const s = r.send(r.craft(c).frame);
    t.like(s.ip6, { total: 1, rthdrIgnored: 1, delivered: 1 }, `type ${type}`);
    t.is(s.errors.length, 0);
    t.is(s.replies.length, 1);
    t.is(s.replies[0]!.icmp!.body[3], type);
  }
});

test('a header longer than the packet: extTooShort, silently', (t) => {
  const r = xrig();
  const cases: { what: string; nxt: number; bytes: number[] }[] = [
    { what: 'Hop-by-Hop of 16 bytes in 8', nxt: NXT.HOPOPTS, bytes: [59, 1, 1, 4, 0, 0, 0, 0] },
    { what: 'Destination Options of 2048 bytes in 8', nxt: NXT.DSTOPTS, bytes: [59, 255, 1, 4, 0, 0, 0, 0] },
    { what: 'Destination Options of one byte', nxt: NXT.DSTOPTS, bytes: [59] },
    { what: 'Routing header of 24 bytes in 16', nxt: NXT.ROUTING, bytes: [59, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
    { what: 'Routing header of 3 bytes', nxt: NXT.ROUTING, bytes: [59, 0, 0] },
    { what: 'Fragment header of 4 bytes', nxt: NXT.FRAGMENT, bytes: [59, 0, 0, 1] },
  ];
  for (const k of cases) {
    const p = r.craft({ nxt: k.nxt, payload: Uint8Array.from(k.bytes), at: [40], upperAt: 40 + k.bytes.length });
    const s = r.send(p.frame);
    t.like(s.ip6, { total: 1, extTooShort: 1 }, k.what);
    t.is(s.errors.length, 0, k.what);
  }
});

test('1,000 chained Destination Options headers: a loop, not recursion; dropped by the nesting cap', (t) => {
  const r = xrig({ mtu: 9000 });
  const c = chain(Array.from({ length: 1000 }, () => ({ kind: 'dst' as const })), NXT.ICMPV6, r.echo());
  t.is(c.payload.length, 8000 + 24);
  const s = r.send(r.craft(c).frame);
  t.deepEqual(s.ip6, { total: 1, tooManyHeaders: 1 });
  t.is(s.seen.length, 0, 'nothing comes back');
});

test('a long but legal chain is accepted: 63 options headers and an echo request (64 headers)', (t) => {
  const r = xrig();
  t.is(r.h.s.ip6.maxHeaders, 64);
  const c = chain([{ kind: 'hbh' }, ...Array.from({ length: 62 }, () => ({ kind: 'dst' as const }))], NXT.ICMPV6, r.echo());
  const s = r.send(r.craft(c).frame);
  t.like(s.ip6, { total: 1, delivered: 1 });
  t.is(s.replies.length, 1);
  const c2 = chain([{ kind: 'hbh' }, ...Array.from({ length: 63 }, () => ({ kind: 'dst' as const }))], NXT.ICMPV6, r.echo());
  t.like(r.send(r.craft(c2).frame).ip6, { total: 1, tooManyHeaders: 1 });
});

test('the byte cap: 2,048 bytes of extension headers are walked, one more header is chainTooLong', (t) => {
  const r = xrig({ mtu: 9000 });
  t.is(r.h.s.ip6.maxHeaderChain, 2048);
  /** A Destination Options header of `len` bytes, filled with skippable options. */
  const big = (len: number) => {
    const options = [];
    for (let left = len - 2; left > 1; ) {
      const d = Math.min(255, left - 2);
      options.push(opt(OPT_EXP[0], ...new Array<number>(d).fill(0)));
      left -= d + 2;
    }
    return { kind: 'dst' as const, options };
  };
  // Two headers of 1,016 and 1,032 bytes: 2,048 in all, then the echo request.
  const ok = chain([big(1016), big(1032)], NXT.ICMPV6, r.echo());
  t.deepEqual(ok.at, [40, 40 + 1016]);
  t.is(ok.upperAt - 40, 2048);
  const s = r.send(r.craft(ok).frame);
  t.like(s.ip6, { total: 1, delivered: 1 });
  t.is(s.replies.length, 1);
  // Eight bytes more before the upper-layer header.
  const tooLong = chain([big(1016), big(1032), { kind: 'dst' }], NXT.ICMPV6, r.echo());
  const s2 = r.send(r.craft(tooLong).frame);
  t.like(s2.ip6, { total: 1, chainTooLong: 1 });
  t.is(s2.ip6.delivered, undefined);
  t.is(s2.seen.length, 0);
  // Three headers of 2,048 bytes each.
  const huge = chain([big(2048), big(2048), big(2048)], NXT.ICMPV6, r.echo());
  t.like(r.send(r.craft(huge).frame).ip6, { total: 1, chainTooLong: 1 });
});

test('an error about a large packet quotes its first 1,232 bytes: 1,280 bytes in all', (t) => {
  const r = xrig();
  const c = chain([{ kind: 'dst', options: [opt(OPT_EXP[2], 0, 0)] }], NXT.ICMPV6, r.echo({ data: new Uint8Array(1400).fill(0x5a) }));
  const p = r.craft(c);
  t.true(p.packet.length > 1280);
  const s = r.send(p.frame);
  checkError(t, s.errors[0], { type: PP, code: 2, param: 42 }, p.packet);
  t.is(s.errors[0]!.ip6!.packet.length, 1280);
  t.is(parseFrame(s.errors[0]!.bytes).icmp!.msg.length, 1240);
});

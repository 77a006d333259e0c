/**
 * Path MTU discovery (RFC 8201; pmtu.ts, icmp6/ctlinput.ts, output.ts) on the
 * virtual link: the raw port answers the stack's echo requests with Packet
 * Too Big (and other errors) quoting them, and the tests check the PMTU
 * estimate, how the next packets are cut, aging on the virtual clock, the
 * cache bound, and that errors reach the request that caused them.
 */
import test from 'ava';
import { Pkt } from '../../src/core/pkt.ts';
import { EchoError, type EchoResult } from '../../src/icmp6/echo.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { PMTU_AGE_MS } from '../../src/ip6/pmtu.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { ICMP, RAW_LL, eq, icmpFrame, ip6Packet } from '../helpers/stack.ts';
import { MAX_QUOTE, NXT, type XRig, fragmentsSent, xrig } from '../helpers/exthdr.ts';

interface Outcome {
  done: boolean;
  value?: EchoResult | null;
  error?: unknown;
}

/** A ping whose outcome is recorded (so that a rejection is never unhandled). */
function ping(r: XRig, seq: number, size: number, timeoutMs = 5000): Outcome {
  const o: Outcome = { done: false };
  r.h.s.ping({ dst: RAW_LL, zone: r.h.ifp.index, seq, size, timeoutMs }).then(
    (v) => Object.assign(o, { done: true, value: v }),
    (e) => Object.assign(o, { done: true, error: e }),
  );
  return o;
}

/** Lets promise callbacks run. */
async function tick(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** The IPv6 packets the host sent since frame index `from`. */
function sentPackets(r: XRig, from = 0): Uint8Array[] {
  return r.net.raw.frames
    .slice(from)
    .filter((f) => f.ip6 && eq(f.ethSrc, r.h.mac))
    .map((f) => f.ip6!.packet);
}

/** An ICMPv6 error from the raw port (or `src`) to the host, quoting `quoted`. */
function errorFrame(r: XRig, type: number, code: number, param: number, quoted: Uint8Array, src = RAW_LL): Uint8Array {
  const q = quoted.subarray(0, Math.min(quoted.length, MAX_QUOTE));
  const body = new Uint8Array(4 + q.length);
  body[0] = param >>> 24;
  body[1] = (param >>> 16) & 0xff;
  body[2] = (param >>> 8) & 0xff;
  body[3] = param & 0xff;
  body.set(q, 4);
  return icmpFrame(type, code, body, { src, dst: r.h.ll, ethDst: r.h.mac });
}

/** Sends an echo request of `size` data bytes and returns the packets that went out for it. */
function sendEcho(r: XRig, seq: number, size: number): { out: Uint8Array[]; ping: Outcome } {
  const from = r.net.raw.frames.length;
  const p = ping(r, seq, size);
  r.net.run();
  return { out: sentPackets(r, from).filter((b) => b[6] === NXT.FRAGMENT || (b[6] === NXT.ICMPV6 && b[40] === ICMP.ECHO_REQUEST)), ping: p };
}

const pmtuOf = (r: XRig) => r.h.s.ip6.pmtu.get(RAW_LL, r.h.ifp.index);

test('Packet Too Big quoting our packet lowers the PMTU; the next packet is fragmented to it; never below 1280, never raised', async (t) => {
  const r = xrig();
  const ic = r.h.s.icmp6.stats.c;
  const first = sendEcho(r, 1, 1400);
  t.is(first.out.length, 1, '1,408 bytes of ICMPv6 fit the 1,500-byte link');
  t.is(first.out[0]!.length, 1448);
  t.is(pmtuOf(r), undefined);

  let s = r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1300, first.out[0]!));
  t.like(s.icmp6, { pmtuLowered: 1, errInDelivered: 1 });
  t.is(pmtuOf(r), 1300);
  await tick();
  t.true(first.ping.error instanceof EchoError, 'the request that was too big learns it');

  const second = sendEcho(r, 2, 1400);
  t.deepEqual(
    second.out.map((p) => p.length),
    [40 + 8 + 1248, 40 + 8 + 160],
    'cut to 1,300: 1,248 data bytes per fragment, then the rest',
  );
  t.true(second.out.every((p) => p.length <= 1300));

  // Below the minimum MTU: 1280 (RFC 8201 §4), and no atomic fragments (RFC 8021).
  s = r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 600, second.out[0]!));
  t.like(s.icmp6, { pmtuLowered: 1 });
  t.is(pmtuOf(r), 1280);
  const third = sendEcho(r, 3, 1400);
  t.deepEqual(
    third.out.map((p) => p.length),
    [40 + 8 + 1232, 40 + 8 + 176],
  );
  const small = sendEcho(r, 4, 1000);
  t.is(small.out.length, 1);
  t.is(small.out[0]![6], NXT.ICMPV6, 'a packet that fits goes whole, without a Fragment header');

  // Larger reports never raise the estimate.
  for (const mtu of [1400, 1500, 9000]) {
    s = r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, mtu, third.out[0]!));
    t.is(s.icmp6.pmtuLowered, undefined, `PTB ${mtu}`);
    t.is(pmtuOf(r), 1280);
  }
  t.is(ic.pmtuLowered, 2);
  r.net.run(10_000);
});

test('a Packet Too Big quoting a packet we did not send is dropped (errInNotOurs); the PMTU is untouched', (t) => {
  const r = xrig();
  const them = in6('fe80::99');
  const forged = ip6Packet({ src: them, dst: RAW_LL, nxt: NXT.ICMPV6, payload: new Uint8Array(1400) });
  let s = r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1280, forged));
  t.deepEqual(s.icmp6, { inMsgs: 1, errInNotOurs: 1 });
  t.is(pmtuOf(r), undefined);
  // Not IPv6 at all.
  const v4 = ip6Packet({ src: r.h.ll, dst: RAW_LL, version: 4, payload: new Uint8Array(20) });
  s = r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1280, v4));
  t.like(s.icmp6, { errInNotOurs: 1 });
  // Too short to quote an IPv6 header.
  s = r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1280, new Uint8Array(20)));
  t.like(s.icmp6, { errInTooShort: 1 });
  t.is(pmtuOf(r), undefined);
  t.is(r.h.s.icmp6.stats.c.pmtuLowered, 0);
});

test('the estimate ages out after 10 minutes of virtual time and the link MTU is tried again', (t) => {
  const r = xrig();
  const first = sendEcho(r, 1, 1400);
  r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1280, first.out[0]!));
  t.is(pmtuOf(r), 1280);
  t.is(PMTU_AGE_MS, 600_000);
  r.net.run(PMTU_AGE_MS - 10 - 10 - 1);
  t.is(pmtuOf(r), 1280, 'still there just before');
  t.is(sendEcho(r, 2, 1400).out.length, 2);
  r.net.run(PMTU_AGE_MS);
  t.is(pmtuOf(r), undefined, 'aged out');
  const after = sendEcho(r, 3, 1400);
  t.is(after.out.length, 1);
  t.is(after.out[0]!.length, 1448);
  r.net.run(10_000);
});

test('the PMTU cache is bounded: the entries closest to expiry go first', (t) => {
  const r = xrig();
  const ours = in6('2001:db8::10');
  t.true(r.h.s.ip6.addAddress(r.h.ifp, ours, 64, { flags: IN6_IFF.NODAD }).ok);
  const cache = r.h.s.ip6.pmtu;
  t.is(cache.maxEntries, 1024);
  const dst = (i: number) => in6(`2001:db8:1::${(i + 1).toString(16)}`);
  for (let batch = 0; batch < 11; batch++) {
    const frames: Uint8Array[] = [];
    for (let i = batch * 100; i < (batch + 1) * 100; i++) {
      frames.push(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1400, ip6Packet({ src: ours, dst: dst(i), nxt: NXT.NONE, payload: new Uint8Array(1400) })));
    }
    const s = r.send(frames, 1000);
    t.is(s.icmp6.pmtuLowered, 100);
    t.true(cache.size <= 1024);
  }
  t.is(cache.size, 1024);
  const present = Array.from({ length: 1100 }, (_, i) => cache.get(dst(i)) !== undefined);
  t.is(present.slice(0, 100).filter(Boolean).length, 24, '76 of the oldest batch evicted');
  t.true(present.slice(100).every(Boolean), 'the newer ones all kept');
  t.is(cache.get(dst(1099)), 1400);
});

test('errors reach the request they quote: a pending ping rejects with an EchoError carrying the ICMPv6 type and code', async (t) => {
  const r = xrig();
  const cases = [
    { type: ICMP.DST_UNREACH, code: 3, param: 0, errno: 'EHOSTUNREACH', text: /Destination unreachable: Address unreachable/ },
    { type: ICMP.DST_UNREACH, code: 4, param: 0, errno: 'EHOSTUNREACH', text: /Port unreachable/ },
    { type: ICMP.PACKET_TOO_BIG, code: 0, param: 1280, errno: 'EMSGSIZE', text: /Packet too big: mtu=1280/ },
    { type: ICMP.TIME_EXCEEDED, code: 0, param: 0, errno: 'EHOSTUNREACH', text: /Time exceeded: Hop limit/ },
    { type: ICMP.PARAM_PROB, code: 1, param: 40, errno: 'EPROTO', text: /Parameter problem: code 1, pointer 40/ },
  ];
  let seq = 10;
  for (const k of cases) {
    const e = sendEcho(r, ++seq, 100);
    const s = r.send(errorFrame(r, k.type, k.code, k.param, e.out[0]!));
    t.like(s.icmp6, { errInDelivered: 1 });
    await tick();
    t.true(e.ping.done, `type ${k.type} code ${k.code} settles the ping`);
    const err = e.ping.error as EchoError;
    t.true(err instanceof EchoError);
    t.is(err.code, k.errno);
    t.regex(err.message, k.text);
    t.like(err.icmp, { type: k.type, code: k.code, zone: r.h.ifp.index });
    t.true(eq(err.icmp!.from, RAW_LL));
  }
  t.is(r.h.s.icmp6.echo.outstanding, 0);
});

test('an error quoting the first fragment of a request still finds the request; one quoting another request leaves ours pending', async (t) => {
  const r = xrig();
  const big = sendEcho(r, 1, 3000);
  t.is(big.out.length, 3);
  t.is(fragmentsSent(r.net.raw.frames).length, 3);
  r.send(errorFrame(r, ICMP.DST_UNREACH, 1, 0, big.out[0]!));
  await tick();
  t.like((big.ping.error as EchoError).icmp, { type: 1, code: 1 });

  const mine = sendEcho(r, 2, 100);
  const other = new Uint8Array(mine.out[0]!);
  other[40 + 7] ^= 0xff; // another sequence number
  const s = r.send(errorFrame(r, ICMP.DST_UNREACH, 3, 0, other));
  t.like(s.icmp6, { errInDelivered: 1 });
  await tick();
  t.false(mine.ping.done, 'not ours: still waiting');
  r.net.run(5000);
  await tick();
  t.is(mine.ping.value, null, 'and then times out as usual');
});

test('dontFrag: larger than the path MTU fails with EMSGSIZE (cantFrag) instead of fragmenting', (t) => {
  const r = xrig();
  const c = r.h.s.ip6.stats.c;
  const first = sendEcho(r, 1, 1400);
  r.send(errorFrame(r, ICMP.PACKET_TOO_BIG, 0, 1280, first.out[0]!));
  const out = (n: number, dontFrag: boolean) => r.h.s.ip6.output(Pkt.alloc(n), { dst: RAW_LL, zone: r.h.ifp.index, nxt: NXT.NONE, dontFrag });
  t.is(out(1241, true), 'EMSGSIZE', '1,281 bytes with the header');
  t.is(c.cantFrag, 1);
  t.is(out(1240, true), null, 'exactly the path MTU goes whole');
  t.is(out(1241, false), null, 'without dontFrag it is fragmented');
  t.is(c.fragmentedOut, 1);
  t.is(c.cantFrag, 1);
  // Jumbograms are never fragmented either: too big for the link, EMSGSIZE.
  t.is(out(70_000, false), 'EMSGSIZE');
  t.is(c.cantFrag, 2);
  r.net.run(10_000);
});

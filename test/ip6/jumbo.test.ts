/**
 * Jumbograms (RFC 2675) on lo0, whose MTU (131,072) is above 65,535: a ping
 * to ::1 with 70,000 bytes of data goes out and comes back as jumbograms,
 * and crafted packets handed to ip6 input on lo0 check each rule of §3 with
 * the Parameter Problem that comes back (captured on lo0) and its counter.
 */
import test from 'ava';
import { putU32 } from '../../src/core/bytes.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import { MemoryLogger } from '../../src/core/log.ts';
import { Pkt } from '../../src/core/pkt.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { OPT_JUMBO, parseOptions } from '../../src/ip6/exthdr.ts';
import { Stack } from '../../src/stack.ts';
import { ICMP, changed, echoBody, eq, icmp6Msg, ip6Packet } from '../helpers/stack.ts';
import { MAX_QUOTE, NXT, chain, opt, param } from '../helpers/exthdr.ts';

const LO = in6('::1');

function setup() {
  const clock = new VirtualClock();
  const s = new Stack({ clock, rng: new SeededRng(3), log: new MemoryLogger() });
  /** IPv6 packets lo0 was asked to send (its 4-byte private header removed). */
  const out: Uint8Array[] = [];
  s.lo.filters.add({
    name: 'capture',
    filter(dir, frame, next) {
      if (dir === 'tx') out.push(frame.slice(4));
      next(frame);
    },
  });
  /** Hands `packet` to ip6 input as received on lo0; returns the ip6stat counters that moved and what lo0 sent meanwhile. */
  const input = (packet: Uint8Array) => {
    const before = s.ip6.stats.snapshot();
    const from = out.length;
    s.ip6.input(s.lo, Pkt.copyOf(packet));
    const moved: Partial<Record<string, number>> = changed(before, s.ip6.stats.snapshot());
    clock.advance(0);
    return { ip6: moved, sent: out.slice(from) };
  };
  return { clock, s, out, input };
}

/** A Hop-by-Hop header holding a Jumbo Payload option with `jlen`, then `upper` as protocol `nxt`; Payload Length `plen`. */
function jumbogram(jlen: number, upper: Uint8Array, o: { nxt?: number; plen?: number; extra?: number } = {}): Uint8Array {
  const c = chain([{ kind: 'hbh', options: [opt(OPT_JUMBO, 0, 0, 0, 0)] }], o.nxt ?? NXT.ICMPV6, upper);
  putU32(c.payload, 4, jlen);
  const p = new Uint8Array(40 + c.payload.length + (o.extra ?? 0));
  p.set(ip6Packet({ src: LO, dst: LO, nxt: NXT.HOPOPTS, payload: c.payload, plen: o.plen ?? 0 }));
  return p;
}

function echoMsg(n: number, seq = 1): Uint8Array {
  return icmp6Msg(ICMP.ECHO_REQUEST, 0, echoBody(0x4a4a, seq, Uint8Array.from({ length: n }, (_, i) => i & 0xff)), LO, LO);
}

/** Checks one Parameter Problem sent to ::1: code, pointer, and the offending packet quoted unchanged. */
function checkPP(t: import('ava').ExecutionContext, sent: Uint8Array[], code: number, pointer: number, packet: Uint8Array): void {
  const e = sent.find((p) => p[6] === NXT.ICMPV6 && p[40] === ICMP.PARAM_PROB);
  if (!e) {
    t.fail('no Parameter Problem');
    return;
  }
  t.is(e[41], code, 'code');
  t.is(param(e.subarray(44)), pointer, 'pointer');
  t.true(e.length <= 1280);
  const quoted = e.subarray(48);
  t.is(quoted.length, Math.min(packet.length, MAX_QUOTE));
  t.true(eq(quoted, packet.subarray(0, quoted.length)), 'quoted unchanged');
}

test('ping ::1 with 70,000 bytes of data: request and reply are jumbograms', async (t) => {
  const { clock, s, out } = setup();
  const c = s.ip6.stats.c;
  t.is(s.lo.mtu, 131072);
  const p = s.ping({ dst: LO, seq: 1, size: 70_000 });
  clock.advance(0);
  clock.advance(0);
  const r = await p;
  t.truthy(r);
  t.true(r!.dataOk);
  t.is(r!.bytes, 70_008);
  t.is(c.jumboOut, 2, 'request and reply');
  t.is(c.jumbograms, 2);
  t.is(c.fragmentedOut, 0);
  // On the wire of lo0: Payload Length 0, Hop-by-Hop first, the Jumbo option at 4n+2 carrying HBH + ICMPv6.
  const req = out.find((b) => b.length > 65_575 && b[48] === ICMP.ECHO_REQUEST)!;
  t.truthy(req);
  t.is(req[4]! | req[5]!, 0);
  t.is(req[6], NXT.HOPOPTS);
  const hbh = parseOptions(req, 40);
  t.true(hbh.ok);
  if (!hbh.ok) return;
  t.is(hbh.value.repr.nextHeader, NXT.ICMPV6);
  t.is(hbh.value.repr.options.length, 1);
  const j = hbh.value.repr.options[0]!;
  t.is(j.type, OPT_JUMBO);
  t.is(j.data.byteOffset - req.byteOffset - 40 - 2, 2, 'at offset 2 of the header (4n+2)');
  t.is(((j.data[0]! << 24) | (j.data[1]! << 16) | (j.data[2]! << 8) | j.data[3]!) >>> 0, 8 + 70_008);
  t.is(req.length, 40 + 8 + 70_008);
});

test('the jumbo boundary: 65,535 bytes of ICMPv6 go as a plain packet, 65,536 as a jumbogram', async (t) => {
  const { clock, s } = setup();
  const c = s.ip6.stats.c;
  const p1 = s.ping({ dst: LO, seq: 1, size: 65_527 });
  clock.advance(0);
  clock.advance(0);
  t.true((await p1)!.dataOk);
  t.is(c.jumboOut, 0);
  const p2 = s.ping({ dst: LO, seq: 2, size: 65_528 });
  clock.advance(0);
  clock.advance(0);
  t.true((await p2)!.dataOk);
  t.is(c.jumboOut, 2);
});

test('a crafted jumbogram is answered; link bytes beyond the jumbo length are trimmed', (t) => {
  const { input } = setup();
  const msg = echoMsg(70_000);
  let r = input(jumbogram(8 + msg.length, msg));
  t.like(r.ip6, { total: 1, jumbograms: 1, delivered: 1 });
  t.is(r.sent.filter((p) => p[48] === ICMP.ECHO_REPLY).length, 1);
  r = input(jumbogram(8 + msg.length, msg, { extra: 13 }));
  t.like(r.ip6, { total: 1, jumbograms: 1, delivered: 1 });
  t.is(r.sent.filter((p) => p[48] === ICMP.ECHO_REPLY).length, 1);
});

test('payload length 0 and Hop-by-Hop without a Jumbo option: Parameter Problem code 0, pointer 4', (t) => {
  const { input } = setup();
  const c = chain([{ kind: 'hbh', options: [opt(0x1e, 1, 2)] }], NXT.ICMPV6, echoMsg(16));
  const packet = ip6Packet({ src: LO, dst: LO, nxt: c.nxt, payload: c.payload, plen: 0 });
  const r = input(packet);
  t.like(r.ip6, { total: 1, badJumbo: 1 });
  t.is(r.ip6.delivered, undefined);
  checkPP(t, r.sent, 0, 4, packet);
});

test('a Jumbo option with a non-zero payload length: Parameter Problem pointing at the option type', (t) => {
  const { input } = setup();
  const msg = echoMsg(16);
  const packet = jumbogram(70_000, msg, { plen: 8 + msg.length });
  const r = input(packet);
  t.like(r.ip6, { total: 1, badJumbo: 1 });
  checkPP(t, r.sent, 0, 42, packet);
});

test('a jumbo length below 65,536: Parameter Problem pointing at the jumbo length', (t) => {
  const { input } = setup();
  for (const jlen of [8 + 24, 65_535, 0]) {
    const packet = jumbogram(jlen, echoMsg(16));
    const r = input(packet);
    t.like(r.ip6, { total: 1, badJumbo: 1 }, `${jlen}`);
    checkPP(t, r.sent, 0, 44, packet);
  }
});

test('a Jumbo option and a Fragment header: Parameter Problem pointing at the Fragment header', (t) => {
  const { input } = setup();
  const frag = chain([{ kind: 'frag', offset: 0, more: true, id: 7 }], NXT.ICMPV6, echoMsg(70_000).subarray(0, 69_992));
  const packet = jumbogram(8 + frag.payload.length, frag.payload, { nxt: NXT.FRAGMENT });
  const r = input(packet);
  t.like(r.ip6, { total: 1, jumbograms: 1, fragments: 1, badJumbo: 1 });
  t.is(r.ip6.pending, undefined, 'not queued for reassembly');
  checkPP(t, r.sent, 0, 48, packet);
});

test('fewer bytes than the jumbo length: dropped silently (jumboTooSmall, "data size < data length")', (t) => {
  const { input } = setup();
  const msg = echoMsg(66_000);
  const r = input(jumbogram(8 + msg.length + 5_000, msg));
  t.deepEqual(r.ip6, { total: 1, jumboTooSmall: 1 });
  t.is(r.sent.length, 0);
});

test('a misaligned or mis-sized Jumbo option is a malformed option (badOptLen)', (t) => {
  const { input } = setup();
  const msg = echoMsg(70_000);
  // Pad1 first moves the option to offset 3 (not 4n+2).
  const mis = new Uint8Array(16);
  mis.set([NXT.ICMPV6, 1, 0, OPT_JUMBO, 4], 0);
  putU32(mis, 5, 16 + msg.length);
  mis.set([1, 5, 0, 0, 0, 0, 0], 9);
  const p1 = ip6Packet({ src: LO, dst: LO, nxt: NXT.HOPOPTS, payload: new Uint8Array([...mis, ...msg]), plen: 0 });
  let r = input(p1);
  t.like(r.ip6, { total: 1, badOptLen: 1 });
  checkPP(t, r.sent, 0, 44, p1);
  // Option data length 6 instead of 4.
  const big = new Uint8Array(16);
  big.set([NXT.ICMPV6, 1, OPT_JUMBO, 6], 0);
  putU32(big, 4, 16 + msg.length);
  big.set([1, 4, 0, 0, 0, 0], 10);
  const p2 = ip6Packet({ src: LO, dst: LO, nxt: NXT.HOPOPTS, payload: new Uint8Array([...big, ...msg]), plen: 0 });
  r = input(p2);
  t.like(r.ip6, { total: 1, badOptLen: 1 });
  checkPP(t, r.sent, 0, 43, p2);
});

test('two Jumbo options: the second is refused (the length would be ambiguous), pointing at it', (t) => {
  const { input } = setup();
  const msg = echoMsg(70_000);
  const c = chain([{ kind: 'hbh', options: [opt(OPT_JUMBO, 0, 0, 0, 0), opt(OPT_JUMBO, 0, 0, 0, 0)] }], NXT.ICMPV6, msg);
  t.deepEqual(c.at, [40]);
  // Options at 2 and 10 (both 4n+2, Pad2 between): the first says the whole packet, the second 8 bytes less.
  t.deepEqual(Array.from(c.payload.subarray(0, 12)), [NXT.ICMPV6, 1, OPT_JUMBO, 4, 0, 0, 0, 0, 1, 0, OPT_JUMBO, 4]);
  putU32(c.payload, 4, c.payload.length);
  putU32(c.payload, 12, c.payload.length - 8);
  const packet = ip6Packet({ src: LO, dst: LO, nxt: c.nxt, payload: c.payload, plen: 0 });
  const r = input(packet);
  t.like(r.ip6, { total: 1, jumbograms: 1, badJumbo: 1 });
  t.is(r.ip6.delivered, undefined);
  checkPP(t, r.sent, 0, 50, packet);
});

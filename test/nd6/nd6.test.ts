/**
 * Neighbor Discovery (RFC 4861 §7) and DAD (RFC 4862 §5.4) on the virtual
 * link: a raw port plays the neighbor, byte by byte, and each test checks the
 * nd6 counters, the neighbor cache and the frames the stack sent.
 */
import test from 'ava';
import { Pkt } from '../../src/core/pkt.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import type { Ifnet } from '../../src/link/ifnet.ts';
import { NeighborCache, type NdState } from '../../src/nd6/cache.ts';
import { DELAY_FIRST_PROBE_TIME, MAX_MULTICAST_SOLICIT } from '../../src/nd6/nd6.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import { Stack } from '../../src/stack.ts';
import {
  ALL_NODES,
  ICMP,
  NA_O,
  NA_R,
  NA_S,
  OPT_NONCE,
  OPT_SLLA,
  OPT_TLLA,
  RAW_LL,
  RAW_MAC,
  UNSPEC,
  changed,
  eq,
  icmpFrame,
  makeNet,
  multicastMac,
  naFrame,
  ndOptions,
  nsFrame,
  snode,
  type FrameSeen,
  type Host,
  type Net,
} from '../helpers/stack.ts';

const NXT_TEST = 253;
const OTHER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xdd);
const G1 = in6('2001:db8::1');

function setup(o: { answer?: boolean; hosts?: number; settleDad?: boolean } = {}) {
  const net = makeNet({ hosts: o.hosts ?? 1, rawAnswers: o.answer ?? false, settleDad: o.settleDad });
  const h = net.hosts[0]!;
  net.raw.clear();
  const nd = h.s.nd6.stats;
  /** Injects frames, runs the clock, and returns the nd6 counters that moved. */
  const inject = (...frames: Uint8Array[]) => {
    const before = nd.snapshot();
    for (const f of frames) net.raw.send(f);
    net.run();
    return changed(before, nd.snapshot());
  };
  return { net, h, inject };
}

/** Sends one packet (next header 253, one marker byte) from `h` to `dst` on its link. */
function sendTo(h: Host, dst: Uint8Array, marker = 0): void {
  const e = h.s.ip6.output(Pkt.copyOf(Uint8Array.of(marker, 0, 0, 0, 0, 0, 0, 0)), { dst, zone: h.ifp.index, nxt: NXT_TEST });
  if (e) throw new Error(`output: ${e}`);
}

function entry(h: Host, a: Uint8Array) {
  return h.s.nd6.cache.get(h.ifp, a);
}

function stateOf(h: Host, a: Uint8Array): NdState | undefined {
  return entry(h, a)?.state;
}

const sentBy = (net: Net, h: Host, type: number) => net.raw.icmp(type, h.mac);
const target = (f: FrameSeen) => formatIn6(f.icmp!.body.subarray(4, 20));

/** A REACHABLE entry for `addr` with MAC `mac`: a packet to it, then a solicited NA. */
function reachable(net: Net, h: Host, addr = RAW_LL, mac = RAW_MAC): void {
  sendTo(h, addr);
  net.run();
  net.raw.send(naFrame(addr, NA_S | NA_O, { src: addr, dst: h.ll, ethDst: h.mac, ethSrc: mac, tlla: mac }));
  net.run();
  if (stateOf(h, addr) !== 'REACHABLE') throw new Error(`not REACHABLE: ${stateOf(h, addr)}`);
}

// ---- validation (§7.1.1, §7.1.2) ---------------------------------------------

test('NS validation: hop limit, code, length, multicast target, options', (t) => {
  const { net, h, inject } = setup();
  const base = { src: RAW_LL, dst: snode(h.ll), slla: RAW_MAC };
  t.deepEqual(inject(nsFrame(h.ll, { ...base, hlim: 254 })), { nsIn: 1, badHopLimit: 1 });
  t.deepEqual(inject(nsFrame(h.ll, { ...base, hlim: 64 })), { nsIn: 1, badHopLimit: 1 });
  t.deepEqual(inject(nsFrame(h.ll, { ...base, code: 1 })), { nsIn: 1, badCode: 1 });
  t.deepEqual(inject(icmpFrame(ICMP.NS, 0, new Uint8Array(16), { src: RAW_LL, dst: snode(h.ll), hlim: 255 })), { nsIn: 1, badLength: 1 });
  t.deepEqual(inject(nsFrame(in6('ff02::1'), { src: RAW_LL, dst: h.ll, ethDst: h.mac })), { nsIn: 1, badTarget: 1 });
  t.deepEqual(inject(nsFrame(h.ll, { ...base, extra: Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0) })), { nsIn: 1, badOptions: 1 }, 'zero-length option');
  t.deepEqual(inject(nsFrame(h.ll, { ...base, extra: Uint8Array.of(1, 2, 0, 0, 0, 0, 0, 0) })), { nsIn: 1, badOptions: 1 }, 'truncated option');
  net.run(100);
  t.is(sentBy(net, h, ICMP.NA).length, 0);
  t.is(h.s.nd6.cache.size, 0, 'nothing learned from invalid messages');
});

test('DAD NS (unspecified source) must go to a solicited-node group and carry no SLLA', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(nsFrame(h.ll, { src: UNSPEC, dst: h.ll, ethDst: h.mac })), { nsIn: 1, badDadNs: 1 }, 'to a unicast address');
  t.deepEqual(inject(nsFrame(h.ll, { src: UNSPEC, dst: ALL_NODES })), { nsIn: 1, badDadNs: 1 }, 'to all-nodes');
  t.deepEqual(inject(nsFrame(h.ll, { src: UNSPEC, dst: snode(h.ll), slla: RAW_MAC })), { nsIn: 1, badDadNs: 1 }, 'with SLLA');
  net.run(100);
  t.is(sentBy(net, h, ICMP.NA).length, 0);
});

test('NA validation: hop limit, code, length, multicast target, solicited to multicast, options', (t) => {
  const { h, inject } = setup();
  const uni = { src: RAW_LL, dst: h.ll, ethDst: h.mac, tlla: RAW_MAC };
  t.deepEqual(inject(naFrame(RAW_LL, NA_S, { ...uni, hlim: 1 })), { naIn: 1, badHopLimit: 1 });
  t.deepEqual(inject(naFrame(RAW_LL, NA_S, { ...uni, code: 3 })), { naIn: 1, badCode: 1 });
  t.deepEqual(inject(icmpFrame(ICMP.NA, 0, new Uint8Array(19), { src: RAW_LL, dst: h.ll, ethDst: h.mac, hlim: 255 })), { naIn: 1, badLength: 1 });
  t.deepEqual(inject(naFrame(in6('ff02::2'), NA_S, uni)), { naIn: 1, badTarget: 1 });
  t.deepEqual(inject(naFrame(RAW_LL, NA_S | NA_O, { src: RAW_LL, dst: ALL_NODES, tlla: RAW_MAC })), { naIn: 1, badNaSolicited: 1 });
  t.deepEqual(inject(naFrame(RAW_LL, NA_S, { ...uni, extra: Uint8Array.of(2, 0) })), { naIn: 1, badOptions: 1 });
  t.deepEqual(inject(naFrame(RAW_LL, NA_O, { src: RAW_LL, dst: ALL_NODES, tlla: RAW_MAC })), { naIn: 1, naNoEntry: 1 }, 'a valid unsolicited NA nobody asked for');
});

// ---- answering NS (§7.2.3, §7.2.4) ---------------------------------------------

test('an NS for our address is answered: solicited, override, TLLA, hop limit 255, to the NS source', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(nsFrame(h.ll, { src: RAW_LL, dst: snode(h.ll), slla: RAW_MAC })), { nsIn: 1, naOut: 1 });
  const na = sentBy(net, h, ICMP.NA);
  t.is(na.length, 1);
  const f = na[0]!;
  t.true(eq(f.ethDst, RAW_MAC), 'to the MAC learned from the SLLA: no resolution needed');
  t.true(eq(f.ip6!.src, h.ll));
  t.true(eq(f.ip6!.dst, RAW_LL));
  t.is(f.ip6!.hlim, 255);
  t.is(f.icmp!.code, 0);
  t.true(f.icmp!.cksumOk);
  t.is(f.icmp!.body[0], NA_S | NA_O, 'S and O set, R clear');
  t.is(target(f), formatIn6(h.ll));
  const opts = ndOptions(f.icmp!.body);
  t.deepEqual(
    opts.map((o) => [o.type, o.len]),
    [[OPT_TLLA, 1]],
  );
  t.true(eq(opts[0]!.data.subarray(0, 6), h.mac));
  // The SLLA was learned; sending the NA to the STALE entry moved it to DELAY (§7.3.3).
  const n = entry(h, RAW_LL)!;
  t.truthy(n);
  t.true(eq(n.lladdr!, RAW_MAC));
  t.is(n.state, 'DELAY');
});

test('an NS without SLLA is still answered (unicast NS, §7.2.3), after resolving the sender', (t) => {
  const { net, h, inject } = setup({ answer: true });
  t.like(inject(nsFrame(h.ll, { src: RAW_LL, dst: h.ll, ethDst: h.mac })), { nsIn: 1, naOut: 1, nsOut: 1 });
  net.run(100);
  const na = sentBy(net, h, ICMP.NA);
  t.is(na.length, 1);
  t.true(eq(na[0]!.ethDst, RAW_MAC));
});

test('a DAD probe for our (preferred) address is answered to all-nodes with S=0', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(nsFrame(h.ll, { src: UNSPEC, dst: snode(h.ll), nonce: Uint8Array.of(1, 2, 3, 4, 5, 6) })), { nsIn: 1, naOut: 1 });
  const f = sentBy(net, h, ICMP.NA)[0]!;
  t.truthy(f);
  t.true(eq(f.ip6!.dst, ALL_NODES));
  t.true(eq(f.ethDst, multicastMac(ALL_NODES)));
  t.is(f.icmp!.body[0], NA_O, 'not solicited');
  t.is(f.ip6!.hlim, 255);
  t.is(h.s.nd6.cache.size, 0, 'nothing learned from an unspecified source');
  t.is(h.s.nd6.stats.c.dadDuplicate, 0, 'our preferred address is not given up');
});

test('an NS for an address that is not ours is ignored', (t) => {
  const { net, h, inject } = setup();
  t.deepEqual(inject(nsFrame(in6('fe80::77'), { src: RAW_LL, dst: h.ll, ethDst: h.mac, slla: RAW_MAC })), { nsIn: 1, notOurTarget: 1 });
  // An address of lo0 is not ours on vl0.
  t.deepEqual(inject(nsFrame(in6('fe80::1'), { src: RAW_LL, dst: h.ll, ethDst: h.mac, slla: RAW_MAC })), { nsIn: 1, notOurTarget: 1 });
  net.run(100);
  t.is(net.raw.traffic().length, 0);
  t.is(h.s.nd6.cache.size, 0);
});

test('an NS with a new SLLA replaces the cached address and makes the entry STALE (§7.2.3)', (t) => {
  const { net, h } = setup();
  reachable(net, h);
  net.raw.send(nsFrame(h.ll, { src: RAW_LL, dst: h.ll, ethDst: h.mac, ethSrc: OTHER_MAC, slla: OTHER_MAC }));
  net.run();
  const n = entry(h, RAW_LL)!;
  t.true(eq(n.lladdr!, OTHER_MAC));
  t.is(n.state, 'DELAY', 'STALE, then DELAY as the NA goes out');
  const na = sentBy(net, h, ICMP.NA).at(-1)!;
  t.true(eq(na.ethDst, OTHER_MAC));
  // The same SLLA again changes nothing.
  net.raw.send(nsFrame(h.ll, { src: RAW_LL, dst: h.ll, ethDst: h.mac, ethSrc: OTHER_MAC, slla: OTHER_MAC }));
  net.run();
  t.is(entry(h, RAW_LL)!.state, 'DELAY');
});

// ---- address resolution (§7.2.2) ---------------------------------------------

test('resolution: one multicast NS, packets queued (oldest dropped beyond maxQueue), flushed in order on the NA', (t) => {
  const { net, h } = setup();
  const peer = in6('fe80::99');
  const max = h.s.nd6.maxQueue;
  t.is(max, 16);
  for (let i = 0; i < max + 4; i++) sendTo(h, peer, i);
  net.run();
  t.is(h.s.nd6.stats.c.holdDropped, 4);
  t.is(stateOf(h, peer), 'INCOMPLETE');
  t.is(entry(h, peer)!.queue.length, max);
  const ns = sentBy(net, h, ICMP.NS);
  t.is(ns.length, 1, 'one solicitation, not one per packet');
  const f = ns[0]!;
  t.true(eq(f.ip6!.dst, snode(peer)));
  t.true(eq(f.ethDst, multicastMac(snode(peer))));
  t.true(eq(f.ip6!.src, h.ll));
  t.is(f.ip6!.hlim, 255);
  t.is(target(f), 'fe80::99');
  const opts = ndOptions(f.icmp!.body);
  t.deepEqual(
    opts.map((o) => o.type),
    [OPT_SLLA],
  );
  t.true(eq(opts[0]!.data.subarray(0, 6), h.mac));

  net.raw.clear();
  net.raw.send(naFrame(peer, NA_S | NA_O, { src: peer, dst: h.ll, ethDst: h.mac, tlla: RAW_MAC }));
  net.run();
  t.is(stateOf(h, peer), 'REACHABLE');
  t.is(h.s.nd6.stats.c.resolved, 1);
  const out = net.raw.traffic().filter((x) => x.ip6?.nxt === NXT_TEST);
  t.deepEqual(
    out.map((x) => x.ip6!.payload[0]),
    Array.from({ length: max }, (_, i) => i + 4),
    'the four oldest were dropped',
  );
  t.true(out.every((x) => eq(x.ethDst, RAW_MAC)));
  // Now packets go straight out.
  net.raw.clear();
  sendTo(h, peer, 99);
  net.run();
  t.is(net.raw.traffic().length, 1);
  t.is(h.s.nd6.stats.c.nsOut, 2, 'DAD probe + one resolution');
});

test('resolution fails after MAX_MULTICAST_SOLICIT NS one RetransTimer apart; queued packets are counted', (t) => {
  const { net, h } = setup();
  const peer = in6('fe80::99');
  const t0 = net.clock.now();
  sendTo(h, peer, 1);
  sendTo(h, peer, 2);
  net.run(2_999);
  t.is(stateOf(h, peer), 'INCOMPLETE');
  const ns = sentBy(net, h, ICMP.NS);
  t.is(ns.length, MAX_MULTICAST_SOLICIT);
  t.deepEqual(
    ns.map((f) => f.at - t0),
    [0, 1000, 2000],
  );
  t.true(ns.every((f) => eq(f.ip6!.dst, snode(peer))));
  net.run(1);
  t.is(entry(h, peer), undefined);
  t.is(h.s.nd6.stats.c.resolveFailed, 1);
  t.is(h.s.nd6.stats.c.unresolvedDropped, 2);
  t.is(sentBy(net, h, ICMP.NS).length, 3, 'no fourth solicitation');
});

test('the RetransTimer of the interface paces the solicitations', (t) => {
  const { net, h } = setup();
  h.s.ip6.if6Of(h.ifp)!.retransTimer = 250;
  const t0 = net.clock.now();
  sendTo(h, in6('fe80::99'));
  net.run(1000);
  t.deepEqual(
    sentBy(net, h, ICMP.NS).map((f) => f.at - t0),
    [0, 250, 500],
  );
  t.is(h.s.nd6.stats.c.resolveFailed, 1);
});

test('an NA without a target link-layer address cannot complete an INCOMPLETE entry (naNoLla)', (t) => {
  const { net, h, inject } = setup();
  const peer = in6('fe80::99');
  sendTo(h, peer);
  net.run();
  t.deepEqual(inject(naFrame(peer, NA_S | NA_O, { src: peer, dst: h.ll, ethDst: h.mac })), { naIn: 1, naNoLla: 1 });
  t.is(stateOf(h, peer), 'INCOMPLETE');
});

test('an unsolicited NA completes an INCOMPLETE entry as STALE; sending the queue then starts DELAY (§7.2.5, §7.3.3)', (t) => {
  const { net, h } = setup();
  const peer = in6('fe80::99');
  sendTo(h, peer, 7);
  net.run();
  net.raw.clear();
  net.raw.send(naFrame(peer, NA_O, { src: peer, dst: ALL_NODES, tlla: RAW_MAC }));
  net.run();
  t.is(net.raw.traffic().filter((x) => x.ip6?.nxt === NXT_TEST).length, 1, 'the queued packet went out');
  t.is(stateOf(h, peer), 'DELAY', 'a packet was sent to a STALE entry');
  net.run(DELAY_FIRST_PROBE_TIME);
  t.is(stateOf(h, peer), 'PROBE');
  const probe = sentBy(net, h, ICMP.NS).at(-1)!;
  t.true(eq(probe.ip6!.dst, peer), 'unicast probe');
  t.true(eq(probe.ethDst, RAW_MAC));
});

test('an NS with SLLA from the neighbor being resolved completes the entry too', (t) => {
  const { net, h } = setup();
  sendTo(h, RAW_LL, 3);
  net.run();
  net.raw.clear();
  net.raw.send(nsFrame(h.ll, { src: RAW_LL, dst: snode(h.ll), slla: RAW_MAC }));
  net.run();
  t.deepEqual(
    net.raw.traffic().filter((x) => x.ip6?.nxt === NXT_TEST).map((x) => x.ip6!.payload[0]),
    [3],
  );
  t.is(stateOf(h, RAW_LL), 'DELAY');
  t.is(h.s.nd6.stats.c.resolved, 1);
});

// ---- the NA state machine on an existing entry (§7.2.5) ---------------------------

test('NA on a REACHABLE entry: the rules of §7.2.5, case by case', (t) => {
  type Case = { name: string; from: 'REACHABLE' | 'STALE'; flags: number; tlla: Uint8Array | null; state: NdState; mac: Uint8Array };
  const cases: Case[] = [
    { name: 'solicited, same LL', from: 'REACHABLE', flags: NA_S, tlla: RAW_MAC, state: 'REACHABLE', mac: RAW_MAC },
    { name: 'solicited, no TLLA', from: 'STALE', flags: NA_S, tlla: null, state: 'REACHABLE', mac: RAW_MAC },
    { name: 'no override, different LL, REACHABLE', from: 'REACHABLE', flags: NA_S, tlla: OTHER_MAC, state: 'STALE', mac: RAW_MAC },
    { name: 'no override, different LL, STALE: ignored', from: 'STALE', flags: NA_S, tlla: OTHER_MAC, state: 'STALE', mac: RAW_MAC },
    { name: 'override, different LL, unsolicited', from: 'REACHABLE', flags: NA_O, tlla: OTHER_MAC, state: 'STALE', mac: OTHER_MAC },
    { name: 'override, different LL, solicited', from: 'STALE', flags: NA_S | NA_O, tlla: OTHER_MAC, state: 'REACHABLE', mac: OTHER_MAC },
    { name: 'unsolicited, same LL: no change', from: 'REACHABLE', flags: NA_O, tlla: RAW_MAC, state: 'REACHABLE', mac: RAW_MAC },
    { name: 'unsolicited, same LL, STALE: no change', from: 'STALE', flags: 0, tlla: RAW_MAC, state: 'STALE', mac: RAW_MAC },
  ];
  for (const c of cases) {
    const { net, h } = setup();
    reachable(net, h);
    if (c.from === 'STALE') {
      // Make it STALE: an unsolicited override with another MAC, then back to RAW_MAC the same way.
      net.raw.send(naFrame(RAW_LL, NA_O, { src: RAW_LL, dst: ALL_NODES, tlla: OTHER_MAC }));
      net.raw.send(naFrame(RAW_LL, NA_O, { src: RAW_LL, dst: ALL_NODES, tlla: RAW_MAC }));
      net.run();
      t.is(stateOf(h, RAW_LL), 'STALE', `${c.name}: setup`);
    }
    const mcast = !(c.flags & NA_S);
    net.raw.send(naFrame(RAW_LL, c.flags, mcast ? { src: RAW_LL, dst: ALL_NODES, tlla: c.tlla } : { src: RAW_LL, dst: h.ll, ethDst: h.mac, tlla: c.tlla }));
    net.run();
    const n = entry(h, RAW_LL)!;
    t.is(n.state, c.state, c.name);
    t.true(eq(n.lladdr!, c.mac), `${c.name}: link-layer address`);
  }
});

test('the Router flag of an NA sets and clears IsRouter', (t) => {
  const { net, h } = setup();
  reachable(net, h);
  t.false(entry(h, RAW_LL)!.isRouter);
  net.raw.send(naFrame(RAW_LL, NA_S | NA_O | NA_R, { src: RAW_LL, dst: h.ll, ethDst: h.mac, tlla: RAW_MAC }));
  net.run();
  t.true(entry(h, RAW_LL)!.isRouter);
  net.raw.send(naFrame(RAW_LL, NA_S | NA_O, { src: RAW_LL, dst: h.ll, ethDst: h.mac, tlla: RAW_MAC }));
  net.run();
  t.false(entry(h, RAW_LL)!.isRouter);
});

test('an NA for one of our own preferred addresses is counted and logged, nothing else', (t) => {
  const { h, inject } = setup();
  t.deepEqual(inject(naFrame(h.ll, NA_O, { src: RAW_LL, dst: ALL_NODES, tlla: RAW_MAC })), { naIn: 1, naForOurAddress: 1 });
  t.true(h.log.lines.some((l) => l.includes('advertises our address') && l.includes('02:00:00:00:00:ee')));
  t.is(h.s.ip6.if6Of(h.ifp)!.linkLocal()!.flags & IN6_IFF.DUPLICATED, 0);
});

// ---- neighbor unreachability detection (§7.3) ---------------------------------------

test('NUD: REACHABLE lapses to STALE after ReachableTime; a packet starts DELAY; 5 s later PROBE with 3 unicast NS; then the entry goes', (t) => {
  const { net, h } = setup();
  const before = net.clock.now();
  reachable(net, h);
  const rt = h.s.ip6.if6Of(h.ifp)!.reachableTime;
  const until = entry(h, RAW_LL)!.reachableUntil;
  t.true(until - rt >= before && until - rt <= net.clock.now(), 'ReachableTime from the NA');
  const show = () => h.s.nd6.neighbors().find((x) => eq(x.addr, RAW_LL))!.state;
  net.clock.advance(until - 1 - net.clock.now());
  t.is(show(), 'REACHABLE');
  net.run(1);
  t.is(show(), 'STALE', 'lapsed');
  net.raw.clear();
  const ts = net.clock.now();
  /** Advances the clock to `ms` after the packet was sent. */
  const at = (ms: number) => net.clock.advance(ts + ms - net.clock.now());
  sendTo(h, RAW_LL, 1);
  at(0);
  t.is(stateOf(h, RAW_LL), 'DELAY');
  t.is(net.raw.traffic().filter((x) => x.ip6?.nxt === NXT_TEST).length, 1, 'the packet goes out at once');
  at(DELAY_FIRST_PROBE_TIME - 1);
  t.is(stateOf(h, RAW_LL), 'DELAY');
  t.is(sentBy(net, h, ICMP.NS).length, 0);
  at(DELAY_FIRST_PROBE_TIME);
  t.is(stateOf(h, RAW_LL), 'PROBE');
  at(DELAY_FIRST_PROBE_TIME + 3000 - 1);
  const ns = sentBy(net, h, ICMP.NS);
  t.is(ns.length, 3);
  t.deepEqual(
    ns.map((f) => f.at - ts),
    [5000, 6000, 7000],
  );
  for (const f of ns) {
    t.true(eq(f.ip6!.dst, RAW_LL), 'unicast');
    t.true(eq(f.ethDst, RAW_MAC), 'to the cached MAC');
    t.is(target(f), formatIn6(RAW_LL));
    t.is(f.ip6!.hlim, 255);
  }
  t.truthy(entry(h, RAW_LL));
  at(DELAY_FIRST_PROBE_TIME + 3000);
  t.is(entry(h, RAW_LL), undefined, 'gone after the third unanswered probe');
  t.is(h.s.nd6.stats.c.nudFailed, 1);
});

test('NUD: a probe answered with a solicited NA makes the entry REACHABLE again', (t) => {
  const { net, h } = setup();
  reachable(net, h);
  net.run(h.s.ip6.if6Of(h.ifp)!.reachableTime);
  sendTo(h, RAW_LL);
  net.run(DELAY_FIRST_PROBE_TIME);
  t.is(stateOf(h, RAW_LL), 'PROBE');
  net.raw.answerNs(RAW_LL);
  net.run(1000);
  t.is(stateOf(h, RAW_LL), 'REACHABLE');
  net.run(10_000);
  t.is(h.s.nd6.stats.c.nudFailed, 0);
  t.is(sentBy(net, h, ICMP.NS).filter((f) => eq(f.ip6!.dst, RAW_LL)).length, 2, 'no more probes once answered');
});

test('NUD: an upper-layer confirmation during DELAY skips the probes', (t) => {
  const { net, h } = setup();
  reachable(net, h);
  net.run(h.s.ip6.if6Of(h.ifp)!.reachableTime);
  sendTo(h, RAW_LL);
  net.run();
  t.is(stateOf(h, RAW_LL), 'DELAY');
  h.s.nd6.confirm(h.ifp, RAW_LL);
  t.is(stateOf(h, RAW_LL), 'REACHABLE');
  net.run(10_000);
  t.is(sentBy(net, h, ICMP.NS).filter((f) => eq(f.ip6!.dst, RAW_LL)).length, 0);
});

test('ReachableTime is BaseReachableTime times a random factor in [0.5, 1.5), drawn per interface', (t) => {
  const values = new Set<number>();
  for (let seed = 1; seed <= 30; seed++) {
    const clock = new VirtualClock();
    const s = new Stack({ clock, rng: new SeededRng(seed) });
    const st = s.ip6.if6Of(s.lo)!;
    t.true(st.reachableTime >= 15_000 && st.reachableTime < 45_000, `seed ${seed}: ${st.reachableTime}`);
    values.add(st.reachableTime);
    st.baseReachableTime = 1000;
    s.nd6.randomizeReachable(s.lo);
    t.true(st.reachableTime >= 500 && st.reachableTime <= 1500);
    s.close();
  }
  t.true(values.size > 20, 'actually random');
});

// ---- the cache bound -------------------------------------------------------------------

test('NeighborCache.victim: least recently used STALE first, then any other state, INCOMPLETE last', (t) => {
  const c = new NeighborCache(8);
  const ifp = { index: 1, name: 'x' } as unknown as Ifnet;
  const mk = (last: number, state: NdState, touched: number) => {
    const n = c.create(ifp, in6(`fe80::${last}`), touched);
    n.state = state;
    return n;
  };
  mk(1, 'INCOMPLETE', 1);
  mk(2, 'REACHABLE', 5);
  mk(3, 'DELAY', 3);
  mk(4, 'STALE', 9);
  mk(5, 'STALE', 7);
  mk(6, 'PROBE', 8);
  mk(7, 'INCOMPLETE', 0);
  t.false(c.full);
  mk(8, 'REACHABLE', 2);
  t.true(c.full);
  const order: string[] = [];
  for (let v = c.victim(); v; v = c.victim()) {
    order.push(`${formatIn6(v.addr)} ${v.state}`);
    c.delete(v);
  }
  t.deepEqual(order, [
    'fe80::5 STALE',
    'fe80::4 STALE',
    'fe80::8 REACHABLE',
    'fe80::3 DELAY',
    'fe80::2 REACHABLE',
    'fe80::6 PROBE',
    'fe80::7 INCOMPLETE',
    'fe80::1 INCOMPLETE',
  ]);
  t.is(c.size, 0);
});

test('a full cache evicts STALE first and INCOMPLETE last, counting the queued packets it drops', (t) => {
  const { net, h } = setup();
  const max = h.s.nd6.cache.maxEntries;
  const stale = in6('fe80::5:1');
  const reach = in6('fe80::5:2');
  reachable(net, h, stale);
  net.raw.send(naFrame(stale, NA_O, { src: stale, dst: ALL_NODES, tlla: OTHER_MAC }));
  net.run();
  t.is(stateOf(h, stale), 'STALE');
  reachable(net, h, reach);
  const first = in6('fe80::1:0');
  for (let i = 0; h.s.nd6.cache.size < max; i++) {
    const a = in6(`fe80::1:${i.toString(16)}`);
    sendTo(h, a);
    net.clock.advance(0.01); // distinct ages
  }
  t.true(eq(entry(h, first)!.addr, first));
  t.is(h.s.nd6.cache.size, max);
  sendTo(h, in6('fe80::9:1'));
  t.is(entry(h, stale), undefined, 'the STALE entry went first');
  t.is(stateOf(h, reach), 'REACHABLE');
  sendTo(h, in6('fe80::9:2'));
  t.is(entry(h, reach), undefined, 'then the REACHABLE one');
  t.is(stateOf(h, first), 'INCOMPLETE');
  const dropped = h.s.nd6.stats.c.unresolvedDropped;
  sendTo(h, in6('fe80::9:3'));
  t.is(entry(h, first), undefined, 'then the oldest INCOMPLETE one');
  t.is(h.s.nd6.stats.c.unresolvedDropped, dropped + 1, 'its queued packet is counted');
  t.is(h.s.nd6.stats.c.cacheEvicted, 3);
  t.is(h.s.nd6.cache.size, max);
  t.is(stateOf(h, in6('fe80::9:3')), 'INCOMPLETE');
});

// ---- duplicate address detection (RFC 4862 §5.4) ------------------------------------

/** Adds G1 (tentative) to `h`. */
function addG1(h: Host) {
  const r = h.s.ip6.addAddress(h.ifp, G1, 64);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const dadProbes = (net: Net, h: Host) => sentBy(net, h, ICMP.NS).filter((f) => f.ip6!.src.every((x) => x === 0));

test('DAD: a probe from :: to the solicited-node group, with a nonce and no SLLA; the address is preferred RetransTimer later', (t) => {
  const { net, h } = setup();
  const ia = addG1(h);
  t.truthy(ia.flags & IN6_IFF.TENTATIVE);
  t.is(h.s.nd6.dadInProgress, 1);
  net.run(1000);
  const probes = dadProbes(net, h);
  t.is(probes.length, 1, 'within MAX_RTR_SOLICITATION_DELAY');
  const p = probes[0]!;
  t.true(eq(p.ip6!.dst, snode(G1)));
  t.true(eq(p.ethDst, multicastMac(snode(G1))));
  t.is(p.ip6!.hlim, 255);
  t.is(target(p), '2001:db8::1');
  const opts = ndOptions(p.icmp!.body);
  t.deepEqual(
    opts.map((o) => [o.type, o.len]),
    [[OPT_NONCE, 1]],
  );
  t.truthy(ia.flags & IN6_IFF.TENTATIVE);
  // Done RetransTimer after the (only) probe.
  net.clock.advance(p.at + 1000 - 1 - net.clock.now());
  t.truthy(ia.flags & IN6_IFF.TENTATIVE, 'still tentative just before RetransTimer');
  net.run(1);
  t.is(ia.flags & IN6_IFF.TENTATIVE, 0);
  t.true(ia.usable);
  t.is(h.s.nd6.dadInProgress, 0);
  t.is(h.s.nd6.stats.c.dadStarted, 2, 'link-local and G1');
});

test('DAD: a probe from another node for our tentative address: duplicated', (t) => {
  const { net, h, inject } = setup();
  const ia = addG1(h);
  t.deepEqual(inject(nsFrame(G1, { src: UNSPEC, dst: snode(G1), nonce: Uint8Array.of(9, 9, 9, 9, 9, 9) })), { nsIn: 1, dadDuplicate: 1 });
  t.truthy(ia.flags & IN6_IFF.DUPLICATED);
  t.is(ia.flags & IN6_IFF.TENTATIVE, 0);
  t.false(ia.usable);
  t.true(h.log.lines.some((l) => l.includes('duplicate') && l.includes('2001:db8::1')));
  net.run(3000);
  t.is(dadProbes(net, h).length, 0, 'no probe after the verdict');
  // A probe without any nonce (a node without RFC 7527) counts as well.
  const { h: h2, inject: inject2 } = setup();
  addG1(h2);
  t.deepEqual(inject2(nsFrame(G1, { src: UNSPEC, dst: snode(G1) })), { nsIn: 1, dadDuplicate: 1 });
});

test('DAD: our own probe reflected back by the link (same nonce) is ignored (dadOwnLooped)', (t) => {
  const { net, h, inject } = setup();
  const ia = addG1(h);
  // Right after our probe goes out (its random delay depends on the seed), reflect it.
  for (let i = 0; i < 200 && dadProbes(net, h).length === 0; i++) net.run(5);
  const p = dadProbes(net, h)[0]!;
  t.truthy(p);
  // A reflecting segment: same bytes, the frame's source MAC rewritten so Ethernet does not drop it first.
  const copy = p.bytes.slice();
  copy.set(RAW_MAC, 6);
  t.deepEqual(inject(copy), { nsIn: 1, dadOwnLooped: 1 });
  t.truthy(ia.flags & IN6_IFF.TENTATIVE);
  net.run(2000);
  t.true(ia.usable, 'DAD completes');
  t.is(h.s.nd6.stats.c.dadDuplicate, 0);
});

test('DAD: an NA for our tentative address: duplicated', (t) => {
  const { h, inject } = setup();
  const ia = addG1(h);
  t.deepEqual(inject(naFrame(G1, NA_O, { src: G1, dst: ALL_NODES, tlla: RAW_MAC })), { naIn: 1, dadDuplicate: 1 });
  t.truthy(ia.flags & IN6_IFF.DUPLICATED);
});

test('DAD: an NS from a unicast source for our tentative address is not answered and not a duplicate', (t) => {
  const { net, h, inject } = setup();
  const ia = addG1(h);
  // (Our own DAD probe may leave during the injection, depending on its random delay.)
  t.like(inject(nsFrame(G1, { src: RAW_LL, dst: snode(G1), slla: RAW_MAC })), { nsIn: 1, tentativeTarget: 1 });
  t.truthy(ia.flags & IN6_IFF.TENTATIVE);
  t.is(sentBy(net, h, ICMP.NA).length, 0);
});

test('DAD: DupAddrDetectTransmits=2 sends two probes RetransTimer apart', (t) => {
  const { net, h } = setup();
  h.s.ip6.if6Of(h.ifp)!.dadTransmits = 2;
  const ia = addG1(h);
  net.run(2000);
  const probes = dadProbes(net, h);
  t.is(probes.length, 2);
  t.is(probes[1]!.at - probes[0]!.at, 1000);
  t.true(eq(probes[0]!.icmp!.msg, probes[1]!.icmp!.msg), 'the same nonce in both');
  t.truthy(ia.flags & IN6_IFF.TENTATIVE);
  net.clock.advance(probes[1]!.at + 1000 - net.clock.now());
  t.true(ia.usable);
});

test('DAD: DupAddrDetectTransmits=0 means no DAD at all', (t) => {
  const { net, h } = setup();
  h.s.ip6.if6Of(h.ifp)!.dadTransmits = 0;
  const started = h.s.nd6.stats.c.dadStarted;
  const ia = addG1(h);
  t.is(ia.flags & IN6_IFF.TENTATIVE, 0);
  t.true(ia.usable);
  net.run(3000);
  t.is(dadProbes(net, h).length, 0);
  t.is(h.s.nd6.stats.c.dadStarted, started);
});

test('DAD: deleting a tentative address stops its DAD', (t) => {
  const { net, h } = setup();
  addG1(h);
  t.is(h.s.nd6.dadInProgress, 1);
  t.true(h.s.ip6.deleteAddress(h.ifp, G1).ok);
  t.is(h.s.nd6.dadInProgress, 0);
  net.run(3000);
  t.is(dadProbes(net, h).length, 0);
});

test('two stacks on one link: each answers the other and both end REACHABLE after a ping', async (t) => {
  const { net } = setup({ hosts: 2 });
  const [a, b] = net.hosts as [Host, Host];
  const p = a.s.ping({ dst: b.ll, zone: a.ifp.index, seq: 1 });
  net.run(100);
  const r = await p;
  t.truthy(r);
  t.is(stateOf(a, b.ll), 'REACHABLE', 'solicited NA');
  // b learned a from the NS's SLLA and answered the echo: STALE then DELAY.
  t.is(stateOf(b, a.ll), 'DELAY');
});

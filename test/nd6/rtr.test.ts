/**
 * Router discovery (RFC 4861 §6.3, RFC 4191, RFC 8106; src/nd6/rtr.ts) on the
 * virtual link: the raw port plays the router, every timer-driven rule is
 * checked by advancing the virtual clock, and each test asserts the nd6
 * counters as well as the state (router, prefix, route lists) and the
 * packets the stack sends.
 */
import test from 'ava';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { RTF, type Rt6 } from '../../src/ip6/route.ts';
import { MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL } from '../../src/nd6/rtr.ts';
import { INFINITE, ICMP_RS, OPT, PRF, type RaSpec, concat, dnsslOpt, rawOpt, rioOpt, routerNet, type RouterNetOptions, sendRa } from '../helpers/router.ts';
import { ICMP, RAW_LL, RAW_MAC, changed, eq, nsFrame, settle, type Host, type Net } from '../helpers/stack.ts';

const ALL_ROUTERS = in6('ff02::2');
const FAR = in6('2001:db8:ffff::1');
const R2 = in6('fe80::77');
const R2_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x77);

/** A net whose host already sent its router solicitations, so that none lands in a test's counters. */
function setup(o: RouterNetOptions = {}) {
  const net = routerNet(o);
  net.run(MAX_RTR_SOLICITATIONS * RTR_SOLICITATION_INTERVAL);
  net.raw.clear();
  const h = net.hosts[0]!;
  const nd = h.s.nd6.stats;
  const st = h.s.ip6.if6Of(h.ifp)!;
  let last = 0;
  /** Sends one RA and returns the nd6 counters that moved. */
  const ra = (s: RaSpec = {}) => {
    const before = nd.snapshot();
    last = net.clock.now();
    sendRa(net, s);
    return changed(before, nd.snapshot());
  };
  /** `now` is the clock; `at` is when the last RA was processed (the link has no latency). */
  return { net, h, st, ra, now: () => net.clock.now(), at: () => last };
}

const rsFrames = (net: Net, h: Host) => net.raw.icmp(ICMP_RS, h.mac);
const raRoutes = (h: Host, plen: number): Rt6[] => h.s.ip6.routes.list().filter((r) => r.origin === 'ra' && r.plen === plen);
const gw = (r: Rt6 | undefined) => (r?.gateway ? formatIn6(r.gateway) : null);
const lookup = (h: Host, dst: Uint8Array) => h.s.ip6.routes.lookup(dst, 0, h.s.clock.now());
/** Times on the virtual clock carry the fractions of the random delays: compare them to a nanosecond. */
const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
/** Sends an echo request nobody will answer; its rejection (an ICMPv6 error) is expected. */
const fire = (p: Promise<unknown>) => void p.catch(() => undefined);

// ---- Router Solicitation (§6.3.7) -------------------------------------------------

test('RS: once the link-local address passed DAD, from it with its SLLA, to ff02::2 with hop limit 255; 3 of them 4 s apart', (t) => {
  const net = routerNet({ settleDad: false });
  const h = net.hosts[0]!;
  net.run(30_000);
  const dad = net.raw.icmp(ICMP.NS, h.mac).filter((f) => f.ip6!.src.every((x) => x === 0));
  t.is(dad.length, 1, 'one DAD probe for the link-local address');
  const dadDone = dad[0]!.at + h.s.ip6.if6Of(h.ifp)!.retransTimer;
  const rs = rsFrames(net, h);
  t.is(rs.length, MAX_RTR_SOLICITATIONS);
  t.is(h.s.nd6.stats.c.rsOut, 3);
  t.true(rs[0]!.at >= dadDone, `first RS at ${rs[0]!.at}, DAD done at ${dadDone}`);
  t.true(rs[0]!.at < dadDone + 1000, 'within a second of DAD completing');
  t.true(near(rs[1]!.at - rs[0]!.at, RTR_SOLICITATION_INTERVAL));
  t.true(near(rs[2]!.at - rs[1]!.at, RTR_SOLICITATION_INTERVAL));
  for (const f of rs) {
    t.true(eq(f.ip6!.src, h.ll), 'from the link-local address');
    t.true(eq(f.ip6!.dst, ALL_ROUTERS));
    t.true(eq(f.ethDst, Uint8Array.of(0x33, 0x33, 0, 0, 0, 2)));
    t.is(f.ip6!.hlim, 255);
    t.is(f.icmp!.code, 0);
    t.true(f.icmp!.cksumOk);
    t.deepEqual([...f.icmp!.body], [0, 0, 0, 0, OPT.SLLA, 1, ...h.mac]);
  }
});

test('RS: a random initial delay of at most 1 s (MAX_RTR_SOLICITATION_DELAY) when the link-local address needs no DAD', (t) => {
  const firsts: number[] = [];
  for (let seed = 1; seed <= 6; seed++) {
    const net = routerNet({ seed, settleDad: false, beforeUp: (h) => (h.s.ip6.if6Of(h.ifp)!.dadTransmits = 0) });
    const h = net.hosts[0]!;
    net.run(1000);
    const rs = rsFrames(net, h);
    t.is(rs.length, 1, `seed ${seed}: one RS in the first second`);
    t.true(eq(rs[0]!.ip6!.src, h.ll));
    firsts.push(rs[0]!.at);
    net.run(20_000);
    t.is(rsFrames(net, h).length, 3);
  }
  t.true(firsts.every((x) => x >= 0 && x <= 1000));
  t.true(new Set(firsts).size >= 4, `the delay is random: ${firsts.join(', ')}`);
});

test('RS: a valid RA ends the solicitations; an invalid one does not', (t) => {
  const net = routerNet({ settleDad: false });
  const h = net.hosts[0]!;
  for (let i = 0; i < 500 && rsFrames(net, h).length === 0; i++) net.run(10);
  t.is(rsFrames(net, h).length, 1);
  sendRa(net, { hlim: 254 });
  t.is(h.s.nd6.stats.c.badHopLimit, 1);
  net.run(RTR_SOLICITATION_INTERVAL);
  t.is(rsFrames(net, h).length, 2, 'the invalid RA did not stop them');
  sendRa(net);
  t.is(h.s.rtr.routerList().length, 1);
  net.run(30_000);
  t.is(rsFrames(net, h).length, 2, 'no RS after the RA');
  t.is(h.s.nd6.stats.c.rsOut, 2);
});

test('RS: none when accept_rtadv is off or when forwarding; startSolicit refuses', (t) => {
  const off = routerNet({ settleDad: false, acceptRtadv: false });
  const fwd = routerNet({ settleDad: false, beforeUp: (h) => (h.s.ip6.forwarding = true) });
  for (const net of [off, fwd]) {
    const h = net.hosts[0]!;
    net.run(30_000);
    t.is(rsFrames(net, h).length, 0);
    t.is(h.s.nd6.stats.c.rsOut, 0);
    t.false(h.s.rtr.startSolicit(h.ifp));
    net.run(30_000);
    t.is(rsFrames(net, h).length, 0);
  }
});

test('RS: startSolicit (tap6 rtsol) restarts the sequence, also in the middle of one', (t) => {
  const net = routerNet();
  const h = net.hosts[0]!;
  net.run(20_000);
  t.is(rsFrames(net, h).length, 3);
  net.raw.clear();
  const t0 = net.clock.now();
  t.true(h.s.rtr.startSolicit(h.ifp));
  net.run(20_000);
  let rs = rsFrames(net, h);
  t.is(rs.length, 3, 'three more');
  t.true(rs[0]!.at - t0 <= 1000, 'after at most a second');
  t.true(near(rs[1]!.at - rs[0]!.at, 4000) && near(rs[2]!.at - rs[1]!.at, 4000));
  // Restart right after the first RS of a new sequence: the old timers are gone.
  net.raw.clear();
  h.s.rtr.startSolicit(h.ifp);
  for (let i = 0; i < 200 && rsFrames(net, h).length === 0; i++) net.run(10);
  t.true(h.s.rtr.startSolicit(h.ifp));
  net.run(30_000);
  rs = rsFrames(net, h);
  t.is(rs.length, 1 + 3, 'one from the first sequence, three from the restart');
  t.true(near(rs[2]!.at - rs[1]!.at, 4000) && near(rs[3]!.at - rs[2]!.at, 4000));
  t.is(h.s.nd6.stats.c.rsOut, 3 + 3 + 4);
});

// ---- RA validation (§6.1.2) --------------------------------------------------------

test('RA validation: each failure is counted and the RA ignored', (t) => {
  const { h, st, ra } = setup();
  // Everything an accepted RA would change.
  const rich: RaSpec = {
    curHopLimit: 99,
    reachableTime: 12_345,
    retransTimer: 2222,
    mtu: 1400,
    srcLl: RAW_MAC,
    prefixes: [{ prefix: in6('2001:db8:9::'), plen: 64, onLink: true, autonomous: true, validLifetime: 600, preferredLifetime: 300 }],
  };
  const untouched = (what: string) => {
    t.is(st.curHopLimit, 64, what);
    t.is(st.baseReachableTime, 30_000, what);
    t.is(st.retransTimer, 1000, what);
    t.is(st.linkMtu, 0, what);
    t.is(h.s.rtr.routerList().length, 0, what);
    t.is(h.s.rtr.prefixList().length, 0, what);
    t.is(h.s.slaac.addresses().length, 0, what);
    t.is(h.s.ip6.routes.list().filter((r) => r.origin === 'ra').length, 0, what);
    t.is(h.s.nd6.cache.get(h.ifp, RAW_LL), undefined, what);
  };
  const cases: [string, RaSpec, string][] = [
    ['global source', { ...rich, src: in6('2001:db8::1') }, 'raBadSource'],
    ['unspecified source', { ...rich, src: new Uint8Array(16) }, 'raBadSource'],
    ['hop limit 254', { ...rich, hlim: 254 }, 'badHopLimit'],
    ['hop limit 1', { ...rich, hlim: 1 }, 'badHopLimit'],
    ['code 1', { ...rich, code: 1 }, 'badCode'],
    ['15 bytes', { ...rich, truncate: 15 }, 'badLength'],
    ['11 options', { ...rich, srcLl: null, mtu: undefined, prefixes: [], extra: concat(...Array.from({ length: 11 }, () => rawOpt(200, 1))) }, 'raBadOptions'],
    ['zero-length option', { ...rich, extra: rawOpt(200, 0, 8) }, 'raBadOptions'],
    ['truncated option', { ...rich, extra: rawOpt(200, 2, 8) }, 'raBadOptions'],
    ['MTU option of length 2', { ...rich, mtu: undefined, extra: rawOpt(OPT.MTU, 2) }, 'raBadOptions'],
  ];
  for (const [what, spec, counter] of cases) {
    t.deepEqual(ra(spec), { raIn: 1, [counter]: 1 }, what);
    untouched(what);
  }
  h.s.rtr.config(h.ifp).acceptRtadv = false;
  t.deepEqual(ra(rich), { raIn: 1, raIgnored: 1 }, 'accept_rtadv off');
  untouched('accept_rtadv off');
  h.s.rtr.config(h.ifp).acceptRtadv = true;
  h.s.ip6.forwarding = true;
  t.deepEqual(ra(rich), { raIn: 1, raIgnored: 1 }, 'forwarding on');
  untouched('forwarding on');
  h.s.ip6.forwarding = false;
  // The same RA, valid, is taken.
  const d = ra(rich);
  t.like(d, { raIn: 1, routersAdded: 1, slaacAddresses: 1 });
  t.is(st.curHopLimit, 99);
  t.is(h.s.rtr.routerList().length, 1);
});

// ---- RA processing (§6.3.4) -----------------------------------------------------

test('CurHopLimit from an RA becomes the hop limit of unicast packets; 0 leaves it alone', async (t) => {
  const { net, h, st, ra } = setup();
  t.deepEqual(ra({ curHopLimit: 42 }), { raIn: 1, routersAdded: 1 });
  t.is(st.curHopLimit, 42);
  ra({ curHopLimit: 0 });
  t.is(st.curHopLimit, 42, 'unspecified');
  const p = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 1, timeoutMs: 100 });
  t.is(await settle(net.clock, p), null, 'nobody answers');
  const req = net.raw.icmp(ICMP.ECHO_REQUEST, h.mac);
  t.is(req.length, 1);
  t.is(req[0]!.ip6!.hlim, 42);
  // ND keeps 255.
  t.true(net.raw.icmp(ICMP.NS, h.mac).every((f) => f.ip6!.hlim === 255));
});

test('BaseReachableTime and RetransTimer from an RA; ReachableTime re-randomised within 0.5–1.5 × the new base', (t) => {
  const { net, h, st, ra } = setup();
  const seen: number[] = [];
  for (const base of [10_000, 20_000, 10_000, 20_000, 10_000, 40_000]) {
    ra({ reachableTime: base });
    t.is(st.baseReachableTime, base);
    t.true(st.reachableTime >= 0.5 * base && st.reachableTime <= 1.5 * base, `${st.reachableTime} for base ${base}`);
    seen.push(st.reachableTime / base);
  }
  t.true(new Set(seen).size >= 4, `random factors: ${seen.join(', ')}`);
  // The same base again, or 0 (unspecified), keeps ReachableTime as it is.
  const rt = st.reachableTime;
  ra({ reachableTime: 40_000 });
  ra({ reachableTime: 0 });
  t.is(st.reachableTime, rt);
  t.is(st.baseReachableTime, 40_000);

  // REACHABLE lapses to STALE after exactly ReachableTime.
  ra({ reachableTime: 10_000, retransTimer: 2500 });
  t.is(st.retransTimer, 2500);
  const reach = st.reachableTime;
  net.raw.clear();
  fire(h.s.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 1, timeoutMs: 100_000 }));
  net.run();
  const ns = net.raw.icmp(ICMP.NS, h.mac);
  t.is(ns.length, 1);
  const n = h.s.nd6.cache.get(h.ifp, RAW_LL)!;
  t.is(n.state, 'REACHABLE');
  t.is(n.reachableUntil - ns[0]!.at, reach, 'REACHABLE for ReachableTime from the solicited NA');
  const state = () => h.s.nd6.neighbors().find((x) => eq(x.addr, RAW_LL))!.state;
  net.clock.advance(n.reachableUntil - net.clock.now() - 1);
  t.is(state(), 'REACHABLE');
  net.clock.advance(1);
  t.is(state(), 'STALE');

  // RetransTimer paces the solicitations of address resolution.
  net.raw.clear();
  const nobody = in6('fe80::99');
  fire(h.s.ping({ dst: nobody, zone: h.ifp.index, seq: 2, timeoutMs: 100_000 }));
  net.run(20_000);
  const probes = net.raw.icmp(ICMP.NS, h.mac).filter((f) => eq(f.icmp!.body.subarray(4, 20), nobody));
  t.is(probes.length, 3);
  t.deepEqual([probes[1]!.at - probes[0]!.at, probes[2]!.at - probes[1]!.at], [2500, 2500]);
  t.is(h.s.nd6.stats.c.resolveFailed, 1);
  ra({ retransTimer: 0 });
  t.is(st.retransTimer, 2500, '0 is unspecified');
});

test('MTU option: accepted from 1280 to the link MTU, refused outside (raMtuBad); the accepted one limits packets', async (t) => {
  const { net, h, st, ra } = setup();
  t.deepEqual(ra({ mtu: 1400 }), { raIn: 1, routersAdded: 1 });
  t.is(st.linkMtu, 1400);
  t.is(st.mtu, 1400);
  for (const bad of [1279, 1501, 0, 0xffffffff]) {
    t.deepEqual(ra({ mtu: bad }), { raIn: 1, raMtuBad: 1 }, `MTU ${bad}`);
    t.is(st.mtu, 1400);
  }
  for (const good of [1280, 1500, 1400]) {
    t.deepEqual(ra({ mtu: good }), { raIn: 1 }, `MTU ${good}`);
    t.is(st.mtu, good);
  }
  // A 1,448-byte packet does not fit 1400 and goes out in fragments.
  const p = h.s.ping({ dst: RAW_LL, zone: h.ifp.index, seq: 1, size: 1400, timeoutMs: 100 });
  await settle(net.clock, p);
  const frags = net.raw.ip6().filter((f) => eq(f.ethSrc, h.mac) && f.ip6!.nxt === 44);
  t.is(frags.length, 2);
  t.true(frags.every((f) => f.ip6!.packet.length <= 1400));
});

test('the source link-layer option makes a STALE neighbor entry marked as a router; an RA without it marks an existing entry', (t) => {
  const { net, h, ra } = setup();
  ra({ src: R2, srcLl: R2_MAC });
  const nb = () => h.s.nd6.neighbors().find((x) => eq(x.addr, R2));
  t.like(nb(), { state: 'STALE', isRouter: true });
  t.true(eq(nb()!.lladdr!, R2_MAC));
  const other = Uint8Array.of(0x02, 0, 0, 0, 0, 0x78);
  ra({ src: R2, srcLl: other });
  t.like(nb(), { state: 'STALE', isRouter: true });
  t.true(eq(nb()!.lladdr!, other), 'a new link-layer address replaces the old one');
  // An entry learnt from an NS (not a router) becomes a router's with an RA without SLLA.
  const r3 = in6('fe80::78');
  net.raw.send(nsFrame(h.ll, { src: r3, dst: h.ll, ethDst: h.mac, slla: other }));
  net.run();
  t.like(h.s.nd6.neighbors().find((x) => eq(x.addr, r3)), { isRouter: false });
  ra({ src: r3 });
  t.like(h.s.nd6.neighbors().find((x) => eq(x.addr, r3)), { isRouter: true });
});

// ---- default router list (§6.3.4, RFC 4191 §3) ------------------------------------

test('a default router lives for its Router Lifetime: then it and its default route go (routersExpired)', (t) => {
  const { net, h, ra, now, at } = setup();
  t.deepEqual(ra({ routerLifetime: 30, managed: true, other: false }), { raIn: 1, routersAdded: 1 });
  const t0 = at();
  let list = h.s.rtr.routerList();
  t.is(list.length, 1);
  t.like(list[0], { preference: 0, expiresAt: t0 + 30_000, managed: true, other: false });
  t.true(eq(list[0]!.addr, RAW_LL));
  const def = raRoutes(h, 0);
  t.is(def.length, 1);
  t.like(def[0], { ifindex: h.ifp.index, expiresAt: t0 + 30_000 });
  t.truthy(def[0]!.flags & RTF.GATEWAY);
  t.is(gw(lookup(h, FAR)), formatIn6(RAW_LL), 'the default route leads to the router');
  // Refreshed 20 s later with another 30 s.
  net.clock.advance(20_000);
  ra({ routerLifetime: 30, other: true });
  const t1 = at();
  list = h.s.rtr.routerList();
  t.like(list[0], { expiresAt: t1 + 30_000, managed: false, other: true });
  t.is(raRoutes(h, 0)[0]!.expiresAt, t1 + 30_000);
  net.clock.advance(t1 + 30_000 - now() - 1);
  t.is(h.s.rtr.routerList().length, 1, 'still there 1 ms before');
  t.is(h.s.nd6.stats.c.routersExpired, 0);
  net.clock.advance(1);
  t.is(h.s.rtr.routerList().length, 0);
  t.is(h.s.nd6.stats.c.routersExpired, 1);
  t.is(raRoutes(h, 0).length, 0, 'the default route is removed, not only expired');
  t.is(lookup(h, FAR), undefined);
});

test('Router Lifetime 0 removes the router at once; from an unknown router it adds nothing', (t) => {
  const { h, ra } = setup();
  t.deepEqual(ra({ routerLifetime: 0 }), { raIn: 1 }, 'not a default router: nothing to add or remove');
  t.is(h.s.rtr.routerList().length, 0);
  ra({ routerLifetime: 600 });
  t.is(raRoutes(h, 0).length, 1);
  t.deepEqual(ra({ routerLifetime: 0 }), { raIn: 1, routersExpired: 1 });
  t.is(h.s.rtr.routerList().length, 0);
  t.is(raRoutes(h, 0).length, 0);
  t.is(lookup(h, FAR), undefined);
});

test('two routers, high and low preference: the high one is the default route; swapped when their preferences change', (t) => {
  const { h, ra } = setup();
  ra({ preference: 1 });
  ra({ src: R2, srcLl: R2_MAC, preference: -1 });
  t.is(h.s.rtr.routerList().length, 2);
  t.is(raRoutes(h, 0).length, 2, 'one default route per router');
  t.is(gw(lookup(h, FAR)), formatIn6(RAW_LL));
  ra({ preference: -1 });
  ra({ src: R2, srcLl: R2_MAC, preference: 1 });
  t.is(gw(lookup(h, FAR)), formatIn6(R2));
  // Medium sits between: R2 (high) still wins over it; low loses to it.
  ra({ src: R2, srcLl: R2_MAC, preference: 0 });
  ra({ preference: 0 });
  t.is(gw(lookup(h, FAR)), formatIn6(RAW_LL), 'equal preferences: the router heard first');
  // The reserved preference counts as medium (RFC 4191 §2.2).
  ra({ src: R2, srcLl: R2_MAC, prfBits: PRF.RESERVED });
  t.is(h.s.rtr.routerList().find((r) => eq(r.addr, R2))!.preference, 0);
  // The high router leaving hands the default route to the other.
  ra({ preference: 1 });
  t.is(gw(lookup(h, FAR)), formatIn6(RAW_LL));
  ra({ routerLifetime: 0 });
  t.is(gw(lookup(h, FAR)), formatIn6(R2));
  t.is(h.s.nd6.stats.c.routersExpired, 1);
});

test('the default router list is bounded (16): the 17th router is refused (routersRefused)', (t) => {
  const { h, ra } = setup();
  const r = (i: number) => in6(`fe80::1:${i.toString(16)}`);
  for (let i = 1; i <= 16; i++) t.deepEqual(ra({ src: r(i) }), { raIn: 1, routersAdded: 1 });
  t.deepEqual(ra({ src: r(17) }), { raIn: 1, routersRefused: 1 });
  t.is(h.s.rtr.routerList().length, 16);
  t.is(raRoutes(h, 0).length, 16);
  t.false(h.s.rtr.routerList().some((x) => eq(x.addr, r(17))));
  // A known router is still refreshed when the list is full; a freed slot takes a new one.
  t.deepEqual(ra({ src: r(5) }), { raIn: 1 });
  t.deepEqual(ra({ src: r(5), routerLifetime: 0 }), { raIn: 1, routersExpired: 1 });
  t.deepEqual(ra({ src: r(17) }), { raIn: 1, routersAdded: 1 });
  t.is(h.s.rtr.routerList().length, 16);
});

// ---- prefix list (§6.3.4) --------------------------------------------------------------

const P1 = in6('2001:db8:1::');
const onLink = (prefix: Uint8Array, valid: number, plen = 64) => ({ prefix, plen, onLink: true, autonomous: false, validLifetime: valid, preferredLifetime: 0 });

test('a PIO with L adds an on-link prefix route that expires with the valid lifetime', (t) => {
  const { net, h, ra, now, at } = setup();
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [onLink(P1, 60)] }), { raIn: 1 });
  const t0 = at();
  t.deepEqual(
    h.s.rtr.prefixList().map((p) => [formatIn6(p.prefix), p.plen, p.expiresAt]),
    [['2001:db8:1::', 64, t0 + 60_000]],
  );
  const route = () => h.s.ip6.routes.find(P1, 64, h.ifp.index);
  t.like(route(), { origin: 'ra', gateway: null, expiresAt: t0 + 60_000 });
  t.truthy(route()!.flags & RTF.CONNECTED);
  t.is(lookup(h, in6('2001:db8:1::5')), route(), 'destinations in the prefix are on-link');
  t.is(h.s.slaac.addresses().length, 0, 'no A flag, no address');
  // On-link means resolved directly: an NS for the destination itself.
  net.raw.clear();
  fire(h.s.ping({ dst: in6('2001:db8:1::5'), seq: 1, timeoutMs: 100 }));
  net.run();
  t.true(eq(net.raw.icmp(ICMP.NS, h.mac)[0]!.icmp!.body.subarray(4, 20), in6('2001:db8:1::5')));
  // Refreshed with 120 s at 30 s: both the entry and the route move.
  net.clock.advance(30_000);
  ra({ routerLifetime: 0, prefixes: [onLink(P1, 120)] });
  const t1 = at();
  t.is(h.s.rtr.prefixList()[0]!.expiresAt, t1 + 120_000);
  t.is(route()!.expiresAt, t1 + 120_000);
  net.clock.advance(t1 + 120_000 - now() - 1);
  t.is(h.s.rtr.prefixList().length, 1);
  net.clock.advance(1);
  t.is(h.s.rtr.prefixList().length, 0);
  t.is(route(), undefined, 'the route is removed');
});

test('a PIO with valid lifetime 0 removes the prefix at once; an infinite one never expires', (t) => {
  const { net, h, ra } = setup();
  ra({ routerLifetime: 0, prefixes: [onLink(P1, 600), onLink(in6('2001:db8:2::'), INFINITE, 48)] });
  t.is(h.s.rtr.prefixList().length, 2);
  t.is(h.s.ip6.routes.find(in6('2001:db8:2::'), 48, h.ifp.index)!.expiresAt, Infinity);
  ra({ routerLifetime: 0, prefixes: [onLink(P1, 0)] });
  t.deepEqual(h.s.rtr.prefixList().map((p) => formatIn6(p.prefix)), ['2001:db8:2::']);
  t.is(h.s.ip6.routes.find(P1, 64, h.ifp.index), undefined);
  // Valid 0 for a prefix we do not have adds nothing.
  ra({ routerLifetime: 0, prefixes: [onLink(in6('2001:db8:3::'), 0)] });
  t.is(h.s.rtr.prefixList().length, 1);
  net.clock.advance(400 * 86400_000);
  t.is(h.s.rtr.prefixList().length, 1);
  t.truthy(h.s.ip6.routes.find(in6('2001:db8:2::'), 48, h.ifp.index));
});

test('a link-local PIO is ignored and counted once, with L and A both set', (t) => {
  const { h, ra } = setup();
  const ll = { prefix: in6('fe80::'), plen: 64, onLink: true, autonomous: true, validLifetime: 600, preferredLifetime: 600 };
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [ll] }), { raIn: 1, pioLinkLocal: 1 });
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [{ ...ll, autonomous: false }] }), { raIn: 1, pioLinkLocal: 1 });
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [{ ...ll, onLink: false }] }), { raIn: 1, pioLinkLocal: 1 });
  t.is(h.s.rtr.prefixList().length, 0);
  t.is(h.s.slaac.addresses().length, 0);
  t.is(h.s.ip6.routes.list().filter((r) => r.origin === 'ra').length, 0);
});

test('the prefix list is bounded (64): more are refused (prefixesRefused)', (t) => {
  const { h, ra } = setup();
  const p = (i: number) => in6(`2001:db8:${i.toString(16)}::`);
  for (let k = 0; k < 7; k++) ra({ routerLifetime: 0, prefixes: Array.from({ length: 10 }, (_, j) => onLink(p(k * 10 + j), 600)) });
  t.is(h.s.rtr.prefixList().length, 64);
  t.is(h.s.nd6.stats.c.prefixesRefused, 6);
  t.is(h.s.ip6.routes.list().filter((r) => r.origin === 'ra' && r.plen === 64).length, 64);
  t.falsy(h.s.ip6.routes.find(p(69), 64, h.ifp.index));
  // A known prefix is still refreshed.
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [onLink(p(3), 900)] }), { raIn: 1 });
});

// ---- Route Information (RFC 4191 §3.1) ------------------------------------------------

const RP = in6('2001:db8:100::');

test('Route Information: a route through the router with its lifetime; lifetime 0 removes it; reserved preference is refused', (t) => {
  const { net, h, ra, now, at } = setup();
  t.deepEqual(ra({ extra: rioOpt({ prefix: RP, plen: 48, prf: PRF.HIGH, lifetime: 120 }) }), { raIn: 1, routersAdded: 1 });
  const t0 = at();
  const rt = () => h.s.ip6.routes.find(RP, 48, h.ifp.index);
  t.like(rt(), { origin: 'ra', expiresAt: t0 + 120_000, ifindex: h.ifp.index });
  t.is(gw(rt()), formatIn6(RAW_LL));
  t.deepEqual(
    h.s.rtr.routeInfoList().map((e) => [formatIn6(e.prefix), e.plen, formatIn6(e.router), e.preference, e.expiresAt]),
    [['2001:db8:100::', 48, formatIn6(RAW_LL), 1, t0 + 120_000]],
  );
  t.is(lookup(h, in6('2001:db8:100:5::1'))!.plen, 48, 'more specific than the default route');
  net.clock.advance(t0 + 120_000 - now() - 1);
  t.truthy(rt());
  net.clock.advance(1);
  t.is(rt(), undefined, 'expired and removed');
  t.is(h.s.rtr.routeInfoList().length, 0);
  t.is(lookup(h, in6('2001:db8:100:5::1'))!.plen, 0, 'back to the default route');

  // Lifetime 0 removes at once.
  ra({ extra: rioOpt({ prefix: RP, plen: 48, lifetime: INFINITE }) });
  t.is(rt()!.expiresAt, Infinity);
  ra({ extra: rioOpt({ prefix: RP, plen: 48, lifetime: 0 }) });
  t.is(rt(), undefined);
  t.is(h.s.rtr.routeInfoList().length, 0);

  // The reserved preference: the option is ignored (§3.1), and counted.
  t.deepEqual(ra({ extra: rioOpt({ prefix: RP, plen: 48, prf: PRF.RESERVED, lifetime: 600 }) }), { raIn: 1, routeInfoRefused: 1 });
  t.is(rt(), undefined);
});

test('Route Information from two routers: the better preference first; host routes (/128) too', (t) => {
  const { h, ra } = setup();
  ra({ routerLifetime: 0, extra: rioOpt({ prefix: RP, plen: 48, prf: PRF.LOW, lifetime: 600 }) });
  ra({ src: R2, routerLifetime: 0, extra: rioOpt({ prefix: RP, plen: 48, prf: PRF.HIGH, lifetime: 600 }) });
  t.is(gw(lookup(h, in6('2001:db8:100::1'))), formatIn6(R2));
  ra({ src: R2, routerLifetime: 0, extra: rioOpt({ prefix: RP, plen: 48, prf: PRF.LOW, lifetime: 600 }) });
  ra({ routerLifetime: 0, extra: rioOpt({ prefix: RP, plen: 48, prf: PRF.HIGH, lifetime: 600 }) });
  t.is(gw(lookup(h, in6('2001:db8:100::1'))), formatIn6(RAW_LL));
  const host = in6('2001:db8:200::42');
  ra({ src: R2, routerLifetime: 0, extra: rioOpt({ prefix: host, plen: 128, lifetime: 600 }) });
  const r = lookup(h, host)!;
  t.is(r.plen, 128);
  t.is(gw(r), formatIn6(R2));
  t.is(h.s.rtr.routerList().length, 0, 'Route Information does not make a default router');
});

test('Route Information entries are bounded (64): more are refused (routeInfoRefused)', (t) => {
  const { h, ra } = setup();
  for (let k = 0; k < 7; k++) {
    ra({ routerLifetime: 0, extra: concat(...Array.from({ length: 10 }, (_, j) => rioOpt({ prefix: in6(`2001:db8:${(k * 10 + j).toString(16)}::`), plen: 48, lifetime: 600 }))) });
  }
  t.is(h.s.rtr.routeInfoList().length, 64);
  t.is(h.s.nd6.stats.c.routeInfoRefused, 6);
});

// ---- RDNSS and DNSSL (RFC 8106) -----------------------------------------------------------

test('RDNSS and DNSSL are recorded with their lifetimes and expire; lifetime 0 removes', (t) => {
  const { net, h, ra, now, at } = setup();
  const dns1 = in6('2001:db8::53');
  const dns2 = in6('2001:db8::54');
  ra({ rdnss: [{ lifetime: 300, servers: [dns1, dns2] }], extra: dnsslOpt(600, ['example.com', 'corp.example.org']) });
  const t0 = at();
  const dns = () => h.s.rtr.dns().map((d) => [d.kind, d.value, d.expiresAt - t0]);
  t.deepEqual(dns(), [
    ['rdnss', '2001:db8::53', 300_000],
    ['rdnss', '2001:db8::54', 300_000],
    ['dnssl', 'example.com', 600_000],
    ['dnssl', 'corp.example.org', 600_000],
  ]);
  t.true(h.s.rtr.dns().every((d) => d.ifp === h.ifp));
  net.clock.advance(t0 + 300_000 - now() - 1);
  t.is(h.s.rtr.dns().length, 4);
  net.clock.advance(1);
  t.deepEqual(dns(), [
    ['dnssl', 'example.com', 600_000],
    ['dnssl', 'corp.example.org', 600_000],
  ]);
  // Refreshed: one name kept 100 s more, the other withdrawn with lifetime 0.
  ra({ extra: concat(dnsslOpt(100, ['example.com']), dnsslOpt(0, ['corp.example.org'])) });
  t.deepEqual(
    h.s.rtr.dns().map((d) => [d.value, d.expiresAt - at()]),
    [['example.com', 100_000]],
  );
  net.clock.advance(100_000);
  t.is(h.s.rtr.dns().length, 0);
  // Infinite lifetime.
  ra({ rdnss: [{ lifetime: INFINITE, servers: [dns1] }] });
  t.is(h.s.rtr.dns()[0]!.expiresAt, Infinity);
});

test('at most 8 RDNSS servers and 8 DNSSL names per interface are kept', (t) => {
  const { h, ra } = setup();
  const servers = Array.from({ length: 9 }, (_, i) => in6(`2001:db8::${i + 1}`));
  ra({ rdnss: [{ lifetime: 600, servers }] });
  ra({ extra: dnsslOpt(600, Array.from({ length: 9 }, (_, i) => `d${i}.example`)) });
  const dns = h.s.rtr.dns();
  t.is(dns.filter((d) => d.kind === 'rdnss').length, 8);
  t.is(dns.filter((d) => d.kind === 'dnssl').length, 8);
  t.false(dns.some((d) => d.value === '2001:db8::9' || d.value === 'd8.example'));
});

test('a ::/0 Route Information option sets the preference and lifetime of the default router (RFC 4191 §3.1)', (t) => {
  const { net, h, ra, at, now } = setup();
  const zero = new Uint8Array(16);
  // Router Lifetime 0 in the header, ::/0 with 600 s: a default router for 600 s.
  t.deepEqual(ra({ routerLifetime: 0, extra: rioOpt({ prefix: zero, plen: 0, prf: PRF.HIGH, lifetime: 600 }) }), { raIn: 1, routersAdded: 1 });
  t.like(h.s.rtr.routerList()[0], { preference: 1, expiresAt: at() + 600_000 });
  t.is(raRoutes(h, 0).length, 1);
  t.is(gw(lookup(h, FAR)), formatIn6(RAW_LL));
  // The option's lifetime 0 removes the router and its route, whatever the header says.
  t.deepEqual(ra({ routerLifetime: 1800, extra: rioOpt({ prefix: zero, plen: 0, lifetime: 0 }) }), { raIn: 1, routersExpired: 1 });
  t.is(raRoutes(h, 0).length, 0);
  t.is(lookup(h, FAR), undefined);
  // A header lifetime of 1800 s and a ::/0 option of 60 s, low: the option rules, and expiry follows it.
  ra({ routerLifetime: 1800, preference: 1, extra: rioOpt({ prefix: zero, plen: 0, prf: PRF.LOW, lifetime: 60 }) });
  const t0 = at();
  t.like(h.s.rtr.routerList()[0], { preference: -1, expiresAt: t0 + 60_000 });
  t.is(raRoutes(h, 0)[0]!.expiresAt, t0 + 60_000);
  net.clock.advance(t0 + 60_000 - now());
  t.is(h.s.rtr.routerList().length, 0);
  t.is(raRoutes(h, 0).length, 0);
  // Refreshed by the next RA, infinite this time.
  ra({ routerLifetime: 0, extra: rioOpt({ prefix: zero, plen: 0, lifetime: INFINITE }) });
  t.is(h.s.rtr.routerList()[0]!.expiresAt, Infinity);
  t.is(h.s.rtr.routeInfoList().length, 0, 'kept in the default router list, not as route information');
});

// Known bug, outside src/nd6: Ip6.deleteAddress removes every gateway-less route of
// the address's prefix, so an autoconfigured address that goes (here: DAD failure
// and no other identifier to try) takes the RA's on-link route with it while the
// prefix list still holds the prefix.
test('the on-link route of a PIO outlives an autoconfigured address of the prefix that is removed', (t) => {
  const { net, h, ra } = setup({ stack: { ifid: 'eui64' } });
  net.raw.answerNs(in6('2001:db8:1::ff:fe00:a'));
  ra({ routerLifetime: 0, prefixes: [{ ...onLink(P1, 86400), autonomous: true, preferredLifetime: 86400 }] });
  net.run(5000);
  t.is(h.s.nd6.stats.c.slaacGaveUp, 1);
  t.is(h.s.rtr.prefixList().length, 1);
  t.like(h.s.ip6.routes.find(P1, 64, h.ifp.index), { origin: 'ra' });
});

/**
 * Redirect (RFC 4861 §8; src/nd6/rtr.ts) on the virtual link: a host with a
 * default router learnt from an RA receives redirects from the raw port;
 * valid ones install a host route and the target's link-layer address,
 * every invalid one is counted and changes nothing.
 */
import test from 'ava';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { RTF } from '../../src/ip6/route.ts';
import { MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL } from '../../src/nd6/rtr.ts';
import { OPT, type RedirectSpec, concat, rawOpt, redirectFrame, routerNet, sendRa } from '../helpers/router.ts';
import { ICMP, RAW_LL, RAW_MAC, changed, eq, type Host } from '../helpers/stack.ts';

const DEST = in6('2001:db8:99::1');
const OTHER_DEST = in6('2001:db8:99::2');
const TARGET = in6('fe80::77');
const TARGET_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x77);
const DEST_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x99);

/** A host whose default router (RAW_LL) was learnt from an RA. */
function setup() {
  const net = routerNet();
  net.run(MAX_RTR_SOLICITATIONS * RTR_SOLICITATION_INTERVAL);
  const h = net.hosts[0]!;
  sendRa(net, { srcLl: RAW_MAC, routerLifetime: 1800 });
  net.raw.clear();
  const nd = h.s.nd6.stats;
  /** Sends a redirect to the host and returns the nd6 counters that moved. */
  const redirect = (s: Partial<RedirectSpec> = {}) => {
    const before = nd.snapshot();
    net.raw.send(redirectFrame({ target: TARGET, dest: DEST, tlla: TARGET_MAC, dst: h.ll, ethDst: h.mac, ...s }));
    net.run();
    return changed(before, nd.snapshot());
  };
  return { net, h, redirect };
}

const lookup = (h: Host, dst: Uint8Array) => h.s.ip6.routes.lookup(dst, 0, h.s.clock.now());
const hostRoute = (h: Host, dst = DEST) => h.s.ip6.routes.find(dst, 128, h.ifp.index);
const neighbor = (h: Host, a: Uint8Array) => h.s.nd6.neighbors().find((n) => eq(n.addr, a));

/** Sends an echo request to `dst` and returns the frame that carried it. */
function echoTo(net: ReturnType<typeof setup>['net'], h: Host, dst: Uint8Array, seq: number) {
  net.raw.clear();
  void h.s.ping({ dst, seq, timeoutMs: 100 }).catch(() => undefined);
  net.run();
  return net.raw.icmp(ICMP.ECHO_REQUEST, h.mac)[0];
}

test('before any redirect, a global destination goes through the default router', (t) => {
  const { net, h } = setup();
  t.is(formatIn6(lookup(h, DEST)!.gateway!), formatIn6(RAW_LL));
  t.true(eq(echoTo(net, h, DEST, 1)!.ethDst, RAW_MAC));
});

test('a redirect from the first-hop router to a better router: a /128 host route via the target (D, origin redirect) and its lladdr in the cache', (t) => {
  const { net, h, redirect } = setup();
  // A Redirected Header option is allowed (and not needed).
  t.deepEqual(redirect({ extra: rawOpt(OPT.RHDR, 2) }), { redirectIn: 1, redirectAccepted: 1 });
  const rt = hostRoute(h)!;
  t.truthy(rt);
  t.is(rt.origin, 'redirect');
  t.is(formatIn6(rt.gateway!), formatIn6(TARGET));
  t.is(rt.flags & (RTF.DYNAMIC | RTF.HOST | RTF.GATEWAY | RTF.UP), RTF.DYNAMIC | RTF.HOST | RTF.GATEWAY | RTF.UP);
  t.is(lookup(h, DEST), rt);
  t.is(formatIn6(lookup(h, OTHER_DEST)!.gateway!), formatIn6(RAW_LL), 'only that destination is redirected');
  const n = neighbor(h, TARGET)!;
  t.like(n, { state: 'STALE', isRouter: true });
  t.true(eq(n.lladdr!, TARGET_MAC));
  // Packets to the destination now go to the target's MAC, without resolving it.
  const f = echoTo(net, h, DEST, 1)!;
  t.true(eq(f.ethDst, TARGET_MAC));
  t.true(eq(f.ip6!.dst, DEST));
  t.is(net.raw.icmp(ICMP.NS, h.mac).length, 0);
  t.true(eq(echoTo(net, h, OTHER_DEST, 2)!.ethDst, RAW_MAC));
  // The old router is no longer the first hop for DEST; the new one is and may redirect again.
  t.deepEqual(redirect({ target: in6('fe80::78') }), { redirectIn: 1, redirectNotFromRouter: 1 });
  t.deepEqual(redirect({ src: TARGET, ethSrc: TARGET_MAC, target: in6('fe80::78'), tlla: Uint8Array.of(2, 0, 0, 0, 0, 0x78) }), { redirectIn: 1, redirectAccepted: 1 });
  t.is(formatIn6(hostRoute(h)!.gateway!), 'fe80::78');
  t.is(h.s.ip6.routes.list().filter((r) => r.origin === 'redirect').length, 1, 'the host route was replaced, not added to');
});

test('target == destination: the destination is on-link (no gateway), its lladdr cached as a host', (t) => {
  const { net, h, redirect } = setup();
  t.deepEqual(redirect({ target: DEST, tlla: DEST_MAC }), { redirectIn: 1, redirectAccepted: 1 });
  const rt = hostRoute(h)!;
  t.is(rt.gateway, null);
  t.is(rt.origin, 'redirect');
  t.truthy(rt.flags & RTF.DYNAMIC);
  t.falsy(rt.flags & RTF.GATEWAY);
  t.like(neighbor(h, DEST), { state: 'STALE', isRouter: false });
  t.true(eq(neighbor(h, DEST)!.lladdr!, DEST_MAC));
  const f = echoTo(net, h, DEST, 1)!;
  t.true(eq(f.ethDst, DEST_MAC));
});

test('a redirect without a target link-layer option installs the route and leaves resolution to ND', (t) => {
  const { net, h, redirect } = setup();
  t.deepEqual(redirect({ tlla: undefined }), { redirectIn: 1, redirectAccepted: 1 });
  t.is(formatIn6(hostRoute(h)!.gateway!), formatIn6(TARGET));
  t.is(neighbor(h, TARGET), undefined);
  net.raw.clear();
  void h.s.ping({ dst: DEST, seq: 1, timeoutMs: 100 }).catch(() => undefined);
  net.run();
  const ns = net.raw.icmp(ICMP.NS, h.mac);
  t.is(ns.length, 1);
  t.true(eq(ns[0]!.icmp!.body.subarray(4, 20), TARGET), 'the target is resolved');
});

test('invalid redirects are counted and change nothing', (t) => {
  const { h, redirect } = setup();
  const cases: [string, Partial<RedirectSpec>, string][] = [
    ['not from the first-hop router', { src: in6('fe80::55') }, 'redirectNotFromRouter'],
    ['for a link-local destination (no router is its first hop)', { dest: in6('fe80::99'), target: in6('fe80::99') }, 'redirectNotFromRouter'],
    ['global source', { src: in6('2001:db8::1') }, 'redirectBad'],
    ['hop limit 254', { hlim: 254 }, 'redirectBad'],
    ['hop limit 64', { hlim: 64 }, 'redirectBad'],
    ['code 1', { code: 1 }, 'redirectBad'],
    ['39 bytes', { tlla: undefined, truncate: 39 }, 'redirectBad'],
    ['multicast destination', { dest: in6('ff0e::1'), target: in6('ff0e::1') }, 'redirectBad'],
    ['multicast destination, link-local target', { dest: in6('ff0e::1') }, 'redirectBad'],
    ['global target other than the destination', { target: in6('2001:db8::77') }, 'redirectBad'],
    ['zero-length option', { extra: rawOpt(200, 0, 8) }, 'redirectBad'],
    ['truncated option', { extra: rawOpt(OPT.RHDR, 3, 16) }, 'redirectBad'],
    ['more than 10 options', { extra: concat(...Array.from({ length: 10 }, () => rawOpt(200, 1))) }, 'redirectBad'],
  ];
  for (const [what, spec, counter] of cases) {
    t.deepEqual(redirect(spec), { redirectIn: 1, [counter]: 1 }, what);
    t.is(h.s.ip6.routes.list().filter((r) => r.origin === 'redirect').length, 0, what);
    t.is(neighbor(h, TARGET), undefined, what);
    t.is(formatIn6(lookup(h, DEST)!.gateway!), formatIn6(RAW_LL), what);
  }
  // The same redirect, valid, is accepted.
  t.deepEqual(redirect(), { redirectIn: 1, redirectAccepted: 1 });
});

test('a router (forwarding on) ignores redirects', (t) => {
  const { h, redirect } = setup();
  h.s.ip6.forwarding = true;
  t.deepEqual(redirect(), { redirectIn: 1, redirectIgnored: 1 });
  t.is(hostRoute(h), undefined);
  t.is(neighbor(h, TARGET), undefined);
  h.s.ip6.forwarding = false;
  t.deepEqual(redirect(), { redirectIn: 1, redirectAccepted: 1 });
});

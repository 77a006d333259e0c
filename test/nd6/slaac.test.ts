/**
 * Stateless address autoconfiguration (RFC 4862 §5.5.3; src/nd6/slaac.ts)
 * driven by Router Advertisements from the raw port: RFC 7217 stable
 * identifiers and modified EUI-64, the two-hour rule, deprecation and
 * removal on the virtual clock, DAD failures and identifier retries,
 * RFC 8981 temporary addresses and RFC 4429 Optimistic DAD.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF, type In6Ifaddr } from '../../src/ip6/ifaddr.ts';
import { MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL } from '../../src/nd6/rtr.ts';
import { IDGEN_RETRIES, TEMP_PREFERRED_LIFETIME, TEMP_VALID_LIFETIME, TWO_HOURS } from '../../src/nd6/slaac.ts';
import type { StackOptions } from '../../src/stack.ts';
import { INFINITE, type RaSpec, routerNet, sendRa } from '../helpers/router.ts';
import { DAD_DONE_MS, ICMP, RAW_MAC, changed, eq, type Host } from '../helpers/stack.ts';

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const OTHER_SECRET = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const P1 = in6('2001:db8:1::');
const P2 = in6('2001:db8:2::');
const FAR = in6('2001:db8:ffff::1');
const HOUR = 3600;
const DAY = 86400;

/** A /64 PIO with L and A. */
const pio = (prefix: Uint8Array, valid: number, preferred: number, plen = 64) => ({ prefix, plen, onLink: true, autonomous: true, validLifetime: valid, preferredLifetime: preferred });

function setup(stack: StackOptions = { stableSecret: SECRET }, seed = 1) {
  const net = routerNet({ stack, seed });
  net.run(MAX_RTR_SOLICITATIONS * RTR_SOLICITATION_INTERVAL);
  net.raw.clear();
  const h = net.hosts[0]!;
  const nd = h.s.nd6.stats;
  let last = 0;
  const ra = (s: RaSpec = {}) => {
    const before = nd.snapshot();
    last = net.clock.now();
    // Router Lifetime 0 unless told: these tests are about prefixes, not default routers.
    sendRa(net, { routerLifetime: 0, ...s });
    return changed(before, nd.snapshot());
  };
  return { net, h, ra, at: () => last, now: () => net.clock.now() };
}

/** RFC 7217 §5 as IMPLEMENTATION.md §8 states it: SHA-256(prefix ‖ interface name ‖ DAD counter ‖ secret), first 64 bits. */
function stableAddr(prefix: Uint8Array, ifname: string, counter: number, secret: Uint8Array): Uint8Array {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter);
  const iid = createHash('sha256').update(prefix.subarray(0, 8)).update(ifname).update(c).update(secret).digest().subarray(0, 8);
  const a = prefix.slice();
  a.set(iid, 8);
  return a;
}

const auto = (h: Host) => h.s.slaac.addresses().map((a) => a.ia);
const pub = (h: Host) => h.s.slaac.addresses().filter((a) => !a.temporary).map((a) => a.ia);
const temps = (h: Host) => h.s.slaac.addresses().filter((a) => a.temporary).map((a) => a.ia);
const src = (h: Host, dst = FAR) => {
  const ia = h.s.ip6.selectSource(dst, h.ifp);
  return ia ? formatIn6(ia.addr) : null;
};
const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
const has = (ia: In6Ifaddr, f: number) => (ia.flags & f) !== 0;

// ---- forming addresses -------------------------------------------------------------

test('a /64 PIO with A forms an address: AUTOCONF, tentative, preferred after DAD, lifetimes from the PIO', (t) => {
  const { net, h, ra, at } = setup();
  const d = ra({ prefixes: [pio(P1, DAY, 4 * HOUR)] });
  t.like(d, { raIn: 1, slaacAddresses: 1, dadStarted: 1 });
  const list = auto(h);
  t.is(list.length, 1);
  const ia = list[0]!;
  t.is(formatIn6(ia.addr), formatIn6(stableAddr(P1, 'vl0', 0, SECRET)));
  t.is(ia.plen, 64);
  t.true(has(ia, IN6_IFF.AUTOCONF));
  t.true(has(ia, IN6_IFF.TENTATIVE));
  t.false(has(ia, IN6_IFF.TEMPORARY));
  t.is(ia.validUntil, at() + DAY * 1000);
  t.is(ia.preferredUntil, at() + 4 * HOUR * 1000);
  t.is(src(h), formatIn6(h.ll), 'not a source while tentative');
  net.run(DAD_DONE_MS);
  const probe = net.raw.icmp(ICMP.NS, h.mac).filter((f) => eq(f.icmp!.body.subarray(4, 20), ia.addr));
  t.is(probe.length, 1, 'one DAD probe');
  t.true(probe[0]!.ip6!.src.every((x) => x === 0));
  t.false(has(ia, IN6_IFF.TENTATIVE));
  t.is(src(h), formatIn6(ia.addr));
  // The same PIO again refreshes, it does not add.
  t.like(ra({ prefixes: [pio(P1, DAY, 4 * HOUR)] }), { raIn: 1 });
  t.is(auto(h).length, 1);
  t.is(h.s.nd6.stats.c.slaacAddresses, 1);
});

test('stable identifiers (RFC 7217): same prefix, interface and secret give the same address in two stacks; another secret or prefix another one', (t) => {
  const a = setup({ stableSecret: SECRET }, 1);
  const b = setup({ stableSecret: SECRET }, 2);
  const c = setup({ stableSecret: OTHER_SECRET }, 1);
  for (const x of [a, b, c]) x.ra({ prefixes: [pio(P1, DAY, DAY), pio(P2, DAY, DAY)] });
  const addr = (x: typeof a, p: Uint8Array) => formatIn6(auto(x.h).find((ia) => eq(ia.addr.subarray(0, 8), p.subarray(0, 8)))!.addr);
  t.is(addr(a, P1), addr(b, P1), 'same secret, same address');
  t.is(addr(a, P1), formatIn6(stableAddr(P1, 'vl0', 0, SECRET)));
  t.not(addr(a, P1), addr(c, P1), 'another secret');
  t.is(addr(c, P1), formatIn6(stableAddr(P1, 'vl0', 0, OTHER_SECRET)));
  // The identifier depends on the prefix too (not one identifier under every prefix).
  const iid = (p: Uint8Array) => Buffer.from(auto(a.h).find((ia) => eq(ia.addr.subarray(0, 8), p.subarray(0, 8)))!.addr.subarray(8)).toString('hex');
  t.not(iid(P1), iid(P2));
  t.is(addr(a, P2), formatIn6(stableAddr(P2, 'vl0', 0, SECRET)));
});

test('EUI-64 mode: the modified EUI-64 of the MAC (RFC 4291 Appendix A)', (t) => {
  const { h, ra } = setup({ ifid: 'eui64' });
  ra({ prefixes: [pio(P1, DAY, DAY)] });
  // 02:00:00:00:00:0a → 00:00:00:ff:fe:00:00:0a (the universal/local bit inverted).
  t.deepEqual(auto(h).map((ia) => formatIn6(ia.addr)), ['2001:db8:1::ff:fe00:a']);
});

test('a prefix other than /64 forms no address (pioBadPlen) but is still on-link; preferred > valid is ignored (pioBadLifetimes)', (t) => {
  const { h, ra } = setup();
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [pio(in6('2001:db8:30::'), DAY, DAY, 48)] }), { raIn: 1, pioBadPlen: 1 });
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [pio(in6('2001:db8:40::'), DAY, DAY, 80)] }), { raIn: 1, pioBadPlen: 1 });
  t.is(auto(h).length, 0);
  t.deepEqual(
    h.s.rtr.prefixList().map((p) => `${formatIn6(p.prefix)}/${p.plen}`),
    ['2001:db8:30::/48', '2001:db8:40::/80'],
  );
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [{ ...pio(P1, 100, 200), onLink: false }] }), { raIn: 1, pioBadLifetimes: 1 });
  t.is(auto(h).length, 0);
  // An existing address keeps its lifetimes when a later PIO has preferred > valid.
  ra({ routerLifetime: 0, prefixes: [pio(P1, DAY, DAY)] });
  const ia = auto(h)[0]!;
  const before = [ia.preferredUntil, ia.validUntil];
  t.deepEqual(ra({ routerLifetime: 0, prefixes: [{ ...pio(P1, 100, 200), onLink: false }] }), { raIn: 1, pioBadLifetimes: 1 });
  t.deepEqual([ia.preferredUntil, ia.validUntil], before);
  // A new prefix with valid lifetime 0 forms nothing.
  ra({ routerLifetime: 0, prefixes: [{ ...pio(P2, 0, 0), onLink: false }] });
  t.is(auto(h).length, 1);
});

// ---- the two-hour rule (RFC 4862 §5.5.3(e)) ------------------------------------------

test('two-hour rule (1): a received valid lifetime above 2 hours, or above the remaining one, is taken', (t) => {
  const { net, h, ra, at } = setup();
  ra({ prefixes: [pio(P1, 3 * HOUR, HOUR)] });
  const ia = auto(h)[0]!;
  // Above 2 hours, and below what remains: taken.
  t.deepEqual(ra({ prefixes: [pio(P1, 9000, 1000)] }), { raIn: 1 });
  t.true(near(ia.validUntil, at() + 9000_000));
  t.true(near(ia.preferredUntil, at() + 1000_000), 'preferred lifetime as received');
  // Below 2 hours but above the 50 s that remain: taken.
  net.clock.advance(ia.validUntil - net.clock.now() - 50_000);
  t.deepEqual(ra({ prefixes: [pio(P1, 100, 20)] }), { raIn: 1 });
  t.true(near(ia.validUntil, at() + 100_000));
  t.true(near(ia.preferredUntil, at() + 20_000));
  t.is(h.s.nd6.stats.c.pioTwoHourRule, 0);
});

test('two-hour rule (2): when 2 hours or less remain, the received valid lifetime is ignored; the preferred one is taken', (t) => {
  const { net, h, ra, at } = setup();
  ra({ prefixes: [pio(P1, HOUR, HOUR)] });
  const ia = auto(h)[0]!;
  const validUntil = ia.validUntil;
  net.clock.advance(600_000);
  t.deepEqual(ra({ prefixes: [pio(P1, 60, 30)] }), { raIn: 1, pioTwoHourRule: 1 });
  t.true(near(ia.validUntil, validUntil), 'valid lifetime unchanged');
  t.true(near(ia.preferredUntil, at() + 30_000));
  // Valid lifetime 0 (the attack the rule stops) is ignored as well.
  t.deepEqual(ra({ prefixes: [pio(P1, 0, 0)] }), { raIn: 1, pioTwoHourRule: 1 });
  t.true(near(ia.validUntil, validUntil));
  t.true(has(ia, IN6_IFF.DEPRECATED), 'preferred lifetime 0: deprecated at once');
  // The address still goes when its own valid lifetime ends.
  net.clock.advance(validUntil - net.clock.now() - 1);
  t.is(auto(h).length, 1);
  net.clock.advance(1);
  t.is(auto(h).length, 0);
});

test('two-hour rule (3): otherwise the valid lifetime becomes 2 hours', (t) => {
  const { net, h, ra, at } = setup();
  ra({ prefixes: [pio(P1, DAY, DAY)] });
  const ia = auto(h)[0]!;
  t.deepEqual(ra({ prefixes: [pio(P1, 60, 30)] }), { raIn: 1, pioTwoHourRule: 1 });
  t.true(near(ia.validUntil, at() + TWO_HOURS * 1000));
  t.true(near(ia.preferredUntil, at() + 30_000));
  // An infinite valid lifetime is cut to 2 hours as well, by valid 0.
  ra({ prefixes: [pio(P2, INFINITE, INFINITE)] });
  const ib = auto(h).find((x) => x.addr[5] === 2)!;
  t.is(ib.validUntil, Infinity);
  t.deepEqual(ra({ prefixes: [pio(P2, 0, 0)] }), { raIn: 1, pioTwoHourRule: 1 });
  t.true(near(ib.validUntil, at() + TWO_HOURS * 1000));
  const end = at() + TWO_HOURS * 1000;
  net.clock.advance(end - net.clock.now() - 1);
  t.true(auto(h).includes(ib));
  net.clock.advance(1);
  t.false(auto(h).includes(ib), 'removed 2 hours later');
});

// ---- deprecation and removal -------------------------------------------------------

test('deprecated when the preferred lifetime ends (not chosen as source while a preferred address exists), removed when the valid one ends', (t) => {
  const { net, h, ra, at } = setup();
  ra({ prefixes: [pio(P1, 120, 60), pio(P2, INFINITE, INFINITE)] });
  const t0 = at();
  net.run(DAD_DONE_MS);
  const a1 = auto(h).find((x) => x.addr[5] === 1)!;
  const a2 = auto(h).find((x) => x.addr[5] === 2)!;
  const inP1 = in6('2001:db8:1::99');
  t.is(src(h, inP1), formatIn6(a1.addr), 'longest match while both are preferred');
  net.clock.advance(t0 + 60_000 - net.clock.now() - 1);
  t.false(has(a1, IN6_IFF.DEPRECATED));
  net.clock.advance(1);
  t.true(has(a1, IN6_IFF.DEPRECATED));
  t.is(src(h, inP1), formatIn6(a2.addr), 'the deprecated address is avoided (RFC 6724 rule 3)');
  t.true(h.s.ip6.if6Of(h.ifp)!.addrs.includes(a1), 'still configured');
  net.clock.advance(60_000 - 1);
  t.true(auto(h).includes(a1));
  net.clock.advance(1);
  t.false(auto(h).includes(a1));
  t.false(h.s.ip6.if6Of(h.ifp)!.addrs.includes(a1), 'removed');
  t.deepEqual(auto(h), [a2]);
});

// ---- DAD failure of an autoconfigured address (RFC 7217 §6) ---------------------------

test('DAD failure: retried with the next DAD counter (slaacRetried), given up after IDGEN_RETRIES (slaacGaveUp)', (t) => {
  const { net, h, ra } = setup();
  const tries = Array.from({ length: IDGEN_RETRIES + 1 }, (_, i) => stableAddr(P1, 'vl0', i, SECRET));
  for (const a of tries) net.raw.answerNs(a);
  ra({ prefixes: [pio(P1, DAY, DAY)] });
  net.run(5 * DAD_DONE_MS);
  const probed = net.raw.icmp(ICMP.NS, h.mac).filter((f) => f.ip6!.src.every((x) => x === 0)).map((f) => formatIn6(f.icmp!.body.subarray(4, 20)));
  t.deepEqual(probed, tries.map((a) => formatIn6(a)), 'counters 0, 1, 2, 3 in turn');
  const c = h.s.nd6.stats.c;
  t.is(c.dadDuplicate, IDGEN_RETRIES + 1);
  t.is(c.slaacRetried, IDGEN_RETRIES);
  t.is(c.slaacGaveUp, 1);
  t.is(c.slaacAddresses, IDGEN_RETRIES + 1);
  t.is(auto(h).length, 0);
  t.false(h.s.ip6.if6Of(h.ifp)!.addrs.some((ia) => ia.addr[0] === 0x20), 'no global address left');
  t.true(h.log.lines.some((l) => l.includes('giving up')));
});

test('DAD failure once: the next identifier is configured', (t) => {
  const { net, h, ra } = setup();
  net.raw.answerNs(stableAddr(P1, 'vl0', 0, SECRET));
  ra({ prefixes: [pio(P1, DAY, DAY)] });
  net.run(2 * DAD_DONE_MS);
  const list = auto(h);
  t.is(list.length, 1);
  t.is(formatIn6(list[0]!.addr), formatIn6(stableAddr(P1, 'vl0', 1, SECRET)));
  t.false(has(list[0]!, IN6_IFF.TENTATIVE));
  t.true(has(list[0]!, IN6_IFF.AUTOCONF));
  t.like(h.s.nd6.stats.c, { dadDuplicate: 1, slaacRetried: 1, slaacGaveUp: 0 });
});

test('DAD failure of an EUI-64 address: no other identifier to try, given up at once', (t) => {
  const { net, h, ra } = setup({ ifid: 'eui64' });
  net.raw.answerNs(in6('2001:db8:1::ff:fe00:a'));
  ra({ prefixes: [pio(P1, DAY, DAY)] });
  net.run(2 * DAD_DONE_MS);
  t.is(auto(h).length, 0);
  t.like(h.s.nd6.stats.c, { dadDuplicate: 1, slaacRetried: 0, slaacGaveUp: 1 });
});

// ---- temporary addresses (RFC 8981) -----------------------------------------------

test('temporary addresses: created alongside, TEMPORARY, random identifier, lifetimes capped at 2 days / 1 day − DESYNC_FACTOR, preferred as source', (t) => {
  const { net, h, ra, at } = setup({ stableSecret: SECRET, tempAddresses: true });
  ra({ prefixes: [pio(P1, INFINITE, INFINITE)] });
  t.is(h.s.nd6.stats.c.slaacAddresses, 2);
  const [p] = pub(h);
  const [tmp] = temps(h);
  t.truthy(p && tmp);
  t.true(has(tmp!, IN6_IFF.TEMPORARY) && has(tmp!, IN6_IFF.AUTOCONF));
  t.false(has(p!, IN6_IFF.TEMPORARY));
  t.true(eq(tmp!.addr.subarray(0, 8), P1.subarray(0, 8)));
  t.false(eq(tmp!.addr.subarray(8), p!.addr.subarray(8)), 'another identifier');
  t.is(tmp!.addr[8]! & 0x02, 0, 'universal/local bit 0');
  t.is(tmp!.validUntil - at(), TEMP_VALID_LIFETIME * 1000);
  const tpl = (tmp!.preferredUntil - at()) / 1000;
  t.true(tpl <= TEMP_PREFERRED_LIFETIME && tpl >= 0.6 * TEMP_PREFERRED_LIFETIME, `preferred ${tpl} s`);
  t.is(p!.validUntil, Infinity);
  net.run(DAD_DONE_MS);
  t.is(src(h), formatIn6(tmp!.addr), 'preferTemporary: the temporary one');
  h.s.ip6.preferTemporary = false;
  t.is(src(h), formatIn6(p!.addr), 'otherwise the public one');
  // Another stack draws another identifier (and the same secret gives the same public address).
  const other = setup({ stableSecret: SECRET, tempAddresses: true }, 9);
  other.ra({ prefixes: [pio(P1, INFINITE, INFINITE)] });
  t.is(formatIn6(pub(other.h)[0]!.addr), formatIn6(p!.addr));
  t.not(formatIn6(temps(other.h)[0]!.addr), formatIn6(tmp!.addr));
});

test('temporary addresses follow shorter prefix lifetimes, and a later RA never stretches them past their caps', (t) => {
  const { h, ra, at } = setup({ stableSecret: SECRET, tempAddresses: true });
  ra({ prefixes: [pio(P1, HOUR, HOUR / 2)] });
  const [tmp] = temps(h);
  t.is(tmp!.validUntil, at() + HOUR * 1000);
  t.is(tmp!.preferredUntil, at() + (HOUR / 2) * 1000);
  // A fresh prefix with infinite lifetimes: the temporary address keeps its own limits.
  const s2 = setup({ stableSecret: SECRET, tempAddresses: true }, 3);
  s2.ra({ prefixes: [pio(P1, INFINITE, INFINITE)] });
  const [t2] = temps(s2.h);
  const created = t2!.createdAt;
  const validEnd = t2!.validUntil;
  const prefEnd = t2!.preferredUntil;
  t.true(prefEnd - created < TEMP_PREFERRED_LIFETIME * 1000, 'DESYNC_FACTOR taken off');
  s2.net.clock.advance(HOUR * 1000);
  s2.ra({ prefixes: [pio(P1, INFINITE, INFINITE)] });
  t.true(near(t2!.validUntil, validEnd), 'valid: still 2 days from creation');
  t.true(near(t2!.preferredUntil, prefEnd), 'preferred: still 1 day − DESYNC_FACTOR from creation');
});

test('a new temporary address is generated REGEN_ADVANCE before the current one is deprecated (tempRegenerated), and takes over', (t) => {
  const { net, h, ra } = setup({ stableSecret: SECRET, tempAddresses: true });
  ra({ prefixes: [pio(P1, INFINITE, INFINITE)] });
  net.run(DAD_DONE_MS);
  const [old] = temps(h);
  // REGEN_ADVANCE = 2 + TEMP_IDGEN_RETRIES × DupAddrDetectTransmits × RetransTimer = 5 s here.
  const regenAt = old!.preferredUntil - 5000;
  net.clock.advance(regenAt - net.clock.now() - 0.5);
  t.is(temps(h).length, 1);
  t.is(h.s.nd6.stats.c.tempRegenerated, 0);
  net.clock.advance(1);
  t.is(h.s.nd6.stats.c.tempRegenerated, 1);
  const fresh = temps(h).find((x) => x !== old)!;
  t.truthy(fresh);
  t.true(has(fresh, IN6_IFF.TEMPORARY) && has(fresh, IN6_IFF.TENTATIVE));
  t.false(eq(fresh.addr, old!.addr));
  net.run(DAD_DONE_MS);
  t.false(has(fresh, IN6_IFF.TENTATIVE));
  // The old one is deprecated on time; the fresh one is the source from then on.
  net.clock.advance(old!.preferredUntil - net.clock.now());
  t.true(has(old!, IN6_IFF.DEPRECATED));
  t.false(has(fresh, IN6_IFF.DEPRECATED));
  t.is(src(h), formatIn6(fresh.addr));
  // And it is removed when its valid lifetime (2 days) ends.
  net.clock.advance(old!.validUntil - net.clock.now());
  t.false(temps(h).includes(old!));
  t.true(temps(h).includes(fresh));
});

test('no new temporary address once the prefix is no longer preferred', (t) => {
  const { net, h, ra } = setup({ stableSecret: SECRET, tempAddresses: true });
  ra({ prefixes: [pio(P1, INFINITE, INFINITE)] });
  net.run(DAD_DONE_MS);
  const [old] = temps(h);
  const regenAt = old!.preferredUntil - 5000;
  // The router deprecates the prefix (preferred 0) and keeps it valid, advertising it every hour.
  while (net.clock.now() < regenAt + 1000) {
    ra({ prefixes: [pio(P1, 3 * HOUR, 0)] });
    t.true(has(pub(h)[0]!, IN6_IFF.DEPRECATED));
    t.true(has(old!, IN6_IFF.DEPRECATED));
    net.clock.advance(HOUR * 1000);
  }
  t.is(h.s.nd6.stats.c.tempRegenerated, 0);
  t.deepEqual(temps(h), [old!]);
});

// ---- Optimistic DAD (RFC 4429) ----------------------------------------------------------

test('optimistic DAD: the new address is a usable source while DAD runs', (t) => {
  const { net, h, ra } = setup({ stableSecret: SECRET, optimisticDad: true });
  ra({ routerLifetime: 1800, srcLl: RAW_MAC, prefixes: [pio(P1, DAY, DAY)] });
  const ia = auto(h)[0]!;
  t.true(has(ia, IN6_IFF.TENTATIVE) && has(ia, IN6_IFF.OPTIMISTIC));
  t.is(src(h), formatIn6(ia.addr), 'a source at once');
  // A packet to a far destination leaves through the router with it as its source.
  net.raw.clear();
  void h.s.ping({ dst: FAR, seq: 1, timeoutMs: 100 }).catch(() => undefined);
  net.run();
  const req = net.raw.icmp(ICMP.ECHO_REQUEST, h.mac);
  t.is(req.length, 1);
  t.true(eq(req[0]!.ip6!.src, ia.addr));
  t.true(eq(req[0]!.ethDst, RAW_MAC));
  net.run(DAD_DONE_MS);
  t.false(has(ia, IN6_IFF.TENTATIVE) || has(ia, IN6_IFF.OPTIMISTIC));
  // Without optimistic DAD, a tentative address is no source.
  const plain = setup();
  plain.ra({ prefixes: [pio(P1, DAY, DAY)] });
  t.is(src(plain.h), formatIn6(plain.h.ll));
});

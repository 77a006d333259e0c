/**
 * Interface addresses through Ip6 (in6_update_ifa, in6_purgeaddr): refusals,
 * the routes and groups an address brings and takes away, and lifetimes
 * (RFC 4862 §5.5.4) on the virtual clock.
 */
import test from 'ava';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF, Scope, formatAddrFlags, needsZone, scopeOf } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import { ip6MulticastMac } from '../../src/link/mac.ts';
import { makeNet, snode } from '../helpers/stack.ts';

function setup() {
  const net = makeNet();
  const h = net.hosts[0]!;
  const ip6 = h.s.ip6;
  const st = ip6.if6Of(h.ifp)!;
  const routes = () => ip6.routes.list().map((r) => `${formatIn6(r.dst)}/${r.plen}@${r.ifindex}`).sort();
  return { net, h, ip6, st, routes };
}

const G1 = in6('2001:db8::1');

test('addAddress refuses duplicates, multicast, ::, ::1 on Ethernet, bad prefix lengths and bad lifetimes', (t) => {
  const { h, ip6 } = setup();
  const bad: [Uint8Array, number, object, RegExp][] = [
    [h.ll, 64, {}, /already configured/],
    [in6('ff02::5'), 64, {}, /cannot be an interface address/],
    [in6('::'), 64, {}, /cannot be an interface address/],
    [in6('::1'), 128, {}, /loopback/],
    [G1, 129, {}, /prefix length/],
    [G1, -1, {}, /prefix length/],
    [G1, 64.5, {}, /prefix length/],
    [G1, 64, { pltime: 10, vltime: 5 }, /lifetimes/],
    [G1, 64, { vltime: -1 }, /lifetimes/],
    [G1, 64, { pltime: Number.NaN }, /lifetimes/],
    [new Uint8Array(4), 64, {}, /16 bytes/],
  ];
  for (const [a, plen, o, re] of bad) {
    const r = ip6.addAddress(h.ifp, a, plen, o);
    t.false(r.ok, `${a.length === 16 ? formatIn6(a) : a.length}/${plen}`);
    if (!r.ok) t.regex(r.error, re);
  }
  t.is(ip6.if6Of(h.ifp)!.addrs.length, 1, 'nothing was added');
  t.true(ip6.addAddress(h.ifp, G1, 64).ok);
  const again = ip6.addAddress(h.ifp, G1, 64);
  t.false(again.ok);
  // The same global address on another interface is refused too.
  const lo = ip6.addAddress(h.s.lo, G1, 128);
  t.false(lo.ok);
  if (!lo.ok) t.regex(lo.error, /another interface/);
  // ... but the same link-local address in two zones is fine.
  t.true(ip6.addAddress(h.s.lo, h.ll, 64, { flags: IN6_IFF.NODAD }).ok);
});

test('a new address is tentative (DAD) unless NODAD or anycast; flags print as ifconfig shows them', (t) => {
  const { ip6, h } = setup();
  const a = ip6.addAddress(h.ifp, G1, 64);
  const b = ip6.addAddress(h.ifp, in6('2001:db8::2'), 64, { flags: IN6_IFF.NODAD });
  const c = ip6.addAddress(h.ifp, in6('2001:db8::3'), 64, { flags: IN6_IFF.ANYCAST });
  t.true(a.ok && b.ok && c.ok);
  if (!a.ok || !b.ok || !c.ok) return;
  t.deepEqual(formatAddrFlags(a.value.flags), ['tentative']);
  t.false(a.value.usable);
  t.deepEqual(formatAddrFlags(b.value.flags), []);
  t.true(b.value.usable);
  t.deepEqual(formatAddrFlags(c.value.flags), ['anycast']);
  t.is(a.value.toString(), '2001:db8::1/64');
});

test('an address brings its on-link prefix route and a local host route through lo0; deleting takes them away', (t) => {
  const { h, ip6, routes } = setup();
  const before = routes();
  t.true(ip6.addAddress(h.ifp, G1, 64, { flags: IN6_IFF.NODAD }).ok);
  const connected = ip6.routes.find(G1, 64, h.ifp.index)!;
  t.truthy(connected);
  t.is(formatIn6(connected.dst), '2001:db8::');
  t.is(connected.origin, 'connected');
  t.truthy(connected.flags & RTF.CONNECTED);
  t.is(connected.gateway, null);
  const local = ip6.routes.find(G1, 128, h.s.lo.index)!;
  t.truthy(local);
  t.truthy(local.flags & RTF.LOCAL && local.flags & RTF.HOST);
  t.is(local.origin, 'local');
  // A second address in the same prefix shares the connected route.
  t.true(ip6.addAddress(h.ifp, in6('2001:db8::2'), 64, { flags: IN6_IFF.NODAD }).ok);
  t.is(ip6.routes.list().filter((r) => r.plen === 64 && formatIn6(r.dst) === '2001:db8::').length, 1);
  t.true(ip6.deleteAddress(h.ifp, G1).ok);
  t.truthy(ip6.routes.find(G1, 64, h.ifp.index), 'still covered by 2001:db8::2');
  t.falsy(ip6.routes.find(G1, 128, h.s.lo.index), 'host route gone');
  t.true(ip6.deleteAddress(h.ifp, in6('2001:db8::2')).ok);
  t.deepEqual(routes(), before, 'back to where we started');
  t.false(ip6.deleteAddress(h.ifp, G1).ok, 'deleting twice fails');
});

test('a /128 address brings no prefix route; the link-local brings fe80::/64 on its interface', (t) => {
  const { h, ip6 } = setup();
  t.truthy(ip6.routes.find(in6('fe80::'), 64, h.ifp.index), 'fe80::/64 on vl0 from the link-local address');
  const n = ip6.routes.size;
  t.true(ip6.addAddress(h.ifp, G1, 128, { flags: IN6_IFF.NODAD }).ok);
  t.is(ip6.routes.size, n + 1, 'only the local host route');
  t.truthy(ip6.routes.find(G1, 128, h.s.lo.index));
});

test('solicited-node groups are joined per address and reference counted', (t) => {
  const { h, ip6, st } = setup();
  // 2001:db8::ff:fe00:a shares its last 24 bits (and so its solicited-node group) with the link-local address.
  const shared = in6('2001:db8::ff:fe00:a');
  const group = snode(h.ll);
  const mac = ip6MulticastMac(group);
  t.true(st.isMember(group));
  t.is(st.groups.get(group)!.refs, 1);
  t.true(ip6.addAddress(h.ifp, shared, 64, { flags: IN6_IFF.NODAD }).ok);
  t.is(st.groups.get(group)!.refs, 2);
  const other = in6('2001:db8::1234:5678');
  t.true(ip6.addAddress(h.ifp, other, 64, { flags: IN6_IFF.NODAD }).ok);
  t.true(st.isMember(snode(other)));
  t.true(h.ifp.inMulti(ip6MulticastMac(snode(other))), 'the Ethernet filter follows');
  t.true(ip6.deleteAddress(h.ifp, shared).ok);
  t.true(st.isMember(group), 'still needed by the link-local address');
  t.true(h.ifp.inMulti(mac));
  t.true(ip6.deleteAddress(h.ifp, h.ll).ok);
  t.false(st.isMember(group), 'left with the last address');
  t.false(h.ifp.inMulti(mac));
  t.true(ip6.deleteAddress(h.ifp, other).ok);
  t.false(st.isMember(snode(other)));
  t.false(h.ifp.inMulti(ip6MulticastMac(snode(other))));
});

test('joinGroup/leaveGroup: hooks fire on the first join and the last leave; errors for non-members and non-groups', (t) => {
  const { h, ip6 } = setup();
  const events: string[] = [];
  ip6.hooks.groupJoined.push((_i, g) => events.push(`join ${formatIn6(g)}`));
  ip6.hooks.groupLeft.push((_i, g) => events.push(`leave ${formatIn6(g)}`));
  const g = in6('ff05::1:3');
  t.true(ip6.joinGroup(h.ifp, g).ok);
  t.true(ip6.joinGroup(h.ifp, g).ok);
  t.true(ip6.leaveGroup(h.ifp, g).ok);
  t.deepEqual(events, ['join ff05::1:3']);
  t.true(ip6.leaveGroup(h.ifp, g).ok);
  t.deepEqual(events, ['join ff05::1:3', 'leave ff05::1:3']);
  t.false(ip6.leaveGroup(h.ifp, g).ok);
  t.false(ip6.joinGroup(h.ifp, G1).ok);
});

test('lifetimes: deprecated when the preferred lifetime ends, removed when the valid one does', (t) => {
  const { net, h, ip6, st } = setup();
  const removed: string[] = [];
  ip6.hooks.addrRemoved.push((ia) => removed.push(formatIn6(ia.addr)));
  const r = ip6.addAddress(h.ifp, G1, 64, { pltime: 10, vltime: 30, flags: IN6_IFF.NODAD });
  t.true(r.ok);
  if (!r.ok) return;
  const ia = r.value;
  net.run(9_999);
  t.is(ia.flags & IN6_IFF.DEPRECATED, 0);
  net.run(1);
  t.truthy(ia.flags & IN6_IFF.DEPRECATED, 'deprecated at pltime');
  t.true(ia.usable, 'a deprecated address still works');
  t.truthy(st.findAddr(G1));
  net.run(19_999);
  t.truthy(st.findAddr(G1));
  net.run(1);
  t.falsy(st.findAddr(G1), 'removed at vltime');
  t.deepEqual(removed, ['2001:db8::1']);
  t.falsy(ip6.routes.find(G1, 128, h.s.lo.index));
  t.falsy(ip6.routes.find(G1, 64, h.ifp.index));
});

test('lifetimes: pltime 0 is deprecated from the start; setLifetimes renews and re-arms', (t) => {
  const { net, h, ip6, st } = setup();
  const r = ip6.addAddress(h.ifp, G1, 64, { pltime: 0, vltime: 10, flags: IN6_IFF.NODAD });
  t.true(r.ok);
  if (!r.ok) return;
  t.truthy(r.value.flags & IN6_IFF.DEPRECATED);
  net.run(5_000);
  // An RA renews it: preferred again for 20 s, valid for 60 s from now.
  ip6.setLifetimes(r.value, 20, 60);
  t.is(r.value.flags & IN6_IFF.DEPRECATED, 0);
  net.run(10_000);
  t.truthy(st.findAddr(G1), 'the old valid lifetime no longer applies');
  t.is(r.value.flags & IN6_IFF.DEPRECATED, 0);
  net.run(10_000);
  t.truthy(r.value.flags & IN6_IFF.DEPRECATED);
  net.run(39_999);
  t.truthy(st.findAddr(G1));
  net.run(1);
  t.falsy(st.findAddr(G1));
});

test('an address deleted by hand leaves no lifetime timer behind', (t) => {
  const { net, h, ip6 } = setup();
  const removed: string[] = [];
  ip6.hooks.addrRemoved.push((ia) => removed.push(formatIn6(ia.addr)));
  t.true(ip6.addAddress(h.ifp, G1, 64, { pltime: 5, vltime: 10, flags: IN6_IFF.NODAD }).ok);
  t.true(ip6.deleteAddress(h.ifp, G1).ok);
  // Added again without lifetimes: the old timers must not remove the new one.
  t.true(ip6.addAddress(h.ifp, G1, 64, { flags: IN6_IFF.NODAD }).ok);
  net.run(60_000);
  t.truthy(ip6.if6Of(h.ifp)!.findAddr(G1));
  t.deepEqual(removed, ['2001:db8::1']);
});

test('lo0 carries ::1/128 and fe80::1 without DAD', (t) => {
  const { h, ip6 } = setup();
  const lo = ip6.if6Of(h.s.lo)!;
  t.deepEqual(lo.addrs.map((a) => `${a}`).sort(), ['::1/128', 'fe80::1/64']);
  t.true(lo.addrs.every((a) => a.usable && !(a.flags & IN6_IFF.TENTATIVE)));
});

test('scopeOf and needsZone', (t) => {
  t.is(scopeOf(in6('fe80::1')), Scope.LINK);
  t.is(scopeOf(in6('::1')), Scope.LINK);
  t.is(scopeOf(in6('2001:db8::1')), Scope.GLOBAL);
  t.is(scopeOf(in6('ff01::1')), Scope.INTERFACE);
  t.is(scopeOf(in6('ff02::1')), Scope.LINK);
  t.is(scopeOf(in6('ff05::2')), Scope.SITE);
  t.is(scopeOf(in6('ff08::2')), Scope.ORG);
  t.is(scopeOf(in6('ff0e::1')), Scope.GLOBAL);
  t.true(needsZone(in6('fe80::1')));
  t.true(needsZone(in6('ff02::1')));
  t.true(needsZone(in6('ff01::1')));
  t.false(needsZone(in6('ff05::1')));
  t.false(needsZone(in6('2001:db8::1')));
  t.false(needsZone(in6('::1')));
});

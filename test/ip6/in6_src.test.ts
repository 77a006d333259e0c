/**
 * RFC 6724 source address selection (src/ip6/in6_src.ts): the policy table,
 * the scopes, every rule of §5 on its own, the examples of §10.2, the
 * candidate set of §4 with the zone limit, and Ip6.selectSource on a stack
 * with two interfaces.
 */
import test from 'ava';
import fc from 'fast-check';
import { VirtualClock } from '../../src/core/clock.ts';
import { MemoryLogger } from '../../src/core/log.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF, Scope } from '../../src/ip6/ifaddr.ts';
import {
  DEFAULT_POLICY,
  MAX_POLICY_ENTRIES,
  PolicyTable,
  type SelectSourceOptions,
  type SrcCandidate,
  commonPrefixLen,
  compareSources,
  isCandidate,
  selectSource,
  sourceScope,
  usableSource,
} from '../../src/ip6/in6_src.ts';
import type { Ifnet } from '../../src/link/ifnet.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';

// ---- helpers ---------------------------------------------------------------------

interface Cand extends SrcCandidate {
  name: string;
}

/** A candidate from text: "2001:db8::1", on interface 1, /64, no flags unless told. */
function c(text: string, o: { flags?: number; plen?: number; ifindex?: number } = {}): Cand {
  return { name: text, addr: in6(text), plen: o.plen ?? 64, flags: o.flags ?? 0, ifp: { index: o.ifindex ?? 1 } };
}

const OUT = { outIfindex: 1 } as const;
const { DEPRECATED, TEMPORARY, TENTATIVE, OPTIMISTIC, DUPLICATED, ANYCAST, DETACHED } = IN6_IFF;

function pick(dst: string, cands: Cand[], opts: SelectSourceOptions<Cand> = OUT): string | undefined {
  return selectSource(in6(dst), cands, opts)?.name;
}

/** Which rule separates a and b for dst, checked in both orders. */
function rule(dst: string, a: Cand, b: Cand, opts: SelectSourceOptions<Cand> = OUT): { winner: string; rule: unknown } {
  const ab = compareSources(in6(dst), a, b, opts);
  const ba = compareSources(in6(dst), b, a, opts);
  if (ab.rule !== ba.rule || (ab.winner === 'a') !== (ba.winner === 'b')) throw new Error('comparison is not symmetric');
  return { winner: ab.winner === 'a' ? a.name : ab.winner === 'b' ? b.name : 'same', rule: ab.rule };
}

// ---- policy table (§2.1) -----------------------------------------------------------

test('the default policy table is RFC 6724 §2.1', (t) => {
  t.deepEqual(
    DEFAULT_POLICY.map((e) => [`${formatIn6(e.prefix)}/${e.plen}`, e.precedence, e.label]),
    [
      ['::1/128', 50, 0],
      ['::/0', 40, 1],
      ['::ffff:0.0.0.0/96', 35, 4],
      ['2002::/16', 30, 2],
      ['2001::/32', 5, 5],
      ['fc00::/7', 3, 13],
      ['::/96', 1, 3],
      ['fec0::/10', 1, 11],
      ['3ffe::/16', 1, 12],
    ],
  );
  t.true(Object.isFrozen(DEFAULT_POLICY));
});

test('policy lookups take the longest matching prefix', (t) => {
  const p = new PolicyTable();
  const look = (a: string) => {
    const e = p.lookup(in6(a));
    return [e.precedence, e.label];
  };
  t.deepEqual(look('::1'), [50, 0], 'loopback: /128 beats ::/96 and ::/0');
  t.deepEqual(look('2001:db8::1'), [40, 1], '2001:db8::/32 is not in 2001::/32');
  t.deepEqual(look('::ffff:192.0.2.1'), [35, 4], 'IPv4-mapped');
  t.deepEqual(look('2002:c633:6401::1'), [30, 2], '6to4');
  t.deepEqual(look('2001:0:4136:e378:8000:63bf:3fff:fdd2'), [5, 5], 'Teredo');
  t.deepEqual(look('fd12:3456::1'), [3, 13], 'ULA fd00::/8 is in fc00::/7');
  t.deepEqual(look('fc00::1'), [3, 13]);
  t.deepEqual(look('::192.0.2.1'), [1, 3], 'IPv4-compatible');
  t.deepEqual(look('::'), [1, 3], 'the unspecified address falls in ::/96');
  t.deepEqual(look('fec0::1'), [1, 11], 'site-local');
  t.deepEqual(look('feff::1'), [1, 11], 'fec0::/10 reaches feff');
  t.deepEqual(look('fe80::1'), [40, 1], 'link-local: ::/0');
  t.deepEqual(look('3ffe:831f::1'), [1, 12], '6bone');
  t.deepEqual(look('ff02::1'), [40, 1], 'multicast: ::/0');
  t.is(p.label(in6('2002::1')), 2);
  t.is(p.precedence(in6('2002::1')), 30);
  // At an offset into a larger buffer.
  const buf = new Uint8Array(20);
  buf.set(in6('2002::1'), 4);
  t.is(p.label(buf, 4), 2);
});

test('policy rows are replaced, added, removed and reset like ip addrlabel', (t) => {
  const p = new PolicyTable();
  t.is(p.size, DEFAULT_POLICY.length);
  // Replace the 6to4 row.
  const r = p.set(in6('2002::'), 16, 7, 99);
  t.true(r.ok);
  t.is(p.size, DEFAULT_POLICY.length, 'replaced, not added');
  t.is(p.label(in6('2002::1')), 99);
  t.is(p.precedence(in6('2002::1')), 7);
  // Add a more specific row: host bits are cleared.
  t.true(p.set(in6('2001:db8:1::77'), 48, 45, 42).ok);
  t.is(p.label(in6('2001:db8:1:ffff::1')), 42);
  t.is(p.label(in6('2001:db8:2::1')), 1);
  t.true(p.entries().some((e) => formatIn6(e.prefix) === '2001:db8:1::' && e.plen === 48));
  // Rows come longest first.
  const lens = p.entries().map((e) => e.plen);
  t.deepEqual(lens, [...lens].sort((a, b) => b - a));
  // Remove it (any host bits in the request are ignored too).
  t.true(p.delete(in6('2001:db8:1::5'), 48).ok);
  t.is(p.label(in6('2001:db8:1::1')), 1);
  t.false(p.delete(in6('2001:db8:1::'), 48).ok, 'already gone');
  // Without ::/0 an unmatched address has no label.
  t.true(p.delete(in6('::'), 0).ok);
  t.is(p.label(in6('2001:db8::1')), -1);
  t.is(p.precedence(in6('2001:db8::1')), 0);
  p.reset();
  t.is(p.size, DEFAULT_POLICY.length);
  t.is(p.label(in6('2002::1')), 2);
  t.is(p.label(in6('2001:db8::1')), 1);
  // A changed table leaves the defaults and other tables alone.
  const q = new PolicyTable();
  p.set(in6('::'), 0, 1, 77);
  t.is(q.label(in6('2001:db8::1')), 1);
  t.is(DEFAULT_POLICY[1]!.label, 1);
});

test('policy rows are checked', (t) => {
  const p = new PolicyTable();
  t.false(p.set(in6('2001:db8::'), 129, 1, 1).ok);
  t.false(p.set(in6('2001:db8::'), -1, 1, 1).ok);
  t.false(p.set(in6('2001:db8::'), 32.5, 1, 1).ok);
  t.false(p.set(new Uint8Array(4), 32, 1, 1).ok);
  t.false(p.set(in6('2001:db8::'), 32, -1, 1).ok);
  t.false(p.set(in6('2001:db8::'), 32, 1, 2 ** 32).ok);
  t.false(p.set(in6('2001:db8::'), 32, 1, Number.NaN).ok);
  t.false(p.delete(new Uint8Array(3), 0).ok);
  t.is(p.size, DEFAULT_POLICY.length);
  // Bounded.
  let added = DEFAULT_POLICY.length;
  for (let i = 0; added < MAX_POLICY_ENTRIES; i++, added++) {
    const a = new Uint8Array(16);
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[4] = i >> 8;
    a[5] = i & 0xff;
    t.true(p.set(a, 48, 1, 1).ok);
  }
  t.is(p.size, MAX_POLICY_ENTRIES);
  const full = p.set(in6('2001:db9::'), 32, 1, 1);
  t.false(full.ok);
  t.true(!full.ok && full.error.includes('full'));
  t.true(p.set(in6('2002::'), 16, 1, 1).ok, 'replacing still works when full');
  t.throws(() => new PolicyTable([{ prefix: in6('::'), plen: 200, precedence: 1, label: 1 }]));
});

// ---- scope (§3) and prefixes ---------------------------------------------------------

test('scopes for source selection (§3.1, §3.2)', (t) => {
  const s = (a: string) => sourceScope(in6(a));
  t.is(s('fe80::1'), Scope.LINK);
  t.is(s('::1'), Scope.LINK, 'loopback is link scope');
  t.is(s('fec0::1'), Scope.SITE, 'deprecated site-local keeps site scope');
  t.is(s('2001:db8::1'), Scope.GLOBAL);
  t.is(s('fd00::1'), Scope.GLOBAL, 'ULA is global scope (RFC 4193)');
  t.is(s('ff01::1'), Scope.INTERFACE);
  t.is(s('ff02::1'), Scope.LINK);
  t.is(s('ff05::1'), Scope.SITE);
  t.is(s('ff08::1'), Scope.ORG);
  t.is(s('ff0e::1'), Scope.GLOBAL);
  t.is(s('::ffff:127.0.0.1'), Scope.LINK, 'IPv4 loopback: link scope');
  t.is(s('::ffff:169.254.7.7'), Scope.LINK, 'IPv4 autoconfiguration: link scope');
  t.is(s('::ffff:10.1.2.3'), Scope.GLOBAL, 'IPv4 private: global scope (§3.2)');
  t.is(s('::ffff:192.0.2.1'), Scope.GLOBAL);
});

test('CommonPrefixLen', (t) => {
  t.is(commonPrefixLen(in6('2001:db8::1'), in6('2001:db8::1')), 128);
  t.is(commonPrefixLen(in6('2001:db8:1::'), in6('2001:db8:3::')), 46);
  t.is(commonPrefixLen(in6('8000::'), in6('::')), 0);
  t.is(commonPrefixLen(in6('fe80::1'), in6('fe80::2')), 126);
});

// ---- §10.2 examples ------------------------------------------------------------------

test('RFC 6724 §10.2: prefer appropriate scope', (t) => {
  t.is(pick('2001:db8:1::1', [c('2001:db8:3::1'), c('fe80::1')]), '2001:db8:3::1');
  t.is(rule('2001:db8:1::1', c('2001:db8:3::1'), c('fe80::1')).rule, 2);
  t.is(pick('ff05::1', [c('2001:db8:3::1'), c('fe80::1')]), '2001:db8:3::1');
  t.is(rule('ff05::1', c('2001:db8:3::1'), c('fe80::1')).rule, 2);
  t.is(pick('fe80::1', [c('fe80::2', { flags: DEPRECATED }), c('2001:db8:1::1')]), 'fe80::2', 'deprecated, but the right scope');
  t.is(rule('fe80::1', c('fe80::2', { flags: DEPRECATED }), c('2001:db8:1::1')).rule, 2);
});

test('RFC 6724 §10.2: prefer same address, even deprecated', (t) => {
  t.is(pick('2001:db8:1::1', [c('2001:db8:1::1', { flags: DEPRECATED }), c('2001:db8:2::1')]), '2001:db8:1::1');
  t.deepEqual(rule('2001:db8:1::1', c('2001:db8:1::1', { flags: DEPRECATED }), c('2001:db8:2::1')), { winner: '2001:db8:1::1', rule: 1 });
});

test('RFC 6724 §10.2: longest matching prefix', (t) => {
  t.is(pick('2001:db8:1::1', [c('2001:db8:1::2'), c('2001:db8:3::2')]), '2001:db8:1::2');
  t.is(rule('2001:db8:1::1', c('2001:db8:1::2'), c('2001:db8:3::2')).rule, 8);
});

test('RFC 6724 §10.2: home vs care-of address does not apply (no Mobile IPv6: rule 4 never decides)', (t) => {
  // The RFC picks the home address 2001:db8:3::2 here. Without Mobile IPv6 no
  // address is a home address, so the pair falls through to rule 8.
  const careOf = c('2001:db8:1::2');
  const home = c('2001:db8:3::2');
  t.is(pick('2001:db8:1::1', [careOf, home]), '2001:db8:1::2');
  t.is(rule('2001:db8:1::1', careOf, home).rule, 8);
});

test('RFC 6724 §10.2: prefer matching label (6to4)', (t) => {
  const sixToFour = c('2002:c633:6401::d5e3:7953:13eb:22e8', { flags: TEMPORARY });
  const native = c('2001:db8:1::2');
  t.is(pick('2002:c633:6401::1', [sixToFour, native]), '2002:c633:6401::d5e3:7953:13eb:22e8');
  t.is(rule('2002:c633:6401::1', sixToFour, native).rule, 6);
  // Rule 6 comes before rule 7: the result holds with temporaries not preferred.
  t.is(pick('2002:c633:6401::1', [native, sixToFour], { outIfindex: 1, preferTemporary: false }), '2002:c633:6401::d5e3:7953:13eb:22e8');
});

test('RFC 6724 §10.2: prefer temporary address', (t) => {
  const pub = c('2001:db8:1::2');
  const tmp = c('2001:db8:1::d5e3:7953:13eb:22e8', { flags: TEMPORARY });
  t.is(pick('2001:db8:1::d5e3:0:0:1', [pub, tmp]), '2001:db8:1::d5e3:7953:13eb:22e8');
  t.is(rule('2001:db8:1::d5e3:0:0:1', pub, tmp).rule, 7);
});

test('IPv4-mapped and Teredo destinations: matching labels and IPv4 scopes', (t) => {
  const mapped = c('::ffff:198.51.100.2', { plen: 96 });
  const native = c('2001:db8::2');
  t.is(pick('::ffff:192.0.2.1', [native, mapped]), '::ffff:198.51.100.2');
  t.is(rule('::ffff:192.0.2.1', native, mapped).rule, 6);
  t.is(pick('2001:db8::1', [native, mapped]), '2001:db8::2');
  // An IPv4 link-local destination: the smallest scope that reaches it.
  const v4ll = c('::ffff:169.254.0.1', { plen: 112 });
  t.is(pick('::ffff:169.254.9.9', [mapped, v4ll]), '::ffff:169.254.0.1');
  t.is(rule('::ffff:169.254.9.9', mapped, v4ll).rule, 2);
  // Teredo (2001::/32, label 5).
  const teredo = c('2001:0:4136:e378:8000:63bf:3fff:fdd2');
  t.is(pick('2001:0:5ef5:79fd::1', [native, teredo]), '2001:0:4136:e378:8000:63bf:3fff:fdd2');
  t.is(rule('2001:0:5ef5:79fd::1', native, teredo).rule, 6);
  // IPv4-compatible ::/96 (label 3) and site-local (label 11) pair with their own kind.
  t.is(pick('::192.0.2.1', [native, c('::198.51.100.2', { plen: 96 })]), '::198.51.100.2');
});

// ---- each rule on its own ----------------------------------------------------------------

test('rule 1 alone: the destination itself wins over everything later', (t) => {
  const self = c('2001:db8:9::1', { flags: DEPRECATED | OPTIMISTIC, ifindex: 2 });
  t.deepEqual(rule('2001:db8:9::1', self, c('2001:db8:9::2')), { winner: '2001:db8:9::1', rule: 1 });
});

test('rule 2 alone: the smallest scope that reaches the destination, else the largest', (t) => {
  const site = c('fec0::1');
  const glob = c('2001:db8::1');
  const ll = c('fe80::1');
  t.deepEqual(rule('ff05::1', site, glob), { winner: 'fec0::1', rule: 2 }, 'both reach a site-scope destination: the smaller');
  t.deepEqual(rule('2001:db8::9', ll, site), { winner: 'fec0::1', rule: 2 }, 'neither reaches: the larger');
  t.deepEqual(rule('2001:db8::9', site, glob), { winner: '2001:db8::1', rule: 2 });
  t.deepEqual(rule('ff02::1', ll, glob), { winner: 'fe80::1', rule: 2 });
  t.deepEqual(rule('ff01::1', ll, glob), { winner: 'fe80::1', rule: 2 }, 'interface-local multicast: link-local is the smallest');
  // Rule 2 outranks rule 3: a deprecated address of the right scope still wins.
  t.deepEqual(rule('ff05::1', c('fec0::1', { flags: DEPRECATED }), glob), { winner: 'fec0::1', rule: 2 });
});

test('rule 3 alone: avoid deprecated addresses; optimistic counts as deprecated (RFC 4429)', (t) => {
  const dep = c('2001:db8:1::1', { flags: DEPRECATED });
  const far = c('2001:db8:ffff::1');
  t.deepEqual(rule('2001:db8:1::9', dep, far), { winner: '2001:db8:ffff::1', rule: 3 });
  const opt = c('2001:db8:1::1', { flags: OPTIMISTIC | TENTATIVE });
  t.deepEqual(rule('2001:db8:1::9', opt, far), { winner: '2001:db8:ffff::1', rule: 3 });
  t.is(pick('2001:db8:1::9', [opt]), '2001:db8:1::1', 'an optimistic address alone is still used');
  // Rule 3 outranks rule 5: a preferred address on another interface beats a deprecated one on ours.
  t.deepEqual(rule('2001:db8:1::9', dep, c('2001:db8:2::1', { ifindex: 2 })), { winner: '2001:db8:2::1', rule: 3 });
});

test('rule 4 never decides (no Mobile IPv6), rule 5 alone: prefer the outgoing interface', (t) => {
  const mine = c('2001:db8:ffff::1', { ifindex: 1 });
  const other = c('2001:db8:1::1', { ifindex: 2 });
  t.deepEqual(rule('2001:db8:1::9', mine, other), { winner: '2001:db8:ffff::1', rule: 5 });
  t.deepEqual(rule('2001:db8:1::9', mine, other, { outIfindex: 2 }), { winner: '2001:db8:1::1', rule: 5 });
  // Neither on the outgoing interface: later rules decide.
  t.deepEqual(rule('2001:db8:1::9', mine, other, { outIfindex: 3 }), { winner: '2001:db8:1::1', rule: 8 });
});

test('rule 5.5 alone: prefer a prefix advertised by the next hop, only when told which', (t) => {
  const a = c('2001:db8:1::1');
  const b = c('2001:db8:2::1');
  const byNextHop = (x: Cand) => x.name.startsWith('2001:db8:2:');
  t.deepEqual(rule('2001:db8:1::9', a, b, { outIfindex: 1, nextHopAdvertised: byNextHop }), { winner: '2001:db8:2::1', rule: 5.5 });
  t.deepEqual(rule('2001:db8:1::9', a, b), { winner: '2001:db8:1::1', rule: 8 }, 'skipped without a predicate');
  // After rule 5: an address on the outgoing interface beats one the next hop advertised elsewhere.
  const elsewhere = c('2001:db8:2::1', { ifindex: 2 });
  t.deepEqual(rule('2001:db8:1::9', a, elsewhere, { outIfindex: 1, nextHopAdvertised: byNextHop }), { winner: '2001:db8:1::1', rule: 5 });
});

test('rule 6 alone: prefer matching label, with the table given', (t) => {
  const ula = c('fd00:1::1');
  const glob = c('2001:db8:1::1');
  t.deepEqual(rule('fd00:2::9', ula, glob), { winner: 'fd00:1::1', rule: 6 });
  t.deepEqual(rule('2001:db8:7::9', ula, glob), { winner: '2001:db8:1::1', rule: 6 });
  // A table that gives ULAs the label of ::/0 leaves the choice to rule 8.
  const policy = new PolicyTable();
  t.true(policy.set(in6('fc00::'), 7, 3, 1).ok);
  t.deepEqual(rule('2001:db8:7::9', ula, glob, { outIfindex: 1, policy }), { winner: '2001:db8:1::1', rule: 8 });
  t.deepEqual(rule('fd00:2::9', ula, glob, { outIfindex: 1, policy }), { winner: 'fd00:1::1', rule: 8 });
  // And a table that pairs 2001:db8:1::/48 with 2001:db8:3::/48 overrides the longer match with :2::.
  t.true(policy.set(in6('2001:db8:1::'), 48, 40, 42).ok);
  t.true(policy.set(in6('2001:db8:3::'), 48, 40, 42).ok);
  t.deepEqual(rule('2001:db8:3::9', glob, c('2001:db8:2::1'), { outIfindex: 1, policy }), { winner: '2001:db8:1::1', rule: 6 });
});

test('rule 7 alone: temporary preferred by default and when asked; public when not', (t) => {
  const pub = c('2001:db8:1::1');
  const tmp = c('2001:db8:1::ffff:1:2:3', { flags: TEMPORARY | IN6_IFF.AUTOCONF });
  t.deepEqual(rule('2001:db8:1::9', pub, tmp), { winner: '2001:db8:1::ffff:1:2:3', rule: 7 });
  t.deepEqual(rule('2001:db8:1::9', pub, tmp, { outIfindex: 1, preferTemporary: true }), { winner: '2001:db8:1::ffff:1:2:3', rule: 7 });
  t.deepEqual(rule('2001:db8:1::9', pub, tmp, { outIfindex: 1, preferTemporary: false }), { winner: '2001:db8:1::1', rule: 7 });
  // Rule 7 outranks rule 8: a temporary address in another /64 still wins when preferred.
  const tmpFar = c('2001:db8:2::ffff:1:2:3', { flags: TEMPORARY });
  t.deepEqual(rule('2001:db8:1::9', pub, tmpFar), { winner: '2001:db8:2::ffff:1:2:3', rule: 7 });
});

test('rule 8 alone: longest matching prefix, counted only up to the prefix length of the source', (t) => {
  t.deepEqual(rule('2001:db8:1::9', c('2001:db8:1::1'), c('2001:db8:2::1')), { winner: '2001:db8:1::1', rule: 8 });
  t.deepEqual(rule('2001:db8:3::9', c('2001:db8:1::1'), c('2001:db8:2::1')), { winner: '2001:db8:2::1', rule: 8 }, '47 bits against 46');
  // Both in the destination's /64: 126 bits against 64 would pick ::aaaa:0:0:2, but both count 64.
  const near = c('2001:db8:1:0:aaaa::2');
  const plain = c('2001:db8:1::1');
  t.deepEqual(rule('2001:db8:1:0:aaaa::1', near, plain), { winner: '2001:db8:1::1', rule: 9 }, 'a tie: the tie-breaker decides');
  // A /128 counts all its bits.
  const host = c('2001:db8:1:0:aaaa::2', { plen: 128 });
  t.deepEqual(rule('2001:db8:1:0:aaaa::1', host, plain), { winner: '2001:db8:1:0:aaaa::2', rule: 8 });
});

test('the tie-breaker: lower address, then lower interface index; a candidate equals itself', (t) => {
  t.deepEqual(rule('2001:db8:9::9', c('2001:db8:1::2'), c('2001:db8:1::1')), { winner: '2001:db8:1::1', rule: 9 });
  t.deepEqual(rule('2001:db8:9::9', c('2001:db8:1::1', { ifindex: 3 }), c('2001:db8:1::1', { ifindex: 4 }), { outIfindex: 1 }).rule, 9);
  const x = c('2001:db8:1::1');
  t.deepEqual(compareSources(in6('2001:db8::9'), x, x, OUT), { winner: 'same', rule: null });
});

// ---- candidate set (§4) --------------------------------------------------------------------

test('tentative, duplicated, anycast and detached addresses are never chosen; optimistic ones are', (t) => {
  t.false(usableSource(TENTATIVE));
  t.true(usableSource(TENTATIVE | OPTIMISTIC));
  t.false(usableSource(DUPLICATED));
  t.false(usableSource(ANYCAST));
  t.false(usableSource(DETACHED));
  t.true(usableSource(DEPRECATED | TEMPORARY | IN6_IFF.AUTOCONF | IN6_IFF.NODAD));
  const bad = [c('2001:db8:1::9', { flags: TENTATIVE }), c('2001:db8:1::8', { flags: DUPLICATED }), c('2001:db8:1::7', { flags: ANYCAST }), c('2001:db8:1::6', { flags: DETACHED })];
  for (const b of bad) t.is(pick(b.name, [b]), undefined, `${b.name} not even for itself`);
  t.is(pick('2001:db8:1::9', [...bad, c('2001:db8:ffff::1', { flags: DEPRECATED })]), '2001:db8:ffff::1', 'a deprecated address is better than none');
  t.is(pick('2001:db8:1::9', []), undefined);
});

test('the zone limit: a link-scope address of another interface is never a candidate', (t) => {
  const ll2 = c('fe80::2', { ifindex: 2 });
  const ll1 = c('fe80::1', { ifindex: 1 });
  t.false(isCandidate(ll2, 1));
  t.true(isCandidate(ll2, 2));
  t.true(isCandidate(c('2001:db8::2', { ifindex: 2 }), 1), 'global addresses of other interfaces are candidates');
  t.true(isCandidate(c('fec0::2', { ifindex: 2 }), 1), 'one site: site-local addresses cross interfaces');
  t.false(isCandidate(c('::1', { ifindex: 2, plen: 128 }), 1), '::1 stays on lo0');
  t.is(pick('fe80::9', [ll2]), undefined, 'not even as the only address');
  t.is(pick('fe80::9', [ll2, ll1]), 'fe80::1');
  t.is(pick('fe80::2', [ll2]), undefined, 'not even when it is the destination: that is fe80::2 on another link');
  t.is(pick('ff02::1', [ll2, c('2001:db8::2', { ifindex: 2 })]), '2001:db8::2', 'a global source from another interface rather than a foreign link-local');
  t.is(pick('2001:db8::9', [ll1]), 'fe80::1', 'a link-local on the outgoing interface is the last resort for a global destination');
});

// ---- property ------------------------------------------------------------------------------------

const PREFIXES = ['fe80::', '2001:db8:1::', '2001:db8:2::', '2002:c633:6401::', 'fec0::', 'fd00::', '2001::', '::ffff:0:0'].map((p) => in6(p));

const arbAddr = fc.tuple(fc.integer({ min: 0, max: PREFIXES.length - 1 }), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([i, low]) => {
  const a = PREFIXES[i]!.slice();
  if (i === PREFIXES.length - 1) a.set(low.subarray(0, 4), 12);
  else a.set(low, 8);
  return a;
});

const FLAG_BITS = [DEPRECATED, TEMPORARY, TENTATIVE, OPTIMISTIC, DUPLICATED, ANYCAST, DETACHED];
const arbCand = fc
  .record({
    addr: arbAddr,
    plen: fc.constantFrom(48, 64, 96, 128),
    flags: fc.subarray(FLAG_BITS).map((fs) => fs.reduce((x, y) => x | y, 0)),
    ifindex: fc.integer({ min: 1, max: 3 }),
  })
  .map((r): Cand => ({ name: formatIn6(r.addr), addr: r.addr, plen: r.plen, flags: r.flags, ifp: { index: r.ifindex } }));

const arbDst = fc.oneof(
  arbAddr,
  fc.constantFrom(...['ff01::1', 'ff02::1', 'ff05::1', 'ff0e::1', '::1', '::ffff:169.254.1.1'].map((a) => in6(a))),
);

const arbCase = fc
  .record({
    cands: fc.uniqueArray(arbCand, { maxLength: 12, selector: (x) => x.name }),
    dst: arbDst,
    out: fc.integer({ min: 1, max: 3 }),
    preferTemporary: fc.boolean(),
  })
  .chain((r) => fc.record({ r: fc.constant(r), perm: fc.shuffledSubarray(r.cands, { minLength: r.cands.length, maxLength: r.cands.length }) }));

test('property: the choice is a usable candidate, the best of them, and independent of the order', (t) => {
  fc.assert(
    fc.property(arbCase, ({ r, perm }) => {
      const opts = { outIfindex: r.out, preferTemporary: r.preferTemporary };
      const best = selectSource(r.dst, r.cands, opts);
      const usable = r.cands.filter((x) => isCandidate(x, r.out));
      if (!best) return usable.length === 0;
      if (!usable.includes(best)) return false;
      if (selectSource(r.dst, perm, opts) !== best) return false;
      if (selectSource(r.dst, [...r.cands].reverse(), opts) !== best) return false;
      for (const o of usable) {
        const cmp = compareSources(r.dst, best, o, opts);
        if (cmp.winner === 'b' || cmp.rule === 4) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

// ---- Ip6.selectSource on a stack --------------------------------------------------------------

function rig() {
  const clock = new VirtualClock();
  const log = new MemoryLogger();
  const s = new Stack({ clock, rng: new SeededRng(6724), log });
  const if0 = s.addEthernet({ name: 'vl0', driver: new VirtualLink({ clock }).port(), mac: Uint8Array.of(2, 0, 0, 0, 0, 0x10) });
  const if1 = s.addEthernet({ name: 'vl1', driver: new VirtualLink({ clock }).port(), mac: Uint8Array.of(2, 0, 0, 0, 0, 0x11) });
  s.up(if0);
  s.up(if1);
  clock.advance(3000); // DAD of both link-local addresses
  const add = (ifp: Ifnet, a: string, flags: number = IN6_IFF.NODAD, plen = 64) => {
    const r = s.ip6.addAddress(ifp, in6(a), plen, { flags });
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };
  const sel = (dst: string, ifp: Ifnet) => {
    const ia = s.ip6.selectSource(in6(dst), ifp);
    return ia ? `${formatIn6(ia.addr)}%${ia.ifp.name}` : undefined;
  };
  return { clock, s, if0, if1, add, sel };
}

test('Ip6.selectSource: link-local destinations get the link-local of the outgoing interface only', (t) => {
  const { s, if0, if1, add, sel } = rig();
  t.is(sel('fe80::99', if0), 'fe80::ff:fe00:10%vl0');
  t.is(sel('fe80::99', if1), 'fe80::ff:fe00:11%vl1');
  t.is(sel('ff02::1', if1), 'fe80::ff:fe00:11%vl1');
  t.is(sel('fe80::ff:fe00:10', if1), 'fe80::ff:fe00:11%vl1', 'our vl0 address is someone else on vl1');
  t.is(sel('fe80::ff:fe00:10', if0), 'fe80::ff:fe00:10%vl0', 'rule 1 on its own link');
  // Without a link-local on vl1, a global from vl0 is used, never vl0's link-local.
  t.true(s.ip6.deleteAddress(if1, in6('fe80::ff:fe00:11')).ok);
  t.is(sel('fe80::99', if1), undefined);
  add(if0, '2001:db8:a::1');
  t.is(sel('fe80::99', if1), '2001:db8:a::1%vl0');
  t.is(sel('ff02::1', if1), '2001:db8:a::1%vl0');
});

test('Ip6.selectSource: global addresses of every interface, the outgoing one preferred (rule 5)', (t) => {
  const { if0, if1, add, sel } = rig();
  t.is(sel('2001:db8:a::99', if1), 'fe80::ff:fe00:11%vl1', 'only link-locals: the one of the outgoing interface');
  add(if0, '2001:db8:a::1');
  t.is(sel('2001:db8:a::99', if1), '2001:db8:a::1%vl0', 'rule 2: a global of another interface beats the link-local');
  add(if1, '2001:db8:b::1');
  t.is(sel('2001:db8:a::99', if1), '2001:db8:b::1%vl1', 'rule 5 before rule 8');
  t.is(sel('2001:db8:b::99', if0), '2001:db8:a::1%vl0');
  t.is(sel('2001:db8:b::1', if0), '2001:db8:b::1%vl1', 'rule 1: our own address, whatever the interface');
});

test('Ip6.selectSource on lo0: ::1 for ::1, the interface-local scope', (t) => {
  const { s, sel } = rig();
  t.is(sel('::1', s.lo), '::1%lo0');
  t.is(sel('ff01::1', s.lo), 'fe80::1%lo0');
});

test('Ip6.selectSource: tentative, duplicated and anycast addresses are skipped; deprecated is a last resort', (t) => {
  const { s, clock, if0, add, sel } = rig();
  const tent = add(if0, '2001:db8:a::1', 0);
  t.truthy(tent.flags & TENTATIVE);
  t.is(sel('2001:db8:a::99', if0), 'fe80::ff:fe00:10%vl0', 'tentative: not yet');
  t.is(sel('2001:db8:a::1', if0), 'fe80::ff:fe00:10%vl0', 'not even for itself');
  clock.advance(3000);
  t.is(sel('2001:db8:a::99', if0), '2001:db8:a::1%vl0', 'after DAD');
  add(if0, '2001:db8:a::2', ANYCAST);
  t.is(sel('2001:db8:a::2', if0), '2001:db8:a::1%vl0', 'anycast: not a source');
  const dup = add(if0, '2001:db8:a::3', 0);
  s.ip6.dadDone(dup, true);
  t.is(sel('2001:db8:a::3', if0), '2001:db8:a::1%vl0', 'duplicated: not a source');
  add(if0, '2001:db8:b::1');
  s.ip6.setLifetimes(tent, 0, 3600);
  t.is(sel('2001:db8:a::99', if0), '2001:db8:b::1%vl0', 'rule 3 before rule 8');
  const opt = add(if0, '2001:db8:a::4', TENTATIVE | OPTIMISTIC | IN6_IFF.NODAD);
  t.truthy(opt.flags & OPTIMISTIC);
  t.is(sel('2001:db8:a::4', if0), '2001:db8:a::4%vl0', 'an optimistic address is usable (rule 1)');
});

test('Ip6.selectSource: temporary addresses per Ip6.preferTemporary', (t) => {
  const { s, if0, add, sel } = rig();
  add(if0, '2001:db8:a::1', IN6_IFF.NODAD | IN6_IFF.AUTOCONF);
  add(if0, '2001:db8:a:0:1234:5678:9abc:def0', IN6_IFF.NODAD | IN6_IFF.AUTOCONF | TEMPORARY);
  t.false(s.ip6.preferTemporary, 'off by default');
  t.is(sel('2001:db8:a::99', if0), '2001:db8:a::1%vl0');
  t.is(sel('2001:db8:ffff::99', if0), '2001:db8:a::1%vl0');
  s.ip6.preferTemporary = true;
  t.is(sel('2001:db8:a::99', if0), '2001:db8:a:0:1234:5678:9abc:def0%vl0');
  t.is(sel('2001:db8:ffff::99', if0), '2001:db8:a:0:1234:5678:9abc:def0%vl0');
  t.is(sel('2001:db8:a::1', if0), '2001:db8:a::1%vl0', 'rule 1 still first');
});

test('Ip6.selectSource: Ip6.policy drives rule 6', (t) => {
  const { s, if0, add, sel } = rig();
  add(if0, '2001:db8:1::1');
  add(if0, '2001:db8:2::1');
  t.is(sel('2001:db8:3::9', if0), '2001:db8:2::1%vl0', 'rule 8: 47 bits against 46');
  t.true(s.ip6.policy.set(in6('2001:db8:1::'), 48, 40, 42).ok);
  t.true(s.ip6.policy.set(in6('2001:db8:3::'), 48, 40, 42).ok);
  t.is(sel('2001:db8:3::9', if0), '2001:db8:1::1%vl0', 'rule 6 with the changed table');
  s.ip6.policy.reset();
  t.is(sel('2001:db8:3::9', if0), '2001:db8:2::1%vl0');
});

test('Ip6.selectSource: a disabled interface lends no addresses', (t) => {
  const { s, if0, if1, add, sel } = rig();
  add(if0, '2001:db8:a::1');
  t.is(sel('2001:db8:c::9', if1), '2001:db8:a::1%vl0');
  s.ip6.if6Of(if0)!.disabled = true;
  t.is(sel('2001:db8:c::9', if1), 'fe80::ff:fe00:11%vl1');
  t.is(sel('2001:db8:c::9', if0), '2001:db8:a::1%vl0', 'but its own addresses serve itself');
});

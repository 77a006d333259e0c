/**
 * The routing table: longest-prefix match, several routes per prefix,
 * deletion by gateway and interface, expiry, the usable filter, the bound;
 * and maskPrefix / prefixMatch against a naive bit-string model (fast-check).
 */
import test from 'ava';
import fc from 'fast-check';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { RTF, RouteTable6, formatFlags, maskPrefix, prefixMatch, type RouteSpec } from '../../src/ip6/route.ts';

const spec = (dst: string, plen: number, ifindex: number, extra: Partial<RouteSpec> = {}): RouteSpec => ({ dst: in6(dst), plen, ifindex, origin: 'static', ...extra });

function show(r: { dst: Uint8Array; plen: number; ifindex: number } | undefined): string | undefined {
  return r && `${formatIn6(r.dst)}/${r.plen}@${r.ifindex}`;
}

function table() {
  const t = new RouteTable6();
  for (const s of [spec('::', 0, 1, { gateway: in6('fe80::1') }), spec('2001:db8::', 32, 2), spec('2001:db8:1::', 48, 3), spec('2001:db8:1:2::', 64, 4), spec('2001:db8:1:2::5', 128, 5)]) {
    const r = t.add(s);
    if (!r.ok) throw new Error(r.error);
  }
  return t;
}

test('longest prefix match: /128 over /64 over /48 over /32 over the default route', (t) => {
  const rt = table();
  const at = (a: string) => show(rt.lookup(in6(a)));
  t.is(at('2001:db8:1:2::5'), '2001:db8:1:2::5/128@5');
  t.is(at('2001:db8:1:2::6'), '2001:db8:1:2::/64@4');
  t.is(at('2001:db8:1:3::6'), '2001:db8:1::/48@3');
  t.is(at('2001:db8:2::1'), '2001:db8::/32@2');
  t.is(at('2001:db9::1'), '::/0@1');
  t.is(at('ff0e::1'), '::/0@1', 'the default route covers everything');
  t.is(rt.size, 5);
});

test('lookup reads the address at an offset', (t) => {
  const rt = table();
  const buf = new Uint8Array(40);
  buf.set(in6('2001:db8:1:2::6'), 24);
  t.is(show(rt.lookup(buf, 24)), '2001:db8:1:2::/64@4');
});

test('without a default route, an uncovered destination has no route', (t) => {
  const rt = new RouteTable6();
  t.true(rt.add(spec('2001:db8::', 32, 2)).ok);
  t.is(rt.lookup(in6('2001:db9::1')), undefined);
  t.is(rt.lookup(in6('2001:db8::1'))?.ifindex, 2);
});

test('destinations are stored masked; flags U, G, H set from the spec', (t) => {
  const rt = new RouteTable6();
  const r = rt.add(spec('2001:db8:1:2:3:4:5:6', 48, 1, { gateway: in6('fe80::9') }));
  t.true(r.ok);
  if (!r.ok) return;
  t.is(formatIn6(r.value.dst), '2001:db8:1::');
  t.is(formatFlags(r.value.flags), 'UG');
  const h = rt.add(spec('2001:db8::1', 128, 1, { flags: RTF.STATIC }));
  t.true(h.ok && formatFlags(h.value.flags) === 'UHS');
  t.is(r.value.expiresAt, Infinity);
  t.is(r.value.mtu, 0);
});

test('add refuses bad prefix lengths, short addresses and an exact duplicate', (t) => {
  const rt = new RouteTable6();
  t.false(rt.add(spec('2001:db8::', 129, 1)).ok);
  t.false(rt.add(spec('2001:db8::', -1, 1)).ok);
  t.false(rt.add(spec('2001:db8::', 1.5, 1)).ok);
  t.false(rt.add({ dst: new Uint8Array(4), plen: 0, ifindex: 1, origin: 'static' }).ok);
  t.true(rt.add(spec('2001:db8::', 32, 1)).ok);
  const dup = rt.add(spec('2001:db8::5', 32, 1));
  t.false(dup.ok, 'same prefix after masking, same interface, no gateway');
  if (!dup.ok) t.regex(dup.error, /File exists/);
  t.is(rt.size, 1);
});

test('several routes per prefix: the first usable one wins; each can be deleted by gateway or interface', (t) => {
  const rt = new RouteTable6();
  const gw1 = in6('fe80::1');
  const gw2 = in6('fe80::2');
  t.true(rt.add(spec('::', 0, 1, { gateway: gw1 })).ok);
  t.true(rt.add(spec('::', 0, 1, { gateway: gw2 })).ok);
  t.true(rt.add(spec('::', 0, 2, { gateway: gw1 })).ok);
  t.is(rt.size, 3);
  t.is(formatIn6(rt.lookup(in6('2001:db8::1'))!.gateway!), 'fe80::1');
  // The usable filter skips routes whose interface is down, say.
  const viaGw2 = rt.lookup(in6('2001:db8::1'), 0, 0, (r) => formatIn6(r.gateway!) === 'fe80::2');
  t.is(viaGw2?.ifindex, 1);
  t.is(rt.lookup(in6('2001:db8::1'), 0, 0, (r) => r.ifindex === 2)?.ifindex, 2);
  t.is(rt.lookup(in6('2001:db8::1'), 0, 0, () => false), undefined);

  t.is(rt.delete(in6('::'), 0, { gateway: gw1, ifindex: 1 }), 1, 'exactly one');
  t.is(formatIn6(rt.lookup(in6('2001:db8::1'))!.gateway!), 'fe80::2');
  t.is(rt.delete(in6('::'), 0, { gateway: in6('fe80::3') }), 0, 'no such gateway');
  t.is(rt.delete(in6('::'), 0, { gateway: null }), 0, 'gateway null matches only direct routes');
  t.is(rt.delete(in6('::'), 0, { ifindex: 2 }), 1);
  t.is(rt.size, 1);
  t.is(rt.delete(in6('::'), 0), 1, 'no match criteria: all of the prefix');
  t.is(rt.size, 0);
  t.is(rt.lookup(in6('2001:db8::1')), undefined);
  t.is(rt.delete(in6('::'), 0), 0);
  t.deepEqual(rt.list(), []);
});

test('delete leaves other prefix lengths alone and matches the masked key', (t) => {
  const rt = table();
  t.is(rt.delete(in6('2001:db8:1:ffff::'), 48), 1, 'any address inside the prefix names it');
  t.is(show(rt.lookup(in6('2001:db8:1:3::6'))), '2001:db8::/32@2');
  t.is(show(rt.lookup(in6('2001:db8:1:2::6'))), '2001:db8:1:2::/64@4');
  t.is(rt.delete(in6('2001:db8:1::'), 48), 0);
});

test('deleteWhere removes every route through an interface', (t) => {
  const rt = table();
  t.true(rt.add(spec('2001:db8:5::', 48, 4)).ok);
  t.is(rt.deleteWhere((r) => r.ifindex === 4), 2);
  t.is(rt.size, 4);
  t.false(rt.list().some((r) => r.ifindex === 4));
});

test('expiry: a route stops matching at its expiresAt and a shorter one takes over', (t) => {
  const rt = table();
  t.true(rt.add(spec('2001:db8:7::', 48, 9, { expiresAt: 1000 })).ok);
  t.is(rt.lookup(in6('2001:db8:7::1'), 0, 999)?.ifindex, 9);
  t.is(rt.lookup(in6('2001:db8:7::1'), 0, 1000)?.ifindex, 2, 'expired at now === expiresAt');
  t.is(rt.find(in6('2001:db8:7::'), 48)?.ifindex, 9, 'still listed until deleted');
});

test('the table is bounded', (t) => {
  const rt = new RouteTable6(3);
  t.true(rt.add(spec('2001:db8:1::', 48, 1)).ok);
  t.true(rt.add(spec('2001:db8:2::', 48, 1)).ok);
  t.true(rt.add(spec('2001:db8:3::', 48, 1)).ok);
  const r = rt.add(spec('2001:db8:4::', 48, 1));
  t.false(r.ok);
  if (!r.ok) t.regex(r.error, /full/);
  t.is(rt.size, 3);
  t.is(rt.delete(in6('2001:db8:1::'), 48), 1);
  t.true(rt.add(spec('2001:db8:4::', 48, 1)).ok, 'room again after a delete');
});

test('list() is longest prefix first; find() is exact', (t) => {
  const rt = table();
  t.deepEqual(
    rt.list().map((r) => r.plen),
    [128, 64, 48, 32, 0],
  );
  t.is(rt.find(in6('2001:db8:1::'), 48)?.ifindex, 3);
  t.is(rt.find(in6('2001:db8:1::'), 48, 4), undefined);
  t.is(rt.find(in6('2001:db8:1::'), 56), undefined);
});

// ---- maskPrefix / prefixMatch against bit strings ------------------------------

const bits = (a: Uint8Array): string => Array.from(a, (x) => x.toString(2).padStart(8, '0')).join('');
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const plen = fc.integer({ min: 0, max: 128 });

test('maskPrefix keeps the first plen bits and clears the rest (property)', (t) => {
  fc.assert(
    fc.property(addr, plen, fc.integer({ min: 0, max: 8 }), (a, n, off) => {
      const buf = new Uint8Array(16 + off).fill(0xa5);
      buf.set(a, off);
      const m = maskPrefix(buf, n, off);
      return m.length === 16 && bits(m) === bits(a).slice(0, n) + '0'.repeat(128 - n) && bits(buf.subarray(off, off + 16)) === bits(a);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('prefixMatch agrees with comparing the first plen bits (property)', (t) => {
  // Pairs that share a random number of leading bits, so that matches and near misses are both common.
  const pair = fc.tuple(addr, addr, fc.integer({ min: 0, max: 128 })).map(([a, b, shared]) => {
    const c = b.slice();
    for (let i = 0; i < shared; i++) {
      const byte = i >>> 3;
      const m = 0x80 >>> (i & 7);
      c[byte] = (c[byte]! & ~m) | (a[byte]! & m);
    }
    return [a, c] as const;
  });
  fc.assert(
    fc.property(pair, plen, fc.integer({ min: 0, max: 8 }), ([a, p], n, off) => {
      const buf = new Uint8Array(off + 16);
      buf.set(a, off);
      return prefixMatch(buf, off, p, n) === (bits(a).slice(0, n) === bits(p).slice(0, n));
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('lookup agrees with a naive longest-prefix scan (property)', (t) => {
  const route = fc.record({ dst: addr, plen, ifindex: fc.integer({ min: 1, max: 4 }) });
  fc.assert(
    fc.property(fc.array(route, { maxLength: 30 }), fc.array(addr, { minLength: 1, maxLength: 10 }), (routes, probes) => {
      const rt = new RouteTable6();
      const kept: { dst: Uint8Array; plen: number; ifindex: number }[] = [];
      for (const r of routes) if (rt.add({ ...r, origin: 'static' }).ok) kept.push({ ...r, dst: maskPrefix(r.dst, r.plen) });
      for (const p of probes) {
        // Also probe inside each prefix.
        for (const q of [p, ...kept.map((k) => k.dst)]) {
          let best = -1;
          for (const k of kept) if (k.plen > best && bits(q).slice(0, k.plen) === bits(k.dst).slice(0, k.plen)) best = k.plen;
          const got = rt.lookup(q);
          if ((got?.plen ?? -1) !== best) return false;
        }
      }
      return rt.size === kept.length;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

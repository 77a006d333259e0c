/**
 * In6Map: a map keyed by (address bytes, zone), bucketed by a 32-bit hash.
 * Zones keep equal addresses apart; colliding hashes are told apart byte-wise.
 */
import test from 'ava';
import fc from 'fast-check';
import { SeededRng } from '../../src/core/rng.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { In6Map, in6Hash } from '../../src/ip6/in6map.ts';

test('set, get, has, delete and size', (t) => {
  const m = new In6Map<string>();
  t.is(m.size, 0);
  m.set(in6('2001:db8::1'), 0, 'a');
  m.set(in6('2001:db8::2'), 0, 'b');
  t.is(m.size, 2);
  t.is(m.get(in6('2001:db8::1')), 'a');
  t.true(m.has(in6('2001:db8::2')));
  t.is(m.get(in6('2001:db8::3')), undefined);
  m.set(in6('2001:db8::1'), 0, 'A');
  t.is(m.size, 2, 'replacing does not grow');
  t.is(m.get(in6('2001:db8::1')), 'A');
  t.true(m.delete(in6('2001:db8::1')));
  t.false(m.delete(in6('2001:db8::1')));
  t.is(m.size, 1);
  m.clear();
  t.is(m.size, 0);
  t.false(m.has(in6('2001:db8::2')));
});

test('zones keep the same address apart (fe80::1%1 and fe80::1%2)', (t) => {
  const m = new In6Map<number>();
  const a = in6('fe80::1');
  m.set(a, 1, 10);
  m.set(a, 2, 20);
  t.is(m.size, 2);
  t.is(m.get(a, 1), 10);
  t.is(m.get(a, 2), 20);
  t.is(m.get(a), undefined, 'zone 0 is a zone of its own');
  t.true(m.delete(a, 1));
  t.is(m.get(a, 2), 20);
  t.false(m.has(a, 1));
});

test('keys are copied; reads at an offset', (t) => {
  const m = new In6Map<string>();
  const a = in6('2001:db8::7');
  m.set(a, 0, 'x');
  a.fill(0);
  t.is(m.get(in6('2001:db8::7')), 'x', 'changing the caller array does not move the entry');
  const pkt = new Uint8Array(40);
  pkt.set(in6('2001:db8::7'), 24);
  t.is(m.get(pkt, 0, 24), 'x');
  m.set(pkt, 3, 'y', 24);
  t.is(m.get(in6('2001:db8::7'), 3), 'y');
  t.deepEqual(
    [...m.entries()].map(([k, z, v]) => `${formatIn6(k)}%${z}=${v}`).sort(),
    ['2001:db8::7%0=x', '2001:db8::7%3=y'],
  );
});

test('hash collisions: two addresses in one bucket stay distinct', (t) => {
  // Birthday search for two addresses with the same 32-bit hash (about 2^16 draws expected).
  const rng = new SeededRng(7);
  const seen = new Map<number, Uint8Array>();
  let pair: [Uint8Array, Uint8Array] | null = null;
  for (let i = 0; i < 2_000_000 && !pair; i++) {
    const a = rng.fill(new Uint8Array(16));
    const h = in6Hash(a, 0, 0);
    const b = seen.get(h);
    if (b && b.some((x, j) => x !== a[j])) pair = [b, a];
    else seen.set(h, a);
  }
  t.truthy(pair, 'found a collision');
  const [a, b] = pair!;
  t.is(in6Hash(a, 0, 0), in6Hash(b, 0, 0));
  const m = new In6Map<string>();
  m.set(a, 0, 'a');
  m.set(b, 0, 'b');
  t.is(m.size, 2);
  t.is(m.get(a), 'a');
  t.is(m.get(b), 'b');
  t.true(m.delete(a));
  t.is(m.get(a), undefined);
  t.is(m.get(b), 'b', 'the other entry of the bucket survives');
  t.is(m.size, 1);
  t.true(m.delete(b));
  t.is(m.size, 0);
});

test('behaves like a Map keyed by text (property)', (t) => {
  const key = fc.record({ a: fc.constantFrom('fe80::1', 'fe80::2', '2001:db8::1', '::', 'ff02::1'), z: fc.integer({ min: 0, max: 3 }) });
  const op = fc.oneof(
    fc.record({ k: fc.constant('set' as const), key, v: fc.integer() }),
    fc.record({ k: fc.constant('del' as const), key }),
    fc.record({ k: fc.constant('get' as const), key }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const m = new In6Map<number>();
      const model = new Map<string, number>();
      for (const o of ops) {
        const id = `${o.key.a}%${o.key.z}`;
        if (o.k === 'set') {
          m.set(in6(o.key.a), o.key.z, o.v);
          model.set(id, o.v);
        } else if (o.k === 'del') {
          if (m.delete(in6(o.key.a), o.key.z) !== model.delete(id)) return false;
        } else if (m.get(in6(o.key.a), o.key.z) !== model.get(id)) return false;
        if (m.size !== model.size) return false;
      }
      return [...m.values()].length === model.size;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

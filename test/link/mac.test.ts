import test from 'ava';
import fc from 'fast-check';
import { SeededRng } from '../../src/core/rng.ts';
import {
  BROADCAST_MAC,
  MAC_LEN,
  bytesEqualMac,
  formatMac,
  ip6MulticastMac,
  isBroadcastMac,
  isGroupMac,
  isZeroMac,
  macKey,
  parseMac,
  randomLocalMac,
} from '../../src/link/mac.ts';
import { holds } from '../helpers/link.ts';

const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 });

test('group, broadcast and zero predicates', (t) => {
  t.true(isGroupMac(BROADCAST_MAC));
  t.true(isBroadcastMac(BROADCAST_MAC));
  t.true(isGroupMac(new Uint8Array([0x33, 0x33, 0, 0, 0, 1])));
  t.false(isBroadcastMac(new Uint8Array([0x33, 0x33, 0, 0, 0, 1])));
  t.false(isBroadcastMac(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])));
  t.false(isGroupMac(new Uint8Array([0x02, 0, 0, 0, 0, 1])));
  t.true(isZeroMac(new Uint8Array(6)));
  t.false(isZeroMac(new Uint8Array([0, 0, 0, 0, 0, 1])));
});

test('predicates honour the offset', (t) => {
  const b = new Uint8Array([0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
  t.false(isGroupMac(b, 0));
  t.true(isGroupMac(b, 1));
  t.true(isBroadcastMac(b, 1));
  t.false(isBroadcastMac(b, 2));
  t.true(isZeroMac(new Uint8Array([9, 0, 0, 0, 0, 0, 0]), 1));
});

test('macKey is the 48-bit big-endian value and is injective', (t) => {
  t.is(macKey(new Uint8Array(6)), 0);
  t.is(macKey(BROADCAST_MAC), 2 ** 48 - 1);
  t.is(macKey(new Uint8Array([0x01, 0x02, 0x03, 0x04, 0x05, 0x06])), 0x010203040506);
  t.is(macKey(new Uint8Array([0xaa, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff]), 1), 0x800000000000);
  holds(
    t,
    fc.property(macArb, macArb, (a, b) => (macKey(a) === macKey(b)) === bytesEqualMac(a, 0, b)),
  );
  holds(
    t,
    fc.property(macArb, (a) => {
      const k = macKey(a);
      return Number.isSafeInteger(k) && k >= 0 && k < 2 ** 48;
    }),
  );
});

test('formatMac and parseMac roundtrip', (t) => {
  t.is(formatMac(new Uint8Array([0x02, 0x0a, 0xb0, 0, 0xff, 1])), '02:0a:b0:00:ff:01');
  t.is(formatMac(new Uint8Array([9, 9, 1, 2, 3, 4, 5, 6]), 2), '01:02:03:04:05:06');
  holds(
    t,
    fc.property(macArb, (m) => {
      const r = parseMac(formatMac(m));
      return r.ok && bytesEqualMac(r.value, 0, m);
    }),
  );
});

test('parseMac accepts dashes, single digits and surrounding spaces', (t) => {
  for (const s of ['2:a:b0:0:ff:1', '02-0a-b0-00-ff-01', '  02:0A:B0:00:FF:01 ']) {
    const r = parseMac(s);
    t.true(r.ok, s);
    if (r.ok) t.deepEqual([...r.value], [0x02, 0x0a, 0xb0, 0, 0xff, 1], s);
  }
});

test('parseMac rejects bad input with an Err, never a throw', (t) => {
  for (const s of ['', '02:00:00:00:00', '02:00:00:00:00:00:00', '02:00:00:00:00:100', 'g2:00:00:00:00:00', '02::00:00:00:00', '0x2:0:0:0:0:0', '+2:0:0:0:0:0']) {
    const r = parseMac(s);
    t.false(r.ok, s);
    if (!r.ok) t.regex(r.error, /not a MAC address/);
  }
  holds(
    t,
    fc.property(fc.string(), (s) => {
      const r = parseMac(s);
      return !r.ok || r.value.length === MAC_LEN;
    }),
  );
});

test('ip6MulticastMac maps the low 32 bits of the group (RFC 2464 §7)', (t) => {
  // ff02::1:ff12:3456
  const g = new Uint8Array(16);
  g[0] = 0xff;
  g[1] = 0x02;
  g[11] = 0x01;
  g[12] = 0xff;
  g[13] = 0x12;
  g[14] = 0x34;
  g[15] = 0x56;
  t.is(formatMac(ip6MulticastMac(g)), '33:33:ff:12:34:56');
  const big = new Uint8Array(20);
  big.set(g, 4);
  const out = new Uint8Array(6).fill(0xaa);
  t.is(ip6MulticastMac(big, 4, out), out);
  t.is(formatMac(out), '33:33:ff:12:34:56');
});

test('randomLocalMac is unicast and locally administered', (t) => {
  const rng = new SeededRng(7);
  for (let i = 0; i < 200; i++) {
    const m = randomLocalMac((b) => rng.fill(b));
    t.is(m.length, 6);
    t.false(isGroupMac(m));
    t.is(m[0]! & 0x02, 0x02);
  }
  const ones = randomLocalMac((b) => b.fill(0xff));
  t.is(ones[0], 0xfe);
});

test('bytesEqualMac compares at an offset', (t) => {
  const a = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
  t.true(bytesEqualMac(a, 1, new Uint8Array([1, 2, 3, 4, 5, 6])));
  t.false(bytesEqualMac(a, 2, new Uint8Array([1, 2, 3, 4, 5, 6])));
  t.false(bytesEqualMac(a, 1, new Uint8Array([1, 2, 3, 4, 5, 7])));
});

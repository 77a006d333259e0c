/**
 * Addresses at the boundary (RFC 4291 text, RFC 4007 §11 zones, RFC 5952
 * output) and the classification helpers of the data path.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  eui64FromMac,
  formatIn6,
  in6,
  in6Equal,
  isLinkLocal,
  isLoopback,
  isMulticast,
  isUnspecified,
  linkLocalFromMac,
  multicastScope,
  parseIn6,
  solicitedNode,
} from '../../src/ip6/addr.ts';

const hex = (a: Uint8Array) => Array.from(a, (x) => x.toString(16).padStart(2, '0')).join('');

test('parseIn6: plain addresses in every spelling', (t) => {
  const cases: [string, string][] = [
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:DB8::A', '20010db800000000000000000000000a'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['  fe80::1  ', 'fe800000000000000000000000000001'],
  ];
  for (const [text, bytes] of cases) {
    const r = parseIn6(text);
    t.true(r.ok, text);
    if (r.ok) {
      t.is(hex(r.value.addr), bytes, text);
      t.is(r.value.zone, null);
    }
  }
});

test('parseIn6: zones are returned as typed, for the caller to resolve', (t) => {
  const z = (s: string) => {
    const r = parseIn6(s);
    return r.ok ? [formatIn6(r.value.addr), r.value.zone] : r.error;
  };
  t.deepEqual(z('fe80::1%tap0'), ['fe80::1', 'tap0']);
  t.deepEqual(z('fe80::1%2'), ['fe80::1', '2']);
  t.deepEqual(z('ff02::1%vl0.5'), ['ff02::1', 'vl0.5']);
  t.regex(z('fe80::1%') as string, /bad zone/);
  t.regex(z('fe80::1%bad zone') as string, /bad zone/);
  t.regex(z('fe80::1%0123456789abcdef') as string, /bad zone/, 'longer than an interface name');
  t.regex(z('fe80::1%a%b') as string, /bad zone/);
});

test('parseIn6 refuses prefixes and junk with a reason, never throws', (t) => {
  const prefix = parseIn6('2001:db8::/32');
  t.false(prefix.ok);
  if (!prefix.ok) t.regex(prefix.error, /prefix, not an address/);
  for (const junk of ['', 'hello', '1.2.3.4', ':::', '::1::2', '2001:db8:::1', '12345::', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', 'g::1', ':1::', '1:', '::1.2.3', '::ffff:1.2.3.400', '2001:db8::1 x']) {
    const r = parseIn6(junk);
    t.false(r.ok, JSON.stringify(junk));
    if (!r.ok) t.true(r.error.includes(`'${junk}'`), `the reason quotes the input: ${r.error}`);
  }
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (s) => {
      const r = parseIn6(s);
      return r.ok ? r.value.addr.length === 16 : typeof r.error === 'string';
    }),
    { numRuns: 2000 },
  );
  t.throws(() => in6('nope'), { message: /not an IPv6 address/ });
});

test('formatIn6 follows RFC 5952', (t) => {
  const cases: [string, string][] = [
    // §4.1 leading zeros suppressed; §4.3 lower case.
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    // §4.2.1 '::' shortens as much as possible.
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    // §4.2.2 not for a single 16-bit 0 field.
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
    // §4.2.3 the longest run; the first when runs tie.
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:1:0:0:0:0', '0:0:0:1::'],
    ['0:0:1:0:0:0:1:0', '0:0:1::1:0'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    // §5: IPv4-mapped addresses end in dotted decimal.
    ['0:0:0:0:0:ffff:c000:201', '::ffff:192.0.2.1'],
  ];
  for (const [input, want] of cases) t.is(formatIn6(in6(input)), want, input);
  // At an offset into a packet.
  const b = new Uint8Array(40);
  b.set(in6('2001:db8::99'), 24);
  t.is(formatIn6(b, 24), '2001:db8::99');
});

test('formatIn6 and parseIn6 round-trip every address (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => {
      const text = formatIn6(a);
      const r = parseIn6(text);
      return r.ok && hex(r.value.addr) === hex(a) && text === text.toLowerCase() && !/(^|:)0[0-9a-f]/.test(text) && !text.includes(':::');
    }),
    { numRuns: 3000 },
  );
  // Runs of zeros: the interesting cases for '::'.
  const groups = fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 });
  fc.assert(
    fc.property(groups, (g) => {
      const a = new Uint8Array(16);
      g.forEach((v, i) => {
        a[2 * i] = v >>> 8;
        a[2 * i + 1] = v & 0xff;
      });
      const text = formatIn6(a);
      const r = parseIn6(text);
      return r.ok && hex(r.value.addr) === hex(a) && (text.match(/::/g) ?? []).length <= 1;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('EUI-64 link-local address from a MAC (RFC 4291 Appendix A): ff:fe inserted, U/L bit inverted', (t) => {
  const mac = Uint8Array.of(0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e);
  t.is(hex(eui64FromMac(mac)), '021b21fffe3c4d5e');
  t.is(formatIn6(linkLocalFromMac(mac)), 'fe80::21b:21ff:fe3c:4d5e');
  t.is(formatIn6(linkLocalFromMac(Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a))), 'fe80::ff:fe00:a', 'a locally administered MAC loses its U/L bit');
  t.deepEqual(Array.from(mac), [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e], 'the MAC is not modified');
});

test('solicited-node group (RFC 4291 §2.7.1): ff02::1:ff and the low 24 bits', (t) => {
  t.is(formatIn6(solicitedNode(in6('2001:db8::1234:5678'))), 'ff02::1:ff34:5678');
  t.is(formatIn6(solicitedNode(in6('fe80::21b:21ff:fe3c:4d5e'))), 'ff02::1:ff3c:4d5e');
  t.is(formatIn6(solicitedNode(in6('::'))), 'ff02::1:ff00:0');
  const b = new Uint8Array(40);
  b.set(in6('2001:db8::abcd:ef01'), 24);
  t.is(formatIn6(solicitedNode(b, 24)), 'ff02::1:ffcd:ef01');
});

test('classification helpers, also at an offset', (t) => {
  t.true(isUnspecified(in6('::')));
  t.false(isUnspecified(in6('::1')));
  t.true(isLoopback(in6('::1')));
  t.false(isLoopback(in6('::')));
  t.false(isLoopback(in6('1::1')));
  t.true(isMulticast(in6('ff02::1')));
  t.false(isMulticast(in6('fe80::1')));
  t.true(isLinkLocal(in6('fe80::1')));
  t.true(isLinkLocal(in6('febf:ffff::1')), 'fe80::/10 ends at febf');
  t.false(isLinkLocal(in6('fec0::1')), 'site-local is not link-local');
  t.false(isLinkLocal(in6('fe00::1')));
  t.is(multicastScope(in6('ff01::1')), 1);
  t.is(multicastScope(in6('ff02::1')), 2);
  t.is(multicastScope(in6('ff15::1')), 5, 'flags do not leak into the scope');
  t.is(multicastScope(in6('ff3e::1')), 0xe);
  const b = new Uint8Array(56);
  b.set(in6('fe80::5'), 8);
  b.set(in6('ff02::1'), 24);
  t.true(isLinkLocal(b, 8));
  t.true(isMulticast(b, 24));
  t.is(multicastScope(b, 24), 2);
  t.true(in6Equal(b, 8, in6('fe80::5')));
  t.false(in6Equal(b, 24, in6('ff02::2')));
  t.true(isUnspecified(b, 40));
});

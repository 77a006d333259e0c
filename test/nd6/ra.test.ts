/**
 * Router Advertisement wire format (src/nd6/ra.ts): parseRa against raBody()
 * and against options encoded by hand (test/helpers/router.ts), the option
 * walk limit, malformed options, and fast-check properties: round trip, and
 * no input ever makes the parser throw.
 */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { in6 } from '../../src/ip6/addr.ts';
import { type PrefixInfo, RA_FIXED_LEN, type RaEmit, type RaRepr, decodePreference, parseRa, raBody, rsBody } from '../../src/nd6/ra.ts';
import { holds } from '../helpers/link.ts';
import { ICMP_RA, INFINITE, OPT, PRF, concat, dnsNames, dnsslOpt, pioOpt, rawOpt, rdnssOpt, rioOpt } from '../helpers/router.ts';

const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xee);

/** The RA message: the 4-byte ICMPv6 header (checksum left 0: parseRa does not look at it) and the body. */
function msg(body: Uint8Array, ...extra: Uint8Array[]): Uint8Array {
  return concat(Uint8Array.of(ICMP_RA, 0, 0, 0), body, ...extra);
}

/** The fixed part only (no options) with the given fields. */
function fixed(r: Partial<RaEmit> = {}): Uint8Array {
  return raBody({ routerLifetime: 1800, ...r });
}

function parse(m: Uint8Array, maxOptions?: number) {
  return parseRa(m, 0, m.length, maxOptions);
}

function okRa(t: { fail(m: string): void }, m: Uint8Array, maxOptions?: number): RaRepr {
  const r = parse(m, maxOptions);
  if (!r.ok) {
    t.fail(`parseRa: ${r.error}`);
    throw new Error(r.error);
  }
  return r.value;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Plain data for deepEqual: byte arrays become hex strings. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return hex(x);
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  return x;
}

/** What parseRa should return for an RA emitted by raBody(r). */
function expected(r: RaEmit): RaRepr {
  return {
    curHopLimit: r.curHopLimit ?? 64,
    managed: r.managed ?? false,
    other: r.other ?? false,
    preference: r.preference ?? 0,
    routerLifetime: r.routerLifetime,
    reachableTime: r.reachableTime ?? 0,
    retransTimer: r.retransTimer ?? 0,
    srcLl: r.srcLl ?? null,
    mtu: r.mtu ?? null,
    prefixes: r.prefixes ?? [],
    routes: (r.routes ?? []).map((x) => ({ ...x, reservedPrf: false })),
    rdnss: r.rdnss ?? [],
    dnssl: [],
    unknownOptions: 0,
  };
}

test('raBody → parseRa: every field of the fixed part and every option raBody writes', (t) => {
  const r: RaEmit = {
    curHopLimit: 42,
    managed: true,
    other: true,
    preference: 1,
    routerLifetime: 9000,
    reachableTime: 30_000,
    retransTimer: 1234,
    srcLl: MAC,
    mtu: 1400,
    prefixes: [
      { prefix: in6('2001:db8:1::'), plen: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 },
      { prefix: in6('2001:db8:2::'), plen: 48, onLink: false, autonomous: false, validLifetime: INFINITE, preferredLifetime: 0 },
    ],
    routes: [{ prefix: in6('2001:db8:100::'), plen: 48, preference: -1, lifetime: 600 }],
    rdnss: [{ lifetime: 300, servers: [in6('2001:db8::53'), in6('2001:db8::54')] }],
  };
  const body = raBody(r);
  t.is(body.length, 12 + 8 + 8 + 64 + 24 + 40, 'fixed 12 + SLLA + MTU + 2 PIO + RIO + RDNSS(2)');
  // Fixed part, byte by byte (RFC 4861 §4.2, RFC 4191 §2.2).
  t.is(body[0], 42);
  t.is(body[1], 0x80 | 0x40 | (PRF.HIGH << 3));
  t.deepEqual([...body.subarray(2, 12)], [0x23, 0x28, 0, 0, 0x75, 0x30, 0, 0, 0x04, 0xd2]);
  const v = okRa(t, msg(body));
  t.deepEqual(plain(v), plain(expected(r)));
});

test('the fixed part: low and medium preference, all zeros, all ones', (t) => {
  t.is(okRa(t, msg(fixed({ preference: -1 }))).preference, -1);
  t.is(okRa(t, msg(fixed({ preference: 0 }))).preference, 0);
  const zero = okRa(t, msg(new Uint8Array(12)));
  t.like(zero, { curHopLimit: 0, managed: false, other: false, preference: 0, routerLifetime: 0, reachableTime: 0, retransTimer: 0, srcLl: null, mtu: null });
  const ones = okRa(t, msg(new Uint8Array(12).fill(0xff)));
  // Prf bits 11 = low; the reserved bits (H, P, Rsv) are ignored.
  t.like(ones, { curHopLimit: 255, managed: true, other: true, preference: -1, routerLifetime: 0xffff, reachableTime: 0xffffffff, retransTimer: 0xffffffff });
});

test('reserved preference 10: medium for the router (RFC 4191 §2.2); a Route Information option says it is reserved (§3.1)', (t) => {
  const b = fixed();
  b[1] = PRF.RESERVED << 3;
  t.is(okRa(t, msg(b)).preference, 0);
  t.is(decodePreference(PRF.RESERVED), 0);
  t.is(decodePreference(PRF.HIGH), 1);
  t.is(decodePreference(PRF.LOW), -1);
  const v = okRa(
    t,
    msg(
      fixed(),
      rioOpt({ prefix: in6('2001:db8:a::'), plen: 48, prf: PRF.RESERVED, lifetime: 60 }),
      rioOpt({ prefix: in6('2001:db8:b::'), plen: 48, prf: PRF.HIGH, lifetime: 60 }),
      rioOpt({ prefix: in6('2001:db8:c::'), plen: 48, prf: PRF.LOW, lifetime: 60 }),
      rioOpt({ prefix: in6('2001:db8:d::'), plen: 48, prf: PRF.MEDIUM, lifetime: 60 }),
    ),
  );
  t.deepEqual(
    v.routes.map((r) => [r.preference, r.reservedPrf]),
    [
      [0, true],
      [1, false],
      [-1, false],
      [0, false],
    ],
  );
});

test('Route Information: prefix lengths 0/48/64/128 with option lengths 1, 2 and 3', (t) => {
  const p = in6('2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff');
  const cases: { plen: number; len: number; prefix: string }[] = [
    { plen: 0, len: 1, prefix: '' },
    { plen: 0, len: 2, prefix: '20010db8aaaabbbb' },
    { plen: 0, len: 3, prefix: hex(p) },
    { plen: 48, len: 2, prefix: '20010db8aaaabbbb' },
    { plen: 48, len: 3, prefix: hex(p) },
    { plen: 64, len: 2, prefix: '20010db8aaaabbbb' },
    { plen: 64, len: 3, prefix: hex(p) },
    { plen: 128, len: 3, prefix: hex(p) },
  ];
  for (const c of cases) {
    const v = okRa(t, msg(fixed(), rioOpt({ prefix: p, plen: c.plen, len: c.len, prf: PRF.HIGH, lifetime: 0x01020304 })));
    t.is(v.routes.length, 1);
    const r = v.routes[0]!;
    // The prefix is always 16 bytes; what the option did not carry is zero.
    t.is(hex(r.prefix), c.prefix.padEnd(32, '0'), `plen ${c.plen} len ${c.len}`);
    t.is(r.plen, c.plen);
    t.is(r.lifetime, 0x01020304);
    t.is(r.preference, 1);
  }
});

test('Route Information with a length that cannot hold its prefix, or above 3: badOptionLength', (t) => {
  const p = in6('2001:db8::');
  const bad = [
    rioOpt({ prefix: p, plen: 1, len: 1, lifetime: 1 }),
    rioOpt({ prefix: p, plen: 48, len: 1, lifetime: 1 }),
    rioOpt({ prefix: p, plen: 65, len: 2, lifetime: 1 }),
    rioOpt({ prefix: p, plen: 128, len: 2, lifetime: 1 }),
    rioOpt({ prefix: p, plen: 129, len: 3, lifetime: 1 }),
    rioOpt({ prefix: p, plen: 255, len: 3, lifetime: 1 }),
    rioOpt({ prefix: p, plen: 48, len: 4, lifetime: 1 }),
  ];
  for (const o of bad) t.deepEqual(parse(msg(fixed(), o)), { ok: false, error: 'badOptionLength' }, `plen ${o[2]} len ${o[1]}`);
});

test('RDNSS with one and three servers; DNSSL with several names', (t) => {
  const s = [in6('2001:db8::1'), in6('2001:db8::2'), in6('2001:db8::3')];
  const names = ['example.com', 'corp.example.org', 'a.b.c.d', 'x'];
  const v = okRa(t, msg(fixed(), rdnssOpt(100, s.slice(0, 1)), rdnssOpt(200, s), dnsslOpt(300, names), dnsslOpt(INFINITE, ['only.one'])));
  t.deepEqual(
    v.rdnss.map((d) => [d.lifetime, d.servers.map(hex)]),
    [
      [100, [hex(s[0]!)]],
      [200, s.map(hex)],
    ],
  );
  t.deepEqual(v.dnssl, [
    { lifetime: 300, domains: names },
    { lifetime: INFINITE, domains: ['only.one'] },
  ]);
  // 63-octet labels are the longest allowed (RFC 1035 §2.3.4).
  const long = 'l'.repeat(63);
  t.deepEqual(okRa(t, msg(fixed(), dnsslOpt(1, [`${long}.example`]))).dnssl[0]!.domains, [`${long}.example`]);
  // A list of padding only carries no names.
  t.deepEqual(okRa(t, msg(fixed(), dnsslOpt(1, new Uint8Array(8)))).dnssl[0]!.domains, []);
});

test('RDNSS and DNSSL with bad lengths or malformed names: badOptionLength', (t) => {
  const bad: [string, Uint8Array][] = [
    ['RDNSS length 1', rawOpt(OPT.RDNSS, 1)],
    ['RDNSS length 2 (half an address)', rawOpt(OPT.RDNSS, 2)],
    ['RDNSS length 4', rawOpt(OPT.RDNSS, 4)],
    ['DNSSL length 1', rawOpt(OPT.DNSSL, 1)],
    ['DNSSL label of 64', dnsslOpt(1, concat(Uint8Array.of(64), new Uint8Array(71)))],
    ['DNSSL name running past the option', dnsslOpt(1, Uint8Array.of(3, 0x61, 0x62, 0x63, 5, 0x61, 0x62, 0x63))],
    ['DNSSL name without its final zero label', dnsslOpt(1, Uint8Array.of(7, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65))],
  ];
  for (const [what, o] of bad) t.deepEqual(parse(msg(fixed(), o)), { ok: false, error: 'badOptionLength' }, what);
});

test('PIO and MTU need their exact lengths; SLLA of length 2 keeps 6 bytes; unknown options are skipped and counted', (t) => {
  for (const [what, o] of [
    ['PIO length 3', rawOpt(OPT.PIO, 3)],
    ['PIO length 5', rawOpt(OPT.PIO, 5)],
    ['MTU length 2', rawOpt(OPT.MTU, 2)],
  ] as const) {
    t.deepEqual(parse(msg(fixed(), o)), { ok: false, error: 'badOptionLength' }, what);
  }
  const slla = rawOpt(OPT.SLLA, 2);
  slla.set(MAC, 2);
  const v = okRa(t, msg(fixed(), slla, rawOpt(200, 1), rawOpt(OPT.RHDR, 3), rawOpt(OPT.TLLA, 1)));
  t.is(hex(v.srcLl!), hex(MAC));
  t.is(v.unknownOptions, 3);
  // PIO written by hand, flags and lifetimes at their offsets.
  const w = okRa(t, msg(fixed(), pioOpt({ prefix: in6('2001:db8:5::'), plen: 56, L: false, A: true, valid: 7, preferred: 6 })));
  t.deepEqual(plain(w.prefixes), plain([{ plen: 56, onLink: false, autonomous: true, validLifetime: 7, preferredLifetime: 6, prefix: in6('2001:db8:5::') }]));
});

test('too short, or beyond the buffer: badLength', (t) => {
  t.deepEqual(parseRa(new Uint8Array(15), 0, 15), { ok: false, error: 'badLength' });
  const m = msg(fixed());
  t.is(m.length, RA_FIXED_LEN);
  t.true(parse(m).ok);
  t.deepEqual(parseRa(m, 0, 17), { ok: false, error: 'badLength' }, 'len past the end of the buffer');
  t.deepEqual(parseRa(m, 1, 16), { ok: false, error: 'badLength' }, 'offset + len past the end');
});

test('zero-length and truncated options', (t) => {
  t.deepEqual(parse(msg(fixed(), rawOpt(OPT.MTU, 0, 8))), { ok: false, error: 'optZeroLength' });
  t.deepEqual(parse(msg(fixed(), rawOpt(OPT.SLLA, 1), rawOpt(200, 0, 8))), { ok: false, error: 'optZeroLength' }, 'after a good one');
  t.deepEqual(parse(msg(fixed(), rawOpt(OPT.PIO, 4, 16))), { ok: false, error: 'optTruncated' }, 'says 32 bytes, has 16');
  t.deepEqual(parse(msg(fixed(), Uint8Array.of(OPT.SLLA))), { ok: false, error: 'optTruncated' }, 'one byte left');
  // Bytes past `len` do not count: the same option cut by len is truncated.
  const m = msg(fixed(), pioOpt({ prefix: in6('2001:db8::'), valid: 1, preferred: 1 }));
  t.deepEqual(parseRa(m, 0, m.length - 8), { ok: false, error: 'optTruncated' });
});

test('the option walk limit: 10 options pass, 11 are optTooMany (KAME nd6_maxndopt)', (t) => {
  const ten = Array.from({ length: 10 }, () => rawOpt(200, 1));
  t.is(okRa(t, msg(fixed(), ...ten)).unknownOptions, 10);
  t.is(okRa(t, msg(fixed(), ...ten), 10).unknownOptions, 10);
  t.deepEqual(parse(msg(fixed(), ...ten, rawOpt(200, 1)), 10), { ok: false, error: 'optTooMany' });
  t.deepEqual(parse(msg(fixed(), ...ten, rawOpt(200, 1))), { ok: false, error: 'optTooMany' }, 'the default limit is 10');
  // The limit counts options, whatever they are: 11 valid PIOs as well.
  const pios = Array.from({ length: 11 }, (_, i) => pioOpt({ prefix: in6(`2001:db8:${i}::`), valid: 1, preferred: 1 }));
  t.deepEqual(parse(msg(fixed(), ...pios), 10), { ok: false, error: 'optTooMany' });
  t.is(okRa(t, msg(fixed(), ...pios), 11).prefixes.length, 11);
});

test('parsing at an offset inside a larger buffer reads only [off, off+len)', (t) => {
  const m = msg(fixed({ curHopLimit: 7 }), rdnssOpt(5, [in6('2001:db8::53')]));
  const big = new Uint8Array(m.length + 40).fill(0xff);
  big.set(m, 13);
  const r = parseRa(big, 13, m.length);
  t.true(r.ok);
  if (r.ok) {
    t.is(r.value.curHopLimit, 7);
    t.is(hex(r.value.rdnss[0]!.servers[0]!), hex(in6('2001:db8::53')));
  }
  // The 0xff bytes after the message would be an option of length 255 if they were read.
  t.deepEqual(parseRa(big, 13, m.length + 2), { ok: false, error: 'optTruncated' });
});

test('rsBody: 4 reserved bytes, then the source link-layer option when there is a source address', (t) => {
  t.deepEqual([...rsBody(null)], [0, 0, 0, 0]);
  t.deepEqual([...rsBody(MAC)], [0, 0, 0, 0, OPT.SLLA, 1, ...MAC]);
});

// ---- properties --------------------------------------------------------------

const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const pref = fc.constantFrom<-1 | 0 | 1>(-1, 0, 1);
const prefixInfo: fc.Arbitrary<PrefixInfo> = fc.record({
  prefix: bytes16,
  plen: fc.integer({ min: 0, max: 255 }),
  onLink: fc.boolean(),
  autonomous: fc.boolean(),
  validLifetime: u32,
  preferredLifetime: u32,
});
const raEmit: fc.Arbitrary<RaEmit> = fc.record({
  curHopLimit: fc.integer({ min: 0, max: 255 }),
  managed: fc.boolean(),
  other: fc.boolean(),
  preference: pref,
  routerLifetime: fc.integer({ min: 0, max: 0xffff }),
  reachableTime: u32,
  retransTimer: u32,
  srcLl: fc.option(fc.uint8Array({ minLength: 6, maxLength: 6 }), { nil: null }),
  mtu: fc.option(u32, { nil: undefined }),
  prefixes: fc.array(prefixInfo, { maxLength: 3 }),
  routes: fc.array(fc.record({ prefix: bytes16, plen: fc.integer({ min: 0, max: 128 }), preference: pref, lifetime: u32 }), { maxLength: 3 }),
  rdnss: fc.array(fc.record({ lifetime: u32, servers: fc.array(bytes16, { minLength: 1, maxLength: 3 }) }), { maxLength: 2 }),
});

test('property: parseRa(raBody(r)) gives r back, also at an offset', (t) => {
  holds(
    t,
    fc.property(raEmit, fc.integer({ min: 0, max: 9 }), (r, off) => {
      const m = msg(raBody(r));
      const big = new Uint8Array(off + m.length + 8).fill(0xff);
      big.set(m, off);
      const got = parseRa(big, off, m.length, 64);
      if (!got.ok) return false;
      return isDeepStrictEqual(plain(got.value), plain(expected(r)));
    }),
  );
});

test('property: DNSSL names survive the trip through the wire form', (t) => {
  const label = fc.stringMatching(/^[a-z0-9-]{1,63}$/);
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
  holds(
    t,
    fc.property(fc.array(name, { minLength: 1, maxLength: 4 }), (names) => {
      const r = parse(msg(fixed(), dnsslOpt(1, names)));
      return r.ok && JSON.stringify(r.value.dnssl[0]!.domains) === JSON.stringify(names) && dnsNames(names).length % 8 === 0;
    }),
  );
});

test('property: random bytes never make parseRa throw', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(310), fc.nat(310), fc.integer({ min: 0, max: 20 }), (b, off, len, max) => {
      const r = parseRa(b, off, len, max);
      return typeof r.ok === 'boolean';
    }),
    { numRuns: 2000 },
  );
});

test('property: a valid header followed by random option bytes never throws', (t) => {
  // Options that start well-formed are more likely to reach deep into the decoders.
  const opt = fc
    .tuple(fc.constantFrom(1, 2, 3, 4, 5, 24, 25, 31, 99), fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 48 }))
    .map(([type, len, data]) => {
      const o = new Uint8Array(Math.max(2, Math.min(len * 8, data.length + 2)));
      o[0] = type;
      o[1] = len;
      o.set(data.subarray(0, o.length - 2), 2);
      return o;
    });
  holds(
    t,
    fc.property(fc.array(opt, { maxLength: 12 }), (opts) => {
      const m = msg(fixed(), ...opts);
      const r = parseRa(m, 0, m.length);
      return typeof r.ok === 'boolean';
    }),
    { numRuns: 2000 },
  );
});

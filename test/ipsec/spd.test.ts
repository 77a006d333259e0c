/**
 * The SPD: selectors, the deterministic evaluation order (priority, then
 * specificity, then id — whatever the insertion order), the KAME system
 * defaults, per-socket policies, the request text form, the inbound check,
 * isEmpty and the bound.
 */
import test from 'ava';
import fc from 'fast-check';
import { PktFlag } from '../../src/core/pkt.ts';
import { in6 } from '../../src/ip6/addr.ts';
import type { SocketIpsecPolicy } from '../../src/udp/udp.ts';
import {
  ANY,
  BYPASS_OUT,
  DISCARD_OUT,
  type FlowKey,
  type PolicySpec,
  type SocketPolicyLike,
  PRIORITY_HIGH,
  PRIORITY_LOW,
  Spd,
  compare,
  fillFlow,
  formatRequest,
  parseRequest,
  parseSocketPolicy,
} from '../../src/ipsec/spd.ts';

const P = (s: string) => in6(s);
const flow = (src: string, dst: string, proto = 17, sport = 1000, dport = 53): FlowKey => ({ src: P(src), dst: P(dst), proto, sport, dport });
const esp = [{ proto: 'esp' as const, level: 'require' as const }];

test('selectors: prefixes, protocol, ports, ICMPv6 type and code, direction', (t) => {
  const spd = new Spd();
  const a = spd.add({ selector: { dir: 'out', dst: P('2001:db8:1::'), dstPlen: 48 }, action: 'ipsec', requests: esp });
  const b = spd.add({ selector: { dir: 'out', src: P('2001:db8:9::1'), dst: P('2001:db8:2::'), dstPlen: 64, proto: 6, dport: 22 }, action: 'discard' });
  const c = spd.add({ selector: { dir: 'in', proto: 58, icmpType: 128 }, action: 'none' });
  const d = spd.add({ selector: { dir: 'in', proto: 58, icmpType: 1, icmpCode: 4 }, action: 'discard' });
  t.true(a.ok && b.ok && c.ok && d.ok);
  if (!(a.ok && b.ok && c.ok && d.ok)) return;
  t.is(spd.lookup('out', flow('2001:db8::5', '2001:db8:1:ff::1')), a.value);
  t.is(spd.lookup('out', flow('2001:db8::5', '2001:db8:3::1')), BYPASS_OUT, 'no match: def_policy none');
  t.is(spd.lookup('in', flow('2001:db8::5', '2001:db8:1::1')), spd.lookup('in', flow('::1', '::2')), 'direction matters');
  t.is(spd.lookup('out', flow('2001:db8:9::1', '2001:db8:2::7', 6, 5555, 22)), b.value);
  t.not(spd.lookup('out', flow('2001:db8:9::1', '2001:db8:2::7', 6, 5555, 23)), b.value, 'port');
  t.not(spd.lookup('out', flow('2001:db8:9::1', '2001:db8:2::7', 17, 5555, 22)), b.value, 'protocol');
  t.not(spd.lookup('out', flow('2001:db8:9::2', '2001:db8:2::7', 6, 5555, 22)), b.value, 'source /128');
  t.is(spd.lookup('in', flow('fe80::1', 'fe80::2', 58, 128, 0)), c.value, 'type 128, any code');
  t.is(spd.lookup('in', flow('fe80::1', 'fe80::2', 58, 1, 4)), d.value);
  t.not(spd.lookup('in', flow('fe80::1', 'fe80::2', 58, 1, 3)), d.value, 'code');
  t.is(a.value.hits, 1);
});

test('selector validation', (t) => {
  const spd = new Spd();
  const bad: [PolicySpec, RegExp][] = [
    [{ selector: { dir: 'out', sport: 80 }, action: 'none' }, /ports need/],
    [{ selector: { dir: 'out', proto: 17, icmpType: 1 }, action: 'none' }, /ICMPv6 type/],
    [{ selector: { dir: 'out', proto: 58, dport: 1 }, action: 'none' }, /no ports/],
    [{ selector: { dir: 'out', proto: 58, icmpCode: 1 }, action: 'none' }, /needs a type/],
    [{ selector: { dir: 'out', proto: 6, dport: 70000 }, action: 'none' }, /port/],
    [{ selector: { dir: 'out', dst: P('::1'), dstPlen: 129 }, action: 'none' }, /prefix length/],
    [{ selector: { dir: 'out' }, action: 'ipsec' }, /at least one request/],
    [{ selector: { dir: 'out' }, action: 'none', requests: esp }, /takes no requests/],
    [{ selector: { dir: 'out' }, action: 'ipsec', requests: [{ proto: 'esp', mode: 'tunnel' }] }, /both endpoints/],
    [{ selector: { dir: 'out' }, action: 'ipsec', requests: [{ proto: 'esp', level: 'use', reqid: 3 }] }, /unique/],
    [{ selector: { dir: 'out' }, action: 'none', priority: -1 }, /priority/],
  ];
  for (const [spec, re] of bad) {
    const r = spd.add(spec);
    t.false(r.ok);
    if (!r.ok) t.regex(r.error, re);
  }
  t.is(spd.size, 0);
  const any = spd.add({ selector: { dir: 'out', proto: 255 }, action: 'none' });
  t.true(any.ok && any.value.proto === ANY, "setkey's any (255)");
});

test('evaluation order: priority first, then specificity, then the older entry', (t) => {
  const spd = new Spd();
  const add = (s: PolicySpec) => {
    const r = spd.add(s);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };
  const wide = add({ selector: { dir: 'out' }, action: 'discard' });
  const host = add({ selector: { dir: 'out', dst: P('2001:db8::1') }, action: 'ipsec', requests: esp });
  const net = add({ selector: { dir: 'out', dst: P('2001:db8::'), dstPlen: 32 }, action: 'none' });
  const udpNet = add({ selector: { dir: 'out', dst: P('2001:db8::'), dstPlen: 32, proto: 17 }, action: 'none' });
  const high = add({ selector: { dir: 'out' }, action: 'none', priority: PRIORITY_HIGH });
  const low = add({ selector: { dir: 'out', dst: P('2001:db8::1') }, action: 'discard', priority: PRIORITY_LOW });
  const host2 = add({ selector: { dir: 'out', dst: P('2001:db8::1') }, action: 'discard' });
  t.deepEqual(
    spd.list('out').map((p) => p.id),
    [high, host, host2, udpNet, net, wide, low].map((p) => p.id),
  );
  t.is(spd.lookup('out', flow('::', '2001:db8::1')), high);
  spd.delete(high.id);
  t.is(spd.lookup('out', flow('::', '2001:db8::1')), host, 'a /128 over a /32; the older of two equal entries');
  t.is(spd.lookup('out', flow('::', '2001:db8::2', 17)), udpNet);
  t.is(spd.lookup('out', flow('::', '2001:db8::2', 6)), net);
  t.is(spd.lookup('out', flow('::', '2001:db9::2', 6)), wide);
});

test('entries that differ in priority or specificity sort the same whatever the insertion order', (t) => {
  const specs: PolicySpec[] = [
    { selector: { dir: 'out' }, action: 'discard' },
    { selector: { dir: 'out', dst: P('2001:db8::1') }, action: 'none' },
    { selector: { dir: 'out', dst: P('2001:db8::'), dstPlen: 64 }, action: 'none' },
    { selector: { dir: 'out', dst: P('2001:db8::'), dstPlen: 64, src: P('2001:db8:f::'), srcPlen: 48 }, action: 'none' },
    { selector: { dir: 'out', proto: 17, dport: 53 }, action: 'none' },
    { selector: { dir: 'out', proto: 17 }, action: 'none' },
    { selector: { dir: 'out', proto: 58, icmpType: 135, icmpCode: 0 }, action: 'none', priority: PRIORITY_HIGH },
    { selector: { dir: 'out', dst: P('2001:db8::1') }, action: 'none', priority: PRIORITY_LOW },
  ];
  // Describe an entry by its content (ids differ between runs).
  const key = (s: { src: Uint8Array; srcPlen: number; dst: Uint8Array; dstPlen: number; proto: number; sport: number; dport: number; priority: number }) =>
    `${s.priority}/${s.srcPlen}/${s.dstPlen}/${s.proto}/${s.sport}/${s.dport}/${s.dst[15]}`;
  const reference = (() => {
    const spd = new Spd();
    specs.forEach((s) => spd.add(s));
    return spd.list('out').map(key);
  })();
  fc.assert(
    fc.property(fc.shuffledSubarray(specs, { minLength: specs.length, maxLength: specs.length }), (perm) => {
      const spd = new Spd();
      perm.forEach((s) => spd.add(s));
      const got = spd.list('out');
      for (let i = 1; i < got.length; i++) if (compare(got[i - 1]!, got[i]!) >= 0) return false;
      return got.map(key).join() === reference.join();
    }),
  );
  t.pass();
});

test("system defaults: def_policy and the default levels (KAME's sysctls)", (t) => {
  const spd = new Spd();
  t.true(spd.isEmpty());
  t.true(spd.setDefault('def_policy', 0).ok);
  t.false(spd.isEmpty(), 'def_policy discard makes IPsec matter with no entry');
  t.is(spd.lookup('out', flow('::', '2001:db8::1')), DISCARD_OUT);
  t.true(spd.setDefault('def_policy', 'none').ok);
  t.true(spd.isEmpty());
  const r = parseRequest('esp/transport//default');
  const tun = parseRequest('esp/tunnel/2001:db8::1-2001:db8::2/');
  const ah = parseRequest('ah/transport//');
  const ahTun = parseRequest('ah/tunnel/2001:db8::1-2001:db8::2/default');
  if (!(r.ok && tun.ok && ah.ok && ahTun.ok)) return t.fail();
  t.is(spd.levelOf(r.value), 'use');
  t.true(spd.setDefault('esp_trans_deflev', 2).ok);
  t.is(spd.levelOf(r.value), 'require');
  t.is(spd.levelOf(tun.value), 'use', 'esp_net_deflev');
  t.true(spd.setDefault('esp_net_deflev', 'require').ok);
  t.is(spd.levelOf(tun.value), 'require');
  t.true(spd.setDefault('ah_trans_deflev', 2).ok);
  t.is(spd.levelOf(ah.value), 'require');
  t.is(spd.levelOf(ahTun.value), 'use');
  t.false(spd.setDefault('ah_net_deflev', 3).ok);
  t.false(spd.setDefault('def_policy', 2).ok);
  const req = parseRequest('esp/transport//use');
  if (req.ok) t.is(spd.levelOf(req.value), 'use', 'an explicit level wins');
  const ipcomp = parseRequest('ipcomp/transport//');
  if (ipcomp.ok) t.is(spd.levelOf(ipcomp.value), 'use');
});

test('request text: parse, format, errors', (t) => {
  const cases: [string, string][] = [
    ['esp/transport//require', 'esp/transport//require'],
    ['esp/transport', 'esp/transport//default'],
    ['ah/transport//unique:7', 'ah/transport//unique:7'],
    ['esp/tunnel/2001:db8::1-2001:db8:0::2/use', 'esp/tunnel/2001:db8::1-2001:db8::2/use'],
    ['ipcomp/transport//use', 'ipcomp/transport//use'],
  ];
  for (const [text, out] of cases) {
    const r = parseRequest(text);
    t.true(r.ok, text);
    if (r.ok) t.is(formatRequest(r.value), out);
  }
  const u = parseRequest('ah/transport//unique:7');
  if (u.ok) t.like(u.value, { level: 'unique', reqid: 7 });
  for (const bad of ['esp', 'gre/transport//', 'esp/beet//', 'esp/transport//must', 'esp/tunnel//require', 'esp/tunnel/2001:db8::1/use', 'esp/tunnel/x-y/use', 'esp/transport/::1-::2/use']) {
    t.false(parseRequest(bad).ok, bad);
  }
  t.false(parseSocketPolicy([]).ok);
  t.true(parseSocketPolicy(['esp/transport//require', 'ah/transport//require']).ok);
});

test('per-socket policy: bypass, entrust, default, ipsec (cached), malformed fails closed', (t) => {
  // UDP's socket policy type is accepted as it is (checked by tsc).
  const fromUdp: SocketIpsecPolicy = { kind: 'ipsec', requests: ['esp/transport//require'] };
  const asSpd: SocketPolicyLike = fromUdp;
  t.is(asSpd.kind, 'ipsec');
  const spd = new Spd();
  const sys = spd.add({ selector: { dir: 'out', dst: P('2001:db8::1') }, action: 'ipsec', requests: esp });
  if (!sys.ok) return t.fail();
  const f = flow('2001:db8::9', '2001:db8::1');
  t.is(spd.resolve('out', f, { kind: 'bypass' }), BYPASS_OUT);
  t.is(spd.resolve('out', f, { kind: 'entrust' }), sys.value);
  t.is(spd.resolve('out', f, { kind: 'default' }), sys.value);
  t.is(spd.resolve('out', f, null), sys.value);
  const requests = ['ah/transport//require'];
  const p = spd.resolve('out', f, { kind: 'ipsec', requests });
  t.is(p.action, 'ipsec');
  t.deepEqual(
    p.requests.map((r) => r.proto),
    ['ah'],
  );
  t.is(spd.resolve('out', flow('::1', '::2'), { kind: 'ipsec', requests }), p, 'parsed once per request list');
  t.is(spd.resolve('in', f, { kind: 'ipsec', requests }).dir, 'in');
  t.is(spd.resolve('out', f, { kind: 'ipsec', requests: ['esp/bogus'] }), DISCARD_OUT);
  // With def_policy discard, a bypass socket still talks in the clear.
  spd.setDefault('def_policy', 'discard');
  t.is(spd.resolve('out', flow('::1', '::2'), { kind: 'bypass' }), BYPASS_OUT);
});

test('inbound check (RFC 4301 §5.2): cleartext under require is refused; use accepts both', (t) => {
  const spd = new Spd();
  const mk = (requests: string[]) => spd.resolve('in', flow('::1', '::2'), { kind: 'ipsec', requests });
  const reqEsp = mk(['esp/transport//require']);
  t.false(spd.inboundAllowed(reqEsp, 0));
  t.true(spd.inboundAllowed(reqEsp, PktFlag.DECRYPTED));
  t.false(spd.inboundAllowed(reqEsp, PktFlag.AUTHED), 'AH does not satisfy an ESP requirement');
  const bundle = mk(['esp/transport//require', 'ah/transport//unique:3']);
  t.false(spd.inboundAllowed(bundle, PktFlag.DECRYPTED));
  t.true(spd.inboundAllowed(bundle, PktFlag.DECRYPTED | PktFlag.AUTHED));
  const use = mk(['ipcomp/transport//require', 'esp/transport//use']);
  t.true(spd.inboundAllowed(use, 0), 'use and IPComp never refuse');
  const dflt = mk(['esp/transport//default']);
  t.true(spd.inboundAllowed(dflt, 0));
  spd.setDefault('esp_trans_deflev', 'require');
  t.false(spd.inboundAllowed(dflt, 0), 'default follows esp_trans_deflev');
  t.false(spd.inboundAllowed(spd.resolve('in', flow('::1', '::2'), { kind: 'ipsec', requests: ['nonsense'] }), PktFlag.DECRYPTED));
});

test('isEmpty, flush, findExact, delete; the SPD is bounded', (t) => {
  const spd = new Spd({ maxEntries: 2 });
  t.true(spd.isEmpty());
  const a = spd.add({ selector: { dir: 'in', proto: 17, dport: 500 }, action: 'none' });
  t.false(spd.isEmpty());
  spd.add({ selector: { dir: 'out', proto: 17, sport: 500 }, action: 'none' });
  const full = spd.add({ selector: { dir: 'out' }, action: 'none' });
  t.false(full.ok);
  if (!full.ok) t.regex(full.error, /full/);
  t.deepEqual(
    spd.findExact({ dir: 'in', proto: 17, dport: 500 }).map((p) => p.id),
    [a.ok ? a.value.id : -1],
  );
  t.deepEqual(spd.findExact({ dir: 'in', proto: 17, dport: 501 }), []);
  t.true(spd.delete(a.ok ? a.value.id : -1));
  t.false(spd.delete(12345));
  t.is(spd.size, 1);
  t.is(spd.flush(), 1);
  t.true(spd.isEmpty());
});

test('fillFlow reads ports, ICMPv6 type and code, and nothing past the buffer', (t) => {
  const f = flow('::', '::');
  const src = P('2001:db8::1');
  const dst = P('2001:db8::2');
  fillFlow(f, src, dst, 17, Uint8Array.of(0, 0, 0x04, 0xd2, 0x16, 0x2e, 0, 8), 2);
  t.like(f, { proto: 17, sport: 1234, dport: 5678 });
  fillFlow(f, src, dst, 58, Uint8Array.of(135, 0), 0);
  t.like(f, { proto: 58, sport: 135, dport: 0 });
  fillFlow(f, src, dst, 6, Uint8Array.of(1, 2), 0);
  t.like(f, { proto: 6, sport: ANY, dport: ANY });
  t.is(f.src, src);
});

test('IPComp must come before ESP and AH in a request list (compression before encryption)', (t) => {
  const bad = parseSocketPolicy(['esp/transport//require', 'ipcomp/transport//use']);
  t.false(bad.ok);
  t.regex(bad.ok ? '' : bad.error, /ipcomp must come before esp/);
  t.true(parseSocketPolicy(['ipcomp/transport//use', 'esp/transport//require']).ok);
  t.true(parseSocketPolicy(['ipcomp/transport//use', 'ah/transport//require']).ok);
  t.false(parseSocketPolicy(['ah/transport//require', 'ipcomp/transport//use']).ok);
});

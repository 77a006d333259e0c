/**
 * ECN and hop limit in IPsec tunnels (src/ipsec/ecn.ts): RFC 6040's
 * encapsulation in KAME's three modes and its decapsulation table, every
 * row, first on the functions, then through a tap6 stack that receives
 * tunnel-mode ESP from a peer built here (an Ipsec object holding the same
 * SA, whose outer ECN field the test sets after protection — the outer
 * header is outside ESP's integrity check, as on a real path). The outer
 * hop limit of what tap6 sends is the stack's default hop limit; the inner
 * one is unchanged.
 */
import test from 'ava';
import { in6Cksum } from '../../src/core/checksum.ts';
import { type Pkt } from '../../src/core/pkt.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { emitIp6 } from '../../src/ip6/header.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import { ECN_CE, ECN_ECT0, ECN_ECT1, ECN_NOT_ECT, type EcnMode, ecnDecapsulate, ecnEncapsulate, parseEcnMode, trafficClassAt } from '../../src/ipsec/ecn.ts';
import { Ipsec } from '../../src/ipsec/ipsec.ts';
import { ipsecOutput } from '../../src/ipsec/output.ts';
import type { Ifnet } from '../../src/link/ifnet.ts';
import { applySetkey } from '../../tools/setkey-run.ts';
import { ETHERTYPE_IPV6, RAW_MAC, etherFrame, makeNet, settle } from '../helpers/stack.ts';
import { ESP_SUITES, ipsec, saPair } from './helpers.ts';

const NAMES = ['Not-ECT', 'ECT(1)', 'ECT(0)', 'CE'];
const ALL = [ECN_NOT_ECT, ECN_ECT1, ECN_ECT0, ECN_CE];

/** RFC 6040 Figure 4: [inner][outer] -> the inner ECN field after decapsulation, or 'drop'. */
const FIG4: Record<number, Record<number, number | 'drop'>> = {
  [ECN_NOT_ECT]: { [ECN_NOT_ECT]: ECN_NOT_ECT, [ECN_ECT0]: ECN_NOT_ECT, [ECN_ECT1]: ECN_NOT_ECT, [ECN_CE]: 'drop' },
  [ECN_ECT0]: { [ECN_NOT_ECT]: ECN_ECT0, [ECN_ECT0]: ECN_ECT0, [ECN_ECT1]: ECN_ECT1, [ECN_CE]: ECN_CE },
  [ECN_ECT1]: { [ECN_NOT_ECT]: ECN_ECT1, [ECN_ECT0]: ECN_ECT1, [ECN_ECT1]: ECN_ECT1, [ECN_CE]: ECN_CE },
  [ECN_CE]: { [ECN_NOT_ECT]: ECN_CE, [ECN_ECT0]: ECN_CE, [ECN_ECT1]: ECN_CE, [ECN_CE]: ECN_CE },
};
/** The combinations §4.2 marks '(!!!)' (the drop is counted as a drop). */
const ANOMALY = new Set([`${ECN_NOT_ECT}/${ECN_ECT0}`, `${ECN_NOT_ECT}/${ECN_ECT1}`, `${ECN_CE}/${ECN_ECT1}`]);

function header(tc: number): Uint8Array {
  const b = new Uint8Array(40);
  emitIp6({ trafficClass: tc, flowLabel: 0xabcde, payloadLen: 0, nextHeader: 59, hopLimit: 9, src: new Uint8Array(16), dst: new Uint8Array(16) }, b, 0);
  return b;
}

test('parseEcnMode: words, RFC 6040 names and KAME numbers; anything else refused', (t) => {
  for (const [v, m] of [
    ['allowed', 'allowed'],
    ['normal', 'allowed'],
    [1, 'allowed'],
    ['1', 'allowed'],
    ['forbidden', 'forbidden'],
    ['compatibility', 'forbidden'],
    [0, 'forbidden'],
    ['nocare', 'nocare'],
    [-1, 'nocare'],
    ['-1', 'nocare'],
  ] as const) {
    t.is(parseEcnMode(v), m, String(v));
  }
  for (const v of ['', 'yes', 2, '01', 'constructor']) t.is(parseEcnMode(v), null, String(v));
  t.throws(() => new Ipsec({ clock: ipsec().clock, rng: ipsec().rng, ecn: 'bogus' as EcnMode }), { message: /allowed, forbidden or nocare/ });
  const x = ipsec();
  t.is(x.ecn, 'allowed', 'default: RFC 6040 normal mode');
  t.deepEqual(x.setEcn(-1), { ok: true, value: 'nocare' });
  t.false(x.setEcn('maybe').ok);
  t.is(x.ecn, 'nocare');
});

test('encapsulation: DSCP always copied; ECN copied (allowed, nocare) or cleared (forbidden)', (t) => {
  for (const dscp of [0, 0x2e, 0x3f]) {
    for (const ecn of ALL) {
      const tc = (dscp << 2) | ecn;
      t.is(ecnEncapsulate('allowed', tc), tc);
      t.is(ecnEncapsulate('nocare', tc), tc);
      t.is(ecnEncapsulate('forbidden', tc), dscp << 2, `forbidden: DSCP ${dscp} kept, ${NAMES[ecn]} -> Not-ECT`);
    }
  }
});

test('decapsulation: every row of RFC 6040 §4.2 in modes allowed and forbidden; nocare leaves the inner alone', (t) => {
  for (const mode of ['allowed', 'forbidden'] as const) {
    for (const inner of ALL) {
      for (const outer of ALL) {
        const b = header((0x2e << 2) | inner);
        const r = ecnDecapsulate(mode, (0x0a << 2) | outer, b, 0);
        const want = FIG4[inner]![outer]!;
        const what = `${mode}: inner ${NAMES[inner]}, outer ${NAMES[outer]}`;
        if (want === 'drop') {
          t.is(r, 'drop', what);
          continue;
        }
        t.is(trafficClassAt(b, 0), (0x2e << 2) | want, `${what} -> ${NAMES[want]}, inner DSCP kept`);
        t.is(b[0]! >>> 4, 6, 'version untouched');
        t.is(((b[1]! & 0x0f) << 16) | (b[2]! << 8) | b[3]!, 0xabcde, 'flow label untouched');
        const kind = ANOMALY.has(`${inner}/${outer}`) ? 'anomaly' : want === ECN_CE && inner !== ECN_CE ? 'ce' : want !== inner ? 'ect1' : 'unchanged';
        t.is(r, kind, what);
      }
    }
  }
  for (const inner of ALL) {
    for (const outer of ALL) {
      const b = header(inner);
      t.is(ecnDecapsulate('nocare', outer, b, 0), 'unchanged');
      t.is(trafficClassAt(b, 0), inner);
    }
  }
});

test('ipsecOutput: the outer header of a tunnel takes the ECN mode, tunnelHlim and flow label 0; the inner keeps its own', (t) => {
  const tx = ipsec();
  const rx = ipsec();
  const s = ESP_SUITES[7]!; // NULL + HMAC: the inner packet is readable
  const gw1 = in6('2001:db8:ffff::1');
  const gw2 = in6('2001:db8:ffff::2');
  const { out } = saPair(tx, rx, { spi: 0x7000, proto: 'esp', mode: 'tunnel', src: gw1, dst: gw2, enc: s.enc, encKey: s.encKey, auth: s.auth, authKey: s.authKey });
  const tc = (0x12 << 2) | ECN_ECT0;
  for (const [mode, outerTc] of [
    ['allowed', tc],
    ['forbidden', 0x12 << 2],
    ['nocare', tc],
  ] as const) {
    const p = unwrap(ipsecOutput(tx, [out], { src: in6('2001:db8:1::a'), dst: in6('2001:db8:2::b'), nxt: 59, payload: new Uint8Array(0), hlim: 17, trafficClass: tc, flowLabel: 0x12345, tunnelHlim: 99, ecn: mode })).packet;
    t.is(trafficClassAt(p, 0), outerTc, `${mode}: outer traffic class`);
    t.is(p[7], 99, 'outer hop limit');
    t.is(((p[1]! & 0x0f) << 16) | (p[2]! << 8) | p[3]!, 0, 'outer flow label 0');
    const inner = 40 + 8; // ESP header, no IV with NULL
    t.is(trafficClassAt(p, inner), tc, 'inner traffic class unchanged');
    t.is(p[inner + 7], 17, 'inner hop limit unchanged');
  }
});

// ---- through a stack ------------------------------------------------------------------------------

const A = '2001:db8::a';
const P = '2001:db8::b';
const A2 = '2001:db8:1::a';
const P2 = '2001:db8:2::b';

/** tap6 (h0) at A/A2 with an ESP tunnel from P to A carrying P2 -> A2 UDP, and the peer's SA in `peer`. */
function tunnelRig(t: import('ava').ExecutionContext, mode: EcnMode) {
  const net = makeNet({ hosts: 1, seed: 5 });
  const h = net.hosts[0]!;
  unwrap(h.s.ip6.addAddress(h.ifp, in6(A), 64, { flags: IN6_IFF.NODAD }));
  unwrap(h.s.ip6.addAddress(h.ifp, in6(A2), 64, { flags: IN6_IFF.NODAD }));
  unwrap(h.s.ip6.routes.add({ dst: in6('2001:db8:2::'), plen: 64, ifindex: h.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
  unwrap(h.s.ipsec.setEcn(mode));
  const peer = ipsec();
  const s = ESP_SUITES[0]!;
  const { out } = saPair(peer, h.s.ipsec, { spi: 0x5000, proto: 'esp', mode: 'tunnel', src: in6(P), dst: in6(A), enc: s.enc, encKey: s.encKey, auth: s.auth, authKey: s.authKey });
  const o = applySetkey(h.s, `spdadd ${P2} ${A2} udp -P in ipsec esp/tunnel/${P}-${A}/require;`);
  t.is(o.error, undefined);
  const got: Buffer[] = [];
  const sock = h.s.dgram.createSocket('udp6');
  sock.on('message', (m) => got.push(m));
  sock.bind(9000, A2);
  t.teardown(() => sock.close());
  // What ip6 input sees: the outer packets from the link and the inner ones after decapsulation.
  const inputs: Uint8Array[] = [];
  const ip6 = h.s.ip6;
  const orig = ip6.input.bind(ip6);
  ip6.input = (ifp: Ifnet, pkt: Pkt) => {
    inputs.push(pkt.data().slice());
    orig(ifp, pkt);
  };
  /** Sends one UDP datagram inner ECN `inner`, outer ECN `outer`; returns the inner traffic class ip6 input saw (or null). */
  const send = async (inner: number, outer: number, n: number): Promise<number | null> => {
    const udp = new Uint8Array(8 + 16);
    udp[0] = 0x9c;
    udp[1] = 0x40 + n;
    udp[2] = 0x23;
    udp[3] = 0x28; // port 9000
    udp[5] = udp.length;
    udp.fill(n, 8);
    const ck = in6Cksum(udp, 0, udp.length, 17, in6(P2), in6(A2));
    udp[6] = ck >>> 8;
    udp[7] = ck & 0xff;
    const pkt = unwrap(ipsecOutput(peer, [out], { src: in6(P2), dst: in6(A2), nxt: 17, payload: udp, hlim: 64, trafficClass: (0x08 << 2) | inner, ecn: 'nocare' })).packet;
    pkt[1] = (pkt[1]! & 0xcf) | (outer << 4); // the path marks the outer header
    inputs.length = 0;
    net.raw.send(etherFrame(h.mac, RAW_MAC, ETHERTYPE_IPV6, pkt));
    net.run();
    await new Promise<void>((resolve) => setImmediate(resolve)); // socket events
    const innerSeen = inputs.find((b) => b[6] === 17);
    return innerSeen ? trafficClassAt(innerSeen, 0) : null;
  };
  return { h, got, send };
}

for (const mode of ['allowed', 'forbidden', 'nocare'] as const) {
  test(`tap6 decapsulating ESP tunnel mode, ecn ${mode}: all sixteen ECN combinations, delivered or dropped and counted`, async (t) => {
    const r = tunnelRig(t, mode);
    let n = 0;
    let delivered = 0;
    for (const inner of ALL) {
      for (const outer of ALL) {
        const seen = await r.send(inner, outer, n++);
        const want = mode === 'nocare' ? inner : FIG4[inner]![outer]!;
        const what = `inner ${NAMES[inner]}, outer ${NAMES[outer]}`;
        if (want === 'drop') {
          t.is(seen, null, `${what}: dropped before ip6 input of the inner packet`);
          continue;
        }
        delivered++;
        t.is(seen, (0x08 << 2) | want, `${what} -> ${NAMES[want]}`);
        t.is(r.got.length, delivered, `${what}: delivered to the socket`);
      }
    }
    const c = r.h.s.ipsec.stats.c;
    if (mode === 'nocare') t.like(c, { inEcnDrop: 0, inEcnCe: 0, inEcnAnomaly: 0, inSuccess: 16 });
    else t.like(c, { inEcnDrop: 1, inEcnCe: 2, inEcnAnomaly: 3, inSuccess: 16, inPolvio: 0 });
  });
}

test('hop limits: a tunnel outer header carries the stack default hop limit (net.inet6.ip6.hlim), the inner one the interface hop limit', async (t) => {
  const net = makeNet({ hosts: 2, seed: 9 });
  const [h0, h1] = net.hosts as [(typeof net.hosts)[0], (typeof net.hosts)[0]];
  const B = '2001:db8::c';
  const B2 = '2001:db8:2::c';
  for (const [h, own, inner, peerNet] of [
    [h0!, A, A2, '2001:db8:2::'],
    [h1!, B, B2, '2001:db8:1::'],
  ] as const) {
    unwrap(h.s.ip6.addAddress(h.ifp, in6(own), 64, { flags: IN6_IFF.NODAD }));
    unwrap(h.s.ip6.addAddress(h.ifp, in6(inner), 64, { flags: IN6_IFF.NODAD }));
    unwrap(h.s.ip6.routes.add({ dst: in6(peerNet), plen: 64, ifindex: h.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
  }
  const s = ESP_SUITES[7]!; // NULL + HMAC-SHA1: the inner header is readable on the wire
  const algs = `-E null -A hmac-sha1 0x${Buffer.from(s.authKey).toString('hex')}`;
  const sas = `add ${A} ${B} esp 0x2000 -m tunnel ${algs};\nadd ${B} ${A} esp 0x2001 -m tunnel ${algs};\n`;
  t.is(applySetkey(h0!.s, `${sas}spdadd ${A2} ${B2} any -P out ipsec esp/tunnel/${A}-${B}/require;\nspdadd ${B2} ${A2} any -P in ipsec esp/tunnel/${B}-${A}/require;`).error, undefined);
  t.is(applySetkey(h1!.s, `${sas}spdadd ${B2} ${A2} any -P out ipsec esp/tunnel/${B}-${A}/require;\nspdadd ${A2} ${B2} any -P in ipsec esp/tunnel/${A}-${B}/require;`).error, undefined);
  h0!.s.ip6.defaultHopLimit = 77; // the default only; the interface keeps 64
  net.raw.clear();
  const res = await settle(
    net.clock,
    h0!.s.ping({ dst: in6(B2), src: in6(A2), seq: 1, timeoutMs: 1000 }).catch(() => null),
  );
  t.truthy(res, 'ping6 through the tunnel answered');
  const esp = net.raw.frames.filter((f) => f.ip6?.nxt === 50 && f.ethSrc[5] === h0!.mac[5]);
  t.true(esp.length >= 1);
  for (const f of esp) {
    t.is(f.ip6!.hlim, 77, 'outer: the stack default');
    t.is(f.ip6!.payload[8 + 7], 64, 'inner: the interface hop limit of a locally originated packet');
  }
});

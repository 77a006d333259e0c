/**
 * IPComp (RFC 3173, DEFLATE per RFC 2394; src/ipsec/ipcomp.ts): the header
 * and the compression rules on their own (well-known and raw CPIs, short and
 * incompressible payloads sent as they are, corrupt data, decompression
 * past the IPv6 limit, IPComp in IPComp), then between two tap6 stacks on
 * the virtual link keyed with setkey text: transport and tunnel mode,
 * IPComp under ESP, uncompressed packets under an IPComp policy (RFC 3173
 * §2.2), and hostile packets injected from a raw port, each counted.
 */
import test, { type ExecutionContext } from 'ava';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { toHex } from '../../src/core/bytes.ts';
import { in6Cksum } from '../../src/core/checksum.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import { IPCOMP_HDR_LEN, IPCOMP_MINLEN, IPPROTO_IPCOMP, ipcompCompress, ipcompDecompress } from '../../src/ipsec/ipcomp.ts';
import type { Stack } from '../../src/stack.ts';
import { applySetkey, formatOutcome } from '../../tools/setkey-run.ts';
import { ETHERTYPE_IPV6, type Host, type Net, RAW_MAC, etherFrame, ip6Packet, makeNet, settle } from '../helpers/stack.ts';
import { ESP_SUITES, ipsec } from './helpers.ts';

/** Compressible bytes: a short phrase repeated. */
function text(n: number): Uint8Array {
  const phrase = Buffer.from('the quick brown fox jumps over the lazy dog; ');
  return Uint8Array.from({ length: n }, (_, i) => phrase[i % phrase.length]!);
}

/** Incompressible bytes (a fixed pseudo-random sequence). */
function noise(n: number, seed = 7): Uint8Array {
  let x = seed >>> 0 || 1;
  return Uint8Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  });
}

// ---- the header and the rules ---------------------------------------------------------------------

test('ipcompCompress: header (next header, flags 0, CPI), raw DEFLATE that zlib inflates; well-known CPI 2 unless raw', (t) => {
  const x = ipsec();
  const wk = unwrap(x.sad.add({ spi: 0x1234, proto: 'ipcomp', src: in6('2001:db8::a'), dst: in6('2001:db8::b') }));
  const raw = unwrap(x.sad.add({ spi: 0x4321, proto: 'ipcomp', src: in6('2001:db8::a'), dst: in6('2001:db8::c'), cpiRaw: true }));
  t.is(wk.cpi, 2);
  t.is(raw.cpi, 0x4321);
  const data = text(1000);
  for (const [sa, cpi] of [
    [wk, 2],
    [raw, 0x4321],
  ] as const) {
    const z = ipcompCompress(x, sa, data, 17)!;
    t.truthy(z);
    t.deepEqual([...z.subarray(0, 4)], [17, 0, cpi >> 8, cpi & 0xff]);
    t.true(z.length < data.length / 5, `compressed to ${z.length} bytes`);
    t.deepEqual(new Uint8Array(inflateRawSync(z.subarray(IPCOMP_HDR_LEN))), data, 'an independent inflate gets the payload back');
    const back = unwrap(ipcompDecompress(x, z, 0, z.length, 65535));
    t.is(back.nxt, 17);
    t.deepEqual(new Uint8Array(back.data), data);
  }
  t.like(x.stats.c, { outIpcomp: 2, inIpcomp: 2 });
  t.is(wk.packets + raw.packets, 2, 'counted on the SA');
});

test('ipcompCompress: shorter than 90 bytes, or not smaller once compressed: sent as it is, and counted', (t) => {
  const x = ipsec();
  const sa = unwrap(x.sad.add({ spi: 0x1234, proto: 'ipcomp', src: in6('2001:db8::a'), dst: in6('2001:db8::b') }));
  t.is(ipcompCompress(x, sa, text(IPCOMP_MINLEN - 1), 58), null);
  t.is(x.stats.c.outIpcompSmall, 1);
  t.truthy(ipcompCompress(x, sa, text(IPCOMP_MINLEN), 58), '90 bytes of text do compress');
  t.is(ipcompCompress(x, sa, noise(1200), 58), null);
  t.is(x.stats.c.outIpcompIncompressible, 1);
  t.is(x.stats.c.outIpcomp, 1);
});

test('ipcompDecompress: corrupt or truncated data, an expansion past the limit, IPComp in IPComp: dropped and counted', (t) => {
  const x = ipsec();
  const hdr = (nxt: number, body: Uint8Array) => Uint8Array.from([nxt, 0, 0, 2, ...body]);
  const good = deflateRawSync(text(2000));
  t.deepEqual(ipcompDecompress(x, hdr(17, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x00)), 0, 9, 65535), { ok: false, error: 'inIpcompBadData' });
  t.deepEqual(ipcompDecompress(x, hdr(17, good.subarray(0, 10)), 0, 14, 65535), { ok: false, error: 'inIpcompBadData' }, 'truncated');
  // 70,000 zero bytes compress to under 100: inflating them would pass 65,535.
  const bomb = deflateRawSync(new Uint8Array(70_000));
  t.true(bomb.length < 200);
  const pb = hdr(17, bomb);
  t.deepEqual(ipcompDecompress(x, pb, 0, pb.length, 65535), { ok: false, error: 'inIpcompTooBig' });
  const ok2000 = hdr(17, good);
  t.deepEqual(ipcompDecompress(x, ok2000, 0, ok2000.length, 1999), { ok: false, error: 'inIpcompTooBig' }, 'the limit is the room left in the packet');
  t.true(ipcompDecompress(x, ok2000, 0, ok2000.length, 2000).ok);
  t.deepEqual(ipcompDecompress(x, hdr(IPPROTO_IPCOMP, good), 0, good.length + 4, 65535), { ok: false, error: 'inIpcompNested' });
  t.deepEqual(ipcompDecompress(x, Uint8Array.of(17, 0, 0), 0, 3, 65535), { ok: false, error: 'inBadLength' });
  t.like(x.stats.c, { inIpcompBadData: 2, inIpcompTooBig: 2, inIpcompNested: 1, inBadLength: 1, inIpcomp: 1 });
});

test('SAD: IPComp SAs are keyed by a 16-bit CPI, take no keys, and are found by (wire CPI, destination)', (t) => {
  const x = ipsec();
  const a = in6('2001:db8::a');
  const b = in6('2001:db8::b');
  t.regex(String(x.sad.add({ spi: 0x10000, proto: 'ipcomp', src: a, dst: b }).ok === false && 'refused'), /refused/);
  t.deepEqual(x.sad.add({ spi: 0, proto: 'ipcomp', src: a, dst: b }), { ok: false, error: 'IPComp CPI 0 outside 1..65535' });
  t.false(x.sad.add({ spi: 300, proto: 'ipcomp', src: a, dst: b, enc: 'null' }).ok);
  t.false(x.sad.add({ spi: 3, proto: 'ipcomp', src: a, dst: b, cpiRaw: true }).ok, 'raw CPI 3 is LZS');
  t.false(x.sad.add({ spi: 300, proto: 'esp', src: a, dst: b, enc: 'null', auth: 'hmac-sha1-96', authKey: new Uint8Array(20), calg: 'deflate' }).ok);
  const sa = unwrap(x.sad.add({ spi: 2, proto: 'ipcomp', src: a, dst: b }));
  t.is(sa.replay.size, 0, 'no replay window');
  t.is(x.sad.lookupIpcompIn(2, b), sa);
  t.is(x.sad.lookupIpcompIn(3, b), undefined);
  t.is(x.sad.lookupIpcompIn(2, a), undefined);
  t.is(x.sad.get(2, b, 'ipcomp'), sa);
  t.true(x.sad.delete(2, b, 'ipcomp'));
  t.is(x.sad.lookupIpcompIn(2, b), undefined);
});

// ---- between two stacks ---------------------------------------------------------------------------

const A = '2001:db8::a';
const B = '2001:db8::b';
const A2 = '2001:db8:1::a';
const B2 = '2001:db8:2::b';

interface Rig {
  net: Net;
  h0: Host;
  h1: Host;
}

function rig(): Rig {
  const net = makeNet({ hosts: 2, seed: 11 });
  const [h0, h1] = net.hosts as [Host, Host];
  for (const [h, own, inner, peerNet] of [
    [h0, A, A2, '2001:db8:2::'],
    [h1, B, B2, '2001:db8:1::'],
  ] as const) {
    unwrap(h.s.ip6.addAddress(h.ifp, in6(own), 64, { flags: IN6_IFF.NODAD }));
    unwrap(h.s.ip6.addAddress(h.ifp, in6(inner), 64, { flags: IN6_IFF.NODAD }));
    unwrap(h.s.ip6.routes.add({ dst: in6(peerNet), plen: 64, ifindex: h.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
  }
  return { net, h0, h1 };
}

function setkey(t: ExecutionContext, s: Stack, txt: string): void {
  const r = applySetkey(s, txt);
  t.is(r.error, undefined, JSON.stringify(r.error));
}

/** Policies on both hosts: `out` requests from each host to the other, and the mirror image in. */
function policies(t: ExecutionContext, r: Rig, reqs: (from: string, to: string) => string, sel: [string, string] = [A, B]): void {
  const [x, y] = sel;
  const gw = (h: 0 | 1) => (h === 0 ? [A, B] : [B, A]) as [string, string];
  setkey(t, r.h0.s, `spdadd ${x} ${y} any -P out ipsec ${reqs(...gw(0))};\nspdadd ${y} ${x} any -P in ipsec ${reqs(...gw(1))};`);
  setkey(t, r.h1.s, `spdadd ${y} ${x} any -P out ipsec ${reqs(...gw(1))};\nspdadd ${x} ${y} any -P in ipsec ${reqs(...gw(0))};`);
}

function ipcompSas(t: ExecutionContext, r: Rig, mode: 'transport' | 'tunnel', extra = ''): void {
  const sas = `add ${A} ${B} ipcomp 0x3000 -m ${mode} -C deflate ${extra};\nadd ${B} ${A} ipcomp 0x3001 -m ${mode} -C deflate ${extra};`;
  setkey(t, r.h0.s, sas);
  setkey(t, r.h1.s, sas);
}

function echoServer(t: ExecutionContext, h: Host, addr: string): void {
  const s = h.s.dgram.createSocket('udp6');
  s.on('message', (m, ri) => s.send(m, ri.port, ri.address));
  s.bind(7, addr);
  t.teardown(() => s.close());
}

async function udpRoundTrip(r: Rig, src: string, dst: string, data: Uint8Array): Promise<Uint8Array | null> {
  const c = r.h0.s.dgram.createSocket('udp6');
  c.bind(0, src);
  const got = new Promise<Uint8Array | null>((resolve) => {
    const tm = r.net.clock.timer(1000, () => resolve(null));
    c.once('message', (m) => {
      tm.cancel();
      resolve(new Uint8Array(m));
    });
  });
  c.send(data, 7, dst);
  const v = await settle(r.net.clock, got);
  c.close();
  return v;
}

async function ping(r: Rig, dst: string, src: string, size: number, seq = 1): Promise<boolean> {
  return (await settle(r.net.clock, r.h0.s.ping({ dst: in6(dst), src: in6(src), seq, size, timeoutMs: 1000 }).catch(() => null))) !== null;
}

/** IPv6 packets on the wire from `src` to `dst`. */
function wire(r: Rig, src: string, dst: string) {
  return r.net.raw.frames.filter((f) => f.ip6 && toHex(f.ip6.src) === toHex(in6(src)) && toHex(f.ip6.dst) === toHex(in6(dst))).map((f) => f.ip6!);
}

test('transport mode: a compressible UDP echo goes compressed both ways (CPI 2 on the wire); short and incompressible ones in the clear, accepted', async (t) => {
  const r = rig();
  ipcompSas(t, r, 'transport');
  policies(t, r, () => 'ipcomp/transport//use');
  echoServer(t, r.h1, B);
  const data = text(1200);
  t.deepEqual(await udpRoundTrip(r, A, B, data), data, 'echoed');
  const there = wire(r, A, B).filter((p) => p.nxt === IPPROTO_IPCOMP);
  const back = wire(r, B, A).filter((p) => p.nxt === IPPROTO_IPCOMP);
  t.is(there.length, 1);
  t.is(back.length, 1);
  t.deepEqual([...there[0]!.payload.subarray(0, 4)], [17, 0, 0, 2], 'IPComp: next header UDP, flags 0, well-known CPI 2');
  t.true(there[0]!.packet.length < 40 + 8 + data.length / 4, `${there[0]!.packet.length} bytes on the wire for ${data.length} of data`);
  // Short: ping6 with 20 bytes of data (28 bytes of ICMPv6).
  t.true(await ping(r, B, A, 20));
  // Incompressible.
  const n = noise(800);
  t.deepEqual(await udpRoundTrip(r, A, B, n), n);
  for (const h of [r.h0, r.h1]) {
    t.like(h.s.ipsec.stats.c, { outIpcomp: 1, inIpcomp: 1, outIpcompSmall: 1, outIpcompIncompressible: 1, inPolvio: 0, inNoSa: 0 });
  }
  t.is(r.h1.s.ipsec.sad.get(0x3000, in6(B), 'ipcomp')!.packets, 1, 'the receiving SA counted the compressed packet');
});

test('tunnel mode: A2 <-> B2 inside A <-> B; compressed (IPComp, next header 41) or, incompressible, plain IPv6-in-IPv6 from the peer', async (t) => {
  const r = rig();
  ipcompSas(t, r, 'tunnel');
  policies(t, r, (a, b) => `ipcomp/tunnel/${a}-${b}/use`, [A2, B2]);
  echoServer(t, r.h1, B2);
  const data = text(3000);
  t.deepEqual(await udpRoundTrip(r, A2, B2, data), data);
  const outer = wire(r, A, B);
  t.true(outer.some((p) => p.nxt === IPPROTO_IPCOMP && p.payload[0] === 41), 'IPComp carrying IPv6');
  t.true(outer.every((p) => p.packet.length < 1000), 'compressed: no fragments');
  t.deepEqual(wire(r, A2, B2), [], 'the inner addresses never appear on the link');
  const n = noise(600, 3);
  t.deepEqual(await udpRoundTrip(r, A2, B2, n), n, 'incompressible: sent and taken as IPv6-in-IPv6');
  t.true(wire(r, A, B).some((p) => p.nxt === 41));
  t.true(await ping(r, B2, A2, 10), 'a short ping6');
  t.like(r.h1.s.ipsec.stats.c, { inIpcomp: 1, inPolvio: 0 });
  t.is(r.h1.s.ip6.stats.c.noProto, 0);
});

test('IPComp before ESP (transport): compressed, then encrypted; the receiver decrypts, then decompresses', async (t) => {
  const r = rig();
  ipcompSas(t, r, 'transport');
  const s = ESP_SUITES[7]!; // NULL + HMAC: the ESP trailer's next header is readable
  const algs = `-E null -A hmac-sha1 0x${toHex(s.authKey)}`;
  for (const h of [r.h0, r.h1]) setkey(t, h.s, `add ${A} ${B} esp 0x1000 ${algs};\nadd ${B} ${A} esp 0x1001 ${algs};`);
  policies(t, r, () => 'ipcomp/transport//use esp/transport//require');
  echoServer(t, r.h1, B);
  const data = text(1400);
  t.deepEqual(await udpRoundTrip(r, A, B, data), data);
  const esp = wire(r, A, B).filter((p) => p.nxt === 50);
  t.is(esp.length, 1);
  const p = esp[0]!.payload;
  t.is(p[8], 17, 'inside ESP: the IPComp header, next header UDP');
  t.is(p[p.length - 12 - 1], IPPROTO_IPCOMP, 'ESP next header: IPComp');
  t.true(esp[0]!.packet.length < 400);
  t.deepEqual(wire(r, A, B).filter((x) => x.nxt !== 50 && x.nxt !== 58), [], 'nothing outside ESP');
  for (const h of [r.h0, r.h1]) t.like(h.s.ipsec.stats.c, { outIpcomp: 1, inIpcomp: 1, outEsp: 1, inEsp: 1, inPolvio: 0 });
  // A cleartext IPComp packet is refused by the ESP require policy.
  const z = deflateRawSync(udp(A, B, 40000, 7, text(500)));
  r.net.raw.send(etherFrame(r.h1.mac, RAW_MAC, ETHERTYPE_IPV6, ip6Packet({ src: in6(A), dst: in6(B), nxt: IPPROTO_IPCOMP, payload: Uint8Array.from([17, 0, 0, 2, ...z]) })));
  r.net.run();
  t.is(r.h1.s.ipsec.stats.c.inPolvio, 1, 'decompressed, then refused: ESP is required');
});

test('IPComp tunnel under ESP transport between the gateways: ESP, then IPComp, then the inner packet', async (t) => {
  const r = rig();
  ipcompSas(t, r, 'tunnel');
  const s = ESP_SUITES[0]!;
  const algs = `-E aes-gcm-16 0x${toHex(s.encKey)}`;
  for (const h of [r.h0, r.h1]) setkey(t, h.s, `add ${A} ${B} esp 0x1000 ${algs};\nadd ${B} ${A} esp 0x1001 ${algs};`);
  policies(t, r, (a, b) => `ipcomp/tunnel/${a}-${b}/use esp/transport//require`, [A2, B2]);
  echoServer(t, r.h1, B2);
  for (const data of [text(2000), noise(500)]) t.deepEqual(await udpRoundTrip(r, A2, B2, data), data);
  t.true(wire(r, A, B).every((p) => p.nxt === 50 || p.nxt === 58));
  t.like(r.h1.s.ipsec.stats.c, { inIpcomp: 1, inEsp: 2, inPolvio: 0 });
});

function udp(src: string, dst: string, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  u[0] = sport >> 8;
  u[1] = sport & 0xff;
  u[2] = dport >> 8;
  u[3] = dport & 0xff;
  u[4] = u.length >> 8;
  u[5] = u.length & 0xff;
  u.set(data, 8);
  const ck = in6Cksum(u, 0, u.length, 17, in6(src), in6(dst));
  u[6] = ck >> 8;
  u[7] = ck & 0xff;
  return u;
}

test('hostile IPComp from the link: unknown CPI, corrupt data, a decompression bomb, nested IPComp; stray IPv6-in-IPv6', async (t) => {
  const net = makeNet({ hosts: 1, seed: 4 });
  const h = net.hosts[0]!;
  unwrap(h.s.ip6.addAddress(h.ifp, in6(B), 64, { flags: IN6_IFF.NODAD }));
  setkey(t, h.s, `add ${A} ${B} ipcomp 0x3000 -C deflate;\nspdadd ${A} ${B} any -P in ipsec ipcomp/transport//use;`);
  const got: Buffer[] = [];
  const sock = h.s.dgram.createSocket('udp6');
  sock.on('message', (m) => got.push(m));
  sock.bind(9000, B);
  t.teardown(() => sock.close());
  const send = async (payload: Uint8Array, nxt = IPPROTO_IPCOMP, src = A) => {
    net.raw.send(etherFrame(h.mac, RAW_MAC, ETHERTYPE_IPV6, ip6Packet({ src: in6(src), dst: in6(B), nxt, payload })));
    net.run();
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const ipc = (nxt: number, cpi: number, body: Uint8Array) => Uint8Array.from([nxt, 0x5a /* flags: ignored */, cpi >> 8, cpi & 0xff, ...body]);
  const good = udp(A, B, 40000, 9000, text(300));
  await send(ipc(17, 2, deflateRawSync(good)));
  t.is(got.length, 1, 'a well-formed one is delivered (flags ignored)');
  t.deepEqual(new Uint8Array(got[0]!), text(300));
  await send(ipc(17, 0x999, deflateRawSync(good)));
  await send(ipc(17, 2, Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0x00, 0x11)));
  await send(ipc(17, 2, deflateRawSync(new Uint8Array(100_000))));
  await send(ipc(IPPROTO_IPCOMP, 2, deflateRawSync(ipc(17, 2, deflateRawSync(good)))));
  await send(Uint8Array.of(17, 0));
  t.is(got.length, 1, 'none of them delivered');
  t.like(h.s.ipsec.stats.c, { inIpcomp: 1, inNoSa: 1, inIpcompBadData: 1, inIpcompTooBig: 1, inIpcompNested: 1, inBadLength: 1 });
  // IPv6-in-IPv6 from a host with no IPComp tunnel here: an unknown next header, as without IPsec.
  const inner = ip6Packet({ src: in6('2001:db8:9::1'), dst: in6(B), nxt: 17, payload: udp('2001:db8:9::1', B, 1, 9000, text(10)) });
  const before = h.s.ip6.stats.c.noProto;
  await send(inner, 41);
  t.is(h.s.ip6.stats.c.noProto, before + 1);
  t.is(got.length, 1);
});

test('setkey: ipcomp SAs added, dumped (C: deflate, the wire CPI), fetched and deleted; ipcomp requests in spdadd', (t) => {
  const r = rig();
  const o = applySetkey(r.h0.s, `add ${A} ${B} ipcomp 0x3000 -m tunnel -C deflate;\nadd ${A} ${B} ipcomp 0x5000 -C deflate -R;\nspdadd ${A} ${B} any -P out ipsec ipcomp/transport//use esp/transport//require;\ndump ipcomp;\nget ${A} ${B} ipcomp 0x5000;\nspddump;`);
  t.is(o.error, undefined);
  const text = formatOutcome(o).join('\n');
  t.regex(text, /ipcomp mode=tunnel spi=12288\(0x00003000\)/);
  t.regex(text, /C: deflate {2}cpi=2 \(well-known\)/);
  t.regex(text, /C: deflate {2}cpi=20480 \(raw\)/);
  t.regex(text, /ipcomp\/transport\/\/use\n\tesp\/transport\/\/require/);
  t.is(applySetkey(r.h0.s, `delete ${A} ${B} ipcomp 0x3000;`).error, undefined);
  t.is(applySetkey(r.h0.s, `deleteall ${A} ${B} ipcomp;`).error, undefined);
  t.is(r.h0.s.ipsec.sad.size, 0);
  t.regex(applySetkey(r.h0.s, `add ${A} ${B} ipcomp 7 -C deflate -R;`).error?.message ?? '', /below 256 only 2/);
});

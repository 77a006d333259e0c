/**
 * IPsec through whole stacks: two tap6 stacks on the virtual link, keyed
 * with setkey text (tools/setkey-run.ts applySetkey), ping6, UDP and TCP
 * over ESP and AH in transport and tunnel mode for every algorithm; the
 * drops a peer provokes — a wrong key (auth failures), a captured packet
 * sent again (replay), cleartext under a require policy (policy violation) —
 * each counted; the no-policy path untouched; ESN across 2^32; per-socket
 * policies; asynchronous crypto; MTU and fragmentation of protected packets.
 */
import test, { type ExecutionContext } from 'ava';
import { toHex } from '../../src/core/bytes.ts';
import { unwrap } from '../../src/core/result.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import { VirtualClock } from '../../src/core/clock.ts';
import { SeededRng } from '../../src/core/rng.ts';
import { VirtualLink } from '../../src/link/vlink.ts';
import { Stack } from '../../src/stack.ts';
import { type Host, type Net, RAW_LL, icmpFrame, makeNet, settle } from '../helpers/stack.ts';
import { applySetkey } from '../../tools/setkey-run.ts';
import { AH_SUITES, ESP_SUITES, type Suite, key } from './helpers.ts';

const A = '2001:db8::a';
const B = '2001:db8::b';
/** Inner addresses of the tunnel tests (each host's own network behind its gateway address). */
const A2 = '2001:db8:1::a';
const B2 = '2001:db8:2::b';

const ENC_NAME: Record<string, string> = { 'aes-gcm-16': 'aes-gcm-16', 'chacha20-poly1305': 'chacha20-poly1305', 'aes-cbc': 'rijndael-cbc', null: 'null' };
const AUTH_NAME: Record<string, string> = { 'hmac-sha1-96': 'hmac-sha1', 'hmac-sha256-128': 'hmac-sha256' };

function hex(b: Uint8Array): string {
  return `0x${toHex(b)}`;
}

/** The -E/-A part of a setkey add for an ESP suite. */
function espAlgs(s: Suite): string {
  const e = `-E ${ENC_NAME[s.enc]}${s.enc === 'null' ? '' : ` ${hex(s.encKey)}`}`;
  return s.auth === 'none' ? e : `${e} -A ${AUTH_NAME[s.auth]} ${hex(s.authKey)}`;
}

interface Rig {
  net: Net;
  h0: Host;
  h1: Host;
  run(ms?: number): void;
}

/** Two stacks with A and B (and the tunnel tests' A2 / B2, routed on-link) usable at once. */
function rig(o: { seed?: number } = {}): Rig {
  const net = makeNet({ hosts: 2, seed: o.seed ?? 7 });
  const [h0, h1] = net.hosts as [Host, Host];
  for (const [h, own, inner, peerNet] of [
    [h0, A, A2, '2001:db8:2::'],
    [h1, B, B2, '2001:db8:1::'],
  ] as const) {
    unwrap(h.s.ip6.addAddress(h.ifp, in6(own), 64, { flags: IN6_IFF.NODAD }));
    unwrap(h.s.ip6.addAddress(h.ifp, in6(inner), 64, { flags: IN6_IFF.NODAD }));
    unwrap(h.s.ip6.routes.add({ dst: in6(peerNet), plen: 64, ifindex: h.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
  }
  return { net, h0, h1, run: (ms = 10) => net.clock.advance(ms) };
}

function setkey(t: ExecutionContext, s: Stack, text: string): void {
  const r = applySetkey(s, text);
  t.is(r.error, undefined, `setkey: ${JSON.stringify(r.error)}`);
}

/** Both SAs on both hosts; policies that require them both ways. */
function keyTransport(t: ExecutionContext, r: Rig, proto: 'esp' | 'ah', algs: string, extra = ''): void {
  const sas = `add ${A} ${B} ${proto} 0x1000 -m transport ${extra} ${algs};\nadd ${B} ${A} ${proto} 0x1001 -m transport ${extra} ${algs};\n`;
  setkey(t, r.h0.s, `${sas}spdadd ${A} ${B} any -P out ipsec ${proto}/transport//require;\nspdadd ${B} ${A} any -P in ipsec ${proto}/transport//require;`);
  setkey(t, r.h1.s, `${sas}spdadd ${B} ${A} any -P out ipsec ${proto}/transport//require;\nspdadd ${A} ${B} any -P in ipsec ${proto}/transport//require;`);
}

/** A tunnel between A and B carrying A2 <-> B2. */
function keyTunnel(t: ExecutionContext, r: Rig, proto: 'esp' | 'ah', algs: string): void {
  const sas = `add ${A} ${B} ${proto} 0x2000 -m tunnel ${algs};\nadd ${B} ${A} ${proto} 0x2001 -m tunnel ${algs};\n`;
  setkey(t, r.h0.s, `${sas}spdadd ${A2}/64 ${B2}/64 any -P out ipsec ${proto}/tunnel/${A}-${B}/require;\nspdadd ${B2}/64 ${A2}/64 any -P in ipsec ${proto}/tunnel/${B}-${A}/require;`);
  setkey(t, r.h1.s, `${sas}spdadd ${B2}/64 ${A2}/64 any -P out ipsec ${proto}/tunnel/${B}-${A}/require;\nspdadd ${A2}/64 ${B2}/64 any -P in ipsec ${proto}/tunnel/${A}-${B}/require;`);
}

async function ping(r: Rig, from: Host, dst: string, src?: string, seq = 1): Promise<boolean> {
  const res = await settle(r.net.clock, from.s.ping({ dst: in6(dst), seq, size: 100, timeoutMs: 1000, ...(src ? { src: in6(src) } : {}) }).catch(() => null));
  return res !== null;
}

/** A UDP echo server on `host` bound to `addr` port 7. */
function echoServer(t: ExecutionContext, host: Host, addr: string, port = 7) {
  const s = host.s.dgram.createSocket('udp6');
  s.on('message', (m, ri) => s.send(m, ri.port, ri.address));
  s.bind(port, addr);
  t.teardown(() => s.close());
  return s;
}

/** Sends `data` from `host` (bound to `src`) to dst:port and waits (virtual time) for the answer. */
async function udpRoundTrip(r: Rig, host: Host, src: string, dst: string, data: Uint8Array, port = 7, opts: Parameters<Stack['dgram']['createSocket']>[0] = 'udp6'): Promise<Uint8Array | null> {
  const c = host.s.dgram.createSocket(opts);
  c.bind(0, src);
  const got = new Promise<Uint8Array | null>((resolve) => {
    const tm = r.net.clock.timer(1000, () => resolve(null));
    c.once('message', (m) => {
      tm.cancel();
      resolve(new Uint8Array(m));
    });
  });
  c.send(data, port, dst);
  const v = await settle(r.net.clock, got);
  c.close();
  return v;
}

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
}

/** IPv6 packets on the link between two addresses (either way), from the raw port's capture. */
function onWire(r: Rig, a: string, b: string) {
  const x = in6(a);
  const y = in6(b);
  const is = (u: Uint8Array, v: Uint8Array) => toHex(u) === toHex(v);
  return r.net.raw.frames.filter((f) => f.ip6 && ((is(f.ip6.src, x) && is(f.ip6.dst, y)) || (is(f.ip6.src, y) && is(f.ip6.dst, x)))).map((f) => f.ip6!);
}

// ---- every algorithm, both modes -------------------------------------------------------------

for (const suite of ESP_SUITES) {
  test(`ESP transport, ${suite.name}: ping6 and UDP go encrypted both ways`, async (t) => {
    const r = rig();
    keyTransport(t, r, 'esp', espAlgs(suite));
    echoServer(t, r.h1, B);
    t.true(await ping(r, r.h0, B), 'ping6 A -> B');
    t.true(await ping(r, r.h1, A), 'ping6 B -> A');
    const data = bytes(300);
    t.deepEqual(await udpRoundTrip(r, r.h0, A, B, data), data, 'UDP echoed');
    const wire = onWire(r, A, B);
    t.true(wire.length >= 6);
    // Only ESP and ND (never protected) between A and B.
    t.deepEqual(
      wire.filter((p) => p.nxt !== 50 && !(p.nxt === 58 && (p.payload[0] === 135 || p.payload[0] === 136))),
      [],
      'nothing else in the clear',
    );
    for (const h of [r.h0, r.h1]) {
      const c = h.s.ipsec.stats.c;
      t.true(c.inSuccess >= 3 && c.outEsp >= 3, `${h.s.ipsec.stats.c.inSuccess} in, ${c.outEsp} out`);
      t.is(c.inAuthFail + c.inReplay + c.inPolvio + c.inNoSa + c.outNoSa, 0);
    }
  });

  test(`ESP tunnel, ${suite.name}: A2 <-> B2 carried inside A <-> B`, async (t) => {
    const r = rig();
    keyTunnel(t, r, 'esp', espAlgs(suite));
    echoServer(t, r.h1, B2);
    t.true(await ping(r, r.h0, B2, A2), 'ping6 A2 -> B2');
    const data = bytes(500, 3);
    t.deepEqual(await udpRoundTrip(r, r.h0, A2, B2, data), data, 'UDP echoed');
    t.deepEqual(onWire(r, A2, B2), [], 'the inner addresses never appear on the link');
    const outer = onWire(r, A, B).filter((p) => p.nxt === 50);
    t.true(outer.length >= 4, 'outer ESP between the tunnel ends');
    t.is(r.h1.s.ipsec.stats.c.inPolvio, 0);
  });
}

for (const suite of AH_SUITES) {
  test(`AH transport, ${suite.name}: ping6 and UDP authenticated, readable on the wire`, async (t) => {
    const r = rig();
    keyTransport(t, r, 'ah', `-A ${AUTH_NAME[suite.auth]} ${hex(suite.authKey)}`);
    echoServer(t, r.h1, B);
    t.true(await ping(r, r.h0, B));
    const data = bytes(200, 5);
    t.deepEqual(await udpRoundTrip(r, r.h0, A, B, data), data);
    const ah = onWire(r, A, B).filter((p) => p.nxt === 51);
    t.true(ah.length >= 4);
    t.true(ah.some((p) => p.payload[0] === 17), 'AH says UDP follows');
    t.true(r.h1.s.ipsec.stats.c.inAh >= 2);
  });

  test(`AH tunnel, ${suite.name}`, async (t) => {
    const r = rig();
    keyTunnel(t, r, 'ah', `-A ${AUTH_NAME[suite.auth]} ${hex(suite.authKey)}`);
    t.true(await ping(r, r.h0, B2, A2));
    t.true(onWire(r, A, B).every((p) => p.nxt !== 51 || p.payload[0] === 41), 'AH carries IPv6');
  });
}

// ---- what peers get wrong -----------------------------------------------------------------------

test('a wrong key on one side: nothing gets through, every packet counted as an authentication failure', async (t) => {
  const r = rig();
  const good = ESP_SUITES[3]!; // aes-cbc/128 hmac-sha1-96
  keyTransport(t, r, 'esp', espAlgs(good));
  // h1 gets another integrity key for A -> B.
  setkey(t, r.h1.s, `delete ${A} ${B} esp 0x1000; add ${A} ${B} esp 0x1000 -E rijndael-cbc ${hex(good.encKey)} -A hmac-sha1 ${hex(key(20, 99))};`);
  t.false(await ping(r, r.h0, B, undefined, 1));
  t.false(await ping(r, r.h0, B, undefined, 2));
  const c = r.h1.s.ipsec.stats.c;
  t.is(c.inAuthFail, 2);
  t.is(r.h1.s.ipsec.sad.get(0x1000, in6(B), 'esp')!.counters.authFail, 2);
  t.is(r.h1.s.icmp6.stats.c.echoReplies, 0);
  // AEAD: the same, through the tag.
  const r2 = rig();
  keyTransport(t, r2, 'esp', espAlgs(ESP_SUITES[0]!));
  setkey(t, r2.h1.s, `delete ${A} ${B} esp 0x1000; add ${A} ${B} esp 0x1000 -E aes-gcm-16 ${hex(key(20, 42))};`);
  t.false(await ping(r2, r2.h0, B));
  t.is(r2.h1.s.ipsec.stats.c.inAuthFail, 1);
});

test('a captured ESP packet sent again is dropped as a replay, and counted', async (t) => {
  const r = rig();
  keyTransport(t, r, 'esp', espAlgs(ESP_SUITES[0]!));
  const got: Uint8Array[] = [];
  const s = r.h1.s.dgram.createSocket('udp6');
  s.on('message', (m) => got.push(new Uint8Array(m)));
  s.bind(9000, B);
  t.teardown(() => s.close());
  const c = r.h0.s.dgram.createSocket('udp6');
  t.teardown(() => c.close());
  r.net.raw.clear();
  c.send(bytes(64), 9000, B);
  r.run(50);
  await Promise.resolve();
  t.is(got.length, 1);
  const esp = r.net.raw.frames.find((f) => f.ip6?.nxt === 50 && toHex(f.ip6.dst) === toHex(in6(B)));
  t.truthy(esp, 'the ESP frame was captured');
  r.net.raw.send(esp!.bytes);
  r.net.raw.send(esp!.bytes);
  r.run(50);
  await Promise.resolve();
  t.is(got.length, 1, 'delivered once');
  t.is(r.h1.s.ipsec.stats.c.inReplay, 2);
  t.is(r.h1.s.ipsec.sad.get(0x1000, in6(B), 'esp')!.counters.replay, 2);
});

test('cleartext under a require policy is dropped and counted: UDP (no Port Unreachable), ping6, TCP', async (t) => {
  const r = rig();
  // Only h1 has policies: h0 sends in the clear.
  setkey(t, r.h1.s, `spdadd ${A} ${B} any -P in ipsec esp/transport//require;`);
  const got: Uint8Array[] = [];
  const s = r.h1.s.dgram.createSocket('udp6');
  s.on('message', (m) => got.push(new Uint8Array(m)));
  s.bind(9000, B);
  t.teardown(() => s.close());
  t.is(await udpRoundTrip(r, r.h0, A, B, bytes(10)), null, 'to a closed port: no answer');
  const c = r.h0.s.dgram.createSocket('udp6');
  t.teardown(() => c.close());
  c.send(bytes(10), 9000, B);
  r.run(50);
  await Promise.resolve();
  t.is(got.length, 0, 'not delivered');
  t.false(await ping(r, r.h0, B));
  const server = r.h1.s.net.createServer(() => t.fail('no connection'));
  server.listen(8080, B);
  t.teardown(() => server.close());
  const conn = r.h0.s.net.connect({ port: 8080, host: B });
  conn.on('error', () => {});
  r.run(1000);
  conn.destroy();
  const h1 = r.h1.s.ipsec.stats.c;
  t.true(h1.inPolvio >= 4, `inPolvio ${h1.inPolvio}`);
  t.is(r.h1.s.icmp6.stats.c.echoReplies, 0);
  t.is(r.h1.s.udp.stats.c.noport, 0, 'no Port Unreachable logic reached');
  t.is(r.h1.s.tcp.stats.c.sndRst, 0, 'no RST for refused SYNs');
});

test('no policy: the path is unchanged, nothing counted, nothing protected', async (t) => {
  const r = rig();
  t.false(r.h0.s.ipsec.spd.active);
  echoServer(t, r.h1, B);
  t.true(await ping(r, r.h0, B));
  const data = bytes(1000);
  t.deepEqual(await udpRoundTrip(r, r.h0, A, B, data), data);
  t.true(onWire(r, A, B).every((p) => p.nxt === 17 || p.nxt === 58));
  for (const h of [r.h0, r.h1]) t.is(h.s.ipsec.stats.sum(() => true), 0, 'ipsecstat all zero');
});

test('ESN: an SA started just below 2^32 keeps working across the boundary (AES-GCM and CBC+HMAC)', async (t) => {
  for (const suite of [ESP_SUITES[0]!, ESP_SUITES[5]!]) {
    const r = rig();
    const start = 2 ** 32 - 3;
    const spec = { spi: 0x3000, proto: 'esp' as const, src: in6(A), dst: in6(B), enc: suite.enc, encKey: suite.encKey, auth: suite.auth, authKey: suite.authKey, esn: true, replayWindow: 128 };
    const out = unwrap(r.h0.s.ipsec.sad.add({ ...spec, seq: start }));
    const inn = unwrap(r.h1.s.ipsec.sad.add({ ...spec, replaySeq: start }));
    setkey(t, r.h0.s, `spdadd ${A} ${B} udp -P out ipsec esp/transport//require;`);
    setkey(t, r.h1.s, `spdadd ${A} ${B} udp -P in ipsec esp/transport//require;`);
    const got: Uint8Array[] = [];
    const s = r.h1.s.dgram.createSocket('udp6');
    s.on('message', (m) => got.push(new Uint8Array(m)));
    s.bind(9000, B);
    const c = r.h0.s.dgram.createSocket('udp6');
    r.net.raw.clear();
    for (let i = 0; i < 6; i++) {
      c.send(bytes(40, i), 9000, B);
      r.run(20);
      await Promise.resolve();
    }
    t.is(got.length, 6, `${suite.name}: all six delivered`);
    t.is(out.seq, start + 6);
    t.is(inn.replay.top, start + 6, 'the receiver inferred the high half');
    const lows = r.net.raw.frames.filter((f) => f.ip6?.nxt === 50).map((f) => ((f.ip6!.payload[4]! << 24) | (f.ip6!.payload[5]! << 16) | (f.ip6!.payload[6]! << 8) | f.ip6!.payload[7]!) >>> 0);
    t.deepEqual(lows, [0xfffffffe, 0xffffffff, 0, 1, 2, 3], 'the low 32 bits wrapped on the wire');
    s.close();
    c.close();
  }
});

// ---- sockets, TCP, MTU, asynchronous crypto, ND --------------------------------------------------

test('per-socket policy: ipsec with an empty SPD protects that socket only; bypass skips a require policy', async (t) => {
  const r = rig();
  const algs = espAlgs(ESP_SUITES[2]!);
  // SAs only; no SPD entries anywhere.
  const sas = `add ${A} ${B} esp 0x1000 ${algs};\nadd ${B} ${A} esp 0x1001 ${algs};`;
  setkey(t, r.h0.s, sas);
  setkey(t, r.h1.s, sas);
  t.false(r.h0.s.ipsec.spd.active);
  const srv = r.h1.s.dgram.createSocket({ type: 'udp6', ipsecPolicy: { kind: 'ipsec', requests: ['esp/transport//require'] } });
  srv.on('message', (m, ri) => srv.send(m, ri.port, ri.address));
  srv.bind(7, B);
  t.teardown(() => srv.close());
  r.net.raw.clear();
  const data = bytes(100);
  t.deepEqual(await udpRoundTrip(r, r.h0, A, B, data, 7, { type: 'udp6', ipsecPolicy: { kind: 'ipsec', requests: ['esp/transport//require'] } }), data);
  t.true(onWire(r, A, B).filter((p) => p.nxt === 17).length === 0 && onWire(r, A, B).some((p) => p.nxt === 50), 'encrypted both ways');
  // A cleartext client is refused by the server's socket policy.
  t.is(await udpRoundTrip(r, r.h0, A, B, data), null);
  t.is(r.h1.s.ipsec.stats.c.inPolvio, 1);
  // A bypass socket talks in the clear although the SPD now requires ESP on h0's side.
  setkey(t, r.h0.s, `spdadd ${A} ${B} udp -P out ipsec esp/transport//require;`);
  const plain = r.h1.s.dgram.createSocket('udp6');
  plain.on('message', (m, ri) => plain.send(m, ri.port, ri.address));
  plain.bind(8, B);
  t.teardown(() => plain.close());
  t.deepEqual(await udpRoundTrip(r, r.h0, A, B, data, 8, { type: 'udp6', ipsecPolicy: { kind: 'bypass' } }), data);
  t.throws(() => r.h0.s.dgram.createSocket({ type: 'udp6', ipsecPolicy: { kind: 'ipsec', requests: ['esp/bogus//require'] } }), { message: /mode is transport or tunnel/ });
});

/** As settle, but lets nextTicks and stream callbacks run between steps (node streams use them). */
async function settleIo<T>(clock: VirtualClock, p: Promise<T>, stepMs: number, maxMs: number): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let ms = 0; ms <= maxMs && !done; ms += stepMs) {
    clock.advance(stepMs);
    await new Promise<void>((r) => setImmediate(r));
  }
  if (!done) throw new Error('did not settle');
  return p;
}

async function tcpEcho(t: ExecutionContext, r: Rig, size: number, opts: { server?: object; client?: object } = {}): Promise<Uint8Array> {
  const server = r.h1.s.net.createServer({ ...(opts.server ?? {}) }, (sock) => sock.pipe(sock));
  server.listen(8080, B);
  t.teardown(() => server.close());
  const conn = r.h0.s.net.connect({ port: 8080, host: B, ...(opts.client ?? {}) });
  t.teardown(() => conn.destroy());
  const want = bytes(size, 9);
  const got: Buffer[] = [];
  let n = 0;
  const done = new Promise<void>((resolve, reject) => {
    conn.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= size) resolve();
    });
    conn.on('error', reject);
  });
  conn.write(want);
  await settleIo(r.net.clock, done, 5, 30_000);
  return new Uint8Array(Buffer.concat(got));
}

test('TCP over ESP transport: a 200 KB echo arrives intact, segments sized to fit inside ESP (no fragments)', async (t) => {
  const r = rig();
  keyTransport(t, r, 'esp', espAlgs(ESP_SUITES[0]!));
  const got = await tcpEcho(t, r, 200_000);
  t.is(got.length, 200_000);
  t.deepEqual(got, bytes(200_000, 9));
  t.is(r.h0.s.ip6.stats.c.fragmentedOut + r.h1.s.ip6.stats.c.fragmentedOut, 0, 'the MSS left room for ESP');
  const big = onWire(r, A, B).filter((p) => p.nxt === 50);
  t.true(big.some((p) => p.packet.length > 1400) && big.every((p) => p.packet.length <= 1500));
});

test('TCP with per-socket policies (createServer and connect options), the SPD empty', async (t) => {
  const r = rig();
  const algs = espAlgs(ESP_SUITES[6]!);
  const sas = `add ${A} ${B} esp 0x1000 ${algs};\nadd ${B} ${A} esp 0x1001 ${algs};`;
  setkey(t, r.h0.s, sas);
  setkey(t, r.h1.s, sas);
  const pol = { kind: 'ipsec', requests: ['esp/transport//require'] };
  const got = await tcpEcho(t, r, 20_000, { server: { ipsecPolicy: pol }, client: { ipsecPolicy: pol } });
  t.is(got.length, 20_000);
  const wire = onWire(r, A, B);
  t.true(wire.length > 10 && wire.every((p) => p.nxt === 50 || p.nxt === 58), 'every TCP segment inside ESP');
});

test('tunnel mode: a datagram larger than the MTU is protected whole, then the outer packet is fragmented', async (t) => {
  const r = rig();
  keyTunnel(t, r, 'esp', espAlgs(ESP_SUITES[1]!));
  echoServer(t, r.h1, B2);
  const data = bytes(3000, 4);
  t.deepEqual(await udpRoundTrip(r, r.h0, A2, B2, data), data);
  const frags = onWire(r, A, B).filter((p) => p.nxt === 44);
  t.true(frags.length >= 4, 'outer fragments both ways');
  t.true(frags.every((p) => p.payload[0] === 50), 'the fragments carry ESP');
  t.true(r.h1.s.ip6.stats.c.reassembled >= 1);
});

test('asynchronous crypto: ESP input returns PENDING and resumes the loop (ping6 and UDP still work)', async (t) => {
  // Two stacks whose ESP/AH input defers the crypto to a microtask.
  const clock = new VirtualClock();
  const rng = new SeededRng(3);
  const link = new VirtualLink({ clock });
  const mk = (mac: number, addr: string) => {
    const s = new Stack({ clock, rng: rng.fork(), ipsec: { defer: (run) => queueMicrotask(run) } });
    const ifp = s.addEthernet({ name: 'vl0', driver: link.port(), mac: Uint8Array.of(2, 0, 0, 0, 0, mac) });
    s.ip6.if6Of(ifp)!.dadTransmits = 0;
    s.up(ifp);
    unwrap(s.ip6.addAddress(ifp, in6(addr), 64, { flags: IN6_IFF.NODAD }));
    return s;
  };
  const a = mk(1, A);
  const b = mk(2, B);
  const algs = espAlgs(ESP_SUITES[3]!);
  const sas = `add ${A} ${B} esp 0x1000 ${algs};\nadd ${B} ${A} esp 0x1001 ${algs};\n`;
  setkey(t, a, `${sas}spdadd ${A} ${B} any -P out ipsec esp/transport//require; spdadd ${B} ${A} any -P in ipsec esp/transport//require;`);
  setkey(t, b, `${sas}spdadd ${B} ${A} any -P out ipsec esp/transport//require; spdadd ${A} ${B} any -P in ipsec esp/transport//require;`);
  const res = await settle(clock, a.ping({ dst: in6(B), seq: 1, timeoutMs: 1000 }));
  t.truthy(res);
  t.true(a.ip6.stats.c.pending >= 1 && b.ip6.stats.c.pending >= 1, 'the loop was suspended');
  t.true(b.ipsec.stats.c.inSuccess >= 1);
});

test('ND and MLD bypass IPsec: with def_policy discard and a policy for everything, the link still resolves', async (t) => {
  const r = rig();
  const algs = espAlgs(ESP_SUITES[0]!);
  const sas = `add ${A} ${B} esp 0x1000 ${algs};\nadd ${B} ${A} esp 0x1001 ${algs};\n`;
  // Every flow between the two /64s protected, in and out, and nothing else allowed.
  setkey(t, r.h0.s, `${sas}spdadd ::/0 ::/0 any -P out ipsec esp/transport//require; spdadd ::/0 ::/0 any -P in ipsec esp/transport//require;`);
  setkey(t, r.h1.s, `${sas}spdadd ::/0 ::/0 any -P out ipsec esp/transport//require; spdadd ::/0 ::/0 any -P in ipsec esp/transport//require;`);
  for (const h of [r.h0, r.h1]) unwrap(h.s.ipsec.spd.setDefault('def_policy', 'discard'));
  r.net.raw.clear();
  t.true(await ping(r, r.h0, B));
  const nd = r.net.raw.frames.filter((f) => f.icmp && (f.icmp.type === 135 || f.icmp.type === 136));
  t.true(nd.length >= 2, 'NS and NA crossed in the clear');
  unwrap(r.h0.s.ip6.joinGroup(r.h0.ifp, in6('ff12::99')));
  r.run(2000);
  t.true(r.net.raw.icmp(143, r.h0.mac).length >= 1, 'the MLDv2 report went out in the clear');
  t.is(r.h0.s.ipsec.stats.c.outDiscard, 0, 'no ND or MLD message met the discard default');
  // A link-local ping needs SAs for link-local addresses: there are none, so output fails with no SA.
  const ll = formatIn6(r.h1.ll);
  const e = await r.h0.s.ping({ dst: r.h1.ll, zone: r.h0.ifp.index, seq: 9, timeoutMs: 100 }).then(
    () => 'sent',
    (x: Error) => x.message,
  );
  t.regex(String(e), /no route to host|unreachable/i, `ping ${ll}: ${e}`);
  t.true(r.h0.s.ipsec.stats.c.outNoSa >= 1);
});

test('a discard policy refuses output with EACCES and counts it', async (t) => {
  const r = rig();
  setkey(t, r.h0.s, `spdadd ${A} ${B} udp -P out discard;`);
  const c = r.h0.s.dgram.createSocket('udp6');
  t.teardown(() => c.close());
  c.bind(0, A);
  const err = await settle(
    r.net.clock,
    new Promise<Error | null>((resolve) => c.send(bytes(4), 9, B, (e) => resolve(e))),
  );
  t.is((err as { code?: string } | null)?.code, 'EACCES');
  t.is(r.h0.s.ipsec.stats.c.outDiscard, 1);
});

// ---- Packet Too Big about a protected packet ---------------------------------------------------

for (const mode of ['transport', 'tunnel'] as const) {
  test(`a Packet Too Big quoting an ESP packet (${mode} mode) lowers the MSS of the TCP connection inside it`, async (t) => {
    const r = rig();
    if (mode === 'transport') keyTransport(t, r, 'esp', espAlgs(ESP_SUITES[0]!));
    else keyTunnel(t, r, 'esp', espAlgs(ESP_SUITES[0]!));
    const [src, dst, outerDst] = mode === 'transport' ? [A, B, B] : [A2, B2, B];
    const server = r.h1.s.net.createServer((sock) => sock.pipe(sock));
    server.listen(8080, dst);
    t.teardown(() => server.close());
    const conn = r.h0.s.net.connect({ port: 8080, host: dst, localAddress: src });
    t.teardown(() => conn.destroy());
    let n = 0;
    conn.on('data', (d: Buffer) => (n += d.length));
    const first = 100_000;
    const size = 1_000_000;
    conn.write(bytes(first, 4));
    await settleIo(r.net.clock, new Promise<void>((res) => conn.on('data', () => n >= first && res())), 5, 10_000);
    const cb = r.h0.s.tcp.connections().find((c) => c.fport === 8080)!;
    const before = cb.mss;
    // The last ESP packet A sent, quoted by a router on the path that has a 1300-byte link.
    const esp = r.net.raw.frames.filter((f) => f.ip6?.nxt === 50 && toHex(f.ip6.src) === toHex(in6(mode === 'transport' ? A : A))).at(-1)!.ip6!;
    t.is(toHex(esp.dst), toHex(in6(outerDst)));
    const body = new Uint8Array(4 + Math.min(esp.packet.length, 1232));
    new DataView(body.buffer).setUint32(0, 1300);
    body.set(esp.packet.subarray(0, body.length - 4), 4);
    const mark = r.net.raw.frames.length;
    r.net.raw.send(icmpFrame(2, 0, body, { src: RAW_LL, dst: in6(A), ethDst: r.h0.mac }));
    r.run(1);
    conn.write(bytes(size - first, 5));
    await settleIo(r.net.clock, new Promise<void>((res) => (n >= size ? res() : conn.on('data', () => n >= size && res()))), 5, 30_000);
    t.is(n, size, 'the echo completed');
    t.true(cb.mss < before, `MSS ${before} -> ${cb.mss}`);
    t.true(r.h0.s.tcp.stats.c.pmtuNotified >= 1);
    const after = r.net.raw.frames.slice(mark).filter((f) => f.ip6 && toHex(f.ip6.src) === toHex(in6(A)) && (f.ip6.nxt === 50 || f.ip6.nxt === 44));
    t.true(after.length > 10, `${after.length} of ${r.net.raw.frames.length - mark} frames; ${JSON.stringify(r.net.raw.frames.slice(mark, mark + 5).map((f) => [f.ip6?.nxt, f.ip6 && formatIn6(f.ip6.src), f.ip6?.packet.length]))}`);
    t.true(
      after.every((f) => f.ip6!.nxt === 50 && f.ip6!.packet.length <= 1300),
      `largest ${Math.max(...after.map((f) => f.ip6!.packet.length))} bytes; fragments: ${after.filter((f) => f.ip6!.nxt === 44).length}`,
    );
  });
}

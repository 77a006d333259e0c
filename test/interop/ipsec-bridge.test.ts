/**
 * IPsec between two tap6 stacks on real TAPs: each stack (in this process)
 * owns a TAP, both TAPs are enslaved to a Linux bridge in a namespace the
 * test creates (IPv6 off there: the kernel is only the wire). With static
 * SAs and policies loaded through setkey text, ping6, a UDP exchange
 * (node:dgram-shaped sockets) and a 2 MiB TCP echo (checked by SHA-256) run
 * over ESP in transport and tunnel mode, with AES-GCM-128 and with
 * AES-CBC-128 + HMAC-SHA-256-128.
 *
 * What went over the bridge is checked from a tcpdump capture on the bridge,
 * decoded by tshark: between the two stacks only ESP (next header 50) and
 * Neighbor Discovery, no UDP or TCP header, the tunnel's inner addresses
 * never in an outer header, and the plaintext marker that fills every UDP
 * and TCP payload nowhere in the capture's bytes. A control run first sends
 * the marker in the clear and finds it, so that the search can fail. Both
 * stacks' ipsecstat counters move. A wrong key on the receiver: every packet
 * is an authentication failure there, nothing is delivered.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { toHex } from '../../src/core/bytes.ts';
import { unwrap } from '../../src/core/result.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { IN6_IFF } from '../../src/ip6/ifaddr.ts';
import { RTF } from '../../src/ip6/route.ts';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import type { Stack } from '../../src/stack.ts';
import { applySetkey } from '../../tools/setkey-run.ts';
import { type BridgeRig, type BridgedHost, bridgeRig } from '../helpers/bridge.ts';
import { canUseNetns, waitFor } from '../helpers/netns.ts';
import { key } from '../ipsec/helpers.ts';

const execFileP = promisify(execFile);

function have(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const why = !canUseNetns().ok ? canUseNetns().why : !isTapAvailable() ? 'no TAP support' : !have('tshark') || !have('tcpdump') ? 'tshark/tcpdump not installed' : '';
const maybe = why === '' ? test.serial : test.skip;

const A = '2001:db8::a';
const B = '2001:db8::b';
/** The tunnel's inner addresses: each host's own network behind its gateway address. */
const A2 = '2001:db8:1::a';
const B2 = '2001:db8:2::b';

/** Fills every UDP and TCP payload; must never show on the bridge once ESP is on. */
const MARKER = 'tap6-plaintext-marker:';

const SUITES = [
  { name: 'aes-gcm-16/128', algs: `-E aes-gcm-16 0x${toHex(key(20))}` },
  { name: 'aes-cbc/128 hmac-sha256-128', algs: `-E rijndael-cbc 0x${toHex(key(16))} -A hmac-sha256 0x${toHex(key(32, 5))}` },
];

function payload(n: number, tag: number): Buffer {
  const unit = Buffer.from(`${MARKER}${tag.toString(16).padStart(4, '0')}|`);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += unit.length) unit.copy(b, i);
  return b;
}

function setkey(t: ExecutionContext, s: Stack, text: string): void {
  const r = applySetkey(s, text);
  t.is(r.error, undefined, `setkey: ${JSON.stringify(r.error)}`);
}

function address(h: BridgedHost, own: string, inner: string, peerNet: string): void {
  const s = h.stack;
  unwrap(s.ip6.addAddress(h.ifp, in6(own), 64, { flags: IN6_IFF.NODAD }));
  unwrap(s.ip6.addAddress(h.ifp, in6(inner), 64, { flags: IN6_IFF.NODAD }));
  unwrap(s.ip6.routes.add({ dst: in6(peerNet), plen: 64, ifindex: h.ifp.index, origin: 'static', flags: RTF.UP | RTF.STATIC }));
}

/** SAs A→B (spi) and B→A (spi + 1) on both stacks, and policies that require them both ways. */
function key2(t: ExecutionContext, h0: Stack, h1: Stack, mode: 'transport' | 'tunnel', algs: string, spi: number, rxAlgs = algs): void {
  const add = (a: string) => `add ${A} ${B} esp ${spi} -m ${mode} ${a};\nadd ${B} ${A} esp ${spi + 1} -m ${mode} ${algs};\n`;
  const [src, dst] = mode === 'tunnel' ? [`${A2}/64`, `${B2}/64`] : [A, B];
  const req = (x: string, y: string) => (mode === 'tunnel' ? `esp/tunnel/${x}-${y}/require` : 'esp/transport//require');
  setkey(t, h0, `flush;\nspdflush;\n${add(algs)}spdadd ${src} ${dst} any -P out ipsec ${req(A, B)};\nspdadd ${dst} ${src} any -P in ipsec ${req(B, A)};`);
  setkey(t, h1, `flush;\nspdflush;\n${add(rxAlgs)}spdadd ${dst} ${src} any -P out ipsec ${req(B, A)};\nspdadd ${src} ${dst} any -P in ipsec ${req(A, B)};`);
}

/** A UDP echo server (node:dgram-shaped) on `s` at addr:port; counts what it receives. */
function udpEcho(t: ExecutionContext, s: Stack, addr: string, port: number): { got: Buffer[] } {
  const got: Buffer[] = [];
  const sock = s.dgram.createSocket('udp6');
  sock.on('message', (m, ri) => {
    got.push(m);
    sock.send(m, ri.port, ri.address);
  });
  sock.bind(port, addr);
  t.teardown(() => sock.close());
  return { got };
}

/**
 * Sends each datagram from src to dst:port and waits until an identical echo
 * comes back (real time over a lossless bridge: resent every 200 ms, the first
 * may wait for ND); returns the echoes, in the order of `data`.
 */
async function udpExchange(s: Stack, src: string, dst: string, port: number, data: Buffer[]): Promise<Buffer[]> {
  const c = s.dgram.createSocket('udp6');
  const got: Buffer[] = [];
  const echoes: Buffer[] = [];
  try {
    await new Promise<void>((res) => c.bind(0, src, () => res()));
    c.on('message', (m) => got.push(m));
    for (const d of data) {
      const echo = await waitFor(
        `the UDP echo of ${d.length} bytes`,
        async () => {
          c.send(d, port, dst);
          await new Promise((r) => setTimeout(r, 200));
          return got.find((x) => x.equals(d));
        },
        20_000,
        0,
      );
      echoes.push(echo);
    }
  } finally {
    c.close();
  }
  return echoes;
}

/** `size` bytes to dst:port and back through an echoing server; the echo's SHA-256 against the data's. */
async function tcpEcho(h0: Stack, h1: Stack, src: string, dst: string, port: number, data: Buffer): Promise<{ sent: string; echoed: string; serverGot: number }> {
  let serverGot = 0;
  const server = h1.net.createServer((sock) => {
    sock.on('data', (d: Buffer) => (serverGot += d.length));
    sock.pipe(sock);
  });
  await new Promise<void>((res) => server.listen(port, dst, () => res()));
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('TCP echo took more than 120 s')), 120_000);
    const c = h0.net.connect({ host: dst, port, localAddress: src });
    c.on('data', (d: Buffer) => hash.update(d));
    c.on('end', () => {
      clearTimeout(timer);
      c.destroy();
      resolve();
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.end(data);
  });
  server.close();
  return { sent: createHash('sha256').update(data).digest('hex'), echoed: hash.digest('hex'), serverGot };
}

/**
 * Waits until neither stack sends or receives ESP for 300 ms: the last ACKs of a
 * connection may still sit in a TAP's queue when the application saw the end, and
 * would meet the next test's keys (inNoSa).
 */
async function quiesce(stacks: Stack[]): Promise<void> {
  let last = -1;
  await waitFor(
    'ESP to stop',
    () => {
      const n = stacks.reduce((a, s) => a + s.ipsec.stats.c.inEsp + s.ipsec.stats.c.outEsp, 0);
      if (n === last) return true;
      last = n;
      return undefined;
    },
    20_000,
    300,
  );
}

interface Row {
  src: string;
  dst: string;
  nxt: string;
  icmpType: string;
  spi: string;
  udp: string;
  tcp: string;
}

async function decode(file: string): Promise<Row[]> {
  const fields = ['ipv6.src', 'ipv6.dst', 'ipv6.nxt', 'icmpv6.type', 'esp.spi', 'udp.srcport', 'tcp.srcport'];
  const { stdout } = await execFileP('tshark', ['-r', file, '-Y', 'ipv6', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f', ...fields.flatMap((f) => ['-e', f])], { maxBuffer: 256 << 20 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [src = '', dst = '', nxt = '', icmpType = '', spi = '', udp = '', tcp = ''] = l.split('|');
      return { src, dst, nxt, icmpType, spi, udp, tcp };
    });
}

async function setup(t: ExecutionContext): Promise<{ r: BridgeRig; h0: BridgedHost; h1: BridgedHost }> {
  const r = await bridgeRig(t, { hosts: 2 });
  const [h0, h1] = r.hosts as [BridgedHost, BridgedHost];
  address(h0, A, A2, '2001:db8:2::');
  address(h1, B, B2, '2001:db8:1::');
  return { r, h0, h1 };
}

maybe('two tap6 stacks on TAPs bridged in a namespace: ping6, UDP and TCP over ESP, transport and tunnel, GCM and CBC+HMAC; only ESP on the bridge', async (t) => {
  t.timeout(600_000);
  const { r, h0, h1 } = await setup(t);
  const s0 = h0.stack;
  const s1 = h1.stack;

  // Control: the same marker in the clear is found in a capture, by both searches.
  {
    const cap = await r.capture();
    udpEcho(t, s1, B, 9);
    const back = await udpExchange(s0, A, B, 9, [payload(200, 0xffff)]);
    t.is(back.length, 1, 'cleartext UDP echoed');
    const file = await cap.stop();
    t.true(readFileSync(file).includes(MARKER), 'control: the marker is found in a cleartext capture');
    t.true((await decode(file)).some((x) => x.udp !== '' && x.src === A && x.dst === B), 'control: tshark shows the cleartext UDP');
  }

  const cap = await r.capture();
  const combos = SUITES.flatMap((suite) => (['transport', 'tunnel'] as const).map((mode) => ({ suite, mode })));
  const spis: Map<number, string> = new Map();
  for (const [i, { suite, mode }] of combos.entries()) {
    const name = `${suite.name} ${mode}`;
    const spi = 0x7000 + 16 * i;
    spis.set(spi, `${name} A→B`);
    spis.set(spi + 1, `${name} B→A`);
    key2(t, s0, s1, mode, suite.algs, spi);
    const [src, dst] = mode === 'tunnel' ? [A2, B2] : [A, B];
    const before = [s0, s1].map((s) => ({ ...s.ipsec.stats.c }));

    // ping6 both ways (the echo API).
    for (const [from, to, via] of [
      [s0, dst, src],
      [s1, src, dst],
    ] as const) {
      const res = await from.ping({ dst: in6(to), src: in6(via), seq: i + 1, size: 100, timeoutMs: 5000 }).catch(() => null);
      t.truthy(res, `${name}: ping6 ${via} → ${to} answered`);
    }

    // UDP through node:dgram-shaped sockets.
    const port = 7000 + i;
    const server = udpEcho(t, s1, dst, port);
    const grams = [payload(64, i), payload(1300, i)];
    const back = await udpExchange(s0, src, dst, port, grams);
    t.true(server.got.length >= 2, `${name}: UDP datagrams delivered`);
    t.is(back.length, grams.length, `${name}: every UDP datagram echoed byte for byte`);

    // TCP: 2 MiB each way.
    const data = payload(2 << 20, i);
    const tcp = await tcpEcho(s0, s1, src, dst, 8000 + i, data);
    t.is(tcp.serverGot, data.length, `${name}: the server got every byte`);
    t.is(tcp.echoed, tcp.sent, `${name}: TCP echo SHA-256 matches`);

    await quiesce([s0, s1]);
    for (const [k, s] of [s0, s1].entries()) {
      const c = s.ipsec.stats.c;
      const b = before[k]!;
      t.true(c.outEsp - b.outEsp > 100 && c.inEsp - b.inEsp > 100 && c.inSuccess - b.inSuccess > 100, `${name}: host ${k} ipsecstat moved (out ${c.outEsp - b.outEsp}, in ${c.inSuccess - b.inSuccess})`);
      const drops = Object.fromEntries((['inAuthFail', 'inReplay', 'inTooOld', 'inPolvio', 'inNoSa', 'outNoSa', 'inBadPad', 'inBadLength'] as const).map((n) => [n, c[n] - b[n]]).filter(([, v]) => v !== 0));
      t.deepEqual(drops, {}, `${name}: host ${k} no IPsec drops`);
    }
    t.log(`${name}: ping6 both ways, UDP, TCP 2 MiB each way; host 0 sent ${s0.ipsec.stats.c.outEsp - before[0]!.outEsp} ESP packets`);
  }
  const file = await cap.stop();

  // What crossed the bridge.
  t.false(readFileSync(file).includes(MARKER), 'the plaintext marker is nowhere in the capture');
  const rows = await decode(file);
  const ours = new Set([A, B, A2, B2]);
  const between = rows.filter((x) => ours.has(x.src) && ours.has(x.dst));
  const esp = between.filter((x) => x.nxt === '50');
  t.true(esp.length > 1000, `ESP frames on the bridge: ${esp.length}`);
  const other = between.filter((x) => x.nxt !== '50' && !(x.nxt === '58' && (x.icmpType === '135' || x.icmpType === '136')));
  t.deepEqual(other.slice(0, 5), [], `only ESP and ND between the stacks (${other.length} other frames: ${JSON.stringify(other.slice(0, 5))})`);
  t.deepEqual(rows.filter((x) => x.udp !== '' || x.tcp !== '').slice(0, 5), [], 'no UDP or TCP header on the bridge');
  t.deepEqual(rows.filter((x) => x.src === A2 || x.dst === A2 || x.src === B2 || x.dst === B2).slice(0, 5), [], 'tunnel inner addresses never in an outer header');
  for (const [spi, what] of spis) {
    const n = esp.filter((x) => Number(x.spi) === spi).length;
    t.true(n > 100, `${what}: ${n} ESP frames with SPI 0x${spi.toString(16)} on the bridge`);
  }
});

maybe('two tap6 stacks on bridged TAPs: a wrong key on the receiver is an authentication failure there, nothing delivered', async (t) => {
  t.timeout(120_000);
  const { h0, h1 } = await setup(t);
  const s0 = h0.stack;
  const s1 = h1.stack;
  for (const [k, suite] of SUITES.entries()) {
    const wrong = suite.algs.replace(/0x([0-9a-f]{2})/g, (_, h: string) => `0x${(parseInt(h, 16) ^ 0x01).toString(16).padStart(2, '0')}`);
    t.not(wrong, suite.algs);
    key2(t, s0, s1, 'transport', suite.algs, 0x9000, wrong);
    const server = udpEcho(t, s1, B, 7100 + k);
    const before = { ...s1.ipsec.stats.c };
    const delivered = s1.udp.stats.c.delivered;
    const c = s0.dgram.createSocket('udp6');
    c.bind(0, A);
    const N = 5;
    for (let i = 0; i < N; i++) c.send(payload(200, i), 7100 + k, B);
    const fails = await waitFor('the receiver to count the authentication failures', () => (s1.ipsec.stats.c.inAuthFail - before.inAuthFail >= N ? s1.ipsec.stats.c.inAuthFail - before.inAuthFail : undefined), 20_000);
    t.is(fails, N, `${suite.name}: every datagram failed authentication on the receiver`);
    t.is(s1.ipsec.sad.get(0x9000, in6(B), 'esp')!.counters.authFail, N, `${suite.name}: counted on the SA`);
    t.is(server.got.length, 0, `${suite.name}: nothing delivered`);
    t.is(s1.udp.stats.c.delivered, delivered);
    t.is(s1.ipsec.stats.c.inSuccess, before.inSuccess, `${suite.name}: no packet accepted`);
    t.true(s0.ipsec.stats.c.outEsp >= N, `${suite.name}: the sender did send ESP`);
    c.close();
  }
});

/**
 * What IPsec costs: UDP echo between two tap6 stacks on the virtual link
 * (one process, the virtual clock advanced as fast as the CPU allows), with
 * no policy and with ESP AES-GCM-128 in transport mode (node:crypto), for a
 * small and a near-MTU datagram. Each round trip is two datagrams, each
 * encrypted once and decrypted once under ESP. 64 requests in flight; the
 * two configurations are measured alternately, three times each, and the
 * best of each is kept, so that the ratio comes from one run on one machine.
 *
 * Sockets are the UDP layer's protocol control blocks (udp.ts), not the
 * node:dgram-shaped API: the figure is the stack's, not the event loop's.
 */
import { unwrap } from '../src/core/result.ts';
import { VirtualClock } from '../src/core/clock.ts';
import { SeededRng } from '../src/core/rng.ts';
import { in6 } from '../src/ip6/addr.ts';
import { IN6_IFF } from '../src/ip6/ifaddr.ts';
import { VirtualLink } from '../src/link/vlink.ts';
import { Stack } from '../src/stack.ts';
import { UdpPcb } from '../src/udp/udp.ts';
import { applySetkey } from '../tools/setkey-run.ts';
import type { BenchContext, BenchResult, Cell } from './harness.ts';

const TITLE = 'UDP echo over the virtual link: no policy vs ESP AES-GCM-128 (transport)';
const A = '2001:db8::a';
const B = '2001:db8::b';
const GCM = '0x0102030405060708090a0b0c0d0e0f10a1a2a3a4';
const IN_FLIGHT = 64;

interface Pair {
  clock: VirtualClock;
  send(): void;
  received(): number;
}

function pair(esp: boolean, size: number): Pair {
  const clock = new VirtualClock();
  const rng = new SeededRng(5);
  const link = new VirtualLink({ clock });
  const mk = (mac: number, addr: string): Stack => {
    const s = new Stack({ clock, rng: rng.fork() });
    const ifp = s.addEthernet({ name: 'vl0', driver: link.port(), mac: Uint8Array.of(2, 0, 0, 0, 0, mac) });
    s.ip6.if6Of(ifp)!.dadTransmits = 0;
    s.rtr.config(ifp).acceptRtadv = false;
    s.up(ifp);
    unwrap(s.ip6.addAddress(ifp, in6(addr), 64, { flags: IN6_IFF.NODAD }));
    return s;
  };
  const a = mk(1, A);
  const b = mk(2, B);
  if (esp) {
    const sas = `add ${A} ${B} esp 0x1000 -E aes-gcm-16 ${GCM};\nadd ${B} ${A} esp 0x1001 -E aes-gcm-16 ${GCM};\n`;
    for (const [s, x, y] of [
      [a, A, B],
      [b, B, A],
    ] as const) {
      const r = applySetkey(s, `${sas}spdadd ${x} ${y} udp -P out ipsec esp/transport//require;\nspdadd ${y} ${x} udp -P in ipsec esp/transport//require;`);
      if (r.error) throw new Error(`ipsec bench: setkey line ${r.error.line}: ${r.error.message}`);
    }
  }
  const server: UdpPcb = new UdpPcb({
    deliver: (d) => b.udp.output(server, d.data, d.src, d.zone, d.sport) === null,
    error: () => {},
  });
  if (b.udp.bind(server, in6(B), 0, 7)) throw new Error('bind');
  let got = 0;
  const client = new UdpPcb({ deliver: () => (got++, true), error: () => {} });
  if (a.udp.bind(client, in6(A), 0, 0)) throw new Error('bind');
  const data = new Uint8Array(size).fill(0x5a);
  const dst = in6(B);
  return { clock, send: () => void a.udp.output(client, data, dst, 0, 7), received: () => got };
}

/** Round trips per second over about `ms` of wall time. */
function measure(p: Pair, ms: number): number {
  const start = p.received();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < IN_FLIGHT; i++) p.send();
    p.clock.advance(1);
    t = performance.now();
  }
  return ((p.received() - start) / (t - t0)) * 1000;
}

export default async function ipsecBench(ctx: BenchContext): Promise<BenchResult[]> {
  const rows: Cell[][] = [];
  const slice = Math.max(200, (ctx.seconds * 1000) / 3);
  for (const size of [64, 1400]) {
    const plain = pair(false, size);
    const esp = pair(true, size);
    // Warm up: neighbor resolution, JIT.
    for (const p of [plain, esp]) {
      measure(p, 100);
      if (p.received() === 0) throw new Error(`ipsec bench: no echo came back (${p === esp ? 'ESP' : 'plain'}, ${size} bytes)`);
    }
    let bestPlain = 0;
    let bestEsp = 0;
    for (let i = 0; i < 3; i++) {
      bestPlain = Math.max(bestPlain, measure(plain, slice / 2));
      bestEsp = Math.max(bestEsp, measure(esp, slice / 2));
    }
    rows.push([`${size} B`, bestPlain, bestEsp, `${(bestEsp / bestPlain).toFixed(2)}`]);
  }
  return [
    {
      title: TITLE,
      columns: ['datagram', 'no policy (round trips/s)', 'ESP AES-GCM-128 (round trips/s)', 'ESP / none'],
      rows,
      notes: ['two stacks in one process on the virtual link; each round trip is 2 datagrams (ESP: 2 encryptions, 2 decryptions); 64 in flight; best of 3'],
    },
  ];
}

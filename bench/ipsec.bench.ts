/**
 * What IPsec costs: UDP between two tap6 stacks on the virtual link (one
 * process, the virtual clock advanced as fast as the CPU allows) in three
 * builds of the same pair:
 *
 *   compiled out  `new Stack({ ipsec: false })`: no hook on ip6, no ESP/AH
 *                 in the protocol switch — what a build without IPsec runs;
 *   no policy     IPsec attached, SPD and SAD empty: the hooks' one-branch
 *                 cost per packet (ip6 output, UDP input);
 *   ESP           AES-GCM-128 in transport mode (node:crypto), both ways.
 *
 * Two workloads: echo round trips (64 in flight, each one two datagrams)
 * and a one-way stream into a sink (64 datagrams per clock step), for a
 * small and a near-MTU datagram. The builds are measured interleaved, in
 * 10 ms turns (A, B, C, then B, C, A, …) so that the load of other jobs on
 * this shared machine hits all three alike; the turns are summed into BLOCKS
 * blocks, each giving one figure per build, and a cell is the median of the
 * blocks ±half their min–max spread. Rates are per CPU-second of this
 * process, so that time the scheduler gives other jobs does not count. The
 * verdict compares "no policy" with "compiled out" block by block: when the
 * blocks lean one way more often than chance allows (a two-sided sign test
 * at 5 %) the difference is real, otherwise it is within noise.
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
import { type BenchContext, type BenchResult, type Cell, fmt } from './harness.ts';

const TITLE = 'IPsec cost on UDP over the virtual link: compiled out vs no policy vs ESP AES-GCM-128 (transport)';
const A = '2001:db8::a';
const B = '2001:db8::b';
const GCM = '0x0102030405060708090a0b0c0d0e0f10a1a2a3a4';
const IN_FLIGHT = 64;
/** Blocks: each gives one figure per build; the spread and the sign test are over blocks. */
const BLOCKS = 9;
/** Builds alternate every CHUNK_MS of wall time within a block. */
const CHUNK_MS = 10;

type Build = 'out' | 'none' | 'esp';
type Workload = 'echo' | 'stream';

interface Pair {
  clock: VirtualClock;
  send(): void;
  received(): number;
}

function pair(build: Build, work: Workload, size: number): Pair {
  const clock = new VirtualClock();
  const rng = new SeededRng(5);
  const link = new VirtualLink({ clock });
  const mk = (mac: number, addr: string): Stack => {
    const s = new Stack({ clock, rng: rng.fork(), ...(build === 'out' ? { ipsec: false as const } : {}) });
    const ifp = s.addEthernet({ name: 'vl0', driver: link.port(), mac: Uint8Array.of(2, 0, 0, 0, 0, mac) });
    s.ip6.if6Of(ifp)!.dadTransmits = 0;
    s.rtr.config(ifp).acceptRtadv = false;
    s.up(ifp);
    unwrap(s.ip6.addAddress(ifp, in6(addr), 64, { flags: IN6_IFF.NODAD }));
    return s;
  };
  const a = mk(1, A);
  const b = mk(2, B);
  if (build === 'esp') {
    const sas = `add ${A} ${B} esp 0x1000 -E aes-gcm-16 ${GCM};\nadd ${B} ${A} esp 0x1001 -E aes-gcm-16 ${GCM};\n`;
    for (const [s, x, y] of [
      [a, A, B],
      [b, B, A],
    ] as const) {
      const r = applySetkey(s, `${sas}spdadd ${x} ${y} udp -P out ipsec esp/transport//require;\nspdadd ${y} ${x} udp -P in ipsec esp/transport//require;`);
      if (r.error) throw new Error(`ipsec bench: setkey line ${r.error.line}: ${r.error.message}`);
    }
  }
  let got = 0;
  const server: UdpPcb = new UdpPcb({
    deliver: work === 'echo' ? (d) => b.udp.output(server, d.data, d.src, d.zone, d.sport) === null : () => (got++, true),
    error: () => {},
  });
  if (b.udp.bind(server, in6(B), 0, 7)) throw new Error('bind');
  const client = new UdpPcb({ deliver: () => (got++, true), error: () => {} });
  if (a.udp.bind(client, in6(A), 0, 0)) throw new Error('bind');
  const data = new Uint8Array(size).fill(0x5a);
  const dst = in6(B);
  return { clock, send: () => void a.udp.output(client, data, dst, 0, 7), received: () => got };
}

/** Work done and CPU time spent (µs) by one build, summed over its chunks. */
interface Tally {
  n: number;
  cpuUs: number;
}

/**
 * Runs the pair for about `ms` of wall time and adds the round trips (echo)
 * or datagrams (stream) and this process's CPU time (user + system,
 * process.cpuUsage) to `t`. CPU time, not wall time: on a machine shared with
 * other jobs the wall clock also counts the time the scheduler gave to them.
 */
function chunk(p: Pair, ms: number, t: Tally): void {
  const start = p.received();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < IN_FLIGHT; i++) p.send();
    p.clock.advance(1);
  }
  const c = process.cpuUsage(c0);
  t.n += p.received() - start;
  t.cpuUs += c.user + c.system;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "412,345 ±3.1 %": the median and half the min–max spread. */
function cell(xs: number[]): string {
  const m = median(xs);
  const half = ((Math.max(...xs) - Math.min(...xs)) / 2 / m) * 100;
  return `${fmt(m)} ±${half.toFixed(1)} %`;
}

/** Two-sided sign test: the probability of a split at least this uneven if neither build were faster. */
function signTest(up: number, down: number): number {
  const n = up + down;
  const k = Math.min(up, down);
  let tail = 0;
  let c = 1; // C(n, i)
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

/** The fewest blocks of n leaning one way that the sign test calls a difference. */
function signThreshold(n: number): number {
  let k = n;
  while (k > 0 && signTest(k - 1, n - k + 1) < 0.05) k--;
  return k;
}

const BUILDS: Build[] = ['out', 'none', 'esp'];

export default async function ipsecBench(ctx: BenchContext): Promise<BenchResult[]> {
  const rows: Cell[][] = [];
  const chunks = Math.max(10, Math.round((ctx.seconds * 1000) / (BLOCKS * CHUNK_MS)));
  for (const [work, size] of [
    ['echo', 64],
    ['echo', 1400],
    ['stream', 64],
    ['stream', 1400],
  ] as const) {
    const pairs = Object.fromEntries(BUILDS.map((b) => [b, pair(b, work, size)])) as Record<Build, Pair>;
    // Warm up: neighbor resolution, JIT.
    for (const b of BUILDS) {
      chunk(pairs[b], 150, { n: 0, cpuUs: 0 });
      if (pairs[b].received() === 0) throw new Error(`ipsec bench: nothing came through (${b}, ${work}, ${size} bytes)`);
    }
    const runs: Record<Build, number[]> = { out: [], none: [], esp: [] };
    for (let blk = 0; blk < BLOCKS; blk++) {
      const t: Record<Build, Tally> = { out: { n: 0, cpuUs: 0 }, none: { n: 0, cpuUs: 0 }, esp: { n: 0, cpuUs: 0 } };
      for (let i = 0; i < chunks; i++) {
        for (let k = 0; k < BUILDS.length; k++) {
          const b = BUILDS[(i + k) % BUILDS.length]!;
          chunk(pairs[b], CHUNK_MS, t[b]);
        }
      }
      for (const b of BUILDS) runs[b].push((t[b].n / t[b].cpuUs) * 1e6);
    }
    const ratios = runs.none.map((x, i) => x / runs.out[i]!);
    const r = median(ratios);
    const lo = Math.min(...ratios);
    const hi = Math.max(...ratios);
    const p = signTest(ratios.filter((x) => x > 1).length, ratios.filter((x) => x < 1).length);
    const verdict = p < 0.05 ? `not within noise: no policy ${r < 1 ? 'slower' : 'faster'} by ${(Math.abs(r - 1) * 100).toFixed(1)} %` : 'within noise';
    const what = `${work === 'echo' ? 'echo' : 'stream'} ${size} B`;
    rows.push([what, cell(runs.out), cell(runs.none), `${r.toFixed(3)} (${lo.toFixed(2)}–${hi.toFixed(2)})`, verdict, cell(runs.esp), (median(runs.esp) / median(runs.none)).toFixed(2)]);
  }
  return [
    {
      title: TITLE,
      columns: ['workload', 'compiled out', 'no policy', 'no policy / out, per block: median (min–max)', 'verdict', 'ESP AES-GCM-128', 'ESP / no policy'],
      rows,
      notes: [
        'echo: round trips/s (each 2 datagrams; ESP: 2 encryptions, 2 decryptions), 64 in flight; stream: datagrams/s into a sink, 64 per virtual-clock step',
        `two stacks in one process on the virtual link; compiled out = new Stack({ ipsec: false }); rates per CPU-second of the bench process`,
        `${BLOCKS} blocks; in each, the three builds alternate every ${CHUNK_MS} ms, ${chunks} times each; a cell is the median of the ${BLOCKS} block figures ±half their min–max spread`,
        `verdict: "within noise" unless the ${BLOCKS} blocks' no policy / out ratios lean one way more often than chance allows (two-sided sign test, p < 0.05: at least ${signThreshold(BLOCKS)} of ${BLOCKS} the same way)`,
      ],
    },
  ];
}

/**
 * TCP through the whole stack against the Linux kernel across a TAP (MTU
 * 1500, no offloads): bulk throughput kernel → tap6 and tap6 → kernel,
 * connections per second (kernel clients to a tap6 listener), and memory per
 * idle connection with 10,000 connections open (tap6 to tap6 on the virtual
 * link, in this process). The namespace and the TAP are the bench's own and
 * are removed afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../src/core/clock.ts';
import { tapUnavailableReason } from '../src/link/tap/index.ts';
import { VirtualLink } from '../src/link/vlink.ts';
import { Stack } from '../src/stack.ts';
import type { BenchContext, BenchResult, Cell } from './harness.ts';
import { openKernelRig } from './kernel-rig.ts';

const TITLE = 'TCP through the stack (MTU 1500, no offloads)';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SINK = `import net from 'node:net';
const [port] = process.argv.slice(2);
net.createServer((s) => { let n = 0; const t0 = process.hrtime.bigint();
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => { const sec = Number(process.hrtime.bigint() - t0) / 1e9; console.log(JSON.stringify({ bytes: n, sec })); s.end(); });
}).listen(Number(port), '::', () => console.log('ready'));`;

const SOURCE = `import net from 'node:net';
const [host, port, mb] = process.argv.slice(2);
const chunk = Buffer.alloc(65536, 7); let left = Number(mb) * 1048576;
const s = net.connect({ host, port: Number(port) }, () => {
  const go = () => { while (left > 0) { left -= chunk.length; if (!s.write(chunk)) { s.once('drain', go); return; } } s.end(); };
  go();
});
s.on('close', () => process.exit(0));`;

const CONNECTOR = `import net from 'node:net';
const [host, port, ms] = process.argv.slice(2);
let n = 0; const end = Date.now() + Number(ms);
const one = () => { if (Date.now() > end) { console.log(JSON.stringify({ n, ms: Number(ms) })); process.exit(0); }
  const s = net.connect({ host, port: Number(port) }, () => { n++; s.end(); }); s.on('close', one); s.on('error', one); };
for (let i = 0; i < 8; i++) one();`;

export default async function tcpBench(ctx: BenchContext): Promise<BenchResult[]> {
  const reason = tapUnavailableReason();
  if (reason !== undefined) return [{ title: TITLE, columns: [], rows: [], skipped: reason }];
  const rig = await openKernelRig('tcp');
  const { ns, tapName, stack, ll, kll } = rig;
  const dir = mkdtempSync(join(tmpdir(), 'tap6-bench-tcp-'));
  const keep = setInterval(() => {}, 1000);
  const down = (): void => {
    clearInterval(keep);
    rig.down();
    rmSync(dir, { recursive: true, force: true });
  };
  const w = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const run = (args: string[], timeoutMs = 120_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.on('exit', () => {
        clearTimeout(t);
        resolve(out);
      });
      c.on('error', reject);
    });
  try {
    const mb = Math.max(16, Math.round(32 * ctx.seconds));
    const rows: Cell[][] = [];

    // kernel → tap6: a node:net source in the namespace, a discard listener on tap6.
    let rx = 0;
    let t0 = 0;
    let t1 = 0;
    const sink = stack.net.createServer((s) => {
      s.on('data', (d: Buffer) => {
        if (rx === 0) t0 = performance.now();
        rx += d.length;
        t1 = performance.now();
      });
      s.on('end', () => s.end());
      s.on('error', () => {});
    });
    await new Promise<void>((r) => sink.listen(9000, () => r()));
    await run([w('source.mjs', SOURCE), ll, '9000', String(mb)]);
    rows.push(['kernel → tap6', `${mb} MiB`, (rx / ((t1 - t0) / 1000) / 1e6).toFixed(1), '-']);

    // tap6 → kernel: a tap6 client writing into a node:net sink in the namespace.
    const sinkProc = spawn('ip', ['netns', 'exec', ns, process.execPath, w('sink.mjs', SINK), '9001'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let sinkOut = '';
    sinkProc.stdout.on('data', (d: Buffer) => (sinkOut += d.toString()));
    for (let i = 0; i < 200 && !sinkOut.includes('ready'); i++) await sleep(20);
    const c = stack.net.connect({ host: `${kll}%${tapName}`, port: 9001 });
    await new Promise<void>((r, j) => {
      c.once('connect', () => r());
      c.once('error', j);
    });
    const chunk = Buffer.alloc(65536, 7);
    let left = mb * 1048576;
    await new Promise<void>((resolve) => {
      const go = () => {
        while (left > 0) {
          left -= chunk.length;
          if (!c.write(chunk)) return void c.once('drain', go);
        }
        c.end();
        c.once('close', () => resolve());
      };
      go();
    });
    for (let i = 0; i < 200 && !sinkOut.includes('bytes'); i++) await sleep(20);
    sinkProc.kill('SIGKILL');
    const res = JSON.parse(sinkOut.split('\n').find((l) => l.includes('bytes')) ?? '{"bytes":0,"sec":1}') as { bytes: number; sec: number };
    rows.push(['tap6 → kernel', `${mb} MiB`, (res.bytes / res.sec / 1e6).toFixed(1), '-']);

    // Connections per second: kernel clients (8 at a time) to a tap6 listener that closes at once.
    const accept = stack.net.createServer((s) => {
      s.on('error', () => {});
      s.end();
    });
    await new Promise<void>((r) => accept.listen(9002, () => r()));
    const ms = Math.round(ctx.seconds * 1000);
    const cps = JSON.parse((await run([w('conn.mjs', CONNECTOR), ll, '9002', String(ms)])).trim().split('\n').pop() ?? '{"n":0,"ms":1}') as { n: number; ms: number };
    rows.push(['connections (kernel → tap6)', `${ms} ms`, '-', String(Math.round(cps.n / (cps.ms / 1000)))]);
    sink.close();
    accept.close();

    // Memory per idle connection: 10,000 connections between two stacks in this process.
    rows.push(['idle connection memory', '10,000 open', '-', `${(await idleMemory()).toFixed(0)} B/endpoint`]);
    return [
      {
        title: TITLE,
        columns: ['measure', 'size', 'MB/s', 'rate'],
        rows,
        notes: ['Throughput counts payload bytes. For scale (DESIGN §5): gVisor netstack ≈ 80 MB/s each way on a TAP at MTU 1500; target here 120 MB/s.'],
      },
    ];
  } finally {
    down();
  }
}

async function idleMemory(): Promise<number> {
  const clock = new RealClock();
  const link = new VirtualLink({ clock, maxInFlight: 1 << 16 });
  const mk = (m: number) => {
    const s = new Stack({ clock, tcp: { rcvBuf: 64 * 1024, sndBuf: 64 * 1024 } });
    const i = s.addEthernet({ name: 'v0', driver: link.port(), mac: Uint8Array.of(2, 0, 0, 0, 0, m) });
    s.ip6.if6Of(i)!.dadTransmits = 0;
    s.up(i);
    return s;
  };
  const a = mk(1);
  const b = mk(2);
  try {
    const kept: unknown[] = [];
    const l = b.net.createServer((s) => kept.push(s));
    await new Promise<void>((r) => l.listen(9100, () => r()));
    b.tcp.synQueueLimit = 20_000;
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const n = 10_000;
    let up = 0;
    for (let i = 0; i < n; i++) {
      const c = a.net.connect({ host: 'fe80::ff:fe00:2%v0', port: 9100 });
      c.on('connect', () => up++);
      c.on('error', () => {});
      kept.push(c);
      if (i % 500 === 499) await sleep(20);
    }
    for (let i = 0; i < 500 && up < n; i++) await sleep(20);
    globalThis.gc?.();
    const after = process.memoryUsage().heapUsed;
    return (after - before) / (2 * Math.max(up, 1));
  } finally {
    a.close();
    b.close();
  }
}

/**
 * Raw frame rate of the TAP binding alone (src/link/tap), both directions.
 *
 * Setup, all created here and removed afterwards (also on error and SIGINT):
 * a network namespace with IPv6 off, a bridge (STP off, forward delay 0,
 * learning off on the ports) and two TAPs enslaved to it. A child process
 * (tap-sender.ts) owns TAP A and writes frames to an unknown unicast MAC,
 * which the bridge floods to TAP B, read by this process. Sender and reader
 * run in different processes, so each gets a core.
 *
 * - write(), no syscall: the binding's own cost per call (see callCost)
 * - tx write():        A's writer alone, B not read (one write() per frame)
 * - tx writeBatch():   the same with writeBatch() of 64 frames
 * - rx (queue drain):  the writer queues BACKLOG frames on B (txqueuelen
 *                      raised to 65536) while B is not read, then this
 *                      process reads them all: the binding's receive rate
 * - tx + rx at once:   the writer runs while this process reads B; loss =
 *                      frames accepted by A - frames received on B (dropped
 *                      by the kernel when B's queue is full)
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { TapDevice, tapUnavailableReason, type TapFrameBatch } from '../src/link/tap/index.ts';
import type { BenchContext, BenchResult, Cell } from './harness.ts';
import { BENCH_ETHERTYPE, type DoneMessage, type RunMessage } from './tap-sender.ts';

const TITLE = 'TAP binding: raw frames through a kernel bridge';
const SIZES = [64, 1514];
/** Frames queued on B before a drain; B's txqueuelen is raised to hold them. */
const BACKLOG = 256 * 200;
const DRAIN_REPEATS = 3;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // cleanup of something already gone
  }
}

class Topology {
  readonly ns = `t6bench${process.pid}`;
  readonly nameA = `t6bA${process.pid % 10000000}`;
  readonly nameB = `t6bB${process.pid % 10000000}`;
  child: ChildProcess | undefined;
  tapB: TapDevice | undefined;
  #pending: ((m: DoneMessage) => void) | undefined;
  #cleaned = false;

  async up(): Promise<void> {
    ip('netns', 'add', this.ns);
    const sysctl = (key: string): string => ip('netns', 'exec', this.ns, 'sysctl', '-qw', `${key}=1`);
    sysctl('net.ipv6.conf.all.disable_ipv6');
    sysctl('net.ipv6.conf.default.disable_ipv6');

    this.child = fork(fileURLToPath(new URL('./tap-sender.ts', import.meta.url)), [this.nameA], {
      execArgv: ['--import=tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      const child = this.child!;
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`tap-sender exited (${code}) before it was ready`)));
      child.on('message', (m: { type: string }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'done') this.#pending?.(m as unknown as DoneMessage);
      });
    });
    this.child.removeAllListeners('exit');

    this.tapB = TapDevice.open({ name: this.nameB });
    const inNs = (...args: string[]): string => ip('-n', this.ns, ...args);
    ip('link', 'set', this.nameA, 'netns', this.ns);
    ip('link', 'set', this.nameB, 'netns', this.ns);
    inNs('link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    for (const dev of [this.nameA, this.nameB]) {
      inNs('link', 'set', dev, 'txqueuelen', dev === this.nameB ? '65536' : '1000', 'master', 'br0');
      inNs('link', 'set', dev, 'type', 'bridge_slave', 'learning', 'off', 'flood', 'on');
      inNs('link', 'set', dev, 'up');
    }
    inNs('link', 'set', 'br0', 'up');
  }

  send(msg: RunMessage): Promise<DoneMessage> {
    return new Promise((resolve) => {
      this.#pending = resolve;
      this.child!.send(msg);
    });
  }

  counter(dev: string, stat: string): number {
    return Number(ip('netns', 'exec', this.ns, 'cat', `/sys/class/net/${dev}/statistics/${stat}`).trim());
  }

  /** Synchronous, idempotent: safe from 'exit' and signal handlers. */
  down(): void {
    if (this.#cleaned) return;
    this.#cleaned = true;
    quietly(() => this.tapB?.close());
    if (this.child !== undefined && this.child.exitCode === null) {
      quietly(() => this.child!.send({ type: 'exit' }));
      quietly(() => this.child!.kill('SIGKILL'));
    }
    quietly(() => ip('netns', 'del', this.ns));
    for (const name of [this.nameA, this.nameB]) quietly(() => ip('link', 'del', name));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(5);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * The binding's own cost per write(): the test hook answers EAGAIN before
 * write(2) and a zero-length queue drops the frame, so this times the JS
 * wrapper, the N-API call and the bookkeeping alone.
 */
function callCost(ms: number): Cell[] {
  const tap = TapDevice.open({ name: `t6bC${process.pid % 10000000}`, txQueueFrames: 0 });
  try {
    const frame = new Uint8Array(64);
    tap._testFailNextWrites(2 ** 32 - 1);
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms / 2) {
      for (let i = 0; i < 1024; i++) tap.write(frame);
      n += 1024;
      now = performance.now();
    }
    const rate = n / ((now - start) / 1000);
    return ['64 B', 'write(), no syscall', rate, '-', '-', `binding cost ${Math.round(1e9 / rate)} ns per write()`];
  } finally {
    tap.close();
  }
}

/** Reads and discards whatever is queued on the device until it is quiet. */
async function flush(tap: TapDevice): Promise<void> {
  let last = performance.now();
  tap.onReceive(() => {
    last = performance.now();
  });
  await waitFor(() => performance.now() - last > 30, 5000);
  tap.onReceive(null);
}

/** Counts the frames of one run (ethertype and run id), touching each frame's header. */
class Counter {
  received = 0;
  batches = 0;
  readonly #id: number;

  constructor(id: number) {
    this.#id = id;
  }

  count(batch: TapFrameBatch): void {
    this.batches++;
    const slab = batch.slab;
    for (let i = 0; i < batch.count; i++) {
      const o = batch.offset(i);
      if (
        ((slab[o + 12]! << 8) | slab[o + 13]!) === BENCH_ETHERTYPE &&
        ((slab[o + 14]! << 24) | (slab[o + 15]! << 16) | (slab[o + 16]! << 8) | slab[o + 17]!) >>> 0 === this.#id
      ) {
        this.received++;
      }
    }
  }
}

export default async function tapBench(ctx: BenchContext): Promise<BenchResult[]> {
  const reason = tapUnavailableReason();
  if (reason !== undefined) return [{ title: TITLE, columns: [], rows: [], skipped: reason }];

  const topo = new Topology();
  const onSignal = (sig: NodeJS.Signals): void => {
    topo.down();
    process.kill(process.pid, sig);
  };
  const onExit = (): void => topo.down();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', onExit);

  const rows: Cell[][] = [];
  const ms = ctx.seconds * 1000;
  let runId = 0;
  try {
    rows.push(callCost(ms));
    await topo.up();
    const b = topo.tapB!;
    for (const size of SIZES) {
      const mb = (frames: number, s: number): number => (frames * size) / s / 1e6;

      // Transmit alone.
      for (const mode of ['write', 'writeBatch'] as const) {
        const before = topo.counter(topo.nameA, 'rx_packets');
        const r = await topo.send({ type: 'run', mode, size, ms, runId: ++runId });
        const kernelGot = topo.counter(topo.nameA, 'rx_packets') - before;
        const s = r.elapsedMs / 1000;
        rows.push([
          `${size} B`,
          mode === 'write' ? 'tx write()' : 'tx writeBatch(64)',
          r.accepted / s,
          mb(r.accepted, s),
          '-',
          kernelGot === r.accepted && r.txErrors === 0 ? 'kernel got all' : `kernel got ${kernelGot}, errors ${r.txErrors}`,
        ]);
      }

      // Receive alone: the sender fills B's queue while nobody reads it,
      // then this process drains it (full batches, no competing writer).
      const drains: number[] = [];
      let drainLoss = 0;
      for (let rep = 0; rep < DRAIN_REPEATS; rep++) {
        await flush(b);
        const id = ++runId;
        const droppedBefore = topo.counter(topo.nameB, 'tx_dropped');
        const r = await topo.send({ type: 'run', mode: 'write', size, ms: 10_000, frames: BACKLOG, runId: id });
        const expected = r.accepted - (topo.counter(topo.nameB, 'tx_dropped') - droppedBefore);
        const rx = new Counter(id);
        let done = 0;
        const t0 = performance.now();
        b.onReceive((batch) => {
          rx.count(batch);
          if (rx.received >= expected && done === 0) done = performance.now();
        });
        await waitFor(() => done !== 0, 5000);
        b.onReceive(null);
        if (done === 0) throw new Error(`rx drain: got ${rx.received} of ${expected} frames in 5 s`);
        drains.push(rx.received / ((done - t0) / 1000));
        drainLoss += r.accepted - rx.received;
      }
      const drainRate = median(drains);
      rows.push([
        `${size} B`,
        'rx (queue drain)',
        drainRate,
        mb(drainRate, 1),
        drainLoss === 0 ? '0' : `${drainLoss} frames`,
        `median of ${DRAIN_REPEATS} drains of ${BACKLOG.toLocaleString('en-US')} queued frames`,
      ]);

      // Both at once: the sender writes while this process reads.
      await flush(b);
      const id = ++runId;
      const rx = new Counter(id);
      b.onReceive((batch) => rx.count(batch));
      const droppedBefore = topo.counter(topo.nameB, 'tx_dropped');
      const r = await topo.send({ type: 'run', mode: 'write', size, ms, runId: id });
      await sleep(100); // let the tail arrive
      b.onReceive(null);
      const s = r.elapsedMs / 1000;
      const lost = r.accepted - rx.received;
      const kernelDropped = topo.counter(topo.nameB, 'tx_dropped') - droppedBefore;
      rows.push([
        `${size} B`,
        'tx + rx at once',
        rx.received / s,
        mb(rx.received, s),
        `${((100 * lost) / Math.max(1, r.accepted)).toFixed(1)} %`,
        `sender ${Math.round(r.accepted / s).toLocaleString('en-US')}/s; ${(rx.received / Math.max(1, rx.batches)).toFixed(1)} frames/batch; kernel dropped ${kernelDropped}`,
      ]);
    }
  } finally {
    topo.down();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  }

  return [
    {
      title: TITLE,
      columns: ['frame', 'direction', 'frames/s', 'MB/s', 'loss', 'check'],
      rows,
      notes: [
        'Sender (child process, TAP A) and reader (this process, TAP B) on a bridge in a private namespace.',
        'tx: write loop alone, B unread. rx (queue drain): B read alone after the sender queued frames on it.',
        'tx + rx at once: reader on B while the sender writes; loss = accepted by A - received on B.',
        'Frame sizes include the Ethernet header, not the FCS; MB/s counts frame bytes.',
      ],
    },
  ];
}

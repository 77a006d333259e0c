/**
 * TCP against the Linux kernel, the bulk checks of issue 7:
 *  - a node:net server in the namespace receives 100 MB from a tap6 client
 *    and sends 100 MB to one, byte-identical (SHA-256 compared both ends);
 *  - the same kernel peer through tap6's own fault injector on the TAP (the
 *    kernels here have no netem): loss=2%,reorder=5%,dup=1%,delay=5ms on
 *    both directions, 50 MB each way (the two transfers run at once, on two
 *    connections), byte-identical, and the injector and TCP's retransmission
 *    counters show the impairment was real;
 *  - `tap6 up --impair` (the daemon as its own process) and `tap6 ifconfig
 *    IF impair / -impair`: ping6 through the lossy link, the counters in
 *    ifconfig and netstat -s (the client commands run in this process).
 *
 * The peer is one script run in the namespace: `sink PORT` hashes what each
 * connection sends and prints the digest at its end; `source PORT N` sends
 * N bytes of a fixed pattern (the same `pattern` as here) and prints the
 * digest of what it sent.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTapAvailable } from '../../src/link/tap/index.ts';
import type { Socket } from '../../src/tcp/socket.ts';
import { type KernelRig, kernelRig } from '../helpers/kernel.ts';
import { startDaemon, toNamespace } from '../helpers/daemon.ts';
import { canUseNetns, createNetns, waitFor } from '../helpers/netns.ts';
import { runClientCommand } from '../../tools/cli.ts';
import { capture } from '../tools/rig.ts';

const maybe = canUseNetns().ok && isTapAvailable() ? test.serial : test.skip;

const MB = 1_000_000;
const CHUNK = 1 << 20;

/** Byte `i` of every stream here (the peer script has the same formula). */
function pattern(off: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    const j = off + i;
    b[i] = (j * 131 + (j >>> 8)) & 0xff;
  }
  return b;
}

function patternSha(total: number): string {
  const h = createHash('sha256');
  for (let off = 0; off < total; off += CHUNK) h.update(pattern(off, Math.min(CHUNK, total - off)));
  return h.digest('hex');
}

const PEER = `import net from 'node:net';
import { createHash } from 'node:crypto';
const [mode, port, size] = process.argv.slice(2);
const CHUNK = ${CHUNK};
function pattern(off, n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) { const j = off + i; b[i] = (j * 131 + (j >>> 8)) & 0xff; }
  return b;
}
const say = (o) => console.log(JSON.stringify({ mode, ...o }));
net.createServer((s) => {
  const t0 = performance.now();
  const h = createHash('sha256');
  let n = 0;
  s.on('error', (e) => say({ error: e.message, bytes: n }));
  if (mode === 'sink') {
    s.on('data', (d) => { h.update(d); n += d.length; });
    s.on('end', () => { say({ bytes: n, sha256: h.digest('hex'), ms: performance.now() - t0 }); s.end(); });
  } else {
    const total = Number(size);
    const pump = () => {
      while (n < total) {
        const c = pattern(n, Math.min(CHUNK, total - n));
        n += c.length;
        h.update(c);
        if (!s.write(c)) { s.once('drain', pump); return; }
      }
      s.end(() => say({ bytes: n, sha256: h.digest('hex'), ms: performance.now() - t0 }));
    };
    pump();
  }
}).listen(Number(port), '::', () => console.log('ready'));
`;

interface PeerLine {
  mode: string;
  bytes: number;
  sha256?: string;
  ms?: number;
  error?: string;
}

/** Starts the peer script in the namespace; resolves once it listens. */
async function startPeer(t: ExecutionContext, r: KernelRig, args: string[]): Promise<{ lines: () => PeerLine[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tap6-tcpbulk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'peer.mjs');
  writeFileSync(script, PEER);
  const child = r.ns.spawn([process.execPath, script, ...args]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(`the ${args[0]} peer`, () => (out.includes('ready') ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message}; stderr: ${err}`);
  });
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as PeerLine);
  return { lines };
}

async function connect(r: KernelRig, port: number): Promise<Socket> {
  const c = r.stack.net.connect({ host: `${r.kll}%${r.tapName}`, port });
  await new Promise<void>((res, rej) => {
    c.once('connect', () => res());
    c.once('error', rej);
  });
  return c;
}

/** Writes `total` bytes of the pattern with backpressure, then FIN. */
async function sendPattern(c: Socket, total: number): Promise<void> {
  for (let off = 0; off < total; off += CHUNK) {
    const chunk = pattern(off, Math.min(CHUNK, total - off));
    if (!c.write(chunk)) {
      await new Promise<void>((res, rej) => {
        const onErr = (e: Error) => rej(e);
        c.once('error', onErr);
        c.once('drain', () => {
          c.off('error', onErr);
          res();
        });
      });
    }
  }
  await new Promise<void>((res) => c.end(() => res()));
}

/** Hashes what arrives until the peer's FIN. */
function receiveAll(c: Socket, progress: { got: number }): Promise<string> {
  const h = createHash('sha256');
  return new Promise<string>((res, rej) => {
    c.on('data', (d: Buffer) => {
      h.update(d);
      progress.got += d.length;
    });
    c.once('end', () => res(h.digest('hex')));
    c.once('error', rej);
  });
}

/** Rejects after `ms` (real time) with what `what()` says; the timer is cleared either way. */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out after ${ms / 1000} s: ${what()}`)), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const rate = (bytes: number, ms: number) => `${(bytes / MB).toFixed(0)} MB in ${(ms / 1000).toFixed(1)} s (${(bytes / MB / (ms / 1000)).toFixed(1)} MB/s)`;

/** What a stuck transfer looks like from tap6's side, for the failure message. */
function tcpState(r: KernelRig, c: Socket): string {
  const s = r.stack.tcp.stats.c;
  const f = r.stack.impairment(r.tapName)?.injector.stats.c;
  return `state ${c.tcpState}; tcp rexmt ${s.sndRexmitPack} fast ${s.fastRexmits} rto ${s.rexmtTimeouts} ooo ${s.rcvOooSegs}; faults ${JSON.stringify(f ?? {})}`;
}

/** The kernel's TCP counters in the namespace (/proc/net/snmp Tcp: and /proc/net/netstat TcpExt:). */
async function kernelTcpStats(r: KernelRig): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    const lines = (await r.ns.exec(['cat', file])).stdout.split('\n');
    for (let i = 0; i + 1 < lines.length; i++) {
      const [kind, ...keys] = lines[i]!.trim().split(/\s+/);
      if (kind !== 'Tcp:' && kind !== 'TcpExt:') continue;
      const vals = lines[i + 1]!.trim().split(/\s+/).slice(1);
      keys.forEach((key, j) => (out[key] = Number(vals[j])));
      i++;
    }
  }
  return out;
}

maybe('100 MB from a tap6 client to a node:net server in the namespace, and 100 MB back from one, byte-identical', async (t) => {
  t.timeout(240_000);
  const N = 100 * MB;
  const want = patternSha(N);
  const r = await kernelRig(t);
  const sink = await startPeer(t, r, ['sink', '7001']);
  const source = await startPeer(t, r, ['source', '7002', String(N)]);

  const up = await connect(r, 7001);
  t.teardown(() => up.destroy());
  let t0 = performance.now();
  await within(sendPattern(up, N), 120_000, () => tcpState(r, up));
  const sunk = await within(
    waitFor('the sink digest', () => sink.lines()[0], 120_000),
    125_000,
    () => tcpState(r, up),
  );
  const upMs = performance.now() - t0;
  t.falsy(sunk.error);
  t.is(sunk.bytes, N);
  t.is(sunk.sha256, want, 'the kernel side received the same bytes');
  t.log(`tap6 → kernel: ${rate(N, upMs)}`);

  const down = await connect(r, 7002);
  t.teardown(() => down.destroy());
  const progress = { got: 0 };
  t0 = performance.now();
  const got = await within(receiveAll(down, progress), 120_000, () => `${progress.got} bytes; ${tcpState(r, down)}`);
  const downMs = performance.now() - t0;
  t.is(progress.got, N);
  t.is(got, want, 'tap6 received the same bytes');
  t.is(source.lines()[0]?.sha256, want, 'and the kernel side sent them');
  t.log(`kernel → tap6: ${rate(N, downMs)}`);
  t.is(r.stack.tcp.stats.c.rcvBadSum, 0);
});

maybe('through the fault injector (loss 2%, reorder 5%, dup 1%, delay 5 ms, both ways): 50 MB each way at once, byte-identical', async (t) => {
  t.timeout(600_000);
  const N = 50 * MB;
  const SPEC = 'loss=2%,reorder=5%,dup=1%,delay=5ms';
  const SEED = 7;
  const want = patternSha(N);
  const r = await kernelRig(t);
  const sink = await startPeer(t, r, ['sink', '7001']);
  await startPeer(t, r, ['source', '7002', String(N)]);
  const imp = r.stack.setImpairment(r.tapName, SPEC, { seed: SEED });
  t.true(imp.ok);
  const fi = r.stack.impairment(r.tapName)!.injector;
  t.like(fi.spec('tx'), { loss: 0.02, reorder: 0.05, dup: 0.01, delayMs: 5 });
  t.like(fi.spec('rx'), { loss: 0.02, reorder: 0.05, dup: 0.01, delayMs: 5 });
  t.log(`impairment ${SPEC}, seed ${SEED}`);
  const tcp0 = r.stack.tcp.stats.snapshot();

  const up = await connect(r, 7001);
  t.teardown(() => up.destroy());
  const down = await connect(r, 7002);
  t.teardown(() => down.destroy());
  const progress = { got: 0 };
  const t0 = performance.now();
  let upMs = 0;
  let downMs = 0;
  const sending = sendPattern(up, N).then(() => waitFor('the sink digest', () => sink.lines()[0], 600_000, 100));
  const receiving = receiveAll(down, progress);
  const [sunk, got] = await within(
    Promise.all([sending.then((x) => ((upMs = performance.now() - t0), x)), receiving.then((x) => ((downMs = performance.now() - t0), x))]),
    540_000,
    () => `up ${tcpState(r, up)} | down ${progress.got} bytes, ${tcpState(r, down)}`,
  );
  t.falsy(sunk.error);
  t.is(sunk.bytes, N);
  t.is(sunk.sha256, want, 'tap6 → kernel byte-identical');
  t.is(progress.got, N);
  t.is(got, want, 'kernel → tap6 byte-identical');
  t.log(`tap6 → kernel: ${rate(N, upMs)}; kernel → tap6: ${rate(N, downMs)}`);

  const f = fi.stats.c;
  const tcp = r.stack.tcp.stats.c;
  t.log(`faults: ${JSON.stringify(f)}`);
  t.log(`tcp: rexmit ${tcp.sndRexmitPack - tcp0.sndRexmitPack} segments, ${tcp.fastRexmits - tcp0.fastRexmits} fast retransmits, ${tcp.rexmtTimeouts - tcp0.rexmtTimeouts} timeouts, ${tcp.rcvOooSegs - tcp0.rcvOooSegs} out-of-order, ${tcp.rcvDupBytes - tcp0.rcvDupBytes} duplicate bytes`);
  t.true(f.lost > 0 && f.duplicated > 0 && f.reordered > 0 && f.delayed > 0, 'the injector impaired the link');
  t.is(f.overflow, 0);
  t.true(tcp.sndRexmitPack > tcp0.sndRexmitPack, 'tap6 retransmitted');
  t.true(tcp.rcvOooSegs > tcp0.rcvOooSegs, 'tap6 queued segments out of order');
  t.true(tcp.rcvDupBytes > tcp0.rcvDupBytes, 'tap6 saw duplicates');
  t.is(tcp.rcvBadSum, 0);
  const k = await kernelTcpStats(r);
  t.log(`kernel: ${k['RetransSegs']} segments retransmitted, ${k['TCPTimeouts']} timeouts, ${k['TCPLossProbes']} tail loss probes, ${k['TCPSackRecovery']} SACK recoveries, ${k['TCPDSACKRecv']} D-SACKs received, ${k['TCPSACKReorder']} reorderings seen via SACK`);
});

// ---- the daemon ---------------------------------------------------------------------

/** A client command in this process (runClientCommand, as tools/tap6.ts runs it) against the daemon's socket. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capture();
  const code = (await runClientCommand(args[0]!, args.slice(1), io)) ?? -1;
  return { code, stdout: io.lines.join('\n'), stderr: io.errs.join('\n') };
}

maybe('tap6 up --impair: a lossy link to the kernel, shown by ifconfig and netstat -s; ifconfig IF -impair heals it', async (t) => {
  t.timeout(120_000);
  const ns = await createNetns(t);
  const d = await startDaemon(t, 't6i', ['--impair', 'loss=20%', '--impair', 'delay=2ms', '--log-level', 'warn']);
  const { tap, ctl } = d;
  t.regex(d.err(), new RegExp(`${tap}: impaired \\(loss=20%,delay=2ms\\), seed \\d+`));
  t.regex(d.out(), /^\timpair loss=20%,delay=2ms$/m, 'the interface as printed at start');
  const kll = await toNamespace(ns, tap);

  // 40 echoes over 4 s (time for Neighbor Discovery to retry through the loss): about
  // one in three is lost one way or the other; some get through.
  const p = await cli(['ping6', '-c', '40', '-i', '0.1', '-W', '2', '--ctl', ctl, `${kll}%${tap}`]);
  t.regex(p.stdout, /40 packets transmitted, \d+ received/, p.stderr);
  const received = Number(/(\d+) received/.exec(p.stdout)![1]);
  t.true(received > 0, p.stdout);

  const j = await cli(['ifconfig', tap, '--json', '--ctl', ctl]);
  t.is(j.code, 0, j.stderr);
  const info = (JSON.parse(j.stdout) as { interfaces: { impair?: { spec: string; seed: number; counters: Record<string, number> } }[] }).interfaces[0]!;
  t.is(info.impair?.spec, 'loss=20%,delay=2ms');
  t.true(info.impair!.counters['lost']! > 0, JSON.stringify(info.impair));
  t.true(info.impair!.counters['delayed']! > 0);
  t.true(info.impair!.counters['passed']! > 0);

  const s = await cli(['netstat', '-s', '-p', 'faults', '--ctl', ctl]);
  t.is(s.code, 0, s.stderr);
  t.regex(s.stdout, new RegExp(`^faults ${tap}:$`, 'm'));
  t.regex(s.stdout, /^\t[1-9]\d* frames dropped \(loss\)$/m);

  // Change it at run time, then take it away.
  t.is((await cli(['ifconfig', tap, 'impair', 'tx.loss=100%', '--ctl', ctl])).code, 0);
  t.regex((await cli(['ifconfig', tap, '--ctl', ctl])).stdout, /^\timpair tx\.loss=100%$/m);
  const bad = await cli(['ifconfig', tap, 'impair', 'loss=200%', '--ctl', ctl]);
  t.is(bad.code, 64);
  t.regex(bad.stderr, /'loss' must be at most 1 \(or 100%\), got 200%/);
  const none = await cli(['ping6', '-c', '2', '-i', '0.2', '-W', '1', '--ctl', ctl, `${kll}%${tap}`]);
  t.regex(none.stdout, /2 packets transmitted, 0 received/);
  t.is((await cli(['ifconfig', tap, '-impair', '--ctl', ctl])).code, 0);
  t.notRegex((await cli(['ifconfig', tap, '--ctl', ctl])).stdout, /impair/);
  const gone = await cli(['netstat', '-s', '-p', 'faults', '--ctl', ctl]);
  t.is(gone.code, 1, 'the counters go with the injector');
  const ok = await cli(['ping6', '-c', '3', '-i', '0.2', '--ctl', ctl, `${kll}%${tap}`]);
  t.regex(ok.stdout, /3 packets transmitted, 3 received/);

  d.child.kill('SIGINT');
  t.is(await d.exited, 0, d.err());
});

// Tests of the TAP binding against the real kernel (needs root / CAP_NET_ADMIN;
// skipped with the reason otherwise). Every device and namespace a test makes
// is removed in afterEach.always / after.always, even when the test fails.
// Traffic goes only to the TAPs and namespaces created here.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

import { TapDevice, TapError, tapUnavailableReason, type TapFrameBatch } from '../../src/link/tap/index.ts';

const unavailable = tapUnavailableReason();
const tapTest = unavailable === undefined ? test.serial : test.skip;
const title = (s: string): string => (unavailable === undefined ? s : `${s} (skipped: ${unavailable})`);

// ---- bookkeeping -------------------------------------------------------------

let counter = 0;
const devices: TapDevice[] = [];
const names: string[] = [];
const namespaces: string[] = [];

/** A fresh interface name, at most 15 bytes. */
function uniqueName(): string {
  const name = `t6t${process.pid % 1000000}${String.fromCharCode(97 + (counter++ % 26))}${Math.floor(counter / 26)}`;
  names.push(name);
  return name;
}

function open(opts: Parameters<typeof TapDevice.open>[0] = {}): TapDevice {
  const tap = TapDevice.open(opts);
  devices.push(tap);
  names.push(tap.name);
  return tap;
}

function newNamespace(): string {
  const ns = `t6ns${process.pid}${counter++}`;
  run('ip', 'netns', 'add', ns);
  namespaces.push(ns);
  return ns;
}

function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, cmd: string, ...args: string[]): string {
  return run('ip', 'netns', 'exec', ns, cmd, ...args);
}

function tryRun(cmd: string, ...args: string[]): void {
  try {
    run(cmd, ...args);
  } catch {
    // already gone
  }
}

test.afterEach.always(() => {
  for (const tap of devices.splice(0)) tap.close();
  for (const name of names.splice(0)) {
    if (existsSync(`/sys/class/net/${name}`)) tryRun('ip', 'link', 'del', name);
  }
});

test.after.always(() => {
  for (const ns of namespaces.splice(0)) tryRun('ip', 'netns', 'del', ns);
});

// ---- helpers -------------------------------------------------------------------

function sysfs(name: string, file: string, ns?: string): string {
  const path = `/sys/class/net/${name}/${file}`;
  return (ns === undefined ? readFileSync(path, 'utf8') : inNs(ns, 'cat', path)).trim();
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** IEEE 802 "local experimental" ethertype: no protocol in the kernel handles it. */
const ETHERTYPE_TEST = 0x88b5;

/** An Ethernet frame dst/src/ethertype + payload with a sequence number. */
function testFrame(dst: Uint8Array, seq: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0);
  f.set([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01], 6); // locally administered source
  f[12] = ETHERTYPE_TEST >> 8;
  f[13] = ETHERTYPE_TEST & 0xff;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function ethertype(f: Uint8Array): number {
  return (f[12]! << 8) | f[13]!;
}

function expectTapError(t: { fail(m: string): void }, err: unknown): TapError {
  if (!(err instanceof TapError)) {
    t.fail(`expected a TapError, got ${String(err)}`);
    throw err;
  }
  return err;
}

// ---- opening -------------------------------------------------------------------

tapTest(title('the kernel picks a name when none is given'), (t) => {
  const tap = open();
  t.regex(tap.name, /^tap\d+$/);
  t.true(existsSync(`/sys/class/net/${tap.name}`));
  t.is(sysfs(tap.name, 'tun_flags'), '0x1002'); // IFF_TAP | IFF_NO_PI
});

tapTest(title('a name longer than 15 bytes is refused with EINVAL before the kernel sees it'), (t) => {
  const name = `t6long${process.pid}xxxxxxxxxxxx`;
  const err = expectTapError(t, t.throws(() => open({ name })));
  t.is(err.code, 'EINVAL');
  t.is(err.errno, 22);
  t.is(err.syscall, 'ioctl(TUNSETIFF)');
  t.regex(err.message, /at most 15 bytes/);
  t.false(existsSync(`/sys/class/net/${name.slice(0, 15)}`));
});

tapTest(title('opening a name that is held elsewhere fails with EBUSY'), (t) => {
  const tap = open({ name: uniqueName() });
  const err = expectTapError(t, t.throws(() => open({ name: tap.name })));
  t.is(err.code, 'EBUSY');
  t.is(err.errno, 16);
  t.is(err.syscall, 'ioctl(TUNSETIFF)');
  t.is(err.message, `tap: ${tap.name} is busy (EBUSY) — another process holds it`);
});

tapTest(title('vnetHdr and transmit offloads are not supported yet'), (t) => {
  const err = expectTapError(t, t.throws(() => open({ vnetHdr: true })));
  t.is(err.code, 'EOPNOTSUPP');
  const tap = open({ up: true });
  const err2 = expectTapError(t, t.throws(() => tap.write(testFrame(BROADCAST, 0), { csumStart: 54, csumOffset: 6 })));
  t.is(err2.code, 'EOPNOTSUPP');
});

tapTest(title('bad options and frames are caller bugs'), (t) => {
  t.is(expectTapError(t, t.throws(() => open({ readBatch: 0 }))).code, 'EINVAL');
  t.is(expectTapError(t, t.throws(() => open({ txQueueFrames: 1.5 }))).code, 'EINVAL');
  t.is(expectTapError(t, t.throws(() => open({ name: 'a/b' }))).code, 'EINVAL');
  const tap = open({ up: true });
  t.is(expectTapError(t, t.throws(() => tap.write(new Uint8Array(13)))).code, 'EINVAL');
  t.is(expectTapError(t, t.throws(() => tap.write(new Uint8Array(65554)))).code, 'EINVAL');
  t.throws(() => tap.write('frame' as unknown as Uint8Array), { instanceOf: TypeError });
  t.throws(() => tap.writeBatch([testFrame(BROADCAST, 0), new Uint16Array(32) as unknown as Uint8Array]), {
    instanceOf: TypeError,
  });
});

// ---- configuration -------------------------------------------------------------

tapTest(title('kernel MAC is 6 bytes, not all zero, and matches sysfs'), (t) => {
  const tap = open({ name: uniqueName() });
  const mac = tap.kernelMac;
  t.is(mac.length, 6);
  t.true(mac.some((b) => b !== 0));
  t.deepEqual(mac, macBytes(sysfs(tap.name, 'address')));
});

tapTest(title('MTU can be set and read back'), (t) => {
  const tap = open({ name: uniqueName(), mtu: 1400 });
  t.is(tap.mtu, 1400);
  tap.mtu = 9000;
  t.is(tap.mtu, 9000);
  t.is(sysfs(tap.name, 'mtu'), '9000');
  const err = expectTapError(t, t.throws(() => (tap.mtu = 10)));
  t.is(err.code, 'EINVAL');
  t.is(err.syscall, 'ioctl(SIOCSIFMTU)');
});

tapTest(title('link up and down show in ip link'), (t) => {
  const tap = open({ name: uniqueName() });
  t.false(tap.isUp());
  tap.setUp(true);
  t.true(tap.isUp());
  t.regex(run('ip', 'link', 'show', tap.name), /<[^>]*\bUP\b[^>]*>/);
  tap.setUp(false);
  t.false(tap.isUp());
  t.notRegex(run('ip', 'link', 'show', tap.name), /<[^>]*\bUP\b[^>]*>/);
});

// ---- transmit ----------------------------------------------------------------------

tapTest(title('frames we write are received by the kernel'), (t) => {
  const tap = open({ name: uniqueName(), up: true });
  const before = Number(sysfs(tap.name, 'statistics/rx_packets'));
  const mac = tap.kernelMac;
  for (let i = 0; i < 5; i++) t.true(tap.write(testFrame(mac, i)));
  t.is(tap.writeBatch([testFrame(mac, 5, 1514), testFrame(mac, 6, 60)]), 2);
  t.is(Number(sysfs(tap.name, 'statistics/rx_packets')) - before, 7);
  const s = tap.stats();
  t.is(s.txFrames, 7);
  t.is(s.txBytes, 5 * 64 + 1514 + 60);
  t.is(s.txErrors, 0);
  t.is(s.txQueued, 0);
});

tapTest(title('writing while the link is down fails with EIO and is counted'), (t) => {
  const tap = open({ name: uniqueName() });
  t.false(tap.write(testFrame(BROADCAST, 0)));
  const s = tap.stats();
  t.is(s.txErrors, 1);
  t.is(s.txLastErrno, 5); // EIO
  t.is(s.txFrames, 0);
});

tapTest(title('the transmit queue is bounded in frames and bytes and drains when writable'), async (t) => {
  const tap = open({ name: uniqueName(), up: true, txQueueFrames: 4, txQueueBytes: 1 << 20 });
  const before = Number(sysfs(tap.name, 'statistics/rx_packets'));
  // The kernel never answers EAGAIN on a TAP write (it consumes or drops the
  // skb synchronously), so the hook makes the next write(2) attempts report it:
  // the first direct write and two drain attempts fail, the third drains.
  tap._testFailNextWrites(3);
  const results = [];
  for (let i = 0; i < 10; i++) results.push(tap.write(testFrame(tap.kernelMac, i, 100)));
  t.deepEqual(results, [true, true, true, true, false, false, false, false, false, false]);
  let s = tap.stats();
  t.is(s.txQueued, 4);
  t.is(s.txDropped, 6);
  t.is(s.txQueueDepth, 4);
  t.is(s.txQueueBytes, 400);
  t.is(s.txFrames, 0);
  t.true(await waitFor(() => tap.stats().txQueueDepth === 0));
  s = tap.stats();
  t.is(s.txFrames, 4);
  t.is(s.txBytes, 400);
  t.is(s.txQueueBytes, 0);
  t.is(Number(sysfs(tap.name, 'statistics/rx_packets')) - before, 4);

  // Byte bound: 1000-byte frames in a 2500-byte queue.
  const tap2 = open({ name: uniqueName(), up: true, txQueueFrames: 100, txQueueBytes: 2500 });
  tap2._testFailNextWrites(1);
  const r2 = [];
  for (let i = 0; i < 4; i++) r2.push(tap2.write(testFrame(tap2.kernelMac, i, 1000)));
  t.deepEqual(r2, [true, true, false, false]);
  t.is(tap2.stats().txDropped, 2);
  t.true(await waitFor(() => tap2.stats().txFrames === 2));

  // No queue at all: EAGAIN drops.
  const tap3 = open({ name: uniqueName(), up: true, txQueueFrames: 0 });
  tap3._testFailNextWrites(1);
  t.false(tap3.write(testFrame(tap3.kernelMac, 0)));
  t.true(tap3.write(testFrame(tap3.kernelMac, 1)));
  t.is(tap3.stats().txDropped, 1);
});

// ---- receive -----------------------------------------------------------------------

interface Seen {
  frames: Uint8Array[];
  batches: number;
}

function collect(tap: TapDevice): Seen {
  const seen: Seen = { frames: [], batches: 0 };
  tap.onReceive((batch: TapFrameBatch) => {
    seen.batches++;
    for (let i = 0; i < batch.count; i++) {
      const f = batch.frame(i);
      if (batch.length(i) !== f.length || batch.offload(i) !== 0) throw new Error('inconsistent batch');
      seen.frames.push(f.slice()); // the slab is reused by the next batch
    }
  });
  return seen;
}

tapTest(title('frames the kernel sends arrive, also after the device moved to another namespace'), async (t) => {
  const tap = open({ name: uniqueName() });
  const ns = newNamespace();
  run('ip', 'link', 'set', tap.name, 'netns', ns);
  // Configuration by name needs the device in our namespace; I/O does not.
  t.is(expectTapError(t, t.throws(() => tap.mtu)).code, 'ENODEV');
  inNs(ns, 'ip', 'link', 'set', tap.name, 'up');
  inNs(ns, 'ip', '-6', 'addr', 'add', 'fe80::6:1/64', 'dev', tap.name, 'nodad');

  const seen = collect(tap);
  // A kernel-side application in the namespace sends one datagram to all
  // nodes on the TAP's link.
  const script = `
    const s = require('node:dgram').createSocket('udp6');
    s.send(Buffer.from('tap6-test'), 9, 'ff02::1%${tap.name}', (e) => { if (e) { console.error(e); process.exitCode = 1; } s.close(); });`;
  inNs(ns, process.execPath, '-e', script);
  const isOurs = (f: Uint8Array): boolean =>
    ethertype(f) === 0x86dd && f[14 + 6] === 17 && Buffer.from(f.subarray(14 + 40 + 8)).toString() === 'tap6-test';
  t.true(await waitFor(() => seen.frames.some(isOurs)), `frames seen: ${seen.frames.length}`);
  const ours = seen.frames.find(isOurs)!;
  t.deepEqual(ours.subarray(0, 6), new Uint8Array([0x33, 0x33, 0, 0, 0, 1])); // ff02::1 multicast MAC
  t.true(seen.frames.every((f) => ethertype(f) === 0x86dd || ethertype(f) === 0x0806));
  const s = tap.stats();
  t.true(s.rxBatches >= 1 && s.rxBatches <= s.rxFrames);
  t.is(s.rxFrames, seen.frames.length);
  t.is(s.rxErrors, 0);

  // Writing still reaches the kernel side in the namespace.
  const before = Number(sysfs(tap.name, 'statistics/rx_packets', ns));
  t.true(tap.write(testFrame(BROADCAST, 1)));
  t.is(Number(sysfs(tap.name, 'statistics/rx_packets', ns)) - before, 1);
});

tapTest(title('frames flooded across a bridge arrive in order, in batches, through the queue'), async (t) => {
  const a = open({ name: uniqueName() });
  const b = open({ name: uniqueName(), readBatch: 8 });
  const ns = newNamespace();
  for (const tap of [a, b]) run('ip', 'link', 'set', tap.name, 'netns', ns);
  inNs(ns, 'ip', 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
  for (const tap of [a, b]) inNs(ns, 'ip', 'link', 'set', tap.name, 'master', 'br0', 'up');
  inNs(ns, 'ip', 'link', 'set', 'br0', 'up');

  const seen = collect(b);
  const n = 200;
  a._testFailNextWrites(2); // EAGAIN: every frame goes through the queue, then drains
  let accepted = 0;
  for (let i = 0; i < n; i++) if (a.write(testFrame(BROADCAST, i))) accepted++;
  t.is(accepted, n);
  t.true(a.stats().txQueued > 0);
  const ours = (): Uint8Array[] => seen.frames.filter((f) => ethertype(f) === ETHERTYPE_TEST);
  t.true(await waitFor(() => ours().length === n), `got ${ours().length} of ${n}`);
  const seqs = ours().map((f) => new DataView(f.buffer, f.byteOffset).getUint32(14));
  t.deepEqual(seqs, Array.from({ length: n }, (_, i) => i));
  const s = b.stats();
  t.true(s.rxBatches >= Math.ceil(s.rxFrames / 8));
});

tapTest(title('a device deleted under us reports an error through onError'), async (t) => {
  const tap = open({ name: uniqueName(), up: true });
  const errors: TapError[] = [];
  tap.onError((err) => errors.push(err));
  collect(tap);
  run('ip', 'link', 'del', tap.name);
  t.true(await waitFor(() => errors.length > 0));
  t.true(errors[0] instanceof TapError);
  t.is(errors[0]!.code, 'EBADFD');
  t.is(errors[0]!.message, `tap: ${tap.name} was deleted (EBADFD) — receive stopped`);
  t.is(tap.stats().rxErrors, 1);
  t.false(tap.closed);
  t.false(tap.write(testFrame(BROADCAST, 0)));
  t.is(tap.stats().txErrors, 1);
});

// ---- close ---------------------------------------------------------------------------

tapTest(title('close is idempotent, removes the device, and every method throws after it'), (t) => {
  const tap = open({ name: uniqueName() });
  const name = tap.name;
  collect(tap);
  tap.close();
  tap.close();
  t.true(tap.closed);
  t.false(existsSync(`/sys/class/net/${name}`));
  const calls: Array<[string, () => unknown]> = [
    ['write', () => tap.write(testFrame(BROADCAST, 0))],
    ['writeBatch', () => tap.writeBatch([])],
    ['mtu', () => tap.mtu],
    ['set mtu', () => (tap.mtu = 1500)],
    ['isUp', () => tap.isUp()],
    ['setUp', () => tap.setUp(true)],
    ['onReceive', () => tap.onReceive(() => {})],
    ['onReceive(null)', () => tap.onReceive(null)],
    ['onError', () => tap.onError(null)],
    ['stats', () => tap.stats()],
    ['ref', () => tap.ref()],
    ['unref', () => tap.unref()],
  ];
  for (const [what, call] of calls) {
    const err = expectTapError(t, t.throws(call, undefined, what));
    t.is(err.code, 'EBADF', what);
    t.is(err.message, 'tap: device closed (EBADF)', what);
  }
  t.is(tap.name, name);
});

tapTest(title('an idle device that is garbage collected is closed'), async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const name = uniqueName();
  (() => {
    TapDevice.open({ name }); // not kept
  })();
  t.true(existsSync(`/sys/class/net/${name}`));
  const gone = await waitFor(() => {
    gc();
    return !existsSync(`/sys/class/net/${name}`);
  }, 5000);
  t.true(gone);
});

tapTest(title('a device receiving in a worker thread is closed when the worker exits'), async (t) => {
  // The worker's libuv loop closes with the poll handle still active; the
  // addon must finish closing it before its code is unloaded.
  const name = uniqueName();
  const code = `
    import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
    import { parentPort } from 'node:worker_threads';
    register();
    const { TapDevice } = await import(${JSON.stringify(new URL('../../src/link/tap/index.ts', import.meta.url).href)});
    const tap = TapDevice.open({ name: ${JSON.stringify(name)}, up: true });
    tap.onReceive(() => {});
    parentPort.postMessage('open');`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
  const failed = new Promise<never>((_, reject) => worker.once('error', reject));
  await Promise.race([new Promise((resolve) => worker.once('message', resolve)), failed]);
  t.true(existsSync(`/sys/class/net/${name}`));
  await worker.terminate();
  t.false(existsSync(`/sys/class/net/${name}`));
});

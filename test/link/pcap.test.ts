import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../src/core/clock.ts';
import { EtherType } from '../../src/link/ether.ts';
import type { EtherIf } from '../../src/link/ethernet.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, type PcapOptions } from '../../src/link/pcap.ts';
import { ALL_NODES, BCAST, frame, ip6Packet, linkLocal, mac, pktOf, rig } from '../helpers/link.ts';

const dir = mkdtempSync(join(tmpdir(), 'tap6-pcap-'));
let seq = 0;
const tmp = (name = 'cap') => join(dir, `${name}-${seq++}.pcap`);
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** The VirtualClock's wall-clock origin: 2026-01-01T00:00:00Z. */
const EPOCH_S = Date.UTC(2026, 0, 1) / 1000;

interface PcapFile {
  magic: number;
  major: number;
  minor: number;
  thiszone: number;
  sigfigs: number;
  snaplen: number;
  linktype: number;
  records: { sec: number; usec: number; incl: number; orig: number; data: Uint8Array }[];
}

/** An independent reader of the classic pcap format (little-endian files only, as we write them). */
function readPcap(path: string): PcapFile {
  const b = new Uint8Array(readFileSync(path));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 24) throw new Error(`pcap too short: ${b.length}`);
  const f: PcapFile = {
    magic: dv.getUint32(0, true),
    major: dv.getUint16(4, true),
    minor: dv.getUint16(6, true),
    thiszone: dv.getInt32(8, true),
    sigfigs: dv.getUint32(12, true),
    snaplen: dv.getUint32(16, true),
    linktype: dv.getUint32(20, true),
    records: [],
  };
  let off = 24;
  while (off < b.length) {
    if (off + 16 > b.length) throw new Error(`truncated record header at ${off}`);
    const incl = dv.getUint32(off + 8, true);
    if (off + 16 + incl > b.length) throw new Error(`truncated record at ${off}`);
    f.records.push({ sec: dv.getUint32(off, true), usec: dv.getUint32(off + 4, true), incl, orig: dv.getUint32(off + 12, true), data: b.slice(off + 16, off + 16 + incl) });
    off += 16 + incl;
  }
  return f;
}

function writer(opts: Partial<PcapOptions> = {}) {
  const clock = (opts.clock as VirtualClock | undefined) ?? new VirtualClock();
  const errors: Error[] = [];
  const w = new PcapWriter({ path: tmp(), clock, onError: (e) => errors.push(e), ...opts });
  return { w, clock, errors };
}

const eth = (n: number, len = 0) => frame({ dst: BCAST, src: mac(n), payload: ip6Packet(linkLocal(n), ALL_NODES, new Uint8Array(len).fill(n)) });

test('file header and records: fields, timestamps from the clock and bytes', (t) => {
  const { w, clock, errors } = writer({ snapLen: 65535 });
  const frames = [eth(1), eth(2, 100), eth(3, 7)];
  w.record(frames[0]!);
  clock.advance(1.5);
  w.record(frames[1]!);
  clock.advance(2000.25);
  w.record(frames[2]!);
  w.close();
  const f = readPcap(w.path);
  t.like(f, { magic: 0xa1b2c3d4, major: 2, minor: 4, thiszone: 0, sigfigs: 0, snaplen: 65535, linktype: LINKTYPE_ETHERNET });
  t.deepEqual(
    [...readFileSync(w.path).subarray(0, 4)],
    [0xd4, 0xc3, 0xb2, 0xa1],
  );
  t.is(f.records.length, 3);
  t.deepEqual(
    f.records.map((r) => [r.sec - EPOCH_S, r.usec]),
    [
      [0, 0],
      [0, 1500],
      [2, 1750],
    ],
  );
  for (let i = 0; i < 3; i++) {
    t.is(f.records[i]!.incl, frames[i]!.length);
    t.is(f.records[i]!.orig, frames[i]!.length);
    t.deepEqual([...f.records[i]!.data], [...frames[i]!]);
  }
  t.like(w.stats.c, { frames: 3, truncated: 0, writeErrors: 0, bytes: statSync(w.path).size });
  t.deepEqual(errors, []);
});

test('as a filter on an interface it records both directions and passes every frame on unchanged', (t) => {
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  const path = tmp();
  const w = new PcapWriter({ path, clock });
  t.is(w.name, 'pcap');
  a.filters.add(w);
  const out = ip6Packet(linkLocal(1), linkLocal(2));
  a.output(pktOf(out), EtherType.IPV6, b.lladdr);
  clock.advance(0);
  b.output(pktOf(ip6Packet(linkLocal(2), linkLocal(1))), EtherType.IPV6, a.lladdr);
  clock.advance(0);
  t.is(got[1]!.length, 1);
  t.is(got[0]!.length, 1);
  a.filters.remove('pcap');
  const f = readPcap(path);
  t.is(f.records.length, 2);
  t.deepEqual([...f.records[0]!.data], [...frame({ dst: b.lladdr, src: a.lladdr, payload: out })]);
  t.deepEqual([...f.records[1]!.data.subarray(0, 12)], [...a.lladdr, ...b.lladdr]);
});

test('direction filter records only one direction but passes all', (t) => {
  for (const direction of ['rx', 'tx'] as const) {
    const { w } = writer({ direction });
    const passed: Uint8Array[] = [];
    const f1 = eth(1);
    const f2 = eth(2);
    w.filter('tx', f1, (f) => passed.push(f));
    w.filter('rx', f2, (f) => passed.push(f));
    w.close();
    t.is(passed[0], f1, 'the very same frame is passed on');
    t.is(passed[1], f2);
    const recs = readPcap(w.path).records;
    t.is(recs.length, 1);
    t.deepEqual([...recs[0]!.data], [...(direction === 'tx' ? f1 : f2)]);
  }
});

test('snaplen truncates records and counts it; orig_len keeps the full length', (t) => {
  const { w } = writer({ snapLen: 20 });
  const big = eth(1, 60);
  w.record(big);
  w.record(big.subarray(0, 20));
  w.record(big.subarray(0, 14));
  w.close();
  const f = readPcap(w.path);
  t.is(f.snaplen, 20);
  t.deepEqual(
    f.records.map((r) => [r.incl, r.orig]),
    [
      [20, 114],
      [20, 20],
      [14, 14],
    ],
  );
  t.deepEqual([...f.records[0]!.data], [...big.subarray(0, 20)]);
  t.is(w.stats.c.truncated, 1);
});

test('a record bigger than the buffer (jumbo) is written directly, in order with the others', (t) => {
  const { w } = writer({ bufferBytes: 64, flushMs: 0 });
  const small = eth(1);
  const jumbo = new Uint8Array(70_000);
  for (let i = 0; i < jumbo.length; i++) jumbo[i] = (i * 7) & 0xff;
  w.record(small);
  w.record(jumbo);
  w.record(small);
  w.record(small);
  w.close();
  const f = readPcap(w.path);
  t.deepEqual(
    f.records.map((r) => r.incl),
    [small.length, 70_000, small.length, small.length],
  );
  t.deepEqual(f.records[1]!.data, jumbo);
  t.deepEqual([...f.records[3]!.data], [...small]);
  t.is(w.stats.c.frames, 4);
});

test('many records through a small buffer: each full buffer is written out', (t) => {
  const { w } = writer({ bufferBytes: 200, flushMs: 0 });
  const frames = Array.from({ length: 50 }, (_, i) => eth(i, i));
  for (const f of frames) w.record(f);
  t.true(statSync(w.path).size > 24, 'full buffers were written before close');
  w.close();
  const f = readPcap(w.path);
  t.deepEqual(
    f.records.map((r) => Buffer.from(r.data).toString('hex')),
    frames.map((x) => Buffer.from(x).toString('hex')),
  );
});

test('periodic flush on the clock; flushMs 0 leaves it to the buffer and close()', (t) => {
  const { w, clock } = writer({ flushMs: 1000 });
  t.is(statSync(w.path).size, 24, 'the file header is written at once');
  w.record(eth(1));
  t.is(statSync(w.path).size, 24);
  t.is(clock.pendingTimers, 1);
  clock.advance(999);
  t.is(statSync(w.path).size, 24);
  clock.advance(1);
  t.is(readPcap(w.path).records.length, 1);
  t.is(clock.pendingTimers, 0, 'no timer while nothing is buffered');
  w.record(eth(2));
  w.flush();
  t.is(readPcap(w.path).records.length, 2);
  t.is(clock.pendingTimers, 0, 'flush() cancels the timer');
  w.close();

  const lazy = writer({ flushMs: 0 });
  lazy.w.record(eth(1));
  t.is(lazy.clock.pendingTimers, 0);
  lazy.clock.advance(10_000);
  t.is(statSync(lazy.w.path).size, 24);
  lazy.w.close();
  t.is(readPcap(lazy.w.path).records.length, 1);
});

test('close is idempotent and later records are ignored without throwing', (t) => {
  const { w, clock } = writer();
  w.record(eth(1));
  w.close();
  t.notThrows(() => w.close());
  t.notThrows(() => w.record(eth(2)));
  t.notThrows(() => w.flush());
  clock.advance(5000);
  t.is(readPcap(w.path).records.length, 1);
  t.is(w.stats.c.writeErrors, 0);
});

test('an unusable path fails loudly at start-up', (t) => {
  t.throws(() => new PcapWriter({ path: join(dir, 'no-such-dir', 'x.pcap'), clock: new VirtualClock() }), { code: 'ENOENT' } as never);
});

test('a write error (disk full) stops the capture, calls onError once, never throws into the stack', (t) => {
  if (!existsSync('/dev/full')) return t.pass('no /dev/full here');
  const errors: Error[] = [];
  const clock = new VirtualClock();
  let w!: PcapWriter;
  t.notThrows(() => {
    w = new PcapWriter({ path: '/dev/full', clock, onError: (e) => errors.push(e) });
  });
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /pcap \/dev\/full: capture stopped: .*ENOSPC/);
  const passed: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) w.filter('tx', eth(i), (f) => passed.push(f));
  w.flush();
  clock.advance(5000);
  w.close();
  t.is(passed.length, 5, 'frames still flow');
  t.is(errors.length, 1);
  t.is(w.stats.c.writeErrors, 6);
  t.is(w.stats.c.frames, 0);
});

/** The descriptor this process holds open on `path`, via /proc (Linux). */
function fdOf(path: string): number | undefined {
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === path) return Number(name);
    } catch {
      /* the directory's own descriptor is gone by now */
    }
  }
  return undefined;
}

test('the descriptor closed under the writer: capture stops with one onError, the interface keeps working', (t) => {
  if (!existsSync('/proc/self/fd')) return t.pass('no /proc here');
  const { clock, ifs, got } = rig(2);
  const [a, b] = ifs as [EtherIf, EtherIf];
  const errors: Error[] = [];
  const path = tmp();
  const w = new PcapWriter({ path, clock, onError: (e) => errors.push(e) });
  a.filters.add(w);
  a.output(pktOf(ip6Packet(linkLocal(1), linkLocal(2))), EtherType.IPV6, b.lladdr);
  w.flush();
  const fd = fdOf(path);
  t.not(fd, undefined);
  // All synchronous from here to the failed write: nothing else can take the number.
  closeSync(fd!);
  t.notThrows(() => {
    a.output(pktOf(ip6Packet(linkLocal(1), linkLocal(2))), EtherType.IPV6, b.lladdr);
    clock.advance(2000);
  });
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /capture stopped/);
  for (let i = 0; i < 3; i++) a.output(pktOf(ip6Packet(linkLocal(1), linkLocal(2))), EtherType.IPV6, b.lladdr);
  clock.advance(2000);
  a.filters.remove('pcap');
  t.is(errors.length, 1, 'reported once');
  t.is(got[1]!.length, 5, 'every packet still got through');
  t.is(w.stats.c.writeErrors, 4);
  t.is(readPcap(path).records.length, 1);
});

/** tshark or tcpdump, whichever is on PATH. */
function decoder(): 'tshark' | 'tcpdump' | null {
  for (const tool of ['tshark', 'tcpdump'] as const) {
    const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (!r.error) return tool;
  }
  return null;
}

function decode(tool: 'tshark' | 'tcpdump', path: string): { lines: string[]; ok: boolean; stderr: string } {
  const args = tool === 'tshark' ? ['-r', path, '-T', 'fields', '-e', 'frame.protocols'] : ['-r', path, '-nn', '-e'];
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  return { lines: r.stdout.split('\n').filter(Boolean), ok: r.status === 0, stderr: r.stderr };
}

const tool = decoder();
const external = tool ? test : test.skip;
if (!tool) {
  test('external pcap decoders are not available', (t) => {
    t.log('skipped: neither tshark nor tcpdump is on PATH');
    t.pass();
  });
}

external(`${tool ?? 'tshark/tcpdump'} reads our Ethernet capture as Ethernet + IPv6`, (t) => {
  const { w, clock } = writer();
  for (let i = 1; i <= 4; i++) {
    w.record(eth(i, i * 10));
    clock.advance(10);
  }
  w.close();
  const r = decode(tool!, w.path);
  t.true(r.ok, r.stderr);
  t.is(r.lines.length, 4, r.lines.join('\n'));
  for (const line of r.lines) {
    if (tool === 'tshark') t.regex(line, /^eth:ethertype:ipv6/);
    else t.regex(line, /ethertype IPv6 \(0x86dd\).*fe80::\d > ff02::1/);
  }
  t.log(`${tool}: ${r.lines[0]}`);
});

external(`${tool ?? 'tshark/tcpdump'} reads a LINKTYPE_RAW capture as IPv6`, (t) => {
  const { w } = writer({ linkType: LINKTYPE_RAW });
  w.record(ip6Packet(linkLocal(1), ALL_NODES, new Uint8Array(8)));
  w.record(ip6Packet(linkLocal(2), ALL_NODES));
  w.close();
  const f = readPcap(w.path);
  t.is(f.linktype, 101);
  t.is(f.records.length, 2);
  const r = decode(tool!, w.path);
  t.true(r.ok, r.stderr);
  t.is(r.lines.length, 2);
  for (const line of r.lines) t.regex(line, tool === 'tshark' ? /^raw:ipv6/ : /fe80::\d > ff02::1: no next header/);
});

/**
 * MLD (RFC 3810 with the RFC 2710 compatibility of §8): the wire module
 * round-trips and never throws on garbage; on the virtual link a raw port
 * plays the querier and the other listeners, byte by byte, and each test
 * checks the reports the stack sends (decoded here independently of src/),
 * their timing on the virtual clock, and the mld6 counters.
 */
import test from 'ava';
import fc from 'fast-check';
import { in6Cksum } from '../../src/core/checksum.ts';
import { formatIn6, in6 } from '../../src/ip6/addr.ts';
import {
  type MldRepr,
  decodeMaxRespCode,
  decodeQqic,
  emitMld,
  encodeMaxRespCode,
  encodeQqic,
  mldBufferLen,
  parseMld,
} from '../../src/nd6/mld6-wire.ts';
import { holds } from '../helpers/link.ts';
import { ALL_NODES, RAW_LL, UNSPEC, changed, eq, icmp6Msg, ip6Frame, makeNet, multicastMac, snode, type FrameSeen, type Host, type Net } from '../helpers/stack.ts';

const G1 = in6('ff0e::1:1');
const G2 = in6('ff05::2:2');
const G3 = in6('ff15::3:3');
const ALL_ROUTERS = in6('ff02::2');
const MLDV2_ROUTERS = in6('ff02::16');
const S1 = in6('2001:db8::51');
const S2 = in6('2001:db8::52');
const S3 = in6('2001:db8::53');
const TO_IN = 3;
const TO_EX = 4;
const IS_IN = 1;
const IS_EX = 2;

// ---- frames, written and read here independently of src/ ------------------------

/** A Hop-by-Hop header (next header ICMPv6) with Router Alert 0 and PadN: 8 bytes. */
const HBH_RA = Uint8Array.of(58, 0, 5, 2, 0, 0, 1, 0);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v >>> 8, v & 0xff);
}

/** MLDv1 body after the ICMPv6 header: Maximum Response Delay, reserved, address. */
function v1Body(mrd: number, group: Uint8Array = UNSPEC): Uint8Array {
  return concat(u16(mrd), u16(0), group);
}

/** MLDv2 Query body after the ICMPv6 header. */
function v2QueryBody(o: { mrc: number; group?: Uint8Array; qrv?: number; qqic?: number; sources?: Uint8Array[]; nsrc?: number }): Uint8Array {
  const sources = o.sources ?? [];
  return concat(u16(o.mrc), u16(0), o.group ?? UNSPEC, Uint8Array.of(o.qrv ?? 2, o.qqic ?? 125), u16(o.nsrc ?? sources.length), ...sources);
}

interface MldFrameSpec {
  type: number;
  body: Uint8Array;
  dst?: Uint8Array;
  src?: Uint8Array;
  hlim?: number;
  /** Router Alert in a Hop-by-Hop header (default true). */
  ra?: boolean;
}

/** An MLD message from the raw port (default: link-local source, hop limit 1, Router Alert, to ff02::1). */
function mldFrame(s: MldFrameSpec): Uint8Array {
  const src = s.src ?? RAW_LL;
  const dst = s.dst ?? ALL_NODES;
  const msg = icmp6Msg(s.type, 0, s.body, src, dst);
  const ra = s.ra !== false;
  return ip6Frame({ src, dst, hlim: s.hlim ?? 1, nxt: ra ? 0 : 58, payload: ra ? concat(HBH_RA, msg) : msg });
}

const v2Query = (o: Parameters<typeof v2QueryBody>[0] & Omit<MldFrameSpec, 'type' | 'body'>) => mldFrame({ ...o, type: 130, body: v2QueryBody(o) });
const v1Query = (mrd: number, group: Uint8Array = UNSPEC, dst = ALL_NODES) => mldFrame({ type: 130, body: v1Body(mrd, group), dst });

interface RecordSeen {
  type: number;
  group: string;
  sources: string[];
  aux: number;
}

interface MldSeen {
  at: number;
  ethDst: Uint8Array;
  src: Uint8Array;
  dst: Uint8Array;
  hlim: number;
  /** Router Alert value, null when absent. */
  ra: number | null;
  cksumOk: boolean;
  type: number;
  /** IPv6 packet length (header included). */
  size: number;
  /** v1 messages: the address field. */
  group: string;
  /** v2 reports. */
  records: RecordSeen[];
}

/** Decodes an MLD message behind a Hop-by-Hop header; null for anything else. */
function mldOf(f: FrameSeen): MldSeen | null {
  if (!f.ip6 || f.ip6.nxt !== 0) return null;
  const p = f.ip6.payload;
  const hlen = (p[1]! + 1) * 8;
  if (p[0] !== 58 || hlen > p.length) return null;
  let ra: number | null = null;
  for (let o = 2; o < hlen; ) {
    if (p[o] === 0) {
      o++;
      continue;
    }
    if (p[o] === 5 && p[o + 1] === 2) ra = (p[o + 2]! << 8) | p[o + 3]!;
    o += 2 + p[o + 1]!;
  }
  const msg = p.subarray(hlen);
  const seen: MldSeen = {
    at: f.at,
    ethDst: f.ethDst,
    src: f.ip6.src,
    dst: f.ip6.dst,
    hlim: f.ip6.hlim,
    ra,
    cksumOk: in6Cksum(msg, 0, msg.length, 58, f.ip6.src, f.ip6.dst) === 0,
    type: msg[0]!,
    size: f.ip6.packet.length,
    group: msg.length >= 24 ? formatIn6(msg.subarray(8, 24)) : '',
    records: [],
  };
  if (seen.type === 143) {
    const m = (msg[6]! << 8) | msg[7]!;
    let o = 8;
    for (let i = 0; i < m; i++) {
      const n = (msg[o + 2]! << 8) | msg[o + 3]!;
      const sources: string[] = [];
      for (let j = 0; j < n; j++) sources.push(formatIn6(msg.subarray(o + 20 + 16 * j, o + 36 + 16 * j)));
      seen.records.push({ type: msg[o]!, group: formatIn6(msg.subarray(o + 4, o + 20)), sources, aux: msg[o + 1]! });
      o += 20 + 16 * n + 4 * msg[o + 1]!;
    }
  }
  return seen;
}

/** MLD messages `h` sent, optionally of one type. */
function sent(net: Net, h: Host, type?: number): MldSeen[] {
  return net.raw.frames
    .filter((f) => eq(f.ethSrc, h.mac))
    .map(mldOf)
    .filter((m): m is MldSeen => m !== null && (type === undefined || m.type === type));
}

const recordsOf = (ms: MldSeen[]) => ms.flatMap((m) => m.records);
const groupsOf = (ms: MldSeen[]) => recordsOf(ms).map((r) => r.group).sort();
const txt = (a: Uint8Array) => formatIn6(a);

function setup(o: Parameters<typeof makeNet>[0] = {}) {
  const net = makeNet({ rawAnswers: false, ...o });
  const h = net.hosts[0]!;
  net.raw.clear();
  const c = h.s.mld6.stats;
  /** Injects frames, runs the clock `ms`, and returns the mld6 counters that moved. */
  const inject = (frames: Uint8Array[], ms = 10) => {
    const before = c.snapshot();
    for (const f of frames) net.raw.send(f);
    net.run(ms);
    return changed(before, c.snapshot());
  };
  return { net, h, c, inject };
}

/** Checks the IPv6 framing RFC 3810 §5 asks of every message we send. */
function wellFormed(t: { true(v: boolean, m?: string): void; deepEqual(a: unknown, b: unknown, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, m: MldSeen, src: Uint8Array) {
  t.is(m.hlim, 1, 'hop limit 1');
  t.is(m.ra, 0, 'Router Alert, MLD');
  t.true(m.cksumOk, 'checksum');
  t.deepEqual(txt(m.src), txt(src), 'source');
  t.deepEqual(Array.from(m.ethDst), Array.from(multicastMac(m.dst)), 'Ethernet group address of the destination');
}

// ---- wire ---------------------------------------------------------------------------

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const reprArb: fc.Arbitrary<MldRepr> = fc.oneof(
  fc.record({ kind: fc.constant('v1' as const), type: fc.constantFrom(130 as const, 131 as const, 132 as const), maxRespDelay: fc.integer({ min: 0, max: 0xffff }), group: addr }),
  fc.record({
    kind: fc.constant('v2query' as const),
    maxRespCode: fc.integer({ min: 0, max: 0xffff }),
    group: addr,
    suppress: fc.boolean(),
    qrv: fc.integer({ min: 0, max: 7 }),
    qqic: fc.integer({ min: 0, max: 255 }),
    sources: fc.array(addr, { maxLength: 6 }),
  }),
  fc.record({
    kind: fc.constant('v2report' as const),
    records: fc.array(
      fc.record({
        type: fc.integer({ min: 0, max: 255 }),
        group: addr,
        sources: fc.array(addr, { maxLength: 4 }),
        aux: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 3 }).map((ws) => new Uint8Array(ws.flatMap((w) => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff]))),
      }),
      { maxLength: 5 },
    ),
  }),
);

/** Plain data for comparison (views and copies compare alike). */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return Array.from(x);
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  return x;
}

test('wire: parse(emit(r)) = r for every message, at an offset, and emit writes every byte', (t) => {
  holds(
    t,
    fc.property(reprArb, fc.integer({ min: 0, max: 9 }), (r, off) => {
      const len = mldBufferLen(r);
      const a = new Uint8Array(off + len + 5).fill(0xff);
      const b = new Uint8Array(off + len + 5).fill(0x00);
      emitMld(r, a, off);
      emitMld(r, b, off);
      if (!eq(a.subarray(off, off + len), b.subarray(off, off + len))) return false;
      if (a.subarray(0, off).some((x) => x !== 0xff) || a.subarray(off + len).some((x) => x !== 0xff)) return false;
      const p = parseMld(a, off, len);
      return p.ok && JSON.stringify(plain(p.value)) === JSON.stringify(plain(r));
    }),
  );
});

test('wire: garbage never throws, and what parses stays inside the message', (t) => {
  holds(
    t,
    fc.property(fc.uint8Array({ maxLength: 160 }), fc.constantFrom(130, 131, 132, 143, 0, 255), fc.integer({ min: -2, max: 170 }), fc.integer({ min: -2, max: 170 }), (bytes, type, off, len) => {
      if (bytes.length) bytes[0] = type;
      const r = parseMld(bytes, off, len);
      if (!r.ok) return true;
      const inside = (v: Uint8Array) => v.byteOffset >= bytes.byteOffset + off && v.byteOffset + v.length <= bytes.byteOffset + off + len;
      const v = r.value;
      if (v.kind === 'v2report') return v.records.every((x) => inside(x.group) && inside(x.aux) && x.sources.every(inside));
      return inside(v.group) && (v.kind === 'v1' || v.sources.every(inside));
    }),
    { numRuns: 3000 },
  );
});

test('wire: query version by length (§8.1), truncations refused with a reason', (t) => {
  const q = (len: number, nsrc = 0) => {
    const b = new Uint8Array(len);
    b[0] = 130;
    if (len >= 28) {
      b[26] = nsrc >>> 8;
      b[27] = nsrc & 0xff;
    }
    return parseMld(b, 0, len);
  };
  const kind = (r: ReturnType<typeof parseMld>) => (r.ok ? r.value.kind : r.error);
  t.is(kind(q(24)), 'v1');
  for (const n of [25, 26, 27]) t.deepEqual(q(n), { ok: false, error: 'badQueryLength' });
  t.deepEqual(q(23), { ok: false, error: 'short' });
  t.is(kind(q(28)), 'v2query');
  t.deepEqual(q(28 + 16, 2), { ok: false, error: 'truncatedSources' });
  t.true(q(28 + 32 + 3, 2).ok, 'extra bytes after the sources are ignored (§5.1.12)');
  // A report whose record count, sources or aux data run past the end.
  const rep = new Uint8Array(8 + 20);
  rep[0] = 143;
  rep[7] = 1;
  t.true(parseMld(rep, 0, 28).ok);
  rep[7] = 2;
  t.deepEqual(parseMld(rep, 0, 28), { ok: false, error: 'truncatedRecord' });
  rep[7] = 1;
  rep[8 + 3] = 1;
  t.deepEqual(parseMld(rep, 0, 28), { ok: false, error: 'truncatedRecord' });
  rep[8 + 3] = 0;
  rep[8 + 1] = 1;
  t.deepEqual(parseMld(rep, 0, 28), { ok: false, error: 'truncatedRecord' });
  t.deepEqual(parseMld(Uint8Array.of(131, 0, 0, 0), 0, 4), { ok: false, error: 'short' });
  t.deepEqual(parseMld(new Uint8Array(24), 0, 24), { ok: false, error: 'badType' });
  t.deepEqual(parseMld(new Uint8Array(24), 4, 24), { ok: false, error: 'short' }, 'the range must lie in the buffer');
});

test('wire: a report written by hand decodes field by field, and emit with addresses sets the checksum', (t) => {
  const b = concat(
    Uint8Array.of(143, 0, 0x12, 0x34, 0, 0, 0, 2),
    Uint8Array.of(4, 0, 0, 0),
    G1,
    Uint8Array.of(1, 1, 0, 1),
    G2,
    S1,
    Uint8Array.of(0xde, 0xad, 0xbe, 0xef),
  );
  const r = parseMld(b, 0, b.length);
  t.true(r.ok);
  if (!r.ok || r.value.kind !== 'v2report') return;
  t.deepEqual(plain(r.value.records), plain([
    { type: TO_EX, group: G1, sources: [], aux: new Uint8Array(0) },
    { type: IS_IN, group: G2, sources: [S1], aux: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) },
  ]));
  const out = new Uint8Array(b.length);
  emitMld(r.value, out, 0, { src: RAW_LL, dst: MLDV2_ROUTERS });
  t.is(in6Cksum(out, 0, out.length, 58, RAW_LL, MLDV2_ROUTERS), 0);
  t.deepEqual(Array.from(out.subarray(4)), Array.from(b.subarray(4)));
  t.throws(() => emitMld({ kind: 'v2report', records: [{ type: 1, group: G1, sources: [], aux: new Uint8Array(3) }] }, new Uint8Array(64), 0), { instanceOf: RangeError });
});

test('wire: Maximum Response Code and QQIC exponential encodings (§5.1.3, §5.1.9)', (t) => {
  t.is(decodeMaxRespCode(10_000), 10_000);
  t.is(decodeMaxRespCode(0x8000), 32_768);
  t.is(decodeMaxRespCode(0xffff), 0x1fff * 1024);
  t.is(decodeQqic(125), 125);
  t.is(decodeQqic(0x80), 128);
  t.is(decodeQqic(0xff), 31 * 1024);
  for (let c = 0; c <= 0xffff; c++) if (encodeMaxRespCode(decodeMaxRespCode(c)) !== c) return t.fail(`max resp code ${c}`);
  for (let c = 0; c <= 0xff; c++) if (encodeQqic(decodeQqic(c)) !== c) return t.fail(`qqic ${c}`);
  holds(
    t,
    fc.property(fc.integer({ min: 0, max: 0x1fff * 1024 }), (ms) => {
      const d = decodeMaxRespCode(encodeMaxRespCode(ms));
      return d <= ms && d > ms * (1 - 1 / 4096) - 1;
    }),
  );
  t.is(encodeMaxRespCode(1e12), 0xffff, 'beyond the range: the largest code');
});

// ---- unsolicited reports (§6.1) ----------------------------------------------------------

test('a join sends CHANGE_TO_EXCLUDE {} to ff02::16, Robustness times within the Unsolicited Report Interval', (t) => {
  const { net, h, c } = setup();
  const before = c.snapshot();
  const out143 = h.s.icmp6.outHist[143]!;
  t.true(h.s.ip6.joinGroup(h.ifp, G1).ok);
  net.run(10);
  const first = sent(net, h, 143);
  t.is(first.length, 1, 'the first report at once');
  net.run(5000);
  const all = sent(net, h);
  t.is(all.length, 2, 'one retransmission ([Robustness Variable] = 2 transmissions)');
  for (const m of all) {
    wellFormed(t, m, h.ll);
    t.is(m.type, 143);
    t.is(txt(m.dst), 'ff02::16');
    t.deepEqual(m.records, [{ type: TO_EX, group: txt(G1), sources: [], aux: 0 }]);
  }
  t.true(all[1]!.at - all[0]!.at <= 1000, `retransmitted ${all[1]!.at - all[0]!.at} ms later`);
  t.deepEqual(changed(before, c.snapshot()), { stateChangeReports: 2, recordsOut: 2 });
  t.is(h.s.icmp6.outHist[143]! - out143, 2);
});

test('the last leave sends CHANGE_TO_INCLUDE {} the same way, then the group is forgotten', (t) => {
  const { net, h } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  net.raw.clear();
  h.s.ip6.leaveGroup(h.ifp, G1);
  net.run(3000);
  t.is(sent(net, h).length, 0, 'still one member: nothing to report');
  h.s.ip6.leaveGroup(h.ifp, G1);
  net.run(5000);
  const all = sent(net, h);
  t.is(all.length, 2);
  for (const m of all) t.deepEqual(m.records, [{ type: TO_IN, group: txt(G1), sources: [], aux: 0 }]);
  t.true(all[1]!.at - all[0]!.at <= 1000);
  t.false(h.s.mld6.state(h.ifp).groups.some((g) => g.group === txt(G1)));
});

test('a leave before the retransmission replaces the pending record (§6.1): one CHANGE_TO_EXCLUDE, then CHANGE_TO_INCLUDE twice', (t) => {
  const { net, h } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(0);
  h.s.ip6.leaveGroup(h.ifp, G1);
  net.run(5000);
  t.deepEqual(recordsOf(sent(net, h)).map((r) => r.type), [TO_EX, TO_IN, TO_IN]);
});

test('groups joined together travel in one report', (t) => {
  const { net, h } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  h.s.ip6.joinGroup(h.ifp, G2);
  net.run(5000);
  const all = sent(net, h);
  t.is(all.length, 2);
  for (const m of all) t.deepEqual(m.records.map((r) => r.group).sort(), [txt(G1), txt(G2)].sort());
});

test('ff02::1 and interface-local groups are never reported; solicited-node groups are, from :: during DAD (RFC 3590)', (t) => {
  const { net, h } = setup({ up: false });
  h.s.up(h.ifp);
  net.run(5000);
  const atUp = sent(net, h);
  t.deepEqual([...new Set(groupsOf(atUp))], [txt(snode(h.ll))], 'only the solicited-node group of the link-local address');
  t.deepEqual(txt(atUp[0]!.src), '::', 'the link-local address was tentative');
  t.is(atUp[0]!.hlim, 1);
  t.is(atUp[0]!.ra, 0);
  net.raw.clear();
  h.s.ip6.joinGroup(h.ifp, in6('ff01::5'));
  h.s.ip6.joinGroup(h.ifp, in6('ff00::5'));
  t.true(h.s.ip6.addAddress(h.ifp, in6('2001:db8::1'), 64).ok);
  net.run(5000);
  const later = sent(net, h);
  t.deepEqual([...new Set(groupsOf(later))], ['ff02::1:ff00:1']);
  t.deepEqual(txt(later.at(-1)!.src), txt(h.ll), 'a link-local source once DAD is done');
  // Nor does a General Query bring them up.
  net.raw.clear();
  net.raw.send(v2Query({ mrc: 100 }));
  net.run(200);
  t.deepEqual(groupsOf(sent(net, h)), [txt(snode(h.ll)), 'ff02::1:ff00:1'].sort());
});

test('groups joined while the interface is down are reported when it comes up', (t) => {
  const { net, h } = setup({ up: false });
  t.true(h.s.ip6.joinGroup(h.ifp, G1).ok);
  net.run(1000);
  t.is(sent(net, h).length, 0);
  h.s.up(h.ifp);
  net.run(10);
  const first = sent(net, h);
  t.is(first.length, 1, 'one report at up');
  t.deepEqual(first[0]!.records.map((r) => [r.type, r.group]).sort(), [[TO_EX, txt(G1)], [TO_EX, txt(snode(h.ll))]].sort());
});

// ---- queries (§6.2, §6.3) -------------------------------------------------------------------

test('a General Query is answered within its Maximum Response Delay with every group as MODE_IS_EXCLUDE {}', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  h.s.ip6.joinGroup(h.ifp, G2);
  net.run(3000);
  net.raw.clear();
  const t0 = net.clock.now();
  t.like(inject([v2Query({ mrc: 2000 })], 2000), { queriesV2In: 1, generalQueries: 1, currentStateReports: 1, recordsOut: 3 });
  net.run(10_000);
  const all = sent(net, h);
  t.is(all.length, 1, 'one report, no repeats');
  const r = all[0]!;
  wellFormed(t, r, h.ll);
  t.is(txt(r.dst), 'ff02::16');
  t.true(r.at - t0 <= 2000, `answered after ${r.at - t0} ms`);
  t.deepEqual(
    r.records.sort((a, b) => a.group.localeCompare(b.group)),
    [txt(G1), txt(G2), txt(snode(h.ll))].sort().map((g) => ({ type: IS_EX, group: g, sources: [], aux: 0 })),
  );
});

test('a large membership is answered in several reports, each within the MTU', (t) => {
  const { net, h } = setup();
  const groups: string[] = [txt(snode(h.ll))];
  for (let i = 0; i < 150; i++) {
    const g = in6(`ff0e::77:${i.toString(16)}`);
    h.s.ip6.joinGroup(h.ifp, g);
    groups.push(txt(g));
  }
  net.run(3000);
  net.raw.clear();
  net.raw.send(v2Query({ mrc: 1000 }));
  net.run(1010);
  const all = sent(net, h);
  t.is(all.length, 3, '(1500 - 40 - 8 - 8) / 20 = 72 records a packet');
  t.true(all.every((m) => m.size <= 1500 && m.cksumOk));
  t.deepEqual(groupsOf(all), groups.sort());
});

test('a Multicast Address Specific Query is answered for that group only; one for a group not joined is not', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  h.s.ip6.joinGroup(h.ifp, G2);
  net.run(3000);
  net.raw.clear();
  const t0 = net.clock.now();
  t.like(inject([v2Query({ mrc: 1000, group: G1, dst: G1 })], 1000), { groupQueries: 1, currentStateReports: 1 });
  const all = sent(net, h);
  t.is(all.length, 1);
  t.true(all[0]!.at - t0 <= 1000);
  t.deepEqual(all[0]!.records, [{ type: IS_EX, group: txt(G1), sources: [], aux: 0 }]);
  net.raw.clear();
  t.deepEqual(inject([v2Query({ mrc: 1000, group: G3 })], 5000), { queriesV2In: 1, queryNotMember: 1 });
  t.is(sent(net, h).length, 0);
});

test('source-specific queries: MODE_IS_INCLUDE with the queried sources, merged (§6.2 rule 5); a group query makes it the whole group (rule 4)', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  net.raw.clear();
  t.like(inject([v2Query({ mrc: 3000, group: G1, dst: G1, sources: [S1, S2] }), v2Query({ mrc: 3000, group: G1, dst: G1, sources: [S2, S3] })], 3000), {
    groupSourceQueries: 2,
    currentStateReports: 1,
  });
  let all = sent(net, h);
  t.is(all.length, 1);
  t.is(all[0]!.records.length, 1);
  t.is(all[0]!.records[0]!.type, IS_IN);
  t.deepEqual(all[0]!.records[0]!.sources.sort(), [S1, S2, S3].map(txt).sort());
  net.raw.clear();
  inject([v2Query({ mrc: 3000, group: G1, dst: G1, sources: [S1] }), v2Query({ mrc: 3000, group: G1, dst: G1 })], 3000);
  all = sent(net, h);
  t.is(all.length, 1);
  t.deepEqual(all[0]!.records, [{ type: IS_EX, group: txt(G1), sources: [], aux: 0 }]);
});

test('§6.2 rule 1: a general response due sooner covers a later query; rule 2: a new General Query replaces the pending one', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  net.raw.clear();
  t.like(inject([v2Query({ mrc: 0 }), v2Query({ mrc: 10_000, group: G1, dst: G1 })], 11_000), { queryRedundant: 1, currentStateReports: 1 });
  t.is(sent(net, h).length, 1);
  net.raw.clear();
  const t0 = net.clock.now();
  inject([v2Query({ mrc: 30_000 }), v2Query({ mrc: 100 })], 40_000);
  const all = sent(net, h);
  t.is(all.length, 1, 'the second query replaced the first response');
  t.true(all[0]!.at - t0 <= 100);
});

test('invalid queries are dropped and counted: no Router Alert, hop limit not 1, not link-local, bad lengths and counts', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  net.raw.clear();
  const cases: [Uint8Array, string][] = [
    [v2Query({ mrc: 100, ra: false }), 'badQueryNoRouterAlert'],
    [v2Query({ mrc: 100, hlim: 255 }), 'badQueryHopLimit'],
    [v2Query({ mrc: 100, src: in6('2001:db8::ee') }), 'badQuerySource'],
    [mldFrame({ type: 130, body: new Uint8Array(22) }), 'badQueryLength'],
    [mldFrame({ type: 130, body: new Uint8Array(16) }), 'badQueryShort'],
    [v2Query({ mrc: 100, group: G1, dst: G1, sources: [S1], nsrc: 2 }), 'badQuerySources'],
    [v2Query({ mrc: 100, sources: [S1] }), 'badQuerySources'],
    [v2Query({ mrc: 100, group: in6('2001:db8::1') }), 'badQueryGroup'],
    [mldFrame({ type: 130, body: v1Body(100), hlim: 64 }), 'badQueryHopLimit'],
  ];
  for (const [f, why] of cases) t.deepEqual(inject([f], 200), { [why]: 1 }, why);
  net.run(1000);
  t.is(sent(net, h).length, 0, 'no report answers an invalid query');
});

test('QRV and QQIC of an MLDv2 query are adopted: Robustness 3 means three transmissions of a state change', (t) => {
  const { net, h } = setup();
  net.raw.send(v2Query({ mrc: 10, qrv: 3, qqic: 60 }));
  net.run(100);
  t.is(h.s.mld6.state(h.ifp).robustness, 3);
  net.raw.clear();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(5000);
  const all = sent(net, h);
  t.is(all.length, 3);
  for (let i = 1; i < all.length; i++) t.true(all[i]!.at - all[i - 1]!.at <= 1000);
});

// ---- MLDv1 compatibility (§8.2) ----------------------------------------------------------------

test('an MLDv1 Query switches to MLDv1: reports to each group within the delay, Done on leave, MLDv2 again after 260 s', (t) => {
  const { net, h, c, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  net.raw.clear();
  const t0 = net.clock.now();
  t.like(inject([v1Query(10_000)], 10_000), { queriesV1In: 1, toV1: 1, generalQueries: 1, v1ReportsOut: 2 });
  t.is(h.s.mld6.version(h.ifp), 1);
  let all = sent(net, h);
  t.deepEqual(all.map((m) => m.type), [131, 131]);
  t.deepEqual(all.map((m) => m.group).sort(), [txt(G1), txt(snode(h.ll))].sort());
  for (const m of all) {
    wellFormed(t, m, h.ll);
    t.is(txt(m.dst), m.group, 'a v1 report goes to its group');
    t.true(m.at - t0 <= 10_000);
  }
  // A join in v1 mode: a v1 report at once, repeated within [Unsolicited Report Interval] (RFC 2710: 10 s).
  net.raw.clear();
  const t1 = net.clock.now();
  h.s.ip6.joinGroup(h.ifp, G2);
  net.run(10_010);
  all = sent(net, h);
  t.deepEqual(all.map((m) => [m.type, m.group]), [[131, txt(G2)], [131, txt(G2)]]);
  t.is(all[0]!.at, t1);
  // The last leave: a Done to ff02::2 (once).
  net.raw.clear();
  h.s.ip6.leaveGroup(h.ifp, G1);
  net.run(5000);
  all = sent(net, h);
  t.is(all.length, 1);
  t.is(all[0]!.type, 132);
  t.is(txt(all[0]!.dst), txt(ALL_ROUTERS));
  t.is(all[0]!.group, txt(G1));
  wellFormed(t, all[0]!, h.ll);
  // §9.12: Robustness × Query Interval + Query Response Interval = 2 × 125 + 10 s.
  net.clock.advance(t0 + 259_900 - net.clock.now());
  t.is(h.s.mld6.version(h.ifp), 1, 'still MLDv1 at 259.9 s');
  net.clock.advance(200);
  t.is(h.s.mld6.version(h.ifp), 2, 'MLDv2 at 260.1 s');
  t.is(c.c.toV2, 1);
  net.raw.clear();
  h.s.ip6.joinGroup(h.ifp, G3);
  net.run(10);
  t.deepEqual(sent(net, h).map((m) => [m.type, m.records[0]?.type]), [[143, TO_EX]]);
});

test('MLDv1 report suppression: another listener answering first cancels our report, and then we send no Done', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  net.raw.clear();
  const otherReport = (o: Partial<MldFrameSpec> = {}) => mldFrame({ type: 131, body: v1Body(0, G1), dst: G1, ...o });
  // Reports from :: or with another hop limit do not count (and are not suppressing).
  t.like(inject([v1Query(10_000, G1, G1), otherReport({ src: UNSPEC }), otherReport({ hlim: 255 })], 0), { v1ReportsIn: 2, badReport: 2 });
  t.like(inject([otherReport()], 11_000), { v1ReportsIn: 1, v1ReportsSuppressed: 1 });
  t.is(sent(net, h).length, 0, 'our report was suppressed');
  h.s.ip6.leaveGroup(h.ifp, G1);
  net.run(1000);
  t.is(sent(net, h).length, 0, 'no Done: another listener is there');
  // In MLDv2 mode there is no suppression.
  const { net: n2, h: h2, inject: inj2 } = setup({ seed: 7 });
  h2.s.ip6.joinGroup(h2.ifp, G1);
  n2.run(3000);
  n2.raw.clear();
  const rep = mldFrame({ type: 131, body: v1Body(0, G1), dst: G1 });
  t.like(inj2([v2Query({ mrc: 5000, group: G1, dst: G1 }), rep], 5000), { v1ReportsIn: 1, currentStateReports: 1 });
});

test('an MLDv2 query heard in MLDv1 mode is answered the MLDv1 way and does not end the mode', (t) => {
  const { net, h, inject } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.run(3000);
  inject([v1Query(1000)], 1000);
  net.raw.clear();
  t.like(inject([v2Query({ mrc: 1000, group: G1, dst: G1 })], 1000), { queriesV2In: 1, v1ReportsOut: 1 });
  t.deepEqual(sent(net, h).map((m) => [m.type, m.group]), [[131, txt(G1)]]);
  t.is(h.s.mld6.version(h.ifp), 1);
});

test('close() cancels every timer', (t) => {
  const { net, h } = setup();
  h.s.ip6.joinGroup(h.ifp, G1);
  net.raw.send(v2Query({ mrc: 5000 }));
  net.run(0);
  h.s.mld6.close();
  net.raw.clear();
  net.run(10_000);
  t.is(sent(net, h).length, 0);
});

/**
 * Fragment reassembly (RFC 8200 §4.5, RFC 5722, RFC 6946, RFC 7112) and
 * source fragmentation (RFC 7739 identifications) on the virtual link: the
 * raw port sends fragments of echo requests in every order and shape, and
 * each test checks the ip6stat counters together with what came back (the
 * reply, fragmented by the stack when it exceeds the MTU, or the ICMPv6 error
 * with its pointer and the offending fragment quoted unchanged).
 */
import test from 'ava';
import { putU32 } from '../../src/core/bytes.ts';
import { in6Cksum } from '../../src/core/checksum.ts';
import { in6 } from '../../src/ip6/addr.ts';
import { FRAG_OFFLG } from '../../src/ip6/exthdr.ts';
import { ICMP, RAW_LL, echoBody, eq } from '../helpers/stack.ts';
import { type FragSpec, NXT, type XRig, checkError, chain, fragFrame, fragFrames, fragmentsSent, reassemble, xrig } from '../helpers/exthdr.ts';

const PP = ICMP.PARAM_PROB;

function spec(r: XRig, id: number, o: Partial<FragSpec> = {}): FragSpec {
  return { src: RAW_LL, dst: r.h.ll, ethDst: r.h.mac, id, ...o };
}

/** Echo data of `n` bytes that differs per sequence number. */
function data(n: number, seq = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seq) & 0xff);
}

/**
 * Checks the echo reply that came back in fragments: every fragment fits the
 * 1,500-byte link, carries the same identification, non-last fragments hold
 * a multiple of 8 bytes, offsets follow each other, M is set on all but the
 * last, and the reassembled message is the reply to `seq` with `payload`.
 */
function checkFragmentedReply(t: import('ava').ExecutionContext, r: XRig, frames: ReturnType<XRig['send']>['seen'], seq: number, payload: Uint8Array): void {
  const frags = fragmentsSent(frames);
  const expectN = Math.ceil((8 + payload.length) / 1448);
  t.is(frags.length, expectN, 'fragments of the reply');
  t.true(frags.every((f) => f.id === frags[0]!.id), 'one identification');
  let off = 0;
  frags.forEach((f, i) => {
    const last = i === frags.length - 1;
    t.is(f.offset, off, `fragment ${i} offset`);
    t.is(f.more, !last, `fragment ${i} M flag`);
    t.is(f.nxt, NXT.ICMPV6);
    t.true(f.packetLen <= 1500, `fragment ${i} fits the MTU`);
    if (!last) t.is(f.data.length % 8, 0, `fragment ${i} length is a multiple of 8`);
    if (!last) t.is(f.data.length, 1448, 'as large as the MTU allows');
    off += f.data.length;
  });
  const msg = reassemble(frags);
  t.truthy(msg);
  if (!msg) return;
  t.is(msg[0], ICMP.ECHO_REPLY);
  t.is(in6Cksum(msg, 0, msg.length, NXT.ICMPV6, r.h.ll, RAW_LL), 0, 'checksum of the whole reply');
  t.true(eq(msg.subarray(4), echoBody(0x1234, seq, payload)), 'identifier, sequence and data echoed');
}

test('3,000 bytes of echo in four fragments, in order, shuffled and reversed: answered with a reply the stack fragments', (t) => {
  const r = xrig();
  const payload = data(3000);
  for (const [i, order] of [
    [0, 1, 2, 3],
    [2, 0, 3, 1],
    [3, 2, 1, 0],
  ].entries()) {
    const seq = i + 1;
    const frames = fragFrames(spec(r, 0x100 + i), r.echo({ seq, data: payload }), [1000, 1000, 1000]);
    t.is(frames.length, 4);
    const s = r.send(order.map((k) => frames[k]!));
    t.like(s.ip6, { total: 4, fragments: 4, reassembled: 1, delivered: 1, fragmentedOut: 1, fragsCreated: 3 }, `order ${order}`);
    t.is(s.errors.length, 0);
    checkFragmentedReply(t, r, s.seen, seq, payload);
  }
  t.is(r.h.s.ip6.reass.queueCount, 0, 'nothing left behind');
  t.is(r.h.s.ip6.reass.bufferedBytes, 0);
});

test('fragments behind a Hop-by-Hop header (the unfragmentable part) reassemble', (t) => {
  const r = xrig();
  const payload = data(2000);
  const frames = fragFrames(spec(r, 77, { unfrag: [{ kind: 'hbh' }] }), r.echo({ data: payload }), [1200]);
  const s = r.send([frames[1]!, frames[0]!]);
  t.like(s.ip6, { fragments: 2, reassembled: 1 });
  checkFragmentedReply(t, r, s.seen, 1, payload);
});

test('an exact duplicate is dropped alone (fragDup) and the datagram still completes', (t) => {
  const r = xrig();
  const payload = data(2500);
  const f = fragFrames(spec(r, 5), r.echo({ data: payload }), [1200, 1200]);
  const s = r.send([f[0]!, f[1]!, f[1]!, f[0]!, f[2]!]);
  t.like(s.ip6, { fragments: 5, fragDup: 2, reassembled: 1 });
  t.is(s.ip6.fragOverlap, undefined);
  checkFragmentedReply(t, r, s.seen, 1, payload);
});

test('an overlapping fragment drops the whole datagram (RFC 5722), and its later fragments too', (t) => {
  const r = xrig();
  const msg = r.echo({ data: data(3000) });
  const sp = spec(r, 9);
  const a = fragFrame(sp, 0, msg.subarray(0, 1000), true);
  const b = fragFrame(sp, 992, msg.subarray(992, 1992), true); // 8 bytes over a
  const c = fragFrame(sp, 1992, msg.subarray(1992, 2992), true);
  const d = fragFrame(sp, 2992, msg.subarray(2992), false);
  const s1 = r.send([a, b]);
  t.like(s1.ip6, { fragments: 2, fragOverlap: 1 });
  t.is(r.h.s.ip6.reass.bufferedBytes, 0, 'the fragments held are freed');
  const s2 = r.send([c, d]);
  t.like(s2.ip6, { fragments: 2, fragOverlap: 2 });
  t.is(s2.ip6.reassembled, undefined);
  t.is(s1.replies.length + s2.replies.length, 0);
  // Not even a complete, consistent set of fragments revives it.
  const s3 = r.send(fragFrames(sp, msg, [1000, 1000, 1000]));
  t.like(s3.ip6, { fragOverlap: 4 });
  t.is(s3.replies.length, 0);
  // Sixty seconds on: the dead datagram goes quietly, without Time Exceeded.
  const s4 = r.send([], 60_000);
  t.is(s4.errors.length, 0);
  t.is(s4.ip6.fragTimeout, undefined);
  t.is(r.h.s.ip6.reass.queueCount, 0);
});

test('other overlaps: a fragment inside another, the same offset with other bytes, the same offset with another length', (t) => {
  const r = xrig();
  const msg = r.echo({ data: data(2000) });
  const cases = [
    { what: 'inside', second: (sp: FragSpec) => fragFrame(sp, 8, msg.subarray(8, 16), true) },
    { what: 'same place, other bytes', second: (sp: FragSpec) => fragFrame(sp, 0, new Uint8Array(1000).fill(1), true) },
    { what: 'same offset, shorter', second: (sp: FragSpec) => fragFrame(sp, 0, msg.subarray(0, 8), true) },
    { what: 'ends inside', second: (sp: FragSpec) => fragFrame(sp, 1000 - 16, msg.subarray(1000 - 16, 1000 + 8), true) },
  ];
  cases.forEach((k, i) => {
    const sp = spec(r, 1000 + i);
    const s = r.send([fragFrame(sp, 0, msg.subarray(0, 1000), true), k.second(sp), fragFrame(sp, 1000, msg.subarray(1000), false)]);
    t.like(s.ip6, { fragOverlap: 2 }, k.what);
    t.is(s.replies.length, 0, k.what);
  });
});

test('tiny fragments of 8 bytes each reassemble', (t) => {
  const r = xrig();
  const payload = data(56);
  const msg = r.echo({ data: payload });
  const frames = fragFrames(spec(r, 42), msg, new Array<number>(8).fill(8));
  t.is(frames.length, 8);
  const order = [5, 0, 7, 3, 1, 6, 2, 4];
  const s = r.send(order.map((k) => frames[k]!));
  t.like(s.ip6, { fragments: 8, reassembled: 1 });
  t.is(s.replies.length, 1, 'a 64-byte reply needs no fragmenting');
  t.true(eq(s.replies[0]!.icmp!.body, echoBody(0x1234, 1, payload)));
});

test('a fragment that is not the last and not a multiple of 8 bytes: Parameter Problem code 0, pointer 4 (fragBadLen)', (t) => {
  const r = xrig();
  const msg = r.echo({ data: data(2000) });
  for (const len of [1001, 4, 0]) {
    const f = fragFrame(spec(r, 3), 0, msg.subarray(0, len), true);
    const s = r.send(f);
    t.like(s.ip6, { fragments: 1, fragBadLen: 1 }, `${len} bytes`);
    checkError(t, s.errors[0], { type: PP, code: 0, param: 4 }, f.subarray(14), `${len} bytes`);
  }
  t.is(r.h.s.ip6.reass.queueCount, 0, 'no queue created');
});

test('offset + length beyond 65,535: Parameter Problem code 0 pointing at the Fragment Offset field (fragTooBig)', (t) => {
  const r = xrig();
  const cases = [
    { what: 'last fragment', off: 65528, len: 8, more: false, unfrag: [] },
    { what: 'more fragments', off: 65528, len: 16, more: true, unfrag: [] },
    { what: 'far past', off: 65000, len: 1000, more: true, unfrag: [] },
    // 8 bytes of Hop-by-Hop in front count towards the reassembled payload length.
    { what: 'behind Hop-by-Hop', off: 65520, len: 8, more: false, unfrag: [{ kind: 'hbh' as const }] },
  ];
  for (const k of cases) {
    const sp = spec(r, 11, { unfrag: k.unfrag });
    const f = fragFrame(sp, k.off, new Uint8Array(k.len), k.more);
    const s = r.send(f);
    t.like(s.ip6, { fragments: 1, fragTooBig: 1 }, k.what);
    const fragAt = 40 + (k.unfrag.length ? 8 : 0);
    checkError(t, s.errors[0], { type: PP, code: 0, param: fragAt + FRAG_OFFLG }, f.subarray(14), k.what);
  }
  // Exactly 65,535 is allowed: the fragment waits for the others.
  const s = r.send(fragFrame(spec(r, 12), 65528, new Uint8Array(7), false));
  t.deepEqual(s.ip6, { total: 1, fragments: 1, pending: 1 });
  t.is(s.errors.length, 0);
});

test('a datagram whose first fragment brings a longer unfragmentable part than the rest: dropped at reassembly, not truncated', (t) => {
  const r = xrig();
  const sp = spec(r, 13, { nxt: NXT.NONE });
  // Fragments without extension headers cover [8, 65535); the first one carries 8 bytes of Hop-by-Hop.
  const frames: Uint8Array[] = [];
  for (let off = 8; off < 65535; off += 1448) frames.push(fragFrame(sp, off, new Uint8Array(Math.min(1448, 65535 - off)), off + 1448 < 65535));
  frames.push(fragFrame({ ...sp, unfrag: [{ kind: 'hbh' }] }, 0, new Uint8Array(8), true));
  const s = r.send(frames);
  t.is(s.ip6.fragTooBig, 1);
  t.is(s.ip6.reassembled, undefined);
  t.is(s.ip6.noNextHeader, undefined, 'never handed on');
  t.is(r.h.s.ip6.reass.bufferedBytes, 0);
});

test('an inconsistent last fragment, or a fragment past the end: the datagram is dropped (fragInconsistent)', (t) => {
  const r = xrig();
  const msg = r.echo({ data: data(3000) });
  // Two "last" fragments that disagree on the length.
  const sp = spec(r, 21);
  const s1 = r.send([fragFrame(sp, 0, msg.subarray(0, 1000), true), fragFrame(sp, 2000, msg.subarray(2000), false), fragFrame(sp, 1000, msg.subarray(1000, 1504), false)]);
  t.like(s1.ip6, { fragments: 3, fragInconsistent: 1 });
  t.is(s1.replies.length + s1.errors.length, 0);
  // A fragment beyond the end the last fragment fixed.
  const sp2 = spec(r, 22);
  const s2 = r.send([fragFrame(sp2, 1000, msg.subarray(1000, 2000), false), fragFrame(sp2, 2000, new Uint8Array(8), true)]);
  t.like(s2.ip6, { fragInconsistent: 1 });
  // A last fragment that ends before fragments already held.
  const sp3 = spec(r, 23);
  const s3 = r.send([fragFrame(sp3, 2000, new Uint8Array(1000), true), fragFrame(sp3, 1000, msg.subarray(1000, 2000), false)]);
  t.like(s3.ip6, { fragInconsistent: 1 });
  t.is(s2.replies.length + s3.replies.length + s2.errors.length + s3.errors.length, 0);
});

test('a first fragment without the whole header chain: Parameter Problem code 3 (RFC 7112, fragIncompleteChain)', (t) => {
  const r = xrig();
  // Destination Options of 24 bytes, of which the first fragment carries 16.
  const inner = chain([{ kind: 'raw', bytes: Uint8Array.of(0, 2, 1, 20, ...new Array<number>(20).fill(0)) }], NXT.ICMPV6, r.echo());
  const f1 = fragFrame(spec(r, 31, { nxt: NXT.DSTOPTS }), 0, inner.payload.subarray(0, 16), true);
  const s1 = r.send(f1);
  t.like(s1.ip6, { fragments: 1, fragIncompleteChain: 1 });
  checkError(t, s1.errors[0], { type: PP, code: 3, param: 0 }, f1.subarray(14), 'options header cut');
  // A TCP header (20 bytes) cut after 16.
  const f2 = fragFrame(spec(r, 32, { nxt: 6 }), 0, new Uint8Array(16), true);
  const s2 = r.send(f2);
  t.like(s2.ip6, { fragIncompleteChain: 1 });
  checkError(t, s2.errors[0], { type: PP, code: 3, param: 0 }, f2.subarray(14), 'TCP header cut');
  // With the whole chain (the options header and the ICMPv6 header) it is fine and waits for the rest.
  const s3 = r.send(fragFrame(spec(r, 33, { nxt: NXT.DSTOPTS }), 0, inner.payload.subarray(0, 32), true));
  t.like(s3.ip6, { pending: 1 });
  t.is(s3.errors.length, 0);
  t.is(r.h.s.ip6.reass.queueCount, 1);
});

test('never completed: Time Exceeded code 1 after 60 s quoting the first fragment, only if it arrived (fragTimeout)', (t) => {
  const r = xrig();
  const msg = r.echo({ data: data(3000) });
  // A first fragment larger than an error can quote: the error carries its first 1,232 bytes.
  const withFirst = fragFrames(spec(r, 41), msg, [1400, 1000]);
  const withoutFirst = fragFrames(spec(r, 42), msg, [1400, 1000]);
  t.is(withFirst[0]!.length - 14, 1448);
  const s0 = r.send([withFirst[0]!, withFirst[2]!, withoutFirst[1]!, withoutFirst[2]!]);
  t.like(s0.ip6, { fragments: 4, pending: 4 });
  t.is(r.h.s.ip6.reass.queueCount, 2);
  const s1 = r.send([], 60_000 - 10 - 1);
  t.is(s1.errors.length, 0, 'not before 60 s');
  t.is(s1.ip6.fragTimeout, undefined);
  const s2 = r.send([], 1);
  t.is(s2.ip6.fragTimeout, 2, 'both datagrams time out');
  t.is(s2.errors.length, 1, 'one Time Exceeded: for the datagram whose first fragment came');
  checkError(t, s2.errors[0], { type: ICMP.TIME_EXCEEDED, code: 1, param: 0 }, withFirst[0]!.subarray(14));
  t.is(r.h.s.ip6.reass.queueCount, 0);
  t.is(r.h.s.ip6.reass.bufferedBytes, 0);
});

test('an atomic fragment is processed on its own (RFC 6946) and does not touch a datagram with the same identification', (t) => {
  const r = xrig();
  const s1 = r.send(fragFrame(spec(r, 51), 0, r.echo({ seq: 1 }), false));
  t.like(s1.ip6, { fragments: 1, atomicFrags: 1, delivered: 1 });
  t.is(s1.ip6.reassembled, undefined);
  t.is(s1.replies.length, 1);
  t.is(r.h.s.ip6.reass.queueCount, 0);

  const payload = data(2000, 2);
  const big = fragFrames(spec(r, 52), r.echo({ seq: 2, data: payload }), [1000]);
  t.like(r.send(big[0]!).ip6, { pending: 1 });
  const s2 = r.send(fragFrame(spec(r, 52), 0, r.echo({ seq: 3 }), false));
  t.like(s2.ip6, { atomicFrags: 1 });
  t.is(s2.replies.length, 1);
  t.is(s2.replies[0]!.icmp!.body[3], 3);
  const s3 = r.send(big[1]!);
  t.like(s3.ip6, { reassembled: 1 });
  checkFragmentedReply(t, r, s3.seen, 2, payload);
});

test('an unknown upper layer inside a reassembled datagram: Parameter Problem code 1 about the reassembled packet', (t) => {
  const r = xrig();
  const body = data(2000);
  const f = fragFrames(spec(r, 61, { nxt: NXT.TEST }), body, [1000]);
  const s = r.send(f);
  t.like(s.ip6, { reassembled: 1, noProto: 1 });
  // What is quoted is the packet that was processed: the IPv6 header naming 253 directly.
  const whole = new Uint8Array(40 + body.length);
  whole.set(f[0]!.subarray(14, 54));
  whole[4] = body.length >>> 8;
  whole[5] = body.length & 0xff;
  whole[6] = NXT.TEST;
  whole.set(body, 40);
  checkError(t, s.errors[0], { type: PP, code: 1, param: 6 }, whole);
});

test('a flood of 100,000 identifications stays within the bounds, evicting the oldest; a fragmented ping works after', (t) => {
  const r = xrig();
  const reass = r.h.s.ip6.reass;
  const { maxQueues, maxBytes } = reass.limits;
  const c = r.h.s.ip6.stats.c;
  const sp = spec(r, 0);
  // One template frame; the raw port copies what it sends, so only the identification changes.
  const template = fragFrame(sp, 8, new Uint8Array(8), true);
  const ID_AT = 14 + 40 + 4;
  let maxTimers = 0;
  for (let id = 1; id <= 100_000; ) {
    for (let k = 0; k < 4000 && id <= 100_000; k++, id++) {
      putU32(template, ID_AT, id);
      r.net.raw.send(template);
    }
    r.net.run(0);
    t.true(reass.queueCount <= maxQueues);
    t.true(reass.bufferedBytes <= maxBytes);
    maxTimers = Math.max(maxTimers, r.net.clock.pendingTimers);
  }
  t.is(c.fragments, 100_000);
  t.is(reass.queueCount, maxQueues);
  t.is(c.fragEvicted, 100_000 - maxQueues);
  t.true(maxTimers < maxQueues + 100, `timers of evicted datagrams are cancelled (${maxTimers})`);

  // The byte bound: 1,000-byte fragments against a 64 KiB budget.
  reass.limits.maxBytes = 64 * 1024;
  const evicted = c.fragEvicted;
  for (let id = 200_001; id <= 202_000; ) {
    const batch: Uint8Array[] = [];
    for (let k = 0; k < 500 && id <= 202_000; k++, id++) batch.push(fragFrame({ ...sp, id }, 1000, new Uint8Array(1000), true));
    r.send(batch, 0);
    t.true(reass.bufferedBytes <= 64 * 1024, `bytes ${reass.bufferedBytes}`);
  }
  t.true(c.fragEvicted - evicted >= 2000 - 65, 'the oldest go first');
  t.true(reass.queueCount <= 65);

  // A legitimate fragmented ping still gets through.
  const payload = data(3000, 9);
  const s = r.send(fragFrames(spec(r, 300_000), r.echo({ seq: 9, data: payload }), [1200, 1200]));
  t.like(s.ip6, { reassembled: 1 });
  checkFragmentedReply(t, r, s.seen, 9, payload);
});

test('too many fragments for one datagram: dropped (fragTooMany)', (t) => {
  const r = xrig();
  const reass = r.h.s.ip6.reass;
  const sp = spec(r, 71);
  const n = reass.limits.maxFragsPerQueue;
  const frames = Array.from({ length: n + 1 }, (_, i) => fragFrame(sp, 16 + i * 8, new Uint8Array(8), true));
  const s = r.send(frames);
  t.like(s.ip6, { fragments: n + 1, fragTooMany: 1 });
  t.is(reass.bufferedBytes, 0);
});

test('the stack fragments its own large packets with unpredictable identifications (RFC 7739)', (t) => {
  const r = xrig();
  for (let seq = 1; seq <= 20; seq++) void r.h.s.ping({ dst: RAW_LL, zone: r.h.ifp.index, seq, size: 3000, timeoutMs: 100 });
  r.net.run(10);
  const frags = fragmentsSent(r.net.raw.frames.filter((f) => eq(f.ethSrc, r.h.mac)));
  const ids = [...new Set(frags.map((f) => f.id))];
  t.is(frags.length, 60, 'three fragments per request');
  t.is(ids.length, 20, 'one identification per datagram, all different');
  const steps = ids.slice(1).map((id, i) => (id - ids[i]! + 2 ** 32) % 2 ** 32);
  t.false(steps.every((d) => d === steps[0]), 'not a constant stride');
  t.false(steps.every((d) => d < 1000), 'not a counter');
  for (const id of ids) {
    const mine = frags.filter((f) => f.id === id);
    t.deepEqual(
      mine.map((f) => [f.offset, f.more]),
      [
        [0, true],
        [1448, true],
        [2896, false],
      ],
    );
  }
  r.net.run(200);
});

test('lo0 (MTU 131,072) carries a 65,000-byte ping to ::1 whole: nothing is fragmented', async (t) => {
  const r = xrig();
  const c = r.h.s.ip6.stats.c;
  const before = { out: c.fragmentedOut, in: c.fragments };
  const p = r.h.s.ping({ dst: in6('::1'), seq: 1, size: 65_000 });
  r.net.run(10);
  const res = await p;
  t.truthy(res);
  t.true(res!.dataOk);
  t.is(c.fragmentedOut - before.out, 0);
  t.is(c.fragments - before.in, 0);
});

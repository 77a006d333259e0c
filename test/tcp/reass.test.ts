/**
 * The out-of-order queue: gaps filled, first arrival kept, bounded, FIN
 * remembered, and SACK blocks in RFC 2018 §4 order.
 */
import test from 'ava';
import fc from 'fast-check';
import { ReassQueue } from '../../src/tcp/reass.ts';
import { seqAdd } from '../../src/tcp/seq.ts';

/** `len` bytes whose values are (seq + fill) & 0xff, so misplaced bytes show. */
function bytes(seq: number, len: number, fill = 0): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seq + i + fill) & 0xff;
  return b;
}

function concat(chunks: Uint8Array[]): number[] {
  return chunks.flatMap((c) => Array.from(c));
}

test('in order: what is inserted at RCV.NXT comes straight back', (t) => {
  const q = new ReassQueue();
  t.deepEqual(q.insert(0, bytes(0, 10)), { ok: true, value: { added: 10, duplicate: 0 } });
  const r = q.take(0);
  t.is(r.bytes, 10);
  t.false(r.fin);
  t.deepEqual(concat(r.chunks), Array.from(bytes(0, 10)));
  t.true(q.isEmpty);
  t.is(q.bytes, 0);
});

test('out of order: nothing is deliverable until the gap fills', (t) => {
  const q = new ReassQueue();
  q.insert(10, bytes(10, 10));
  q.insert(30, bytes(30, 10));
  t.deepEqual(q.take(0), { chunks: [], bytes: 0, fin: false });
  t.is(q.bytes, 20);
  t.is(q.segments, 2);
  q.insert(0, bytes(0, 10));
  const a = q.take(0);
  t.is(a.bytes, 20);
  t.deepEqual(concat(a.chunks), Array.from(bytes(0, 20)));
  q.insert(20, bytes(20, 10));
  const b = q.take(20);
  t.is(b.bytes, 20);
  t.deepEqual(concat(b.chunks), Array.from(bytes(20, 20)));
  t.true(q.isEmpty);
});

test('overlaps keep the bytes already queued', (t) => {
  const q = new ReassQueue();
  q.insert(10, bytes(10, 10, 100)); // first arrival, marked +100
  t.deepEqual(q.insert(5, bytes(5, 20)), { ok: true, value: { added: 10, duplicate: 10 } });
  const r = q.take(5);
  t.is(r.bytes, 20);
  t.deepEqual(concat(r.chunks), [...bytes(5, 5), ...bytes(10, 10, 100), ...bytes(20, 5)]);
});

test('a segment spanning several queued ones fills every gap', (t) => {
  const q = new ReassQueue();
  q.insert(10, bytes(10, 5, 1));
  q.insert(20, bytes(20, 5, 1));
  q.insert(30, bytes(30, 5, 1));
  t.deepEqual(q.insert(12, bytes(12, 30)), { ok: true, value: { added: 17, duplicate: 13 } });
  t.deepEqual(q.sackBlocks(4), [[10, 42]]);
});

test('duplicates add nothing', (t) => {
  const q = new ReassQueue();
  q.insert(10, bytes(10, 10));
  t.deepEqual(q.insert(10, bytes(10, 10)), { ok: true, value: { added: 0, duplicate: 10 } });
  t.deepEqual(q.insert(12, bytes(12, 3)), { ok: true, value: { added: 0, duplicate: 3 } });
  t.is(q.bytes, 10);
  t.is(q.segments, 1);
});

test('take discards what is already below RCV.NXT and trims a straddling segment', (t) => {
  const q = new ReassQueue();
  q.insert(10, bytes(10, 10));
  q.insert(30, bytes(30, 10));
  const r = q.take(15);
  t.is(r.bytes, 5);
  t.deepEqual(concat(r.chunks), Array.from(bytes(15, 5)));
  const s = q.take(50);
  t.is(s.bytes, 0, 'stale data is dropped, not delivered');
  t.is(q.bytes, 0);
});

test('bounded by bytes and segments: the insert is refused whole', (t) => {
  const q = new ReassQueue({ maxBytes: 100, maxSegments: 3 });
  t.true(q.insert(100, new Uint8Array(60)).ok);
  t.deepEqual(q.insert(200, new Uint8Array(50)), { ok: false, error: 'bytesFull' });
  t.true(q.insert(130, new Uint8Array(70)).ok, 'overlap only adds 40 new bytes');
  t.is(q.bytes, 100);
  const s = new ReassQueue({ maxSegments: 2 });
  s.insert(10, new Uint8Array(1));
  s.insert(20, new Uint8Array(1));
  t.deepEqual(s.insert(30, new Uint8Array(1)), { ok: false, error: 'segmentsFull' });
  t.deepEqual(s.insert(5, new Uint8Array(20)), { ok: false, error: 'segmentsFull' }, 'three gaps would make five segments');
  t.deepEqual(s.insert(11, new Uint8Array(9)), { ok: false, error: 'segmentsFull' }, 'each stored piece counts');
  t.true(s.insert(10, new Uint8Array(1)).ok, 'a pure duplicate needs no room');
  t.is(s.segments, 2);
  t.is(s.bytes, 2, 'refused inserts changed nothing');
});

test('queued bytes are copies: the packet buffer may be reused', (t) => {
  const q = new ReassQueue();
  const pkt = bytes(10, 10);
  q.insert(10, pkt.subarray(0, 10));
  pkt.fill(0);
  t.deepEqual(concat(q.take(10).chunks), Array.from(bytes(10, 10)));
});

test('works across the 2^32 wrap', (t) => {
  const q = new ReassQueue();
  const base = 0xffff_fff8;
  q.insert(seqAdd(base, 8), bytes(0, 8)); // at 0
  q.insert(seqAdd(base, 4), bytes(4, 4, 9));
  t.deepEqual(q.sackBlocks(4), [[0xffff_fffc, 8]]);
  q.insert(base, new Uint8Array(4));
  const r = q.take(base);
  t.is(r.bytes, 16);
  t.is(seqAdd(base, r.bytes), 8);
});

test('an out-of-order FIN is reported when RCV.NXT reaches it', (t) => {
  const q = new ReassQueue();
  q.insert(20, bytes(20, 5), true);
  t.false(q.isEmpty);
  t.false(q.take(0).fin);
  q.insert(0, bytes(0, 20));
  const r = q.take(0);
  t.is(r.bytes, 25);
  t.true(r.fin);
  t.true(q.isEmpty);
  const bare = new ReassQueue();
  bare.insert(7, new Uint8Array(0), true);
  t.deepEqual(bare.take(7), { chunks: [], bytes: 0, fin: true });
});

test('SACK blocks: the block with the latest segment first, then the most recent others (RFC 2018 §4)', (t) => {
  const q = new ReassQueue();
  q.insert(100, new Uint8Array(10));
  q.insert(200, new Uint8Array(10));
  q.insert(300, new Uint8Array(10));
  t.deepEqual(q.sackBlocks(4), [
    [300, 310],
    [200, 210],
    [100, 110],
  ]);
  q.insert(210, new Uint8Array(10)); // extends the middle block, which now leads
  t.deepEqual(q.sackBlocks(4), [
    [200, 220],
    [300, 310],
    [100, 110],
  ]);
  q.insert(400, new Uint8Array(10));
  q.insert(105, new Uint8Array(2)); // a duplicate still counts as the latest arrival
  t.deepEqual(q.sackBlocks(3), [
    [100, 110],
    [400, 410],
    [200, 220],
  ]);
  t.deepEqual(q.sackBlocks(0), []);
  q.take(110);
  t.deepEqual(q.sackBlocks(4), [
    [400, 410],
    [200, 220],
    [300, 310],
  ]);
});

test('model: any order of inserts delivers the first-arrived bytes, contiguous from RCV.NXT', (t) => {
  const seg = fc.record({ seq: fc.nat({ max: 200 }), len: fc.nat({ max: 40 }), fill: fc.nat({ max: 255 }) });
  fc.assert(
    fc.property(fc.constantFrom(0, 0xffff_ff80), fc.array(seg, { maxLength: 30 }), (base, segs) => {
      const q = new ReassQueue();
      const model = new Map<number, number>();
      for (const s of segs) {
        const data = bytes(s.seq, s.len, s.fill);
        const r = q.insert(seqAdd(base, s.seq), data);
        if (!r.ok) return false;
        let fresh = 0;
        for (let i = 0; i < s.len; i++) {
          if (!model.has(s.seq + i)) {
            model.set(s.seq + i, data[i]!);
            fresh++;
          }
        }
        if (r.value.added !== fresh || q.bytes !== model.size) return false;
      }
      // Every block is a maximal run of the model, and they are disjoint.
      const blocks = q.sackBlocks(1000).map(([l, r]) => [(l - base) >>> 0, (r - base) >>> 0] as const);
      let covered = 0;
      for (const [l, r] of blocks) {
        if (model.has(l - 1) || model.has(r) || r <= l) return false;
        for (let s = l; s < r; s++) if (!model.has(s)) return false;
        covered += r - l;
      }
      if (covered !== model.size) return false;
      // Fill from 0 with a distinct pattern: delivered bytes are the model's where it has them.
      const top = Math.max(0, ...[...model.keys()].map((k) => k + 1));
      const fillIn = bytes(0, top, 77);
      q.insert(base, fillIn);
      const got = concat(q.take(base).chunks);
      if (got.length !== top) return false;
      for (let i = 0; i < top; i++) if (got[i] !== (model.get(i) ?? fillIn[i])) return false;
      return q.isEmpty && q.bytes === 0;
    }),
  );
  t.pass();
});

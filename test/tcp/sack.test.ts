/**
 * The RFC 6675 scoreboard: Update() validation, IsLost() with DupThresh,
 * NextSeg() rules 1–3, SetPipe(), and the RTO choice; checked by hand and
 * against a per-octet model written straight from the §4 definitions.
 */
import test from 'ava';
import fc from 'fast-check';
import { SackScoreboard } from '../../src/tcp/sack.ts';
import { seqAdd } from '../../src/tcp/seq.ts';

const SMSS = 1000;

/** Ten segments of 1000 bytes sent from 0. */
function board(): SackScoreboard {
  const sb = new SackScoreboard({ smss: SMSS });
  sb.sent(0, 10 * SMSS);
  return sb;
}

test('IsLost: DupThresh discontiguous SACKed ranges above', (t) => {
  const sb = board();
  t.is(sb.update(0, [[1000, 2000]]), 1000);
  t.false(sb.isLost(0));
  sb.update(0, [[3000, 4000]]);
  t.false(sb.isLost(0), 'two ranges, 2000 bytes: not yet');
  sb.update(0, [[5000, 6000]]);
  t.true(sb.isLost(0), 'three discontiguous ranges');
  t.false(sb.isLost(2000), 'two ranges above 2000');
  t.is(sb.sackedBytes, 3000);
});

test('IsLost: more than (DupThresh − 1)·SMSS bytes SACKed above', (t) => {
  const sb = board();
  sb.update(0, [[1000, 3000]]);
  t.false(sb.isLost(0), 'exactly 2·SMSS is not more');
  sb.update(0, [[3000, 3001]]);
  t.true(sb.isLost(0));
  t.deepEqual(sb.sacked, [[1000, 3001]], 'adjacent blocks merge');
});

test('Update ignores empty blocks, D-SACKs at or below SND.UNA and blocks beyond HighData', (t) => {
  const sb = board();
  t.is(sb.update(1000, [[500, 1000]]), 0, 'D-SACK');
  t.is(sb.update(1000, [[3000, 3000]]), 0, 'empty');
  t.is(sb.update(1000, [[4000, 3000]]), 0, 'inverted');
  t.is(sb.update(1000, [[9000, 10001]]), 0, 'beyond HighData');
  t.is(sb.update(1000, [[500, 2000]]), 1000, 'the part above SND.UNA counts');
  t.deepEqual(sb.sacked, [[1000, 2000]]);
  t.is(sb.update(1500, []), 0);
  t.deepEqual(sb.sacked, [[1500, 2000]], 'a cumulative ACK trims the ranges');
  t.is(sb.sackedBytes, 500);
  sb.update(2500, []);
  t.deepEqual(sb.sacked, []);
  t.is(sb.sackedBytes, 0);
  t.is(sb.highAck, 2500);
});

test('NextSeg: rule 1 (lost), then rule 2 (new data), else rule 3', (t) => {
  const sb = board();
  sb.update(0, [[1000, 2000], [3000, 4000], [5000, 6000]]);
  sb.enterRecovery();
  t.deepEqual(sb.nextSeg(5000), { seq: 0, len: 1000, rxt: true }, 'rule 1: the first lost hole');
  sb.sent(0, 1000);
  t.is(sb.highRxt, 1000);
  t.false(sb.isLost(2000));
  t.deepEqual(sb.nextSeg(5000), { seq: 10_000, len: 1000, rxt: false }, 'rule 2: new data');
  t.deepEqual(sb.nextSeg(300), { seq: 10_000, len: 300, rxt: false });
  t.deepEqual(sb.nextSeg(0), { seq: 2000, len: 1000, rxt: true }, 'rule 3: unSACKed below the highest SACK');
  sb.sent(2000, 1000);
  t.deepEqual(sb.nextSeg(0), { seq: 4000, len: 1000, rxt: true });
  sb.sent(4000, 1000);
  t.is(sb.nextSeg(0), null, 'nothing below the highest SACK is left; no rescue (rule 4)');
});

test('NextSeg never resends SACKed bytes and caps at SMSS', (t) => {
  const sb = new SackScoreboard({ smss: 500 });
  sb.sent(0, 4000);
  sb.update(0, [[300, 400], [1500, 4000]]);
  t.deepEqual(sb.nextSeg(), { seq: 0, len: 300, rxt: true });
  sb.sent(0, 300);
  t.deepEqual(sb.nextSeg(), { seq: 400, len: 500, rxt: true });
  sb.sent(400, 500);
  t.deepEqual(sb.nextSeg(), { seq: 900, len: 500, rxt: true });
  sb.sent(900, 500);
  t.deepEqual(sb.nextSeg(), { seq: 1400, len: 100, rxt: true });
});

test('pipe: unSACKed not lost, plus retransmitted', (t) => {
  const sb = board();
  t.is(sb.pipe(), 10_000);
  sb.update(0, [[1000, 2000], [3000, 4000], [5000, 6000]]);
  // Holes: [0,1000) lost; [2000,3000) and [4000,5000) not lost; [6000,10000) not lost.
  t.is(sb.pipe(), 6000);
  sb.enterRecovery();
  sb.sent(0, 1000);
  t.is(sb.pipe(), 7000, 'the retransmission is in flight');
});

test('RTO: the SACK information is discarded unless kept (RFC 6675 §5.1)', (t) => {
  const sb = board();
  sb.update(0, [[1000, 2000], [3000, 4000], [5000, 6000]]);
  sb.sent(0, 1000);
  sb.onRto(true);
  t.is(sb.sackedBytes, 3000);
  t.is(sb.highRxt, 0);
  t.deepEqual(sb.nextSeg(), { seq: 0, len: 1000, rxt: true });
  sb.onRto();
  t.is(sb.sackedBytes, 0);
  t.deepEqual(sb.sacked, []);
  t.is(sb.nextSeg(), null);
});

test('bounded: no more than maxRanges ranges', (t) => {
  const sb = new SackScoreboard({ smss: 10, maxRanges: 4 });
  sb.sent(0, 1000);
  for (let i = 1; i <= 8; i++) sb.update(0, [[i * 100, i * 100 + 10]]);
  t.is(sb.sacked.length, 4);
  sb.update(0, [[100, 210]]);
  t.deepEqual(sb.sacked, [[100, 210], [300, 310], [400, 410]], 'a block that merges is still taken');
});

test('sequence numbers wrap', (t) => {
  const iss = 0xffff_f000;
  const sb = new SackScoreboard({ smss: SMSS, iss });
  sb.sent(iss, 10 * SMSS);
  sb.update(iss, [[seqAdd(iss, 1000), seqAdd(iss, 4001)]]);
  t.true(sb.isLost(iss));
  t.deepEqual(sb.nextSeg(), { seq: iss, len: 1000, rxt: true });
  t.is(sb.pipe(), 10 * SMSS - 3001 - 1000);
});

/** The §4 definitions, octet by octet. */
class Model {
  sacked = new Set<number>();
  una = 0;
  highRxt = 0;
  constructor(
    readonly highData: number,
    readonly smss: number,
  ) {}
  update(una: number, blocks: [number, number][]): void {
    this.una = Math.max(this.una, una);
    this.highRxt = Math.max(this.highRxt, this.una);
    for (const o of [...this.sacked]) if (o < this.una) this.sacked.delete(o);
    for (const [l, r] of blocks) {
      if (l >= r || r <= this.una || r > this.highData) continue;
      for (let o = Math.max(l, this.una); o < r; o++) this.sacked.add(o);
    }
  }
  isLost(o: number): boolean {
    let runs = 0;
    let bytes = 0;
    for (let s = o + 1; s < this.highData; s++) {
      if (!this.sacked.has(s)) continue;
      bytes++;
      if (!this.sacked.has(s - 1) || s === o + 1) runs++;
    }
    return runs >= 3 || bytes > 2 * this.smss;
  }
  pipe(): number {
    let p = 0;
    for (let o = this.una; o < this.highData; o++) {
      if (this.sacked.has(o)) continue;
      if (!this.isLost(o)) p++;
      if (o < this.highRxt) p++;
    }
    return p;
  }
  highSacked(): number {
    return this.sacked.size ? Math.max(...this.sacked) + 1 : this.una;
  }
  segFrom(o: number): { seq: number; len: number; rxt: boolean } {
    let len = 0;
    while (len < this.smss && o + len < this.highSacked() && !this.sacked.has(o + len)) len++;
    return { seq: o, len, rxt: true };
  }
  nextSeg(newBytes: number): { seq: number; len: number; rxt: boolean } | null {
    const hs = this.highSacked();
    for (let o = Math.max(this.una, this.highRxt); o < hs; o++) if (!this.sacked.has(o) && this.isLost(o)) return this.segFrom(o);
    if (newBytes > 0) return { seq: this.highData, len: Math.min(this.smss, newBytes), rxt: false };
    for (let o = Math.max(this.una, this.highRxt); o < hs; o++) if (!this.sacked.has(o)) return this.segFrom(o);
    return null;
  }
}

test('model: IsLost, pipe and NextSeg agree with the octet-by-octet definitions', (t) => {
  const N = 300;
  const off = fc.integer({ min: -30, max: N + 30 });
  const step = fc.record({
    ack: fc.nat({ max: 40 }),
    blocks: fc.array(fc.tuple(off, fc.nat({ max: 80 })), { maxLength: 4 }),
    rxt: fc.option(fc.tuple(fc.nat({ max: N }), fc.integer({ min: 1, max: 30 }))),
    newBytes: fc.nat({ max: 20 }),
  });
  fc.assert(
    fc.property(fc.constantFrom(0, 0xffff_ff00), fc.array(step, { minLength: 1, maxLength: 12 }), (base, steps) => {
      const smss = 10;
      const sb = new SackScoreboard({ smss, iss: base });
      sb.sent(base, N);
      const m = new Model(N, smss);
      let una = 0;
      for (const s of steps) {
        una = Math.min(N, una + s.ack);
        const blocks = s.blocks.map(([l, len]): [number, number] => [l, l + len]);
        sb.update(
          seqAdd(base, una),
          blocks.map(([l, r]): [number, number] => [seqAdd(base, l), seqAdd(base, r)]),
        );
        m.update(una, blocks);
        if (s.rxt) {
          const [seq, want] = s.rxt;
          const len = Math.min(want, N - seq);
          if (seq >= una && len > 0) {
            sb.sent(seqAdd(base, seq), len);
            m.highRxt = Math.max(m.highRxt, Math.min(seq + len, N));
          }
        }
        if (sb.sackedBytes !== m.sacked.size) return false;
        if (sb.pipe() !== m.pipe()) return false;
        for (let o = una; o < N; o++) if (!m.sacked.has(o) && sb.isLost(seqAdd(base, o)) !== m.isLost(o)) return false;
        const got = sb.nextSeg(s.newBytes);
        const want = m.nextSeg(s.newBytes);
        if ((got === null) !== (want === null)) return false;
        if (got && want && (got.seq !== seqAdd(base, want.seq) || got.len !== want.len || got.rxt !== want.rxt)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

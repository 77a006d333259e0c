/**
 * The receiver's out-of-order queue (KAME tcp_reass), with the SACK blocks it
 * implies (RFC 2018 §4).
 *
 * Segments that arrive beyond RCV.NXT wait here, sorted and non-overlapping.
 * A new segment only fills the gaps: bytes already queued are kept and the
 * new copy of them is dropped (RFC 9293 §3.10.7.4 lets either be kept; the
 * first arrival is what earlier SACKs described). When the in-order segment
 * arrives, the engine delivers it itself and then calls take(RCV.NXT) for
 * what has become contiguous.
 *
 * Bounded by bytes and by segment count (DESIGN §2): an insert that would
 * exceed either is refused whole, with the reason, and the engine counts it
 * (the sender will retransmit). maxBytes should be at least the receive
 * window the engine advertises, or in-window data gets dropped.
 *
 * The bytes kept are copied: the packet buffer they came in may be reused.
 *
 * A FIN may arrive out of order too: insert(seq, data, true) remembers its
 * sequence number (seq + data.length) and take() reports it once RCV.NXT
 * reaches it.
 */
import { err, ok, type Result } from '../core/result.ts';
import { seqAdd, seqDiff, seqGt, seqLeq, seqLt } from './seq.ts';

interface Seg {
  seq: number;
  data: Uint8Array;
  /** Arrival stamp of the latest segment that overlapped this one (for SACK order). */
  stamp: number;
}

export interface ReassOptions {
  /** Most bytes queued (default 256 KiB). */
  maxBytes?: number;
  /** Most separate segments queued (default 512). */
  maxSegments?: number;
}

export interface InsertInfo {
  /** New bytes queued. */
  added: number;
  /** Bytes of the segment that were already queued (duplicates, dropped). */
  duplicate: number;
}

export type ReassError = 'bytesFull' | 'segmentsFull';

export interface Taken {
  /** In-order data now deliverable, as copies held by the queue until now. */
  chunks: Uint8Array[];
  /** Total bytes in chunks: RCV.NXT advances by this much. */
  bytes: number;
  /** The FIN's sequence number was reached: RCV.NXT advances one more. */
  fin: boolean;
}

export class ReassQueue {
  maxBytes: number;
  maxSegments: number;
  /** Bytes queued. */
  bytes = 0;
  private segs: Seg[] = [];
  private stampNow = 0;
  private finSeq: number | null = null;
  /**
   * The first contiguous run of duplicate bytes the last insert() or take()
   * met (data already queued, or queued data below RCV.NXT), or null: what a
   * D-SACK block reports (RFC 2883).
   */
  lastDup: [number, number] | null = null;

  /** Raises (or lowers, for what comes next) the bounds: the receive buffer grew. */
  setBounds(maxBytes: number, maxSegments: number): void {
    this.maxBytes = maxBytes;
    this.maxSegments = maxSegments;
  }

  constructor(opts: ReassOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 256 * 1024;
    this.maxSegments = opts.maxSegments ?? 512;
  }

  get segments(): number {
    return this.segs.length;
  }

  get isEmpty(): boolean {
    return this.segs.length === 0 && this.finSeq === null;
  }

  /** Queues the bytes of `data` (at sequence `seq`) that are not queued yet. */
  insert(seq: number, data: Uint8Array, fin = false): Result<InsertInfo, ReassError> {
    const end = seqAdd(seq, data.length);
    this.lastDup = this.firstOverlap(seq, end);
    const gaps = this.gaps(seq, end);
    let added = 0;
    for (const [s, e] of gaps) added += seqDiff(e, s);
    if (this.bytes + added > this.maxBytes) return err('bytesFull');
    if (this.segs.length + gaps.length > this.maxSegments) return err('segmentsFull');
    const stamp = ++this.stampNow;
    for (const q of this.segs) if (overlaps(q, seq, end)) q.stamp = stamp;
    for (const [s, e] of gaps) {
      const from = seqDiff(s, seq);
      this.place({ seq: s, data: data.slice(from, from + seqDiff(e, s)), stamp });
    }
    this.bytes += added;
    if (fin) this.finSeq = end;
    return ok({ added, duplicate: data.length - added });
  }

  /**
   * Removes and returns the data contiguous from `rcvNxt`; queued bytes
   * below rcvNxt (already delivered another way) are discarded.
   */
  take(rcvNxt: number): Taken {
    const chunks: Uint8Array[] = [];
    let next = rcvNxt;
    let n = 0;
    this.lastDup = null;
    while (n < this.segs.length && seqLeq(this.segs[n]!.seq, next)) {
      const q = this.segs[n++]!;
      this.bytes -= q.data.length;
      const end = seqAdd(q.seq, q.data.length);
      // Queued bytes below RCV.NXT came in again in order: duplicates (the first run is reported).
      if (seqLt(q.seq, rcvNxt) && !this.lastDup) this.lastDup = [q.seq, seqGt(end, rcvNxt) ? rcvNxt : end];
      if (!seqGt(end, next)) continue;
      chunks.push(q.data.subarray(seqDiff(next, q.seq)));
      next = end;
    }
    this.segs.splice(0, n);
    const bytes = seqDiff(next, rcvNxt);
    const fin = this.finSeq !== null && this.finSeq === next;
    if (fin) this.finSeq = null;
    return { chunks, bytes, fin };
  }

  /**
   * Up to `max` SACK blocks [left, right) for the next ACK (RFC 2018 §4):
   * the block holding the most recently received segment first, then the
   * other blocks, most recently changed first. Pass 3 when Timestamps are in
   * use, 4 otherwise. Call after take(), so every block is above RCV.NXT.
   */
  sackBlocks(max: number): [number, number][] {
    const runs: { left: number; right: number; stamp: number }[] = [];
    for (const q of this.segs) {
      const last = runs[runs.length - 1];
      const end = seqAdd(q.seq, q.data.length);
      if (last && last.right === q.seq) {
        last.right = end;
        last.stamp = Math.max(last.stamp, q.stamp);
      } else {
        runs.push({ left: q.seq, right: end, stamp: q.stamp });
      }
    }
    runs.sort((a, b) => b.stamp - a.stamp);
    return runs.slice(0, Math.max(0, max)).map((r): [number, number] => [r.left, r.right]);
  }

  clear(): void {
    this.segs = [];
    this.bytes = 0;
    this.finSeq = null;
  }

  /** The first contiguous part of [seq, end) already queued, or null. */
  private firstOverlap(seq: number, end: number): [number, number] | null {
    let run: [number, number] | null = null;
    for (const q of this.segs) {
      if (!overlaps(q, seq, end)) {
        if (run) break;
        continue;
      }
      const l = seqLt(q.seq, seq) ? seq : q.seq;
      const qEnd = seqAdd(q.seq, q.data.length);
      const r = seqGt(qEnd, end) ? end : qEnd;
      if (!run) run = [l, r];
      else if (run[1] === l) run[1] = r;
      else break;
    }
    return run;
  }

  /** The parts of [seq, end) not covered by queued segments, in order. */
  private gaps(seq: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    let cursor = seq;
    for (const q of this.segs) {
      const qEnd = seqAdd(q.seq, q.data.length);
      if (seqLeq(qEnd, cursor)) continue;
      if (!seqLt(q.seq, end)) break;
      if (seqLt(cursor, q.seq)) out.push([cursor, q.seq]);
      cursor = qEnd;
      if (!seqLt(cursor, end)) return out;
    }
    if (seqLt(cursor, end)) out.push([cursor, end]);
    return out;
  }

  /** Inserts a segment that overlaps none, keeping the list sorted. */
  private place(s: Seg): void {
    let i = this.segs.length;
    while (i > 0 && seqGt(this.segs[i - 1]!.seq, s.seq)) i--;
    this.segs.splice(i, 0, s);
  }
}

function overlaps(q: Seg, seq: number, end: number): boolean {
  return seqLt(q.seq, end) && seqGt(seqAdd(q.seq, q.data.length), seq);
}

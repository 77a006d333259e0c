/**
 * The sender's SACK scoreboard for loss recovery (RFC 6675).
 *
 * Holds what the peer has selectively acknowledged between HighACK (SND.UNA)
 * and HighData (SND.MAX, the end of what was sent), as sorted, merged,
 * non-overlapping ranges [left, right). From it come the §4 routines:
 *
 *   Update()   update(sndUna, blocks): merge valid SACK blocks in
 *   IsLost()   isLost(seq): DupThresh discontiguous SACKed ranges above seq,
 *              or more than (DupThresh − 1)·SMSS SACKed bytes above it
 *   NextSeg()  nextSeg(newBytes): rules 1–3 (rule 4, the rescue
 *              retransmission, is not implemented)
 *   SetPipe()  pipe(): unSACKed octets not deemed lost, plus those
 *              retransmitted (below HighRxt) once more
 *
 * Every octet in one hole (a gap between SACKed ranges) has the same SACKed
 * data above it, so the routines work per hole, not per octet.
 *
 * HighRxt here is exclusive: the sequence number after the last octet
 * retransmitted; it is never below HighACK. The engine tells the scoreboard
 * what it sends (sent()), which moves HighData for new data and HighRxt for
 * retransmissions.
 *
 * On RTO (§5.1): RFC 2018 says the sender SHOULD expunge SACK information,
 * since the receiver may have reneged (discarded SACKed data); RFC 6675 §5.1
 * allows keeping it to avoid resending SACKed data during the slow start that
 * follows. onRto() discards by default, as FreeBSD does; onRto(true) keeps the
 * ranges. Either way HighRxt returns to HighACK, and the engine must resend
 * from SND.UNA first, whatever the scoreboard says.
 *
 * Bounded: at most maxRanges ranges are kept (default 64); a block that would
 * need more is ignored (the scoreboard just knows less).
 */
import { seqAdd, seqDiff, seqGt, seqLeq, seqLt, seqMax, seqMin } from './seq.ts';

export const DUP_THRESH = 3;

export interface ScoreboardOptions {
  smss: number;
  /** DupThresh (default 3, RFC 6675 §2). */
  dupThresh?: number;
  /** Most SACKed ranges remembered (default 64). */
  maxRanges?: number;
  /** Initial sequence number: HighACK and HighData start here. */
  iss?: number;
}

/** A segment NextSeg() chose: retransmission (rxt) or new data. */
export interface NextSeg {
  seq: number;
  len: number;
  rxt: boolean;
}

interface Range {
  left: number;
  right: number;
}

export class SackScoreboard {
  /** SMSS for IsLost(); the engine lowers it after Packet Too Big. */
  smss: number;
  readonly dupThresh: number;
  readonly maxRanges: number;
  /** HighACK: SND.UNA as of the last update(). */
  highAck: number;
  /** HighData: the sequence number after the last octet sent. */
  highData: number;
  /** Exclusive end of what was retransmitted in this recovery (≥ highAck). */
  highRxt: number;
  /** Octets SACKed above HighACK. */
  sackedBytes = 0;
  private ranges: Range[] = [];

  constructor(opts: ScoreboardOptions) {
    this.smss = opts.smss;
    this.dupThresh = opts.dupThresh ?? DUP_THRESH;
    this.maxRanges = opts.maxRanges ?? 64;
    const iss = (opts.iss ?? 0) >>> 0;
    this.highAck = iss;
    this.highData = iss;
    this.highRxt = iss;
  }

  /** The SACKed ranges, lowest first (copies). */
  get sacked(): [number, number][] {
    return this.ranges.map((r): [number, number] => [r.left, r.right]);
  }

  /** The highest octet covered by any SACK, exclusive (HighACK if none). */
  get highSacked(): number {
    const last = this.ranges[this.ranges.length - 1];
    return last ? last.right : this.highAck;
  }

  /**
   * The engine sent [seq, seq+len): beyond HighData it is new data, below it
   * a retransmission that raises HighRxt (§4 NextSeg rules 1 and 3).
   */
  sent(seq: number, len: number): void {
    const end = seqAdd(seq, len);
    if (seqLt(seq, this.highData)) this.highRxt = seqMax(this.highRxt, seqMin(end, this.highData));
    if (seqGt(end, this.highData)) this.highData = end;
  }

  /**
   * Update() (§4): a cumulative ACK `sndUna` and the SACK blocks of one
   * segment. A block is ignored when empty, at or below SND.UNA (a D-SACK,
   * RFC 2883), or reaching beyond HighData (nothing sent there: bogus).
   * Returns the octets newly SACKed.
   */
  update(sndUna: number, blocks: readonly (readonly [number, number])[] = []): number {
    if (seqGt(sndUna, this.highAck)) this.highAck = sndUna;
    if (seqGt(this.highAck, this.highData)) this.highData = this.highAck;
    this.highRxt = seqMax(this.highRxt, this.highAck);
    this.trimBelow(this.highAck);
    const before = this.sackedBytes;
    for (const [l, r] of blocks) {
      if (!seqLt(l, r) || seqLeq(r, this.highAck) || seqGt(r, this.highData)) continue;
      this.add(seqMax(l, this.highAck), r);
    }
    return this.sackedBytes - before;
  }

  /** IsLost(seq) (§4). Meaningful for an unSACKed seq between HighACK and HighData. */
  isLost(seq: number): boolean {
    let ranges = 0;
    let bytes = 0;
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i]!;
      if (!seqGt(r.left, seq)) break;
      ranges++;
      bytes += seqDiff(r.right, r.left);
    }
    return ranges >= this.dupThresh || bytes > (this.dupThresh - 1) * this.smss;
  }

  /**
   * NextSeg() (§4). `newBytes`: how much unsent data the engine could send
   * now (send buffer and peer window allowing; 0 if none). Returns null when
   * nothing is to be sent. The caller sends it and reports it with sent().
   */
  nextSeg(newBytes = 0): NextSeg | null {
    const limit = this.highSacked;
    let rule3: NextSeg | null = null;
    for (const [s, e] of this.holes()) {
      const from = seqMax(s, this.highRxt);
      if (!seqLt(from, e) || !seqLt(from, limit)) continue;
      const len = Math.min(this.smss, seqDiff(seqMin(e, limit), from));
      // Rule 1: the first unSACKed, not yet retransmitted octet deemed lost.
      if (this.isLost(from)) return { seq: from, len, rxt: true };
      // Rule 3 candidate: unSACKed, not retransmitted, below the highest SACK.
      rule3 ??= { seq: from, len, rxt: true };
    }
    // Rule 2: new data.
    if (newBytes > 0) return { seq: this.highData, len: Math.min(this.smss, newBytes), rxt: false };
    return rule3;
  }

  /** SetPipe() (§4): octets estimated in flight. */
  pipe(): number {
    let pipe = 0;
    for (const [s, e] of this.holes()) {
      if (!this.isLost(s)) pipe += seqDiff(e, s);
      if (seqLt(s, this.highRxt)) pipe += seqDiff(seqMin(e, this.highRxt), s);
    }
    return pipe;
  }

  /** Start of a loss recovery phase: nothing retransmitted yet in it. */
  enterRecovery(): void {
    this.highRxt = this.highAck;
  }

  /** Retransmission timeout (§5.1): discard the SACK information unless `keep`. */
  onRto(keep = false): void {
    if (!keep) this.clear();
    this.highRxt = this.highAck;
  }

  clear(): void {
    this.ranges = [];
    this.sackedBytes = 0;
  }

  /** The unSACKed holes [start, end) from HighACK to HighData, in order. */
  private holes(): [number, number][] {
    const out: [number, number][] = [];
    let cursor = this.highAck;
    for (const r of this.ranges) {
      if (seqLt(cursor, r.left)) out.push([cursor, r.left]);
      cursor = r.right;
    }
    if (seqLt(cursor, this.highData)) out.push([cursor, this.highData]);
    return out;
  }

  private trimBelow(una: number): void {
    let n = 0;
    while (n < this.ranges.length && seqLeq(this.ranges[n]!.right, una)) {
      this.sackedBytes -= seqDiff(this.ranges[n]!.right, this.ranges[n]!.left);
      n++;
    }
    this.ranges.splice(0, n);
    const first = this.ranges[0];
    if (first && seqLt(first.left, una)) {
      this.sackedBytes -= seqDiff(una, first.left);
      first.left = una;
    }
  }

  /** Merges [l, r) into the ranges. */
  private add(l: number, r: number): void {
    let i = 0;
    while (i < this.ranges.length && seqLt(this.ranges[i]!.right, l)) i++;
    let j = i;
    let left = l;
    let right = r;
    let covered = 0;
    while (j < this.ranges.length && seqLeq(this.ranges[j]!.left, right)) {
      const q = this.ranges[j]!;
      covered += seqDiff(q.right, q.left);
      left = seqMin(left, q.left);
      right = seqMax(right, q.right);
      j++;
    }
    if (j === i && this.ranges.length >= this.maxRanges) return;
    this.ranges.splice(i, j - i, { left, right });
    this.sackedBytes += seqDiff(right, left) - covered;
  }
}

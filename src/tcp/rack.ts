/**
 * RACK (RFC 8985 §6): time-based loss detection over a record of every
 * segment in flight.
 *
 * The record list partitions [SND.UNA, SND.MAX) into the units as they were
 * last sent, lowest first, each with its transmit time and three flags:
 * SACKed, lost (marked, waiting to be sent again) and retransmitted. The
 * engine reports every transmission (onSend: new data appends, a
 * retransmission restamps the records it covers, splitting at its edges),
 * and every ACK (onAck: records below SND.UNA leave, records inside a SACK
 * block become SACKed). From the records delivered by an ACK come RACK's
 * state (§6.2 steps 2–3): the most recently sent delivered segment
 * (RACK.xmit_ts, RACK.end_seq), its RTT (RACK.rtt, with Karn's test for
 * retransmissions) and RACK.fack, the highest end delivered, against which a
 * lower original arriving later means reordering. detectLoss() is §6.2 step
 * 5: a segment sent before the RACK segment and not delivered within
 * RACK.rtt + reordering window is lost; one not yet overdue yields the time
 * left, for the reordering timer (§6.3). reoWnd() is step 4: min_RTT/4
 * scaled by a multiplier that grows by one per round trip that brings a
 * D-SACK and returns to 1 after 16 recoveries without one; 0 before any
 * reordering was seen once in recovery or with DupThresh segments SACKed.
 *
 * Lost records are what the engine retransmits first; a retransmission that
 * is itself lost is found the same way (its new transmit time is older than
 * a segment delivered after it), which the RFC 6675 scoreboard cannot do.
 *
 * pipe() is the bytes in flight: not SACKed, not marked lost (a lost record
 * is in flight again once retransmitted). All counts are kept incrementally.
 *
 * Bounded by maxSegs records: beyond it new data extends the last record
 * (the detector then knows the flight less finely).
 */
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.ts';

export interface RackSeg {
  seq: number;
  end: number;
  /** Time of the last transmission, ms. */
  xmitTs: number;
  rexmit: boolean;
  sacked: boolean;
  lost: boolean;
}

/** How long min_RTT is remembered before a larger sample replaces it (a simple windowed minimum). */
const MIN_RTT_WINDOW_MS = 10_000;
const DUP_THRESH = 3;
const REO_PERSIST = 16;

export class Rack {
  private segs: RackSeg[] = [];
  private head = 0;
  /** Bytes in the records (normally SND.MAX − SND.UNA). */
  outBytes = 0;
  sackedBytes = 0;
  sackedSegs = 0;
  /** Bytes marked lost and not yet sent again. */
  lostBytes = 0;
  /** Retransmitted records not yet delivered (loss detection must look at them). */
  private rexmitOut = 0;

  // RACK state (§5.2).
  xmitTs = -Infinity;
  endSeq = 0;
  rtt = 0;
  minRtt = Infinity;
  private minRttAt = 0;
  fack = 0;
  private fackSet = false;
  reorderingSeen = false;
  reoWndMult = 1;
  private reoWndPersist = 0;
  private dsackRound: number | null = null;
  /** Scratch list of the records one ACK delivers. */
  private readonly delivered: RackSeg[] = [];

  constructor(readonly maxSegs = 16384) {}

  get count(): number {
    return this.segs.length - this.head;
  }

  /** The records, lowest first (for tests). */
  list(): readonly RackSeg[] {
    return this.segs.slice(this.head);
  }

  last(): RackSeg | null {
    return this.count > 0 ? this.segs[this.segs.length - 1]! : null;
  }

  /** pipe: bytes estimated in flight. */
  pipe(): number {
    return this.outBytes - this.sackedBytes - this.lostBytes;
  }

  /** An RTT sample from the engine's estimator (timestamps or a timed segment). */
  noteRtt(r: number, now: number): void {
    if (r <= this.minRtt || now - this.minRttAt > MIN_RTT_WINDOW_MS) {
      this.minRtt = r;
      this.minRttAt = now;
    }
  }

  /** The engine sent sequence space [seq, end) at `now` (data, and the FIN's number). */
  onSend(seq: number, end: number, now: number): void {
    if (!seqLt(seq, end)) return;
    const lastSeg = this.last();
    const top = lastSeg ? lastSeg.end : seq;
    if (seqLt(seq, top)) {
      this.restamp(seq, seqLt(end, top) ? end : top, now);
      if (!seqGt(end, top)) return;
      seq = top;
    }
    const len = seqDiff(end, seq);
    this.outBytes += len;
    if (lastSeg && this.count >= this.maxSegs) {
      // Full: the last record grows (its time is the newest transmission in it), and is in flight again.
      if (lastSeg.sacked) {
        lastSeg.sacked = false;
        this.sackedBytes -= seqDiff(lastSeg.end, lastSeg.seq);
        this.sackedSegs--;
        if (lastSeg.rexmit && !lastSeg.lost) this.rexmitOut++;
      }
      lastSeg.end = end;
      lastSeg.xmitTs = now;
      if (lastSeg.lost) this.lostBytes += len;
      return;
    }
    this.segs.push({ seq, end, xmitTs: now, rexmit: false, sacked: false, lost: false });
  }

  /**
   * An ACK: cumulative `una` and its SACK blocks (D-SACK removed). Runs §6.2
   * steps 2 and 3 over what it newly delivers. `tsEcr` is the ACK's TSecr
   * as a time on our clock (Infinity without one): a retransmission
   * sent after it is not what the ACK acknowledges (Karn, §6.2 step 2).
   * Returns the bytes newly SACKed.
   */
  onAck(una: number, blocks: readonly (readonly [number, number])[], now: number, tsEcr = Infinity): number {
    const delivered = this.delivered;
    delivered.length = 0;
    // Cumulatively acknowledged records leave the list.
    while (this.head < this.segs.length) {
      const s = this.segs[this.head]!;
      if (seqLeq(s.end, una)) {
        this.forget(s);
        if (!s.sacked) delivered.push(s);
        this.segs[this.head++] = undefined as unknown as RackSeg;
        continue;
      }
      if (seqLt(s.seq, una)) {
        // Partly acknowledged (a retransmission with other boundaries): trim.
        const k = seqDiff(una, s.seq);
        this.outBytes -= k;
        if (s.sacked) this.sackedBytes -= k;
        if (s.lost) this.lostBytes -= k;
        s.seq = una;
      }
      break;
    }
    this.compact();
    let newlySacked = 0;
    const inOrder = delivered.length;
    for (const [l, r] of blocks) {
      if (!seqLt(l, r) || seqLeq(r, una)) continue;
      for (let i = this.find(l); i < this.segs.length; i++) {
        const s = this.segs[i]!;
        if (seqGt(s.end, r)) break;
        if (s.sacked || seqLt(s.seq, l)) continue;
        s.sacked = true;
        const len = seqDiff(s.end, s.seq);
        this.sackedBytes += len;
        this.sackedSegs++;
        newlySacked += len;
        if (s.lost) {
          s.lost = false;
          this.lostBytes -= len;
        } else if (s.rexmit) this.rexmitOut--;
        delivered.push(s);
      }
    }
    if (delivered.length === 0) return newlySacked;
    if (this.dsackRound !== null && seqGeq(una, this.dsackRound)) this.dsackRound = null;
    // Step 2: the most recently sent of the delivered segments (Karn: a retransmission only when the ACK is surely for it).
    for (const s of delivered) {
      const rtt = now - s.xmitTs;
      if (s.rexmit && (Math.floor(s.xmitTs) > tsEcr || rtt < this.minRtt)) continue;
      if (sentAfter(s.xmitTs, s.end, this.xmitTs, this.endSeq)) {
        this.xmitTs = s.xmitTs;
        this.endSeq = s.end;
        this.rtt = rtt;
      }
    }
    // Step 3: reordering: an original delivered below what was already delivered above it.
    // (The cumulatively acknowledged come in order; only SACKed ones need sorting in.)
    if (delivered.length > inOrder) delivered.sort((a, b) => seqDiff(a.end, b.end));
    for (const s of delivered) {
      if (!this.fackSet || seqGt(s.end, this.fack)) {
        this.fack = s.end;
        this.fackSet = true;
      } else if (seqLt(s.end, this.fack) && !s.rexmit) this.reorderingSeen = true;
    }
    return newlySacked;
  }

  /** A D-SACK arrived (§6.2 step 4): the window grows once per round trip that brings one. */
  onDsack(sndNxt: number): void {
    if (this.dsackRound !== null) return;
    this.dsackRound = sndNxt;
    this.reoWndMult = Math.min(this.reoWndMult + 1, 255);
    this.reoWndPersist = REO_PERSIST;
  }

  /** A loss recovery ended (§6.2 step 4: 16 without a D-SACK reset the multiplier). */
  onRecoveryExit(): void {
    if (--this.reoWndPersist <= 0) {
      this.reoWndMult = 1;
      this.reoWndPersist = 0;
    }
  }

  /** RACK.reo_wnd (§6.2 step 4). */
  reoWnd(inRecovery: boolean, srtt: number): number {
    if (!this.reorderingSeen && (inRecovery || this.sackedSegs >= DUP_THRESH)) return 0;
    const min = Number.isFinite(this.minRtt) ? this.minRtt : srtt;
    return Math.min((this.reoWndMult * min) / 4, srtt);
  }

  /**
   * §6.2 step 5: marks lost every segment sent before the RACK segment and
   * overdue by RACK.rtt + reoWnd. Returns the segments newly marked and the
   * time until the next one would be overdue (0 when none is pending).
   */
  detectLoss(now: number, reoWnd: number): { lost: number; timeout: number } {
    let lost = 0;
    let timeout = 0;
    if (this.xmitTs === -Infinity || (this.sackedBytes === 0 && this.rexmitOut === 0)) return { lost, timeout };
    for (let i = this.head; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (s.sacked || s.lost) continue;
      if (!sentAfter(this.xmitTs, this.endSeq, s.xmitTs, s.end)) continue;
      const remaining = s.xmitTs + this.rtt + reoWnd - now;
      if (remaining <= 0) {
        this.markLost(s);
        lost++;
      } else timeout = Math.max(timeout, remaining);
    }
    return { lost, timeout };
  }

  /** The first record marked lost and not sent again, or null. */
  firstLost(): RackSeg | null {
    if (this.lostBytes <= 0) return null;
    for (let i = this.head; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (s.lost) return s;
    }
    return null;
  }

  /**
   * The first run of records marked lost, as one range of at most `max`
   * bytes past its start (consecutive lost records join, so that one
   * segment can carry them again, whatever sizes they were sent with).
   */
  firstLostRange(max: number): [number, number] | null {
    if (this.lostBytes <= 0) return null;
    let i = this.head;
    while (i < this.segs.length && !this.segs[i]!.lost) i++;
    if (i >= this.segs.length) return null;
    const seq = this.segs[i]!.seq;
    let end = this.segs[i]!.end;
    for (i++; i < this.segs.length && seqDiff(end, seq) < max; i++) {
      const s = this.segs[i]!;
      if (!s.lost || s.seq !== end) break;
      end = s.end;
    }
    return [seq, end];
  }

  /** RTO: every record not SACKed is lost; `forgetSack` also drops the SACK marks (the receiver may have reneged). */
  markAllLost(forgetSack: boolean): void {
    for (let i = this.head; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (s.sacked && forgetSack) {
        s.sacked = false;
        this.sackedBytes -= seqDiff(s.end, s.seq);
        this.sackedSegs--;
        if (s.rexmit) this.rexmitOut++;
      }
      if (!s.sacked && !s.lost) this.markLost(s);
    }
  }

  /** Packet Too Big: records longer than `len` bytes were dropped on the way; mark them lost. */
  markLostLongerThan(len: number): number {
    let n = 0;
    for (let i = this.head; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (!s.sacked && !s.lost && seqDiff(s.end, s.seq) > len) {
        this.markLost(s);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.segs = [];
    this.head = 0;
    this.outBytes = this.sackedBytes = this.sackedSegs = this.lostBytes = this.rexmitOut = 0;
  }

  private markLost(s: RackSeg): void {
    s.lost = true;
    this.lostBytes += seqDiff(s.end, s.seq);
    if (s.rexmit) this.rexmitOut--;
  }

  private forget(s: RackSeg): void {
    const len = seqDiff(s.end, s.seq);
    this.outBytes -= len;
    if (s.sacked) {
      this.sackedBytes -= len;
      this.sackedSegs--;
    } else if (s.rexmit && !s.lost) this.rexmitOut--;
    if (s.lost) this.lostBytes -= len;
  }

  /** Index of the first record whose end is above `seq` (binary search). */
  private find(seq: number): number {
    let lo = this.head;
    let hi = this.segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLeq(this.segs[mid]!.end, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Splits record i at `at` (strictly inside it); the upper part becomes record i+1. */
  private split(i: number, at: number): void {
    const s = this.segs[i]!;
    const upper: RackSeg = { ...s, seq: at };
    s.end = at;
    if (s.sacked) this.sackedSegs++;
    else if (s.rexmit && !s.lost) this.rexmitOut++;
    this.segs.splice(i + 1, 0, upper);
  }

  /** A retransmission of [seq, end), all below the top: the records it covers get its time. */
  private restamp(seq: number, end: number, now: number): void {
    let i = this.find(seq);
    if (i >= this.segs.length) return;
    if (seqLt(this.segs[i]!.seq, seq)) {
      if (this.count < this.maxSegs) {
        this.split(i, seq);
        i++;
      }
    }
    for (; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (!seqLt(s.seq, end)) break;
      if (seqGt(s.end, end) && this.count < this.maxSegs) this.split(i, end);
      if (s.sacked) continue;
      if (s.lost) {
        s.lost = false;
        this.lostBytes -= seqDiff(s.end, s.seq);
        this.rexmitOut++;
      } else if (!s.rexmit) this.rexmitOut++;
      s.rexmit = true;
      s.xmitTs = now;
    }
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.segs.length) {
      this.segs = this.segs.slice(this.head);
      this.head = 0;
    } else if (this.head === this.segs.length && this.head > 0) {
      this.segs = [];
      this.head = 0;
    }
  }
}

/** RACK_sent_after (§6.2): was (t1, seq1) sent after (t2, seq2)? Ties broken by sequence. */
export function sentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
}

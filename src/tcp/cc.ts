/**
 * Congestion control: the interface the engine drives, NewReno (RFC 5681 with
 * RFC 3465 byte counting) and CUBIC (RFC 9438). Windows are in bytes.
 *
 * What the engine does around it:
 *  - It calls onAck for every ACK that advances SND.UNA, with the bytes newly
 *    acknowledged, its smoothed RTT and the time, and whether it is in loss
 *    recovery (no growth then). It should not call it while application-
 *    limited (cwnd not the limit; RFC 9438 §5.8, RFC 7661), or cwnd grows
 *    without being tested.
 *  - Loss detected by duplicate ACKs or SACK (RFC 5681 §3.2, RFC 6675 §5):
 *    onEnterRecovery(now, FlightSize) sets ssthresh and cwnd = ssthresh.
 *    With SACK the engine then sends while pipe < cwnd (RFC 6675).
 *    Without SACK, NewReno fast recovery (RFC 6582 §3.2) is the engine's:
 *    cwnd = ssthresh + 3·SMSS on entry, +SMSS per further duplicate ACK; on a
 *    partial ACK retransmit the first unacknowledged segment, deflate cwnd by
 *    the bytes acknowledged and add back SMSS if that was at least SMSS; on
 *    the ACK that covers the recovery point call onExitRecovery() (cwnd =
 *    ssthresh, RFC 6582's option 2). A new recovery does not start before
 *    that recovery point is acknowledged (RFC 6582 §3.2 step 1).
 *  - onRto(FlightSize) on the first expiry of the retransmission timer for a
 *    segment (RFC 5681 §3.1: ssthresh is not lowered again on later backoffs
 *    of the same segment): cwnd = 1·SMSS (the loss window) and slow start.
 *  - Restart after idle (RFC 5681 §4.1) is the engine's: cwnd = min(cwnd, IW).
 *  - setMss(smss) when the segment size changes on a live connection (Packet
 *    Too Big, RFC 8201): the windows keep their size in segments (as Linux,
 *    whose cwnd counts packets, keeps it through tcp_sync_mss), so a smaller
 *    MSS does not turn the same bytes into more segments in flight.
 */

export interface CongestionControl {
  readonly name: 'cubic' | 'newreno';
  readonly smss: number;
  /** Congestion window in bytes (whole bytes). */
  cwnd: number;
  /** Slow start threshold in bytes; Infinity until the first congestion event. */
  ssthresh: number;
  onAck(ackedBytes: number, rttMs: number, nowMs: number, inRecovery: boolean): void;
  onEnterRecovery(nowMs: number, flightSize: number): void;
  onExitRecovery(): void;
  onRto(flightSize: number): void;
  setMss(smss: number): void;
}

/** A window of `bytes` at `from` bytes per segment, as the same number of segments of `to` bytes. */
function rescale(bytes: number, from: number, to: number): number {
  return Number.isFinite(bytes) ? (bytes * to) / from : bytes;
}

/** RFC 6928 initial window: min(10·SMSS, max(2·SMSS, 14600)). */
export function initialWindow(smss: number): number {
  return Math.min(10 * smss, Math.max(2 * smss, 14600));
}

/**
 * Slow start growth with Appropriate Byte Counting (RFC 3465 §2.2): at most
 * L·SMSS per ACK, L = 2, and L = 1 in the slow start that follows an RTO
 * (§2.3), when ACKs may cover much retransmitted data at once.
 */
function slowStartIncrease(acked: number, smss: number, afterRto: boolean): number {
  return Math.min(acked, (afterRto ? 1 : 2) * smss);
}

export class NewReno implements CongestionControl {
  readonly name = 'newreno';
  smss: number;
  cwnd: number;
  ssthresh = Infinity;
  /** RFC 3465 bytes_acked: acknowledged bytes counted in congestion avoidance. */
  private bytesAcked = 0;
  private afterRto = false;

  constructor(smss: number) {
    this.smss = smss;
    this.cwnd = initialWindow(smss);
  }

  setMss(smss: number): void {
    if (!(smss > 0) || smss === this.smss) return;
    this.cwnd = Math.max(smss, Math.round(rescale(this.cwnd, this.smss, smss)));
    if (Number.isFinite(this.ssthresh)) this.ssthresh = Math.max(2 * smss, Math.round(rescale(this.ssthresh, this.smss, smss)));
    this.bytesAcked = Math.round(rescale(this.bytesAcked, this.smss, smss));
    this.smss = smss;
  }

  onAck(ackedBytes: number, _rttMs: number, _nowMs: number, inRecovery: boolean): void {
    if (inRecovery || ackedBytes <= 0) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += slowStartIncrease(ackedBytes, this.smss, this.afterRto);
      return;
    }
    this.afterRto = false;
    // Congestion avoidance (RFC 5681 §3.1, RFC 3465 §2.1): one SMSS per cwnd of bytes acknowledged.
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.smss;
    }
  }

  /** RFC 5681 §3.2 step 2 (equation 4): ssthresh = max(FlightSize/2, 2·SMSS). */
  onEnterRecovery(_nowMs: number, flightSize: number): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.smss);
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onExitRecovery(): void {
    this.cwnd = this.ssthresh;
  }

  onRto(flightSize: number): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.smss);
    this.cwnd = this.smss;
    this.bytesAcked = 0;
    this.afterRto = true;
  }
}

/** RFC 9438 §5.1 constant C (segments / s³). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6 multiplicative decrease factor β_cubic. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: α_cubic = 3·(1 − β)/(1 + β), Reno's average rate for the same β. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export interface CubicOptions {
  /** RFC 9438 §4.7 fast convergence (default on). */
  fastConvergence?: boolean;
}

export type CubicRegion = 'slowStart' | 'renoFriendly' | 'concave' | 'convex';

/**
 * CUBIC (RFC 9438). In congestion avoidance the window follows
 *
 *   W_cubic(t) = C·(t − K)³ + W_max               (§4.2, Figure 1, segments)
 *   K = ∛((W_max − cwnd_epoch)/C)                 (§4.2, Figure 2)
 *
 * with t the seconds since the congestion avoidance stage began. Each ACK
 * moves cwnd toward target = W_cubic(t + RTT), clamped to [cwnd, 1.5·cwnd],
 * by (target − cwnd)/cwnd per SMSS acknowledged (§4.4, §4.5): concave below
 * W_max, convex above. W_est (§4.3) tracks what Reno would have with α_cubic
 * (1 once W_est reaches cwnd_prior); while W_cubic(t) < W_est, cwnd = W_est.
 * Formulas are in segments; cwnd is in bytes, so segments = bytes / SMSS.
 */
export class Cubic implements CongestionControl {
  readonly name = 'cubic';
  ssthresh = Infinity;
  readonly fastConvergence: boolean;
  /** Which rule set cwnd on the last ACK (for tests and tcp info). */
  region: CubicRegion = 'slowStart';
  /** W_max in bytes; undefined before the first congestion event and after an RTO (§4.8). */
  wMax: number | undefined;
  /** K in seconds for the current epoch. */
  k = 0;
  /** W_est in bytes. */
  wEst = 0;
  private w: number;
  private epochStart: number | undefined;
  private cwndEpoch = 0;
  /** cwnd when ssthresh was last set (§4.3, §4.6). */
  private cwndPrior: number | undefined;
  private afterRto = false;

  smss: number;

  constructor(smss: number, opts: CubicOptions = {}) {
    this.smss = smss;
    this.w = initialWindow(smss);
    this.fastConvergence = opts.fastConvergence ?? true;
  }

  /** Every window scales with the segment size; K (seconds) is unchanged, so the curve keeps its shape in segments. */
  setMss(smss: number): void {
    if (!(smss > 0) || smss === this.smss) return;
    const r = (x: number) => rescale(x, this.smss, smss);
    this.w = Math.max(smss, r(this.w));
    if (Number.isFinite(this.ssthresh)) this.ssthresh = Math.max(2 * smss, Math.round(r(this.ssthresh)));
    if (this.wMax !== undefined) this.wMax = r(this.wMax);
    this.wEst = r(this.wEst);
    this.cwndEpoch = r(this.cwndEpoch);
    if (this.cwndPrior !== undefined) this.cwndPrior = r(this.cwndPrior);
    this.smss = smss;
  }

  get cwnd(): number {
    return Math.floor(this.w);
  }

  set cwnd(v: number) {
    this.w = v;
  }

  /** W_cubic(t) in bytes for the current epoch. */
  wCubic(tSec: number): number {
    return CUBIC_C * (tSec - this.k) ** 3 * this.smss + (this.wMax ?? this.cwndEpoch);
  }

  onAck(ackedBytes: number, rttMs: number, nowMs: number, inRecovery: boolean): void {
    if (inRecovery || ackedBytes <= 0) return;
    if (this.w < this.ssthresh) {
      this.region = 'slowStart';
      this.w += slowStartIncrease(ackedBytes, this.smss, this.afterRto);
      return;
    }
    this.afterRto = false;
    if (this.epochStart === undefined) this.beginEpoch(nowMs);
    const t = (nowMs - this.epochStart!) / 1000;
    const alpha = this.wEst >= (this.cwndPrior ?? this.wEst) ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * ackedBytes * this.smss) / this.w;
    if (this.wCubic(t) < this.wEst) {
      this.region = 'renoFriendly';
      this.w = this.wEst;
      return;
    }
    const target = Math.min(Math.max(this.wCubic(t + rttMs / 1000), this.w), 1.5 * this.w);
    this.region = this.w < this.wMax! ? 'concave' : 'convex';
    this.w += ((target - this.w) * ackedBytes) / this.w;
  }

  /** §4.6 multiplicative decrease with §4.7 fast convergence. */
  onEnterRecovery(_nowMs: number, flightSize: number): void {
    this.reduce(flightSize);
    this.w = this.ssthresh;
  }

  onExitRecovery(): void {
    this.w = this.ssthresh;
    this.epochStart = undefined;
  }

  /** §4.8: ssthresh as for a congestion event, cwnd = 1·SMSS; the next epoch starts with K = 0. */
  onRto(flightSize: number): void {
    this.reduce(flightSize);
    this.w = this.smss;
    this.wMax = undefined;
    this.cwndPrior = undefined;
    this.afterRto = true;
  }

  private reduce(flightSize: number): void {
    const cwnd = this.w;
    this.cwndPrior = cwnd;
    this.wMax = this.fastConvergence && this.wMax !== undefined && cwnd < this.wMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.ssthresh = Math.max(Math.floor(flightSize * CUBIC_BETA), 2 * this.smss);
    this.epochStart = undefined;
  }

  /**
   * Start of a congestion avoidance stage. With no W_max (first stage after
   * slow start or after an RTO, §4.8 and §4.10) W_max = cwnd and K = 0.
   */
  private beginEpoch(nowMs: number): void {
    this.epochStart = nowMs;
    this.cwndEpoch = this.w;
    this.wEst = this.w;
    if (this.wMax === undefined) {
      this.wMax = this.w;
      this.cwndPrior ??= this.w;
    }
    this.k = Math.cbrt((this.wMax - this.cwndEpoch) / (CUBIC_C * this.smss));
  }
}

/** The algorithm by name, for sysctl net.inet.tcp.cc.algorithm and the socket option. */
export function createCc(name: 'cubic' | 'newreno', smss: number): CongestionControl {
  return name === 'cubic' ? new Cubic(smss) : new NewReno(smss);
}

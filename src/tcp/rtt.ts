/**
 * The retransmission timer's estimator (RFC 6298).
 *
 *   before any sample        RTO = initial RTO (1 s, §2.1)
 *   first sample R (§2.2)    SRTT = R, RTTVAR = R/2
 *   later sample R' (§2.3)   RTTVAR = (1 − β)·RTTVAR + β·|SRTT − R'|   (with the old SRTT)
 *                            SRTT   = (1 − α)·SRTT + α·R'
 *                            α = 1/8, β = 1/4
 *   then                     RTO = SRTT + max(G, K·RTTVAR), K = 4, G the clock granularity
 *   clamped (§2.4, §2.5)     minRto ≤ RTO ≤ maxRto
 *   on expiry (§5.5)         RTO = min(2·RTO, maxRto)  ("back off the timer")
 *
 * A new sample recomputes RTO from SRTT and RTTVAR, which ends any backoff
 * (§5.7 lets the backed-off value stand until then).
 *
 * Karn's rule (§3) is the caller's: never feed a sample measured on a segment
 * that was retransmitted, because the ACK may be for either transmission;
 * with Timestamps (RFC 7323 §4) the echoed TSecr says which transmission was
 * acknowledged, so a sample from it is fine.
 *
 * minRto defaults to the RFC's 1 s; 200 ms (Linux's TCP_RTO_MIN) is allowed.
 * maxRto defaults to 120 s (the RFC permits any value of at least 60 s).
 */

export interface RttOptions {
  /** Lower bound on RTO in ms (default 1000, RFC 6298 §2.4). */
  minRto?: number;
  /** Upper bound on RTO in ms (default 120000, §2.5). */
  maxRto?: number;
  /** RTO before the first sample in ms (default 1000, §2.1). */
  initialRto?: number;
  /** Clock granularity G in ms (default 1). */
  granularity?: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class RttEstimator {
  readonly minRto: number;
  readonly maxRto: number;
  readonly initialRto: number;
  readonly granularity: number;
  /** Smoothed RTT in ms; undefined until the first sample. */
  srtt: number | undefined;
  /** RTT variation in ms; undefined until the first sample. */
  rttvar: number | undefined;
  /** Times the timer has been backed off since the last sample (the engine gives up after its limit). */
  backoffs = 0;
  private current: number;

  constructor(opts: RttOptions = {}) {
    this.minRto = opts.minRto ?? 1000;
    this.maxRto = opts.maxRto ?? 120_000;
    this.initialRto = opts.initialRto ?? 1000;
    this.granularity = opts.granularity ?? 1;
    if (!(this.minRto > 0 && this.minRto <= this.maxRto)) throw new RangeError(`RttEstimator: bad bounds ${this.minRto}..${this.maxRto}`);
    this.current = this.clamp(this.initialRto);
  }

  /** The retransmission timeout to arm now, in ms (backoff included). */
  get rto(): number {
    return this.current;
  }

  /** Feeds one RTT measurement R in ms (§2.2, §2.3) and ends any backoff. */
  sample(r: number): void {
    if (!(r >= 0) || !Number.isFinite(r)) throw new RangeError(`RttEstimator.sample: bad RTT ${r}`);
    if (this.srtt === undefined || this.rttvar === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.current = this.clamp(this.srtt + Math.max(this.granularity, K * this.rttvar));
    this.backoffs = 0;
  }

  /** The timer expired: double RTO, up to maxRto (§5.5). */
  backoff(): void {
    this.current = Math.min(this.current * 2, this.maxRto);
    this.backoffs++;
  }

  /**
   * Forgets the samples and returns to `rto` (default the initial RTO). For
   * §5's "MAY clear SRTT and RTTVAR after backing off multiple times", and for
   * §5.7: a SYN or SYN-ACK that timed out with RTO < 3 s means RTO restarts
   * at 3 s when data transmission begins (the engine calls reset(3000)).
   */
  reset(rto = this.initialRto): void {
    this.srtt = undefined;
    this.rttvar = undefined;
    this.backoffs = 0;
    this.current = this.clamp(rto);
  }

  private clamp(rto: number): number {
    return Math.min(this.maxRto, Math.max(this.minRto, rto));
  }
}
